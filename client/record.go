package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"backchannel/transcript"
	"backchannel/vault"
)

// Labels of the per-recipient copy commitments, as in docs/protocol.md
// section 13 "Rooms, marked copies and the transcript" (the manifest itself
// is transcript.Manifest).
const (
	CopyCommitmentLabel = transcript.CopyCommitmentLabel
	ManifestHeader      = transcript.ManifestHeader
	copySaltSize        = transcript.CopySaltSize
)

// Every recipient of a message gets a differently marked copy (package
// canary), yet the room's transcript must be one hash-linked chain. So the
// transcript entry commits to a manifest that lists, per recipient, a
// salted commitment to that recipient's copy, and one commitment to the
// canonical text (the marks folded away), the same for everyone; each
// recipient receives the entry, the manifest, its own copy and its own
// salt. The entry's signature (on-record rooms) thus covers every delivered
// copy and the one meaning they share, while no member can learn another
// member's copy from the manifest.

func commitCopy(salt []byte, text string) []byte {
	h := transcript.CommitCopy(salt, text)
	return h[:]
}

// buildManifest lists the commitment to the canonical text and user → hex
// commitment, sorted by user (a version 2 manifest).
func buildManifest(canonical transcript.Hash, commits map[string][]byte) []byte {
	cs := make(map[string]transcript.Hash, len(commits))
	for u, c := range commits {
		cs[u] = transcript.Hash(c)
	}
	return transcript.NewManifest(canonical, cs).Encode()
}

// manifestEntry returns user's commitment from a manifest.
func manifestEntry(manifest []byte, user string) ([]byte, bool) {
	m, err := transcript.ParseManifest(manifest)
	if err != nil {
		return nil, false
	}
	c, ok := m.Copies[user]
	return c[:], ok
}

// manifestUsers lists the users of a manifest except skip.
func manifestUsers(manifest []byte, skip string) []string {
	m, err := transcript.ParseManifest(manifest)
	if err != nil {
		return nil
	}
	var out []string
	for _, u := range m.Members() {
		if u != skip {
			out = append(out, u)
		}
	}
	return out
}

// record is one transcript entry as stored in the vault log "tx/ROOM".
type record struct {
	Entry   []byte `json:"entry"`
	Salt    []byte `json:"salt"`
	Content []byte `json:"content"` // a manifest, or a signed room state
	// Version is the room version the entry was sent under (0: unknown).
	Version int `json:"v,omitempty"`
}

// hash returns the entry's hash in hex ("" if it does not decode).
func (r *record) hash() string {
	e, err := transcript.DecodeEntry(r.Entry)
	if err != nil {
		return ""
	}
	h, err := e.Hash()
	if err != nil {
		return ""
	}
	return h.String()
}

func transcriptMode(mode string) transcript.Mode {
	m, err := transcript.ParseMode(mode)
	if err != nil {
		return transcript.ModeOnRecord
	}
	return m
}

// roomLog is a room's transcript rebuilt from the vault, cached per room.
type roomLog struct {
	log     *transcript.Log
	members map[string]bool
	// versions: the room version each entry was sent under (for heads)
	versions map[transcript.Hash]int
}

