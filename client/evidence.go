package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"backchannel/canary"
	"backchannel/server/api"
	"backchannel/transcript"
	"backchannel/transcript/leak"
)

// ExportVersion names the export file format.
const ExportVersion = "backchannel transcript export v1"

// ErrBadExport reports an export file that does not parse.
var ErrBadExport = errors.New("client: not a backchannel transcript export")

// Export is what `transcript export` writes: the room's transcript bundle
// (every entry; the selected ones disclosed) and, for each disclosed
// message, the exporter's copy with the salt that opens its manifest line.
type Export struct {
	Version string          `json:"version"`
	Bundle  json.RawMessage `json:"bundle"`
	Copies  []ExportedCopy  `json:"copies"`
}

// ExportedCopy is one disclosed message as the exporter received it.
type ExportedCopy struct {
	MessageID string    `json:"message_id"`
	Entry     string    `json:"entry"`
	Sender    string    `json:"sender"`
	SentAt    time.Time `json:"sent_at"`
	Recipient string    `json:"recipient"`
	Salt      []byte    `json:"salt"`
	Text      string    `json:"text"`
}

// ExportTranscript exports a room's transcript; only (message ids or id
// prefixes), from and to select the disclosed messages (all when empty).
func (c *Client) ExportTranscript(ctx context.Context, roomRef string, from, to time.Time, only []string) ([]byte, error) {
	r, msgs, err := c.History(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rl, err := c.transcriptOf(ctx, c.v, r)
	if err != nil {
		return nil, err
	}
	selected := func(m Message) bool {
		if (m.Kind != KindText && m.Kind != KindDoc) || m.Entry == "" {
			return false
		}
		if !from.IsZero() && m.SentAt.Before(from) || !to.IsZero() && m.SentAt.After(to) {
			return false
		}
		if len(only) == 0 {
			return true
		}
		for _, id := range only {
			if len(id) >= 8 && strings.HasPrefix(m.ID, id) {
				return true
			}
		}
		return false
	}
	var entries []string
	var copies []ExportedCopy
	for _, m := range msgs {
		if selected(m) {
			text := m.Text
			if m.Kind == KindDoc {
				text = docCopyText(m.Doc) // documents are disclosed by name, size and hash
			}
			entries = append(entries, m.Entry)
			copies = append(copies, ExportedCopy{MessageID: m.ID, Entry: m.Entry, Sender: m.Sender, SentAt: m.SentAt, Recipient: c.prof.User, Salt: m.CopySalt, Text: text})
		}
	}
	if len(only) > 0 && len(entries) == 0 {
		return nil, fmt.Errorf("no message of %q matches %v", r.State.Name, only)
	}
	if entries == nil {
		entries = []string{} // an empty selection that discloses nothing but membership
	}
	b, err := rl.log.Export(transcript.ExportOptions{Only: entries}, c.opts.Now())
	if err != nil {
		return nil, err
	}
	raw, err := b.Marshal()
	if err != nil {
		return nil, err
	}
	if copies == nil {
		copies = []ExportedCopy{}
	}
	return json.MarshalIndent(Export{Version: ExportVersion, Bundle: raw, Copies: copies}, "", " ")
}

// ExportReport is the offline verdict on an export.
type ExportReport struct {
	*transcript.BundleReport
	// Copies lists each disclosed copy with whether it is exactly what the
	// signed entry committed to for its recipient.
	Copies []CopyVerdict `json:"copies"`
}

// CopyVerdict is the verdict on one exported copy.
type CopyVerdict struct {
	ExportedCopy
	Authentic bool   `json:"authentic"`
	Problem   string `json:"problem,omitempty"`
}

// VerifyExport checks an export offline: the transcript bundle (signatures,
// links, identities, commitments) and every disclosed copy against the
// manifest its signed entry commits to. It needs no profile.
func VerifyExport(data []byte) (*ExportReport, error) {
	var ex Export
	if err := api.Decode(data, &ex); err != nil || ex.Version != ExportVersion {
		return nil, fmt.Errorf("%w (expected a file written by 'backchannel transcript export')", ErrBadExport)
	}
	br, err := transcript.VerifyBundle(ex.Bundle, transcript.VerifyOptions{})
	if err != nil {
		return nil, err
	}
	rep := &ExportReport{BundleReport: br}
	manifests := map[string]leak.Message{}
	for _, m := range br.Messages {
		manifests[m.ID] = m
	}
	for _, cp := range ex.Copies {
		v := CopyVerdict{ExportedCopy: cp}
		h, err := transcript.ParseHash(cp.Entry)
		m, ok := manifests[h.ID()]
		switch {
		case err != nil || !ok:
			v.Problem = "its transcript entry is not disclosed in the bundle"
		case m.Sender != cp.Sender:
			v.Problem = fmt.Sprintf("the entry was written by %s, not %s", m.Sender, cp.Sender)
		default:
			want, found := manifestEntry([]byte(m.Text), cp.Recipient)
			if !found {
				v.Problem = "the entry's manifest has no copy for " + cp.Recipient
			} else if string(want) != string(commitCopy(cp.Salt, cp.Text)) {
				v.Problem = "the text is not the copy the entry commits to (altered)"
			} else {
				v.Authentic, v.SentAt = true, m.SentAt
			}
		}
		if !v.Authentic {
			rep.OK = false
			rep.Problems = append(rep.Problems, fmt.Sprintf("copy of message %s: %s", cp.MessageID, v.Problem))
		}
		rep.Copies = append(rep.Copies, v)
	}
	return rep, nil
}

// leakMessages returns the room's text messages as the leak verifier sees
// them: this user's own originals and the copies it received.
func leakMessages(msgs []Message) []leak.Message {
	var out []leak.Message
	for _, m := range msgs {
		if m.Kind == KindText {
			out = append(out, leak.Message{ID: m.ID, Sender: m.Sender, SentAt: m.SentAt, Text: m.Text})
		}
	}
	return out
}

// VerifyLeak checks a leaked or published text, line by line, against the
// room's real messages. Canary marks are folded away, so any member's copy
// verifies as authentic.
func (c *Client) VerifyLeak(ctx context.Context, roomRef string, leakText []byte) (*leak.Report, error) {
	_, msgs, err := c.History(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	return leak.Verify(leakMessages(msgs), leakText, leak.Options{Canonicalize: canary.Canonicalize, Location: time.Local})
}

// Trace names the recipient(s) whose copies a leak came from, among this
// user's own sent messages (in roomRef, or in every room when empty).
func (c *Client) Trace(ctx context.Context, roomRef string, leakText string, epsilon float64) (*canary.Result, error) {
	var rooms []string
	if roomRef != "" {
		rooms = []string{roomRef}
	} else {
		all, err := c.Rooms(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range all {
			rooms = append(rooms, r.State.ID)
		}
	}
	var sent []canary.Message
	for _, ref := range rooms {
		_, msgs, err := c.History(ctx, ref)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.Sender != c.prof.User || len(m.Recipients) == 0 || (m.Kind != KindText && m.Kind != KindDoc) {
				continue
			}
			p, err := canary.ParsePolicy(m.Marking)
			if err != nil {
				return nil, err
			}
			text := m.Text
			if m.Kind == KindDoc {
				if text, err = c.sentDocText(ctx, m.ID); err != nil {
					return nil, fmt.Errorf("the original of document %s: %w", m.ID, err)
				}
			}
			sent = append(sent, canary.Message{ID: m.ID, Text: text, Recipients: m.Recipients, Policy: p})
		}
	}
	if len(sent) == 0 {
		return nil, errors.New("you have sent no marked messages here: trace works on your own messages (ask their sender to trace)")
	}
	t, err := canary.NewTracer(c.prof.MarkingKey, sent)
	if err != nil {
		return nil, err
	}
	return t.Trace(leakText, epsilon)
}
