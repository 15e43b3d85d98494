package client

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"backchannel/docstream"
	"backchannel/names"
	"backchannel/pad"
	"backchannel/server/apiclient"
	"backchannel/vault"
)

// Documents: a shared file is sealed with a fresh random key (package
// docstream: 64 KiB chunks of AES-256-GCM, STREAM construction) and
// uploaded to the server as an opaque blob while it is read, so memory stays
// bounded whatever the file's size. The room then gets a KindDoc message,
// sent like any other, carrying the blob id, the key, the name, the size and
// the SHA-256 of the plaintext: only members who receive that message can
// find and decrypt the blob, and the server sees ciphertext and its length.

// Document errors.
var (
	// ErrDocNotFound: no document of the room matches the reference.
	ErrDocNotFound = errors.New("no such document in this room")
	// ErrDocAmbiguous: several documents match; use a longer id.
	ErrDocAmbiguous = errors.New("several documents match")
	// ErrDocCorrupt: the downloaded document does not authenticate, is cut
	// short or has trailing data, or its size or SHA-256 differ from what
	// the sender announced. It is docstream.ErrCorrupt, so the stream's
	// detailed errors (docstream.ErrTruncated, ...) match it too.
	ErrDocCorrupt = docstream.ErrCorrupt
	// ErrDocTooLarge: the document does not fit within the server's limits
	// (the largest document it stores, or what is left of this account's
	// quota); it was refused before anything was encrypted or uploaded.
	ErrDocTooLarge = errors.New("the document does not fit within the server's limits")
	// ErrDocName: the name cannot be a document name.
	ErrDocName = errors.New("a document name must be 1-255 bytes of UTF-8 without slashes, control characters, text direction controls, invisible characters or spaces at either end")
)

// MaxDocName bounds a document's name in bytes.
const MaxDocName = 255

// docIDPrefix is the shortest id prefix a document reference may use.
const docIDPrefix = 8

// Share shares the file at path with a room under the file's base name. See
// ShareReader.
func (c *Client) Share(ctx context.Context, roomRef, path string) (*Message, error) {
	return c.shareFile(ctx, roomRef, path)
}

