package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"backchannel/canary"
	"backchannel/transcript"
	"backchannel/vault"
)

// Sender equivocation (docs/protocol.md section 13, "One meaning for every
// member"). Every copy of a message differs in its marks, so the manifest
// also commits to the canonical text — the words with every mark folded
// away — once, for everyone. Each recipient checks its own copy's canonical
// text against it. A copy whose words differ was still signed by the sender
// for this recipient, so it is kept and flagged, and the recipient sends
// the other members the proof (the entry, the manifest, its copy and the
// salt that opens its line): anyone can check that the sender signed two
// meanings under one entry, and nobody can forge such a proof against an
// honest sender.

// KindEquivocation is the payload kind of such a proof.
const KindEquivocation = "equivocation"

// canonicalText is what a message's manifest commits to for everyone: the
// canary's canonical words of the text (lower-cased, typography folded,
// invisible characters dropped, lexical alternatives mapped to their
// canonical form), joined by single spaces. Marking never changes them
// (canary's FuzzNormalize asserts it), so every honest copy has the same.
func canonicalText(text string) string {
	return strings.Join(canary.CanonicalWords(text), " ")
}

// docCanonicalText is what a shared document's manifest commits to for
// everyone: its name (each member's copy line also names the size and hash
// of that member's copy, which differ when the text is marked).
func docCanonicalText(name string) string {
	return fmt.Sprintf("document %q", name)
}

// tamperCopies, when set (tests only), rewrites a sender's marked copies
// after the honest check and before they are committed: a patched client.
var tamperCopies func(sender string, copyOf map[string]string)

// equivocationLog keeps, per room, the proofs this device received: other
// members' copies that contradict a sender, for exports.
func equivocationLog(room string) string { return "equivocations/" + room }

// validateProof checks the shape of an equivocation payload.
func (p *payload) validateProof() error {
	switch {
	case p.Record == nil || len(p.CopySalt) != copySaltSize:
		return fmt.Errorf("%w: equivocation report without its entry", ErrBadPayload)
	case len(p.Text) > 2*MaxTextBytes:
		return fmt.Errorf("%w: equivocation report too long", ErrBadPayload)
	case p.Doc != nil && (p.Doc.Name == "" || len(p.Doc.Name) > 255 || len(p.Doc.Key) != 0 || p.Text != ""):
		return fmt.Errorf("%w: equivocation report on a document", ErrBadPayload)
	case p.DurationMS < 0 || p.DurationMS > maxVoiceMS || (p.DurationMS != 0 && p.Doc == nil):
		return fmt.Errorf("%w: equivocation report on a voice note", ErrBadPayload)
	}
	return nil
}

// copyOfPayload returns the text a payload's manifest line commits to and
// the canonical text every member's copy must share.
func copyOfPayload(p *payload) (copyText, canonical string) {
	if p.Doc != nil && p.DurationMS != 0 {
		return voiceCopyText(p.Doc, p.DurationMS), voiceCanonicalText(p.Doc.Name, p.DurationMS)
	}
	if p.Doc != nil {
		return docCopyText(p.Doc), docCanonicalText(p.Doc.Name)
	}
	return p.Text, canonicalText(p.Text)
}

