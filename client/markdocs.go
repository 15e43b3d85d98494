package client

import (
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
	name := filepath.Base(path)
	if markable(name, st.Size()) {
		b, err := io.ReadAll(io.LimitReader(f, MaxMarkedDoc+1))
		if err != nil {
			return nil, err
		}
		if utf8.Valid(b) {
			return c.ShareText(ctx, roomRef, name, string(b))
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
	}
	if err := c.checkFits(ctx, name, docstream.EncryptedSize(st.Size()), 1); err != nil {
		return nil, err
	}
	return c.ShareReader(ctx, roomRef, name, f)
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
	var recipients []string
	for _, u := range room.State.Members {
		if u != c.prof.User {
			recipients = append(recipients, u)
		}
	}
	copies, err := canary.MarkEach(c.prof.MarkingKey, id, text, policy, recipients)
	if err != nil {
		return nil, fmt.Errorf("mark document: %w", err)
	}
	// Every blob of the document is padded to one length, the Padmé length
	// of the longest copy, so the server cannot tell the copies apart by
	// size (docs/protocol.md section 13, "Padding").
	sizes := []int64{int64(len(text))}
	for _, cp := range copies {
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
	if err := c.checkFits(ctx, name, sealed, len(recipients)+1); err != nil {
		return nil, err
	}
	refs := map[string]*DocRef{}
	upload := func(user, content string) error {
		key := make([]byte, 32)
		if err := c.src.Bytes(key); err != nil {
			return err
		}
		ref, err := c.uploadSealed(ctx, key, io.MultiReader(strings.NewReader(content), &zeroReader{n: max(0, padded-int64(len(content)))}))
		if err != nil {
			return fmt.Errorf("share %s: %w", name, err)
		}
		sum := sha256.Sum256([]byte(content))
		ref.Name, ref.Size, ref.SHA256, ref.Padded = name, int64(len(content)), sum[:], padded
		refs[user] = ref
		return nil
	}
	if err := upload(c.prof.User, text); err != nil {
		return nil, err
	}
	for i, u := range recipients {
		if err := upload(u, copies[i]); err != nil {
			c.dropBlobs(ctx, refs)
			return nil, err
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	// The upload ran without the lock: take the membership as it is now,
	// so a member removed meanwhile gets nothing.
	if room, err = c.resolveRoom(ctx, room.State.ID); err != nil {
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
	p := &payload{V: payloadVersion, Log: c.ourCheckpoint(ctx), Kind: KindDoc, ID: id, Room: room.State.ID, SentAt: c.opts.Now().UTC()}
	copyOf := map[string]string{}
	for _, u := range room.State.Members {
		ref, ok := refs[u]
		if !ok {
			c.dropBlobs(ctx, refs)
			return nil, fmt.Errorf("%s joined while the document was being shared; share it again", u)
		}
		copyOf[u] = docCopyText(ref)
	}
	for u := range refs {
		if _, ok := copyOf[u]; !ok {
			c.dropBlobs(ctx, map[string]*DocRef{u: refs[u]}) // removed meanwhile: not theirs to fetch
		}
	}
	rec, salts, err := c.commitDocCopies(ctx, room, copyOf, name, p.SentAt)
	if err != nil {
		return nil, err
	}
	p.Record = rec
	c.stamp(ctx, c.v, room, p) // room version and heads (roomsync.go)
	own := refs[c.prof.User]
	m := Message{ID: id, Room: p.Room, Sender: c.prof.User, SentAt: p.SentAt, Kind: KindDoc, Doc: own,
		Text: fmt.Sprintf("shared %s (%d bytes)", name, own.Size), ReceivedAt: p.SentAt,
		Recipients: recipients, Marking: policy.String(), Entry: rec.hash(), CopySalt: salts[c.prof.User]}
	encode := func(u string) ([]byte, error) {
		q := *p
		q.Doc, q.CopySalt = refs[u], salts[u]
		return json.Marshal(&q)
	}
	err = c.fanOut(ctx, encode, room.State.Members, room.State.Mode == ModeOnRecord, func(ctx context.Context, tx *vault.Tx) error {
		if err := tx.Put(ctx, docTextName(id), []byte(text)); err != nil {
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
