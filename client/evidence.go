package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"backchannel/canary"
	"backchannel/devicelist"
	"backchannel/server/api"
	"backchannel/transcript"
	"backchannel/transcript/leak"
)

// ExportVersion names the export file format.
const ExportVersion = "backchannel transcript export v1"

// ErrBadExport reports an export file that does not parse.
var ErrBadExport = errors.New("not a backchannel transcript export")

// ErrUnknownMessage: no message of the room has the id (or id prefix)
// asked for.
var ErrUnknownMessage = errors.New("no such message")

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
		if (m.Kind != KindText && m.Kind != KindDoc && m.Kind != KindVoice) || m.Entry == "" {
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
			switch m.Kind {
			case KindDoc:
				text = docCopyText(m.Doc) // documents are disclosed by name, size and hash
			case KindVoice:
				text = voiceCopyText(m.Doc, m.DurationMS) // voice notes by name, duration, size and hash
			}
			entries = append(entries, m.Entry)
			copies = append(copies, ExportedCopy{MessageID: m.ID, Entry: m.Entry, Sender: m.Sender, SentAt: m.SentAt, Recipient: c.prof.User, Salt: m.CopySalt, Text: text})
		}
	}
	// Other members' copies this device received as proofs that a sender
	// equivocated travel with the entries they contradict.
	proofs, err := receivedProofs(ctx, c.v, r.State.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		copies = append(copies, proofs[e]...)
		delete(proofs, e)
	}
	if len(only) > 0 && len(entries) == 0 {
		return nil, fmt.Errorf("%w in %q with the id %s (message ids are in 'backchannel read --json')", ErrUnknownMessage, r.State.Name, strings.Join(only, " or "))
	}
	if entries == nil {
		entries = []string{} // an empty selection that discloses nothing but membership
	}
	lists := map[string][][]byte{}
	for member := range rl.log.Members() {
		chain, err := c.deviceLists(ctx, c.v, member)
		if err != nil {
			return nil, err
		}
		key, err := c.pinnedKey(ctx, c.v, member)
		if err != nil {
			return nil, err
		}
		lists[member] = chainFor(chain, key)
	}
	b, err := rl.log.Export(transcript.ExportOptions{Only: entries, DeviceLists: lists}, c.opts.Now())
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
	// SameMessage: the copy's words are the text the sender committed to
	// for every member (it may differ from other members' copies only in
	// marks), whether or not it is the exact copy signed for Recipient.
	SameMessage bool `json:"same_message,omitempty"`
	// Equivocation: the sender signed this copy for Recipient, yet its
	// words differ from the text committed to for everyone (or from another
	// copy under the same entry): proof against the sender.
	Equivocation bool   `json:"equivocation,omitempty"`
	Note         string `json:"note,omitempty"`
}

// Trust is who vouches for the identities in an export: keys the local
// profile verified (Keys) and fingerprints obtained out of band
// (Fingerprints, member → the text form of transcript.Fingerprint).
type Trust struct {
	Keys         map[string]ed25519.PublicKey
	Fingerprints map[string]string
	// Pinned are keys the profile pinned but did not verify: a bundle that
	// lists another key for such a member is reported, not just unverified.
	Pinned map[string]ed25519.PublicKey
}

// trustedKeys resolves t against the bundle's members: a fingerprint that
// matches a member's key trusts that key; one that does not stands for a
// key that differs (so the bundle reports the mismatch).
func (t Trust) trustedKeys(b *transcript.Bundle) map[string]ed25519.PublicKey {
	out := map[string]ed25519.PublicKey{}
	for name, k := range t.Keys {
		out[name] = k
	}
	for _, m := range b.Members {
		fp, ok := t.Fingerprints[m.ID]
		if !ok {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(m.IdentityKey)
		if err == nil && len(k) == ed25519.PublicKeySize && sameFingerprint(transcript.Fingerprint(k), fp) {
			out[m.ID] = k
		} else {
			out[m.ID] = make(ed25519.PublicKey, ed25519.PublicKeySize) // not the member's key
		}
	}
	return out
}

func sameFingerprint(a, b string) bool {
	norm := func(s string) string {
		return strings.ToLower(strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' || r == ':' {
				return -1
			}
			return r
		}, s))
	}
	return norm(a) == norm(b)
}