// transcriptOf returns the room's transcript log, replaying the stored
// records on first use.
func (c *Client) transcriptOf(ctx context.Context, rd reader, r *Room) (*roomLog, error) {
	if rl, ok := c.logs[r.State.ID]; ok {
		return rl, nil
	}
	rl := &roomLog{log: transcript.NewLog(r.State.ID, transcriptMode(r.State.Mode), time.Local), members: map[string]bool{}, versions: map[transcript.Hash]int{}}
	predate(rl, r.Base, r.PreJoin)
	entries, err := rd.Log(ctx, "tx/"+r.State.ID)
	if err != nil {
		return nil, err
	}
	for i, raw := range entries {
		var rec record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("transcript of %s, record %d: %w", r.State.Name, i, vault.ErrCorrupt)
		}
		e, err := transcript.DecodeEntry(rec.Entry)
		if err != nil {
			return nil, fmt.Errorf("transcript of %s, record %d: %w", r.State.Name, i, err)
		}
		if err := c.admit(ctx, rd, rl, e.Sender); err != nil {
			return nil, err
		}
		if len(rec.Salt) != transcript.SaltSize {
			return nil, fmt.Errorf("transcript of %s, record %d: %w", r.State.Name, i, vault.ErrCorrupt)
		}
		if _, err := rl.log.Append(e, transcript.Salt(rec.Salt), rec.Content); err != nil {
			return nil, fmt.Errorf("transcript of %s, record %d: %w", r.State.Name, i, err)
		}
		if h, err := e.Hash(); err == nil {
			rl.versions[h] = rec.Version
		}
	}
	c.logs[r.State.ID] = rl
	return rl, nil
}

// admit adds a sender's pinned identity key to the log once.
func (c *Client) admit(ctx context.Context, rd reader, rl *roomLog, user string) error {
	if rl.members[user] {
		return nil
	}
	key, err := c.pinnedKey(ctx, rd, user)
	if err != nil {
		return err
	}
	if err := rl.log.AddMember(user, key); err != nil {
		return err
	}
	// Linked devices sign with their own keys, which the account's signed
	// device lists vouch for.
	devKeys, err := c.deviceKeys(ctx, rd, user)
	if err != nil {
		return err
	}
	for _, k := range devKeys {
		if err := rl.log.AddDeviceKey(user, k); err != nil {
			return err
		}
	}
	rl.members[user] = true
	return nil
}

// compose makes this user's next transcript entry for content.
func (c *Client) compose(ctx context.Context, r *Room, kind transcript.Kind, content []byte, now time.Time) (*record, error) {
	rl, err := c.transcriptOf(ctx, c.v, r)
	if err != nil {
		return nil, err
	}
	if err := c.admit(ctx, c.v, rl, c.prof.User); err != nil {
		return nil, err
	}
	e, salt, err := rl.log.Compose(c.prof.User, c.signer(), kind, content, now)
	if err != nil {
		return nil, fmt.Errorf("transcript entry: %w", err)
	}
	if _, err := rl.log.Append(e, salt, content); err != nil {
		delete(c.logs, r.State.ID)
		return nil, fmt.Errorf("transcript entry: %w", err)
	}
	enc, err := e.Encode()
	if err != nil {
		delete(c.logs, r.State.ID)
		return nil, err
	}
	if h, err := e.Hash(); err == nil {
		rl.versions[h] = r.State.Version
	}
	return &record{Entry: enc, Salt: salt[:], Content: content, Version: r.State.Version}, nil
}

// accept checks a received entry against the room's transcript and adds it.
// A refusal is returned as an error for the user (a forged, replayed or
// equivocating entry); the caller drops the message.
func (c *Client) accept(ctx context.Context, tx *vault.Tx, r *Room, sender string, rec *record) error {
	rl, err := c.transcriptOf(ctx, tx, r)
	if err != nil {
		return err
	}
	e, err := transcript.DecodeEntry(rec.Entry)
	if err != nil {
		return err
	}
	if e.Sender != sender || e.Room != r.State.ID {
		return fmt.Errorf("transcript entry names %s in room %s, but came from %s in %s", e.Sender, e.Room, sender, r.State.ID)
	}
	if len(rec.Salt) != transcript.SaltSize {
		return fmt.Errorf("transcript entry salt is %d bytes", len(rec.Salt))
	}
	if err := c.admit(ctx, tx, rl, sender); err != nil {
		return err
	}
	if _, err := rl.log.Append(e, transcript.Salt(rec.Salt), rec.Content); err != nil {
		return err
	}
	if h, err := e.Hash(); err == nil {
		rl.versions[h] = rec.Version
	}
	raw, _ := json.Marshal(rec)
	if _, err := tx.Append(ctx, "tx/"+r.State.ID, raw); err != nil {
		delete(c.logs, r.State.ID)
		return err
	}
	return nil
}