// checkMeaning is the receive path's check of the canonical text. For a
// text or document whose copy opens this user's manifest line but whose
// words differ from what the sender committed to for everyone, it keeps
// the message, flags it, and returns a follow-up that sends the proof to
// the room; for an equivocation report it checks and records the proof.
// done says the payload was handled here (stored or refused); otherwise
// the normal path applies it.
func (c *Client) checkMeaning(ctx context.Context, tx *vault.Tx, r *Room, sender string, p *payload, msg Message, rep *SyncReport) (follow func() error, done bool, err error) {
	switch p.Kind {
	case KindEquivocation:
		return nil, true, c.applyProof(ctx, tx, r, sender, p, msg, rep)
	case KindText, KindDoc, KindVoice:
	default:
		return nil, false, nil
	}
	m, err := transcript.ParseManifest(p.Record.Content)
	if err != nil {
		return nil, false, nil // checkCopy refuses it, with the reason
	}
	if m.Version < 2 {
		c.warn(rep, "refused a message in %q from %s: it was sent by an older version of backchannel that does not commit to one text for every member; ask %s to upgrade", r.State.Name, sender, sender)
		return nil, true, nil
	}
	copyText, canonical := copyOfPayload(p)
	if m.CheckCanonical(canonical) == nil {
		return nil, false, nil
	}
	if err := c.checkCopy(p.Record.Content, p.CopySalt, copyText); err != nil {
		return nil, false, nil // not even this user's copy: the normal path refuses it
	}
	if err := c.accept(ctx, tx, r, sender, p.Record); err != nil {
		c.warn(rep, "refused a message in %q from %s: its transcript entry does not verify: %v", r.State.Name, sender, err)
		return nil, true, nil
	}
	msg.Kind, msg.Text, msg.Entry, msg.CopySalt = KindText, p.Text, p.Record.hash(), p.CopySalt
	what := "message"
	switch p.Kind {
	case KindDoc:
		msg.Kind, msg.Doc, msg.Text = KindDoc, p.Doc, fmt.Sprintf("shared %s (%d bytes)", p.Doc.Name, p.Doc.Size)
		what = "document"
	case KindVoice:
		msg.Kind, msg.Doc, msg.DurationMS, msg.Text = KindVoice, p.Doc, p.DurationMS, voiceText(p.DurationMS)
		what = "voice note"
	}
	if err := appendMessage(ctx, tx, msg); err != nil {
		return nil, true, err
	}
	rep.Received++
	warning := fmt.Sprintf("WARNING: %s's %s %s in %q is not what %s signed for everyone in the room: the words of your copy differ from the text %s's signed entry commits to, so other members were shown something else. Your copy is kept as proof and the other members are being told.",
		sender, what, shortID(msg.ID), r.State.Name, sender, sender)
	if sender == c.prof.User {
		warning = fmt.Sprintf("WARNING: your own %s %s in %q, sent from another of your devices, commits to other words than the copy it gave this device: that device may be compromised.", what, shortID(msg.ID), r.State.Name)
	}
	rep.Warnings = append(rep.Warnings, warning)
	now := c.opts.Now().UTC()
	if err := appendMessage(ctx, tx, Message{ID: newID(), Room: r.State.ID, Sender: sender, SentAt: now, ReceivedAt: now, Kind: KindNotice, Text: warning}); err != nil {
		return nil, true, err
	}
	proof := &payload{V: payloadVersion, Kind: KindEquivocation, ID: newID(), Room: r.State.ID, SentAt: now,
		Record: p.Record, CopySalt: p.CopySalt, Text: p.Text, DurationMS: p.DurationMS}
	if p.Doc != nil {
		d := *p.Doc
		d.Key, d.BlobID = nil, "" // the name, size and hash are the proof; the copy stays this member's
		proof.Doc, proof.Text = &d, ""
	}
	members, strict := r.State.Members, r.State.Mode == ModeOnRecord
	return func() error {
		// The report discloses this member's copy: it goes only where a
		// message of this room would go.
		err := c.fanOut(ctx, same(proof), members, strict, func(context.Context, *vault.Tx) error { return nil })
		if err != nil && !errors.Is(err, ErrNotDelivered) {
			return fmt.Errorf("could not tell the members of %q that %s's %s has two meanings: %w", r.State.Name, sender, what, err)
		}
		return nil
	}, true, nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// applyProof checks an equivocation report from accuser and records what
// it proves.
func (c *Client) applyProof(ctx context.Context, tx *vault.Tx, r *Room, accuser string, p *payload, msg Message, rep *SyncReport) error {
	accused, proven, err := c.checkProof(ctx, tx, r, accuser, p)
	now := c.opts.Now().UTC()
	notice := Message{ID: msg.ID, Room: r.State.ID, Sender: accuser, SentAt: msg.SentAt, ReceivedAt: now, Kind: KindNotice}
	copyText, _ := copyOfPayload(p)
	switch {
	case err != nil:
		notice.Text = fmt.Sprintf("%s reported that a message was sent with two meanings, but the report does not check out (%v): nothing is proven against anyone", accuser, err)
	case accused.Sender == c.prof.User:
		notice.Text = fmt.Sprintf("WARNING: %s reports that your message %s reached them with other words than the text you committed to for everyone: %q. The report checks out against your signed entry. If you did not send this, one of your devices or your profile may be compromised.",
			accuser, shortID(proven.MessageID), canary.Normalize(copyText))
	default:
		yours := ""
		if proven.yours != "" {
			yours = fmt.Sprintf("; your copy says %q", canary.Normalize(proven.yours))
		}
		notice.Text = fmt.Sprintf("WARNING: %s sent members different messages under one signed entry: the copy of %s's message %s that %s received says %q, which is not the text %s committed to for everyone%s. This is proof against %s, kept for 'backchannel transcript export' and 'verify --bundle'.",
			accused.Sender, accused.Sender, shortID(proven.MessageID), accuser, canary.Normalize(copyText), accused.Sender, yours, accused.Sender)
	}
	rep.Warnings = append(rep.Warnings, notice.Text)
	if err == nil {
		raw, _ := json.Marshal(proven.ExportedCopy)
		if _, err := tx.Append(ctx, equivocationLog(r.State.ID), raw); err != nil {
			return err
		}
	}
	return appendMessage(ctx, tx, notice)
}

// proof is a checked equivocation report.
type proof struct {
	ExportedCopy        // the accuser's copy, as an export would carry it
	yours        string // this user's own copy of the message, if any
}

// checkProof verifies an equivocation report: the entry is the accused
// sender's (one this device accepted from the sender, or on-record and
// signed with one of the sender's keys), the manifest is the one the entry
// commits to, the accuser's copy opens the accuser's line, and its
// canonical text is not the one the manifest commits to.
func (c *Client) checkProof(ctx context.Context, tx *vault.Tx, r *Room, accuser string, p *payload) (*transcript.Entry, *proof, error) {
	e, err := transcript.DecodeEntry(p.Record.Entry)
	if err != nil {
		return nil, nil, fmt.Errorf("its entry does not parse")
	}
	if e.Room != r.State.ID || e.Kind != transcript.KindMessage || len(p.Record.Salt) != transcript.SaltSize {
		return nil, nil, fmt.Errorf("its entry is not a message of this room")
	}
	if err := transcript.CheckCommitment(e.Commitment, transcript.Salt(p.Record.Salt), p.Record.Content); err != nil {
		return nil, nil, fmt.Errorf("the manifest is not the one the entry commits to")
	}
	h, err := e.Hash()
	if err != nil {
		return nil, nil, err
	}
	rl, err := c.transcriptOf(ctx, tx, r)
	if err != nil {
		return nil, nil, err
	}
	known := false
	for _, rec := range rl.log.Records() {
		if rec.Hash == h {
			known = true
			break
		}
	}
	if !known {
		if e.Mode != transcript.ModeOnRecord || e.VerifySignature() != nil {
			return nil, nil, fmt.Errorf("the entry is not one you received from %s, and no signature proves it is %s's", e.Sender, e.Sender)
		}
		if !c.ownsKey(ctx, tx, e.Sender, e.SenderKey) {
			return nil, nil, fmt.Errorf("the entry is not signed with a key of %s", e.Sender)
		}
	}
	m, err := transcript.ParseManifest(p.Record.Content)
	if err != nil {
		return nil, nil, fmt.Errorf("the manifest does not parse")
	}
	copyText, canonical := copyOfPayload(p)
	if err := m.OpenCopy(accuser, p.CopySalt, copyText); err != nil {
		return nil, nil, fmt.Errorf("the copy shown is not the one %s signed for %s", e.Sender, accuser)
	}
	if err := m.CheckCanonical(canonical); !errors.Is(err, transcript.ErrDifferentMeaning) {
		return nil, nil, fmt.Errorf("the copy shown has the same words as the message %s sent everyone", e.Sender)
	}
	pr := &proof{ExportedCopy: ExportedCopy{Entry: h.String(), Sender: e.Sender, SentAt: e.Time, Recipient: accuser, Salt: p.CopySalt, Text: copyText}}
	pr.MessageID = h.ID()
	if raws, err := tx.Log(ctx, "msgs/"+r.State.ID); err == nil {
		for _, raw := range raws {
			var mm Message
			if json.Unmarshal(raw, &mm) == nil && mm.Entry == h.String() {
				pr.MessageID, pr.yours = mm.ID, mm.Text
			}
		}
	}
	return e, pr, nil
}

// ownsKey reports whether key is user's pinned identity key or one of the
// device keys its verified device lists name.
func (c *Client) ownsKey(ctx context.Context, rd reader, user string, key ed25519.PublicKey) bool {
	if k, err := c.pinnedKey(ctx, rd, user); err == nil && bytes.Equal(k, key) {
		return true
	}
	keys, err := c.deviceKeys(ctx, rd, user)
	if err != nil {
		return false
	}
	for _, k := range keys {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}

// receivedProofs returns the other members' copies this device holds as
// proofs in a room, by entry hash.
func receivedProofs(ctx context.Context, rd reader, room string) (map[string][]ExportedCopy, error) {
	raws, err := rd.Log(ctx, equivocationLog(room))
	if err != nil {
		return nil, err
	}
	out := map[string][]ExportedCopy{}
	for _, raw := range raws {
		var cp ExportedCopy
		if err := json.Unmarshal(raw, &cp); err != nil {
			return nil, fmt.Errorf("equivocation proofs of room %s: %w", room, vault.ErrCorrupt)
		}
		out[cp.Entry] = append(out[cp.Entry], cp)
	}
	return out, nil
}