// ShareReader encrypts everything read from r and uploads it as it is
// read (memory: a few chunks, whatever the size), then sends the document
// to every member of the room and appends it to this user's history. The
// server's blob limits apply to the sealed size (docstream.EncryptedSize).
// The room lock is not held during the upload, so syncing and sending
// continue meanwhile; the room's membership is checked again before the
// document message goes out, and the message reaches whoever is a member
// then. As with Send, an error matching ErrNotDelivered means the document
// is uploaded and in the local history but its message did not reach the
// server.
func (c *Client) ShareReader(ctx context.Context, roomRef, name string, r io.Reader) (*Message, error) {
	if err := checkDocName(name); err != nil {
		return nil, err
	}
	room, key, err := c.prepareShare(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	ref, err := c.uploadSealed(ctx, key, r)
	if err != nil {
		return nil, fmt.Errorf("share %s: %w", name, err)
	}
	ref.Name = name

	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.sendDoc(ctx, room.State.ID, ref)
	if err != nil && !errors.Is(err, ErrNotDelivered) {
		// Nothing refers to the blob: free the quota it holds.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if derr := c.api.DeleteBlob(dctx, ref.BlobID); derr != nil {
			c.opts.Logger.Warn("could not delete an unshared blob", "err", derr)
		}
		cancel()
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// checkFits refuses a document whose blobs (count of them, each sealed
// bytes once encrypted) the server would refuse, before anything is
// encrypted or uploaded: one blob over the server's maximum, or all of
// them over what is left of this account's quota. A server too old to
// publish its limits is not asked (it still refuses during the upload).
func (c *Client) checkFits(ctx context.Context, name string, sealed int64, count int) error {
	lim, err := c.api.BlobLimits(ctx)
	if errors.Is(err, apiclient.ErrNotFound) || errors.Is(err, apiclient.ErrBadRequest) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the server's limits for documents: %w", err)
	}
	if lim.MaxBytes > 0 && sealed > lim.MaxBytes {
		return docTooLarge{fmt.Errorf("%s is %s once encrypted; this server accepts documents of at most %s", name, sizeText(sealed), sizeText(lim.MaxBytes))}
	}
	need := sealed * int64(count)
	if lim.QuotaBytes > 0 && lim.UsedBytes+need > lim.QuotaBytes {
		what := sizeText(need)
		if count > 1 {
			what = fmt.Sprintf("%s (a marked copy of %s for each of %d members)", what, sizeText(sealed), count)
		}
		left := max(0, lim.QuotaBytes-lim.UsedBytes)
		return docTooLarge{fmt.Errorf("sharing %s needs %s on the server, and only %s of your %s for documents is left", name, what, sizeText(left), sizeText(lim.QuotaBytes))}
	}
	return nil
}

// docTooLarge matches ErrDocTooLarge, with a message that says which limit.
type docTooLarge struct{ err error }

func (e docTooLarge) Error() string        { return e.err.Error() }
func (e docTooLarge) Is(target error) bool { return target == ErrDocTooLarge }

// sizeText writes n bytes in plain words: "900 bytes", "4.0 KiB",
// "256.0 MiB", "2.0 GiB".
func sizeText(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

// prepareShare resolves a room this user is a member of and draws a fresh
// document key.
func (c *Client) prepareShare(ctx context.Context, roomRef string) (*Room, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return nil, nil, err
	}
	if r.Removed || !r.State.has(c.prof.User) {
		return nil, nil, fmt.Errorf("%w %q", ErrNotMember, r.State.Name)
	}
	key := make([]byte, docstream.KeySize)
	if err := c.src.Bytes(key); err != nil {
		return nil, nil, err
	}
	return r, key, nil
}

// uploadSealed streams r through a docstream writer into a new blob and
// returns the reference (without its name).
func (c *Client) uploadSealed(ctx context.Context, key []byte, r io.Reader) (*DocRef, error) {
	pr, pw := io.Pipe()
	sw, err := docstream.NewWriter(pw, key)
	if err != nil {
		return nil, err
	}
	src := &recordingReader{r: r}
	h := sha256.New()
	var size int64
	var sealErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		size, sealErr = io.Copy(sw, io.TeeReader(src, h))
		if sealErr == nil {
			sealErr = sw.Close()
		}
		pw.CloseWithError(sealErr) // nil: the upload sees io.EOF
	}()
	info, upErr := c.api.UploadBlob(ctx, pr)
	// Unblock the sealing goroutine if the upload stopped early.
	pr.CloseWithError(errors.New("upload stopped"))
	<-done
	switch {
	case src.err != nil:
		return nil, fmt.Errorf("read: %w", src.err)
	case upErr != nil:
		return nil, fmt.Errorf("upload: %w", upErr)
	case sealErr != nil:
		return nil, sealErr
	case info.Size != docstream.EncryptedSize(size):
		return nil, fmt.Errorf("upload: the server stored %d bytes of %d", info.Size, docstream.EncryptedSize(size))
	}
	return &DocRef{BlobID: info.ID, Size: size, Key: key, SHA256: h.Sum(nil)}, nil
}

// recordingReader keeps the first error other than io.EOF its reader
// returned.
type recordingReader struct {
	r   io.Reader
	err error
}

func (rr *recordingReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && err != io.EOF && rr.err == nil {
		rr.err = err
	}
	return n, err
}

