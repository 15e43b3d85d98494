package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"backchannel/canary"
	"backchannel/docstream"
	"backchannel/pad"
	"backchannel/vault"
)

// MaxMarkedDoc bounds the text documents (.txt, .md) that are marked per
// recipient like messages; larger ones are shared unmarked.
const MaxMarkedDoc = 1 << 20

// markable reports whether a document is text the canary can mark.
func markable(name string, size int64) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return (ext == ".txt" || ext == ".md" || ext == ".markdown") && size <= MaxMarkedDoc
}

// shareFile shares a file: text documents get a marked copy per recipient
// (each its own encrypted blob), anything else one blob for everyone.
func (c *Client) shareFile(ctx context.Context, roomRef, path string) (*Message, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory; share a file", path)
	}
	return c.ShareSized(ctx, roomRef, filepath.Base(path), st.Size(), f)
}

// ShareSized shares size bytes read from r under name, as Share shares a
// file: a text document gets a marked copy per recipient, anything else one
// blob for everyone. The desktop app shares what the browser uploads this
// way, without writing it to a file.
func (c *Client) ShareSized(ctx context.Context, roomRef, name string, size int64, r io.Reader) (*Message, error) {
	if markable(name, size) {
		b, err := io.ReadAll(io.LimitReader(r, MaxMarkedDoc+1))
		if err != nil {
			return nil, err
		}
		if utf8.Valid(b) {
			return c.ShareText(ctx, roomRef, name, string(b))
		}
		r = io.MultiReader(bytes.NewReader(b), r)
	}
	if err := c.checkFits(ctx, name, docstream.EncryptedSize(size), 1); err != nil {
		return nil, err
	}
	return c.ShareReader(ctx, roomRef, name, r)
}

