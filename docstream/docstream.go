// Package docstream encrypts a document of any size as a stream of
// authenticated chunks, in memory bounded by one chunk.
//
// The construction is the STREAM online authenticated encryption (Hoang,
// Reyhanitabar, Rogaway and Vizár, 2015), in the form age uses: the
// plaintext is cut into chunks of ChunkSize bytes (the final chunk may be
// shorter, and is empty only when the whole plaintext is), and chunk i is
// sealed with AES-256-GCM under the stream's key with the 12-byte nonce
//
//	11-byte big-endian i || 0x01 if this is the final chunk, else 0x00
//
// Each sealed chunk is the chunk followed by its 16-byte tag. Because the
// nonce binds each chunk to its position and marks the final one, a reader
// detects a modified, reordered, duplicated or dropped chunk, a stream cut
// short (even at a chunk boundary) and data appended after the end.
//
// A key must seal exactly one stream: nonces repeat across streams, so
// reusing a key would let chunks be swapped between its streams and would
// break GCM's confidentiality. Callers draw a fresh random key per document.
//
// Reader returns plaintext as each chunk is authenticated, before the end of
// the stream is reached: a reader that gets an error must discard everything
// it has read, as it may be a prefix of the document or come from a
// truncated stream.
package docstream

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Sizes.
const (
	// KeySize is the key length: AES-256.
	KeySize = 32
	// ChunkSize is the plaintext bytes per chunk.
	ChunkSize = 64 << 10
	// Overhead is the bytes each sealed chunk adds (the GCM tag).
	Overhead  = 16
	nonceSize = 12
)

// Errors. Every failure to open a stream matches ErrCorrupt; a truncated
// stream and trailing data also match ErrTruncated and ErrTrailingData.
var (
	ErrCorrupt      = errors.New("the document is corrupt or was tampered with")
	ErrTruncated    = errors.New("the stream ends before its final chunk")
	ErrTrailingData = errors.New("data follows the final chunk")
	ErrKeySize      = errors.New("the key must be 32 bytes")
	ErrClosed       = errors.New("write after close")
)

// EncryptedSize returns the length of the sealed stream of n plaintext
// bytes.
func EncryptedSize(n int64) int64 { return encryptedSize(n, ChunkSize) }

func encryptedSize(n int64, chunk int) int64 {
	chunks := n / int64(chunk)
	if n == 0 || n%int64(chunk) != 0 {
		chunks++
	}
	return n + chunks*Overhead
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, ErrKeySize
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// nonce writes chunk i's nonce into n.
func nonce(n *[nonceSize]byte, i uint64, last bool) {
	*n = [nonceSize]byte{}
	binary.BigEndian.PutUint64(n[3:11], i)
	if last {
		n[11] = 1
	}
}

// Writer seals what is written to it into a stream written to the
// underlying writer. Close writes the final chunk; without it the stream is
// incomplete and will not open.
type Writer struct {
	dst    io.Writer
	aead   cipher.AEAD
	chunk  int
	buf    []byte // pending plaintext; capacity chunk+Overhead to seal in place
	i      uint64
	err    error
	closed bool
}

// NewWriter returns a Writer sealing to dst under key (KeySize bytes).
func NewWriter(dst io.Writer, key []byte) (*Writer, error) {
	return newWriter(dst, key, ChunkSize)
}

func newWriter(dst io.Writer, key []byte, chunk int) (*Writer, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Writer{dst: dst, aead: a, chunk: chunk, buf: make([]byte, 0, chunk+Overhead)}, nil
}

// Write buffers p and writes every chunk that is known not to be the last.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	total := 0
	for len(p) > 0 {
		// A full buffer is sealed only once more data shows it is not final.
		if len(w.buf) == w.chunk {
			if err := w.flush(false); err != nil {
				return total, err
			}
		}
		k := copy(w.buf[len(w.buf):w.chunk], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		total += k
	}
	return total, nil
}

func (w *Writer) flush(last bool) error {
	if w.i == math.MaxUint64 {
		w.err = errors.New("stream too long")
		return w.err
	}
	var n [nonceSize]byte
	nonce(&n, w.i, last)
	sealed := w.aead.Seal(w.buf[:0], n[:], w.buf, nil)
	if _, err := w.dst.Write(sealed); err != nil {
		w.err = err
		return err
	}
	w.buf = w.buf[:0]
	w.i++
	return nil
}

// Close seals and writes the final chunk. It does not close the underlying
// writer. Later calls return nil.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	w.closed = true
	return w.flush(true)
}