// sendDoc sends a document message to the room's current members and
// appends it to this user's history in the same vault transaction. c.mu is
// held.
func (c *Client) sendDoc(ctx context.Context, roomID string, ref *DocRef) (*Message, error) {
	r, err := c.resolveRoom(ctx, roomID)
	if err != nil {
		return nil, err
	}
	if r.Removed || !r.State.has(c.prof.User) {
		return nil, fmt.Errorf("%w %q", ErrNotMember, r.State.Name)
	}
	if err := c.checkSendable(r); err != nil {
		return nil, err
	}
	p := &payload{V: payloadVersion, Log: c.ourCheckpoint(ctx), Kind: KindDoc, ID: newID(), Room: r.State.ID, SentAt: c.opts.Now().UTC(), Doc: ref}
	copyOf := map[string]string{}
	for _, u := range r.State.Members {
		copyOf[u] = docCopyText(ref)
	}
	rec, salts, err := c.commitDocCopies(ctx, r, copyOf, ref.Name, p.SentAt)
	if err != nil {
		return nil, err
	}
	p.Record = rec
	c.stamp(ctx, c.v, r, p) // room version and heads (roomsync.go)
	m := Message{ID: p.ID, Room: p.Room, Sender: c.prof.User, SentAt: p.SentAt, Kind: KindDoc, Doc: ref,
		Text: fmt.Sprintf("shared %s (%d bytes)", ref.Name, ref.Size), ReceivedAt: p.SentAt,
		Entry: rec.hash(), CopySalt: salts[c.prof.User]}
	encode := func(u string) ([]byte, error) {
		q := *p
		q.CopySalt = salts[u]
		return json.Marshal(&q)
	}
	err = c.fanOut(ctx, encode, r.State.Members, r.State.Mode == ModeOnRecord, func(ctx context.Context, tx *vault.Tx) error {
		if err := storeRecord(ctx, tx, p.Room, rec); err != nil {
			return err
		}
		m.Outbox = lastQueued(ctx, tx) // queued while it is there (delivery.go)
		return appendMessage(ctx, tx, m)
	})
	if err != nil {
		if !errors.Is(err, ErrNotDelivered) {
			delete(c.logs, r.State.ID)
		}
		return nil, err
	}
	return &m, nil
}

// Docs returns the room's document messages, oldest first, this user's own
// included.
func (c *Client) Docs(ctx context.Context, roomRef string) ([]Message, error) {
	return c.shared(ctx, roomRef, KindDoc)
}