// DeviceKeysFromLists is the transcript.VerifyOptions.DeviceKeys check: the
// lists must be a chain from version 1 signed by the member's identity key,
// and every device key they ever listed is the member's.
func DeviceKeysFromLists(member string, identityKey ed25519.PublicKey, lists [][]byte) ([]ed25519.PublicKey, error) {
	if _, err := devicelist.VerifyChain(member, identityKey, nil, lists); err != nil {
		return nil, err
	}
	var out []ed25519.PublicKey
	for _, raw := range lists {
		l, err := devicelist.Parse(raw)
		if err != nil {
			return nil, err
		}
		for _, d := range l.Devices {
			out = append(out, ed25519.PublicKey(d.SigningKey))
		}
	}
	return out, nil
}

// VerifyExport checks an export offline: the transcript bundle (signatures,
// links, identities, commitments) and every disclosed copy against the
// manifest its signed entry commits to. Every member's identity must be
// vouched for by trust; the others are reported as unverified identities
// (the report is then not OK). It needs no profile.
func VerifyExport(data []byte, trust Trust) (*ExportReport, error) {
	var ex Export
	if err := api.Decode(data, &ex); err != nil || ex.Version != ExportVersion {
		return nil, fmt.Errorf("%w (expected a file written by 'backchannel transcript export')", ErrBadExport)
	}
	b, err := transcript.DecodeBundle(ex.Bundle)
	if err != nil {
		return nil, err
	}
	br := b.Verify(transcript.VerifyOptions{Trusted: trust.trustedKeys(b), RequireTrusted: true, DeviceKeys: DeviceKeysFromLists})
	for _, m := range b.Members {
		pinned, ok := trust.Pinned[m.ID]
		if k, err := base64.StdEncoding.DecodeString(m.IdentityKey); ok && err == nil && !bytes.Equal(k, pinned) {
			br.OK = false
			br.Problems = append(br.Problems, fmt.Sprintf("member %s: the identity key in the bundle is not the one your profile pinned for %s", m.ID, m.ID))
		}
	}
	rep := &ExportReport{BundleReport: br}
	manifests := map[string]leak.Message{}
	for _, m := range br.Messages {
		manifests[m.ID] = m
	}
	type signed struct{ recipient, canonical string }
	byEntry := map[string][]signed{} // copies that open their line, by entry
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
			if judgeCopy(&v, m) {
				byEntry[cp.Entry] = append(byEntry[cp.Entry], signed{cp.Recipient, canonicalText(cp.Text)})
			}
		}
		if !v.Authentic {
			rep.OK = false
			rep.Problems = append(rep.Problems, fmt.Sprintf("copy of message %s: %s", cp.MessageID, v.Problem))
		}
		rep.Copies = append(rep.Copies, v)
	}
	// Two copies the sender signed under one entry: the same words are one
	// message with different marks; different words are proof against the
	// sender, whatever the manifest's version.
	for i := range rep.Copies {
		v := &rep.Copies[i]
		for _, o := range byEntry[v.Entry] {
			if o.recipient == v.Recipient || v.Problem != "" && !v.Equivocation {
				continue
			}
			if o.canonical == canonicalText(v.Text) {
				if v.Authentic {
					v.Note = fmt.Sprintf("same message as %s's copy, different marks", o.recipient)
				}
				continue
			}
			if v.SameMessage {
				// The copy the sender committed to for everyone; the other
				// copy's verdict carries the proof.
				v.Note = fmt.Sprintf("the sender committed to these words for everyone, but signed other words for %s under the same entry (see that copy)", o.recipient)
				continue
			}
			if !v.Equivocation {
				v.Authentic, v.Equivocation = false, true
				v.Problem = fmt.Sprintf("EQUIVOCATION: %s signed this copy for %s and a copy with other words for %s under the same entry: proof that %s sent members different messages", v.Sender, v.Recipient, o.recipient, v.Sender)
				rep.OK = false
				rep.Problems = append(rep.Problems, fmt.Sprintf("copy of message %s: %s", v.MessageID, v.Problem))
			}
		}
	}
	return rep, nil
}