// commitCopies salts and commits to every member's copy (copyOf maps each
// member, this user included, to the text it receives; canonical is the
// text every copy must fold to: canonicalText of the original, or
// docCanonicalText) and composes this user's transcript entry over the
// manifest. It returns the entry and the salts, one per member, each to
// travel with that member's copy. A copy whose canonical text is not the
// original's is refused before anything is committed: the recipient would
// report the message as sent with two meanings.
func (c *Client) commitCopies(ctx context.Context, r *Room, copyOf map[string]string, now time.Time) (*record, map[string][]byte, error) {
	return c.commitCopiesOf(ctx, r, copyOf, canonicalText(copyOf[c.prof.User]), canonicalText, now)
}

// commitDocCopies is commitCopies for a shared document: every member's
// line is docCopyText of its own copy, and the canonical text is the
// document's name (docCanonicalText), the same for everyone.
func (c *Client) commitDocCopies(ctx context.Context, r *Room, copyOf map[string]string, name string, now time.Time) (*record, map[string][]byte, error) {
	return c.commitCopiesOf(ctx, r, copyOf, docCanonicalText(name), nil, now)
}

func (c *Client) commitCopiesOf(ctx context.Context, r *Room, copyOf map[string]string, canonical string, check func(string) string, now time.Time) (*record, map[string][]byte, error) {
	for u, text := range copyOf {
		if check != nil && check(text) != canonical {
			return nil, nil, fmt.Errorf("marking changed the words of %s's copy, so it would not read as the same message; nothing was sent (a marking bug: please report it)", u)
		}
	}
	if tamperCopies != nil {
		tamperCopies(c.prof.User, copyOf)
	}
	salts := map[string][]byte{}
	commits := map[string][]byte{}
	for u, text := range copyOf {
		salts[u] = make([]byte, copySaltSize)
		if err := c.src.Bytes(salts[u]); err != nil {
			return nil, nil, err
		}
		commits[u] = commitCopy(salts[u], text)
	}
	rec, err := c.compose(ctx, r, transcript.KindMessage, buildManifest(transcript.CommitCanonical(canonical), commits), now)
	if err != nil {
		return nil, nil, err
	}
	return rec, salts, nil
}

// docCopyText is what a transcript commits to for a document copy: its
// name, size and the SHA-256 of the copy's plaintext.
func docCopyText(d *DocRef) string {
	return fmt.Sprintf("document %q, %d bytes, sha256 %x", d.Name, d.Size, d.SHA256)
}

// checkCopy verifies that text is the copy the manifest committed to for
// me. It does not look at the canonical text (checkMeaning does).
func (c *Client) checkCopy(manifest, salt []byte, text string) error {
	m, err := transcript.ParseManifest(manifest)
	if err != nil {
		return fmt.Errorf("the signed manifest of copies does not parse: %w", err)
	}
	switch err := m.OpenCopy(c.prof.User, salt, text); {
	case errors.Is(err, transcript.ErrNotInManifest):
		return fmt.Errorf("the signed manifest has no copy for %s", c.prof.User)
	case err != nil:
		return fmt.Errorf("the delivered text is not the copy the sender signed")
	}
	return nil
}

// TranscriptWarnings returns the room transcript's open warnings (gaps,
// withheld or reordered entries), for display above the messages.
func (c *Client) TranscriptWarnings(ctx context.Context, roomRef string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	rl, err := c.transcriptOf(ctx, c.v, r)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, w := range rl.log.Warnings() {
		out = append(out, w.Text)
	}
	out = append(out, c.integrityWarnings(ctx, c.v, r)...)
	return append(out, rl.log.Notices()...), nil
}