// ShareText shares a text document marked per recipient under the room's
// marking policy, exactly as a message would be: each recipient's copy is a
// separate blob under its own key, so no member can read another's copy,
// and trace covers the document. The original is kept in this user's vault.
func (c *Client) ShareText(ctx context.Context, roomRef, name, text string) (*Message, error) {
	if err := checkDocName(name); err != nil {
		return nil, err
	}
	// Marks a pasted copy carries would survive marking and point at this
	// sender: they go first (canary.Unmark; issue 10, item 9).
	text = unmarkOut(text)
	if len(text) > MaxMarkedDoc {
		return nil, fmt.Errorf("text document of %d bytes; marked documents are at most %d", len(text), MaxMarkedDoc)
	}
	room, _, err := c.prepareShare(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	policy, err := canary.ParsePolicy(room.State.Marking)
	if err != nil {
		return nil, err
	}
	id := newID()
	recipients := c.recipientsOf(room)
	marked, err := canary.MarkEach(c.prof.MarkingKey, id, text, policy, recipients)
	if err != nil {
		return nil, fmt.Errorf("mark document: %w", err)
	}
	copies := make(map[string][]byte, len(recipients))
	for i, u := range recipients {
		copies[u] = []byte(marked[i])
	}
	return c.shareCopies(ctx, room, &markedShare{
		id: id, kind: KindDoc, name: name, own: []byte(text), copies: copies, recipients: recipients,
		copyText: docCopyText, canonical: docCanonicalText(name), marking: policy.String(), text: func(own *DocRef) string { return fmt.Sprintf("shared %s (%d bytes)", name, own.Size) },
		keep: func(ctx context.Context, tx *vault.Tx) error { return tx.Put(ctx, docTextName(id), []byte(text)) },
	})
}

// markedShare is one document or voice note shared as a separate copy per
// member: the sender's own (the original) and one marked copy per
// recipient.
type markedShare struct {
	id, kind, name string
	own            []byte
	copies         map[string][]byte // recipient → their copy
	recipients     []string
	// copyText is what the transcript entry commits to for one copy
	// (docCopyText, voiceCopyText), canonical what it commits to for
	// everyone (docCanonicalText, voiceCanonicalText).
	copyText   func(*DocRef) string
	canonical  string
	marking    string
	durationMS int64                    // voice notes
	text       func(own *DocRef) string // the history line
	// keep stores what the sender keeps of it (the original, for trace),
	// in the transaction that appends the message.
	keep func(ctx context.Context, tx *vault.Tx) error
}

// shareCopies uploads every copy of sh as its own encrypted blob, all
// padded to one length, commits to every copy in one transcript entry and
// sends each member the reference to theirs. The room's membership is
// taken again once the uploads are done: a member removed meanwhile gets
// nothing, and one who joined meanwhile makes it fail (share it again).
func (c *Client) shareCopies(ctx context.Context, room *Room, sh *markedShare) (*Message, error) {
	name := sh.name
	// Every blob is padded to one length, the Padmé length of the longest
	// copy, so the server cannot tell the copies apart by size
	// (docs/protocol.md section 13, "Padding").
	sizes := []int64{int64(len(sh.own))}
	for _, cp := range sh.copies {
		sizes = append(sizes, int64(len(cp)))
	}
	padded := pad.BlobSize(sizes...)
	if noPadding.Load() {
		padded = 0 // tests only: the unpadded baseline
	}
	sealed := docstream.EncryptedSize(padded)
	if padded == 0 {
		sealed = docstream.EncryptedSize(slices.Max(sizes))
	}
	if err := c.checkFits(ctx, name, sealed, len(sh.copies)+1); err != nil {
		return nil, err
	}
	refs := map[string]*DocRef{}
	upload := func(user string, content []byte) error {
		key := make([]byte, 32)
		if err := c.src.Bytes(key); err != nil {
			return err
		}
		ref, err := c.uploadSealed(ctx, key, io.MultiReader(bytes.NewReader(content), &zeroReader{n: max(0, padded-int64(len(content)))}))
		if err != nil {
			return fmt.Errorf("share %s: %w", name, err)
		}
		sum := sha256.Sum256(content)
		ref.Name, ref.Size, ref.SHA256, ref.Padded = name, int64(len(content)), sum[:], padded
		refs[user] = ref
		return nil
	}
	if err := upload(c.prof.User, sh.own); err != nil {
		return nil, err
	}
	for _, u := range sh.recipients {
		if err := upload(u, sh.copies[u]); err != nil {
			c.dropBlobs(ctx, refs)
			return nil, err
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	// The upload ran without the lock: take the membership as it is now,
	// so a member removed meanwhile gets nothing.
	room, err := c.resolveRoom(ctx, room.State.ID)
	if err != nil {
		c.dropBlobs(ctx, refs)
		return nil, err
	}
	if room.Removed || !room.State.has(c.prof.User) {
		c.dropBlobs(ctx, refs)
		return nil, fmt.Errorf("%w %q", ErrNotMember, room.State.Name)
	}
	if err := c.checkSendable(room); err != nil {
		c.dropBlobs(ctx, refs)
		return nil, err
	}
	p := &payload{V: payloadVersion, Log: c.ourCheckpoint(ctx), Kind: sh.kind, ID: sh.id, Room: room.State.ID, SentAt: c.opts.Now().UTC(), DurationMS: sh.durationMS}
	copyOf := map[string]string{}
	for _, u := range room.State.Members {
		ref, ok := refs[u]
		if !ok {
			c.dropBlobs(ctx, refs)
			return nil, fmt.Errorf("%s joined while the %s was being shared; share it again", u, kindWord(sh.kind))
		}
		copyOf[u] = sh.copyText(ref)
	}
	for u := range refs {
		if _, ok := copyOf[u]; !ok {
			c.dropBlobs(ctx, map[string]*DocRef{u: refs[u]}) // removed meanwhile: not theirs to fetch
		}
	}
	rec, salts, err := c.commitCopiesOf(ctx, room, copyOf, sh.canonical, nil, p.SentAt)
	if err != nil {
		return nil, err
	}
	p.Record = rec
	c.stamp(ctx, c.v, room, p) // room version and heads (roomsync.go)
	own := refs[c.prof.User]
	m := Message{ID: sh.id, Room: p.Room, Sender: c.prof.User, SentAt: p.SentAt, Kind: sh.kind, Doc: own,
		Text: sh.text(own), ReceivedAt: p.SentAt, DurationMS: sh.durationMS,
		Recipients: sh.recipients, Marking: sh.marking, Entry: rec.hash(), CopySalt: salts[c.prof.User]}
	encode := func(u string) ([]byte, error) {
		q := *p
		q.Doc, q.CopySalt = refs[u], salts[u]
		return json.Marshal(&q)
	}
	err = c.fanOut(ctx, encode, room.State.Members, room.State.Mode == ModeOnRecord, func(ctx context.Context, tx *vault.Tx) error {
		if err := sh.keep(ctx, tx); err != nil {
			return err
		}
		if err := storeRecord(ctx, tx, p.Room, rec); err != nil {
			return err
		}
		return appendMessage(ctx, tx, m)
	})
	if err != nil {
		if !errors.Is(err, ErrNotDelivered) {
			delete(c.logs, room.State.ID)
			c.dropBlobs(ctx, refs)
		}
		return nil, err
	}
	return &m, nil
}

// recipientsOf lists the room's members other than this user.
func (c *Client) recipientsOf(r *Room) []string {
	var out []string
	for _, u := range r.State.Members {
		if u != c.prof.User {
			out = append(out, u)
		}
	}
	return out
}

// kindWord names a shared kind in words.
func kindWord(kind string) string {
	if kind == KindVoice {
		return "voice note"
	}
	return "document"
}

// dropBlobs deletes uploaded copies nobody will be sent, freeing quota; a
// failure only leaves quota in use, so it is logged, not returned.
func (c *Client) dropBlobs(ctx context.Context, refs map[string]*DocRef) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, ref := range refs {
		if err := c.api.DeleteBlob(dctx, ref.BlobID); err != nil {
			c.opts.Logger.Warn("could not delete an unshared blob", "err", err)
		}
	}
}

func docTextName(id string) string { return "doctext/" + id }

// sentDocText returns the original of a marked document this user shared.
func (c *Client) sentDocText(ctx context.Context, id string) (string, error) {
	b, err := c.v.Get(ctx, docTextName(id))
	if err != nil {
		return "", err
	}
	return string(b), nil
}