// judgeCopy fills in the verdict on one copy against the manifest its
// signed entry discloses; it reports whether the copy opens its
// recipient's line (the sender signed exactly this copy for them).
func judgeCopy(v *CopyVerdict, m leak.Message) bool {
	mf, err := transcript.ParseManifest([]byte(m.Text))
	if err != nil {
		v.Problem = "the entry's manifest of copies does not parse"
		return false
	}
	if _, ok := mf.Copies[v.Recipient]; !ok {
		v.Problem = "the entry's manifest has no copy for " + v.Recipient
		return false
	}
	opens := mf.OpenCopy(v.Recipient, v.Salt, v.Text) == nil
	same := mf.Version >= 2 && sameMeaning(mf, v.Text)
	v.SameMessage = same
	switch {
	case opens && mf.Version < 2:
		v.Authentic, v.SentAt = true, m.SentAt
		v.Note = "an older format: the entry does not commit to one text for every member, so other members' words cannot be compared"
	case opens && same:
		v.Authentic, v.SentAt = true, m.SentAt
		v.Note = "same message as every member's copy (copies differ only in marks)"
	case opens:
		v.Equivocation = true
		v.Problem = fmt.Sprintf("EQUIVOCATION: %s signed this copy for %s, but its words differ from the text %s committed to for every member: proof that %s sent members different messages", v.Sender, v.Recipient, v.Sender, v.Sender)
	case same:
		v.Problem = fmt.Sprintf("not the copy %s signed for %s, but the same message: only the marks differ (another member's copy, or re-marked text)", v.Sender, v.Recipient)
	default:
		v.Problem = "the text is not the copy the entry commits to, and its words are not the message's (altered)"
	}
	return opens
}