// shared returns the room's messages of kind (KindDoc, KindVoice) that
// carry a blob reference, oldest first.
func (c *Client) shared(ctx context.Context, roomRef, kind string) ([]Message, error) {
	_, msgs, err := c.History(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	var out []Message
	for _, m := range msgs {
		if m.Kind == kind && m.Doc != nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// FindDoc returns the room's document message that docRef names: a message
// id, a unique id prefix of at least 8 characters, or a unique name.
func (c *Client) FindDoc(ctx context.Context, roomRef, docRef string) (*Message, error) {
	docs, err := c.Docs(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	return findDoc(docs, docRef)
}

func findDoc(docs []Message, ref string) (*Message, error) {
	var byPrefix, byName []Message
	for _, m := range docs {
		switch {
		case m.ID == ref:
			return &m, nil
		case len(ref) >= docIDPrefix && strings.HasPrefix(m.ID, ref):
			byPrefix = append(byPrefix, m)
		case m.Doc.Name == ref:
			byName = append(byName, m)
		}
	}
	for _, found := range [][]Message{byPrefix, byName} {
		switch len(found) {
		case 0:
			continue
		case 1:
			return &found[0], nil
		}
		ids := make([]string, len(found))
		for i, m := range found {
			ids[i] = m.ID[:min(12, len(m.ID))]
		}
		return nil, fmt.Errorf("%w %q: %s; use the id", ErrDocAmbiguous, ref, strings.Join(ids, ", "))
	}
	return nil, fmt.Errorf("%w: %q (see: backchannel docs ROOM)", ErrDocNotFound, ref)
}

// GetDoc downloads the document docRef names (see FindDoc) and writes its
// plaintext to w as it is decrypted, one authenticated chunk at a time.
//
// The whole document is verified only at the end (final chunk, size,
// SHA-256): if GetDoc returns an error, what it wrote to w must not be
// trusted or used — it may be cut short or, with ErrDocCorrupt, come from a
// tampered blob. Write to a temporary file and keep it only on success.
// Errors: ErrDocNotFound, ErrDocAmbiguous, ErrDocCorrupt, and the server's
// (apiclient.ErrNotFound when the blob was deleted).
func (c *Client) GetDoc(ctx context.Context, roomRef, docRef string, w io.Writer) (*DocRef, error) {
	m, err := c.FindDoc(ctx, roomRef, docRef)
	if err != nil {
		return nil, err
	}
	if err := c.fetchDoc(ctx, m.Doc, w); err != nil {
		return nil, err
	}
	return m.Doc, nil
}

// fetchDoc downloads, decrypts and verifies the blob ref names, writing
// the plaintext to w (see GetDoc).
func (c *Client) fetchDoc(ctx context.Context, ref *DocRef, w io.Writer) error {
	body, sealedSize, err := c.api.OpenBlob(ctx, ref.BlobID, 0)
	if err != nil {
		return fmt.Errorf("download %s: %w", ref.Name, err)
	}
	defer body.Close()
	// A marked copy is followed by zero bytes up to the padded length
	// (ref.Padded, docs/protocol.md section 13, "Padding"); the size and
	// hash the sender announced are the document's, without them.
	total := ref.Size
	if ref.Padded != 0 {
		if !pad.ValidBlobSize(ref.Size, ref.Padded) {
			return fmt.Errorf("%s: %w: a padded length of %d bytes for %d", ref.Name, ErrDocCorrupt, ref.Padded, ref.Size)
		}
		total = ref.Padded
	}
	if want := docstream.EncryptedSize(total); ref.Size < 0 || (sealedSize >= 0 && sealedSize != want) {
		return fmt.Errorf("%s: %w: the blob is %d bytes, %d expected", ref.Name, ErrDocCorrupt, sealedSize, want)
	}
	sr, err := docstream.NewReader(body, ref.Key)
	if err != nil {
		return fmt.Errorf("%s: %w", ref.Name, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(sr, ref.Size))
	if err == nil && n == ref.Size {
		// The rest, to the stream's authenticated end, must be exactly the
		// padding: zero bytes, no more and no fewer.
		if perr := pad.Zeros(sr, total-ref.Size); errors.Is(perr, pad.ErrMalformed) {
			err = fmt.Errorf("%w: %v", ErrDocCorrupt, perr)
		} else {
			err = perr
		}
	}
	switch {
	case errors.Is(err, ErrDocCorrupt):
		return fmt.Errorf("%s: %w", ref.Name, err)
	case err != nil:
		return fmt.Errorf("download %s: %w", ref.Name, err)
	case n != ref.Size:
		return fmt.Errorf("%s: %w: %d bytes, %d announced", ref.Name, ErrDocCorrupt, n, ref.Size)
	case subtle.ConstantTimeCompare(h.Sum(nil), ref.SHA256) != 1:
		return fmt.Errorf("%s: %w: its SHA-256 differs from the one the sender announced", ref.Name, ErrDocCorrupt)
	}
	return nil
}

// checkDocName applies the rule for names (package names) to a document's
// name, and refuses path separators and "." and "..". Errors match
// ErrDocName and names.ErrName.
func checkDocName(name string) error {
	if err := names.Check(name, MaxDocName); err != nil {
		return docNameError{fmt.Errorf("the document name %s is %w", quoteName(name), err)}
	}
	if name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return docNameError{fmt.Errorf("the document name %s is %w: it holds a path", quoteName(name), names.ErrName)}
	}
	return nil
}

// docNameError matches ErrDocName, with a message that says what is wrong.
type docNameError struct{ err error }

func (e docNameError) Error() string        { return e.err.Error() }
func (e docNameError) Unwrap() error        { return e.err }
func (e docNameError) Is(target error) bool { return target == ErrDocName }

// LocalFileName turns a document's name, which its sender chose, into a
// name that is safe to create in a directory and shows its real extension
// (names.FileName): no path separators, control, format or invisible
// characters, no leading dot or dash, no reserved device name, at most
// MaxDocName bytes; "document" if nothing usable is left.
func LocalFileName(name string) string { return names.FileName(name) }
