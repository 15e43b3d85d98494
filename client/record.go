package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"backchannel/transcript"
	"backchannel/vault"
)

// Labels of the per-recipient copy commitments, as in docs/protocol.md
// section 13 "Rooms, marked copies and the transcript".
const (
	CopyCommitmentLabel = "backchannel copy commitment v1"
	ManifestHeader      = "backchannel copies v1\n"
	copySaltSize        = 32
)

// Every recipient of a message gets a differently marked copy (package
// canary), yet the room's transcript must be one hash-linked chain. So the
// transcript entry commits to a manifest that lists, per recipient, a
// salted commitment to that recipient's copy; each recipient receives the
// entry, the manifest, its own copy and its own salt. The entry's signature
// (on-record rooms) thus covers every delivered copy, while no member can
// learn another member's copy from the manifest.

func commitCopy(salt []byte, text string) []byte {
	h := sha256.New()
	h.Write([]byte(CopyCommitmentLabel))
	h.Write([]byte{0})
	h.Write(salt)
	h.Write([]byte(text))
	return h.Sum(nil)
}

// buildManifest lists user → hex commitment, sorted by user.
func buildManifest(commits map[string][]byte) []byte {
	users := make([]string, 0, len(commits))
	for u := range commits {
		users = append(users, u)
	}
	slices.Sort(users)
	var b bytes.Buffer
	b.WriteString(ManifestHeader)
	for _, u := range users {
		fmt.Fprintf(&b, "%s %x\n", u, commits[u])
	}
	return b.Bytes()
}

// manifestEntry returns user's commitment from a manifest.
func manifestEntry(manifest []byte, user string) ([]byte, bool) {
	s, ok := strings.CutPrefix(string(manifest), ManifestHeader)
	if !ok {
		return nil, false
	}
	for _, line := range strings.Split(s, "\n") {
		name, hx, ok := strings.Cut(line, " ")
		if ok && name == user {
			b, err := hex.DecodeString(hx)
			return b, err == nil && len(b) == sha256.Size
		}
	}
	return nil, false
}

// manifestUsers lists the users of a manifest except skip.
func manifestUsers(manifest []byte, skip string) []string {
	s, ok := strings.CutPrefix(string(manifest), ManifestHeader)
	if !ok {
		return nil
	}
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if name, _, ok := strings.Cut(line, " "); ok && name != skip {
			out = append(out, name)
		}
	}
	return out
}

// record is one transcript entry as stored in the vault log "tx/ROOM".
type record struct {
	Entry   []byte `json:"entry"`
	Salt    []byte `json:"salt"`
	Content []byte `json:"content"` // a manifest, or a signed room state
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
}

// transcriptOf returns the room's transcript log, replaying the stored
// records on first use.
func (c *Client) transcriptOf(ctx context.Context, rd reader, r *Room) (*roomLog, error) {
	if rl, ok := c.logs[r.State.ID]; ok {
		return rl, nil
	}
	rl := &roomLog{log: transcript.NewLog(r.State.ID, transcriptMode(r.State.Mode), time.Local), members: map[string]bool{}}
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
	return &record{Entry: enc, Salt: salt[:], Content: content}, nil
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
	raw, _ := json.Marshal(rec)
	if _, err := tx.Append(ctx, "tx/"+r.State.ID, raw); err != nil {
		delete(c.logs, r.State.ID)
		return err
	}
	return nil
}

// commitCopies salts and commits to every member's copy (copyOf maps each
// member, this user included, to the text it receives) and composes this
// user's transcript entry over the manifest. It returns the entry and the
// salts, one per member, each to travel with that member's copy.
func (c *Client) commitCopies(ctx context.Context, r *Room, copyOf map[string]string, now time.Time) (*record, map[string][]byte, error) {
	salts := map[string][]byte{}
	commits := map[string][]byte{}
	for u, text := range copyOf {
		salts[u] = make([]byte, copySaltSize)
		if err := c.src.Bytes(salts[u]); err != nil {
			return nil, nil, err
		}
		commits[u] = commitCopy(salts[u], text)
	}
	rec, err := c.compose(ctx, r, transcript.KindMessage, buildManifest(commits), now)
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

// checkCopy verifies that text is the copy the manifest committed to for me.
func (c *Client) checkCopy(manifest, salt []byte, text string) error {
	want, ok := manifestEntry(manifest, c.prof.User)
	if !ok {
		return fmt.Errorf("the signed manifest has no copy for %s", c.prof.User)
	}
	if subtle.ConstantTimeCompare(want, commitCopy(salt, text)) != 1 {
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
	return append(out, rl.log.Notices()...), nil
}