// Reader opens a sealed stream. It returns each chunk's plaintext once the
// chunk is authenticated and io.EOF only after the final chunk; see the
// package documentation for why output read before an error must be
// discarded.
type Reader struct {
	src   io.Reader
	aead  cipher.AEAD
	chunk int
	buf   []byte // sealed bytes read: one chunk plus one byte of lookahead
	dec   []byte // decrypted chunk
	plain []byte // unread part of dec
	i     uint64
	done  bool // the final chunk was opened
	err   error
}

// NewReader returns a Reader opening the stream read from src with key.
func NewReader(src io.Reader, key []byte) (*Reader, error) {
	return newReader(src, key, ChunkSize)
}

func newReader(src io.Reader, key []byte, chunk int) (*Reader, error) {
	a, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Reader{src: src, aead: a, chunk: chunk, buf: make([]byte, 0, chunk+Overhead+1), dec: make([]byte, 0, chunk)}, nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		switch {
		case r.err != nil:
			return 0, r.err
		case r.done:
			r.err = io.EOF
		default:
			r.err = r.next()
		}
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// next reads and opens one chunk.
func (r *Reader) next() error {
	sealedLen := r.chunk + Overhead
	n, err := io.ReadFull(r.src, r.buf[len(r.buf):sealedLen+1])
	r.buf = r.buf[:len(r.buf)+n]
	switch {
	case err == nil:
		// A byte follows this chunk: it is not the final one.
		if err := r.open(r.buf[:sealedLen], false); err != nil {
			return err
		}
		r.buf[0] = r.buf[sealedLen]
		r.buf = r.buf[:1]
		return nil
	case err != io.EOF && err != io.ErrUnexpectedEOF:
		return err
	case len(r.buf) < Overhead:
		return fmt.Errorf("%w: %w (%d bytes after chunk %d)", ErrCorrupt, ErrTruncated, len(r.buf), r.i)
	case len(r.buf) == Overhead && r.i > 0:
		// Only an empty document ends with an empty chunk.
		return fmt.Errorf("%w: empty final chunk %d", ErrCorrupt, r.i)
	}
	if err := r.open(r.buf, true); err != nil {
		return err
	}
	r.buf = r.buf[:0]
	r.done = true
	return nil
}

// open authenticates and decrypts one sealed chunk into r.plain. On
// failure it tells a chunk that was sealed with the other final flag (a cut
// or an extension of the stream) from one that does not authenticate.
func (r *Reader) open(sealed []byte, last bool) error {
	var n [nonceSize]byte
	nonce(&n, r.i, last)
	pt, err := r.aead.Open(r.dec[:0], n[:], sealed, nil)
	if err == nil {
		r.plain = pt
		r.i++
		return nil
	}
	nonce(&n, r.i, !last)
	if _, err2 := r.aead.Open(nil, n[:], sealed, nil); err2 == nil {
		if last {
			return fmt.Errorf("%w: %w (after chunk %d)", ErrCorrupt, ErrTruncated, r.i)
		}
		return fmt.Errorf("%w: %w (after chunk %d)", ErrCorrupt, ErrTrailingData, r.i)
	}
	return fmt.Errorf("%w: chunk %d does not authenticate (wrong key, or modified, reordered or missing data)", ErrCorrupt, r.i)
}