// sameMeaning reports whether a copy's canonical text is the one a
// version 2 manifest commits to, as a message or as a document copy.
func sameMeaning(mf *transcript.Manifest, text string) bool {
	if mf.CheckCanonical(canonicalText(text)) == nil {
		return true
	}
	var name string
	var size int64
	var sum []byte
	if n, _ := fmt.Sscanf(text, "document %q, %d bytes, sha256 %x", &name, &size, &sum); n == 3 {
		return mf.CheckCanonical(docCanonicalText(name)) == nil
	}
	var ms int64
	if n, _ := fmt.Sscanf(text, "voice note %q, %d ms, %d bytes, sha256 %x", &name, &ms, &size, &sum); n == 4 {
		return mf.CheckCanonical(voiceCanonicalText(name, ms)) == nil
	}
	return false
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
// room's real messages and room events. Canary marks are folded away, so
// any member's copy verifies as authentic.
func (c *Client) VerifyLeak(ctx context.Context, roomRef string, leakText []byte) (*leak.Report, error) {
	r, msgs, err := c.History(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	return leak.Verify(leakMessages(msgs), leakText, leak.Options{Canonicalize: canary.Canonicalize, Location: time.Local,
		Events: roomEvents(r.State, msgs), Members: r.State.Members})
}

// roomEvents turns the history's room events (each stored from a signed,
// verified room state of the transcript) into the forms members' own
// histories show them: this device's text, and for a member the event
// added, "X added you to "name" (mode) with …", as that member's history
// reads; the membership is replayed from the events in order.
func roomEvents(st RoomState, msgs []Message) []leak.Event {
	var out []leak.Event
	var members []string
	name := st.Name
	for _, m := range msgs {
		if m.Kind != "system" {
			continue
		}
		ev := leak.Event{ID: m.ID, Actor: m.Sender, SentAt: m.SentAt, Texts: []string{m.Text}}
		rest, ok := strings.CutPrefix(m.Text, m.Sender+" ")
		var added []string
		switch {
		case !ok:
		case strings.HasPrefix(rest, "created the room with "):
			added = splitNames(strings.TrimPrefix(rest, "created the room with "))
			members = append([]string{m.Sender}, added...)
		case strings.HasPrefix(rest, "added you to "):
			if i := strings.LastIndex(rest, ") with "); i >= 0 {
				members = splitNames(rest[i+len(") with "):])
			}
			var others []string
			for _, u := range members {
				if u != m.Sender {
					others = append(others, u)
				}
			}
			ev.Texts = append(ev.Texts, m.Sender+" created the room with "+strings.Join(others, ", "))
		case strings.HasPrefix(rest, "renamed the room to "):
			name = strings.Trim(strings.TrimPrefix(rest, "renamed the room to "), `"`)
		case strings.HasPrefix(rest, "added "):
			added = splitNames(strings.TrimPrefix(rest, "added "))
			members = union(members, added)
		case strings.HasPrefix(rest, "removed "):
			gone := splitNames(strings.TrimSuffix(strings.TrimPrefix(rest, "removed "), ", who left"))
			members = slices.DeleteFunc(members, func(u string) bool { return slices.Contains(gone, u) })
		}
		if len(added) > 0 {
			ev.Texts = append(ev.Texts, fmt.Sprintf("%s added you to %s (%s) with %s", m.Sender, quoteName(name), st.Mode, strings.Join(members, ", ")))
		}
		out = append(out, ev)
	}
	return out
}

func splitNames(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Trace names the recipient(s) whose copies a leak came from, among this
// user's own sent messages (in roomRef, or in every room when empty).
func (c *Client) Trace(ctx context.Context, roomRef string, leakText string, epsilon float64) (*canary.Result, error) {
	// An empty or binary file, or one without words, is no leak: say so
	// (as verify does) rather than "inconclusive".
	if err := leak.CheckInput([]byte(leakText)); err != nil {
		return nil, err
	}
	rooms, err := c.roomsToTrace(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	var sent []canary.Message
	var posted []canary.Posted // other members' messages, where a quote may reappear
	for _, ref := range rooms {
		r, msgs, err := c.History(ctx, ref)
		if err != nil {
			return nil, err
		}
		// A copy disclosed to the room in an equivocation report could be
		// leaked by anyone who saw the report: its message names nobody.
		disclosed, err := receivedProofs(ctx, c.v, r.State.ID)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if m.Sender != c.prof.User && m.Kind == KindText {
				posted = append(posted, canary.Posted{ID: m.ID, Sender: m.Sender, Text: m.Text})
			}
			if m.Sender != c.prof.User || len(m.Recipients) == 0 || (m.Kind != KindText && m.Kind != KindDoc) || len(disclosed[m.Entry]) > 0 {
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
	res, err := t.Trace(leakText, epsilon)
	if err != nil {
		return nil, err
	}
	// Text the leak matched that reappears in another member's message may
	// have leaked as a copy of that message (issue 10, item 9).
	t.NoteQuotes(res, posted)
	return res, nil
}

// roomsToTrace is the room roomRef names, or every room when it is empty.
func (c *Client) roomsToTrace(ctx context.Context, roomRef string) ([]string, error) {
	if roomRef != "" {
		return []string{roomRef}, nil
	}
	all, err := c.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	var rooms []string
	for _, r := range all {
		rooms = append(rooms, r.State.ID)
	}
	return rooms, nil
}

// chainFor returns the lists of a stored chain signed by key, from its
// version 1 (a key change appends a new chain after the old one).
func chainFor(chain [][]byte, key []byte) [][]byte {
	var out [][]byte
	for _, raw := range chain {
		l, err := devicelist.Parse(raw)
		if err != nil || string(l.AccountKey) != string(key) {
			continue
		}
		if l.Version == 1 {
			out = out[:0]
		}
		out = append(out, raw)
	}
	return out
}

// Trust returns the keys this profile vouches for: its own and those of
// every verified contact among names.
func (c *Client) Trust(ctx context.Context, names []string) Trust {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := Trust{Keys: map[string]ed25519.PublicKey{}}
	for _, n := range names {
		if n == c.prof.User {
			t.Keys[n] = c.accountKey()
			continue
		}
		ct, err := loadContact(ctx, c.v, n)
		if err != nil {
			continue
		}
		if ct.IsVerified() {
			t.Keys[n] = ct.Key
		} else {
			if t.Pinned == nil {
				t.Pinned = map[string]ed25519.PublicKey{}
			}
			t.Pinned[n] = ct.Key
		}
	}
	return t
}

// ExportMembers lists the member names of an export.
func ExportMembers(data []byte) ([]string, error) {
	var ex Export
	if err := api.Decode(data, &ex); err != nil || ex.Version != ExportVersion {
		return nil, fmt.Errorf("%w (expected a file written by 'backchannel transcript export')", ErrBadExport)
	}
	b, err := transcript.DecodeBundle(ex.Bundle)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range b.Members {
		out = append(out, m.ID)
	}
	return out, nil
}

// FingerprintOf is the fingerprint of an account key as exports list it.
func FingerprintOf(key []byte) string { return transcript.Fingerprint(key) }
