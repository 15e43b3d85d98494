// Package backup writes and reads encrypted backup files: a profile's vault
// snapshot (or any byte stream) sealed under a key derived from the backup's
// own passphrase (Argon2id) or from a printed recovery key. It does no
// client logic; docs/protocol.md section 15 specifies the bytes.
//
// A backup file is a 78-byte header (magic line, version, key kind, Argon2id
// parameters, a random salt, the data's length if known, a key check value
// and a header checksum) and
// then a docstream stream (chunked AES-256-GCM, STREAM construction) under a
// key derived from the secret, the salt and the SHA-256 of the whole header,
// so the header is authenticated with the data. Memory is bounded by one
// chunk (64 KiB) in both directions, whatever the file's size; a passphrase
// additionally costs its Argon2id memory once.
//
// Contract:
//   - Every file gets a fresh salt, hence a fresh stream key, even when the
//     same passphrase or recovery key seals many backups.
//   - Read tells apart, with sentinel errors: not a backup (ErrNotBackup), a
//     newer format (ErrVersion), a damaged header (ErrCorrupt), the wrong
//     passphrase or recovery key (ErrWrongPassphrase, ErrWrongRecoveryKey,
//     both ErrWrongKey; nothing is written then), a cut file (ErrTruncated)
//     and altered data (ErrTampered). A file cut inside a chunk reads as
//     ErrTruncated when the header records the data's length (Write records
//     it for regular files and in-memory readers), else as ErrTampered. A
//     header altered on purpose with its
//     checksum recomputed reads as a wrong key: only the secret's holder can
//     tell, and the file is unusable either way.
//   - Read writes to w only chunks that authenticated, but learns that the
//     stream is complete only at its end: after an error, w may hold a
//     prefix of the data, which the caller must discard. RestoreFile does
//     this for files (temporary file, then link into place).
//   - Write writes the header and then streams; on error the caller removes
//     what it wrote.
package backup

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/crypto/argon2"

	"backchannel/docstream"
	"backchannel/entropy"
	"backchannel/vault"
)

// Format constants and labels, word for word as in docs/protocol.md
// section 15.
const (
	// MagicLine starts every backup file.
	MagicLine = "backchannel backup\n"
	// Version is the format version this package writes and reads.
	Version = 1
	// CheckLabel derives the key check value.
	CheckLabel = "backchannel backup check v1"
	// StreamKeyLabel derives the stream key (followed by SHA-256(header)).
	StreamKeyLabel = "backchannel backup stream v1"
	// HeaderSumLabel prefixes the header bytes hashed for the checksum.
	HeaderSumLabel = "backchannel backup header v1"

	// SaltSize is the random salt's length.
	SaltSize = 16
	// HeaderSize is the header's length.
	HeaderSize = len(MagicLine) + 1 + 1 + 4 + 4 + 1 + SaltSize + 8 + checkSize + sumSize
	// UnknownLength in the header's length field: the data's length was
	// not known when it was sealed.
	UnknownLength = ^uint64(0)
	// MaxLength bounds a recorded length (1 PiB).
	MaxLength = 1 << 50

	checkSize   = 16
	sumSize     = 8
	checkOffset = HeaderSize - sumSize - checkSize
	masterLen   = 32
)

// Argon2id parameter bounds a backup may ask for: a file cannot make Read
// spend more than MaxMemoryKiB of memory or MaxTime passes.
const (
	MaxTime      = 16
	MaxMemoryKiB = 1 << 20 // 1 GiB
	MaxThreads   = 64
)

// Kind is how a backup's key is derived.
type Kind byte

// Key kinds.
const (
	KindPassphrase  Kind = 1 // Argon2id of a passphrase
	KindRecoveryKey Kind = 2 // a 32-byte recovery key
)

func (k Kind) String() string {
	switch k {
	case KindPassphrase:
		return "passphrase"
	case KindRecoveryKey:
		return "recovery key"
	}
	return fmt.Sprintf("kind %d", byte(k))
}

// Errors callers branch on.
var (
	ErrNotBackup        = errors.New("not a backchannel backup file")
	ErrVersion          = errors.New("made by a newer version of backchannel (upgrade this one)")
	ErrCorrupt          = errors.New("the backup's header is damaged")
	ErrWrongKey         = errors.New("wrong key")
	ErrWrongPassphrase  = fmt.Errorf("%w: wrong passphrase for this backup", ErrWrongKey)
	ErrWrongRecoveryKey = fmt.Errorf("%w: wrong recovery key for this backup", ErrWrongKey)
	ErrKind             = errors.New("the key is of the other kind")
	ErrTruncated        = errors.New("the backup file is incomplete (cut short)")
	ErrTampered         = errors.New("the backup's data was altered or damaged")
	ErrParams           = errors.New("Argon2id parameters out of range")
	ErrEmptyPassphrase  = errors.New("empty passphrase")
	ErrUsed             = errors.New("the backup was already read")
	ErrLocked           = errors.New("unlock the backup first")
)

// Key is what seals or unlocks a backup: a passphrase (with the Argon2id
// parameters to seal with) or a recovery key.
type Key struct {
	kind       Kind
	passphrase []byte
	params     vault.Params
	recovery   [RecoveryKeySize]byte
}

// PassphraseKey returns a key from a passphrase. params are used when
// sealing (the zero Params mean vault.DefaultParams); when unlocking, the
// file's own parameters are used.
func PassphraseKey(passphrase []byte, params vault.Params) Key {
	if params == (vault.Params{}) {
		params = vault.DefaultParams
	}
	return Key{kind: KindPassphrase, passphrase: bytes.Clone(passphrase), params: params}
}

// Kind returns the key's kind.
func (k Key) Kind() Kind { return k.kind }

func checkParams(p vault.Params) error {
	if p.Time < 1 || p.Time > MaxTime || p.Threads < 1 || p.Threads > MaxThreads ||
		p.Memory < 8*uint32(p.Threads) || p.Memory > MaxMemoryKiB {
		return fmt.Errorf("%w: t=%d m=%d KiB p=%d (t 1..%d, p 1..%d, m 8p..%d KiB)", ErrParams, p.Time, p.Memory, p.Threads, MaxTime, MaxThreads, MaxMemoryKiB)
	}
	return nil
}

// header is a parsed header.
type header struct {
	kind   Kind
	params vault.Params // zero for a recovery key
	salt   [SaltSize]byte
	length uint64 // of the data, or UnknownLength
	check  [checkSize]byte
}

// marshal encodes the header with its checksum.
func (h *header) marshal() []byte {
	b := make([]byte, 0, HeaderSize)
	b = append(b, MagicLine...)
	b = append(b, Version, byte(h.kind))
	b = binary.BigEndian.AppendUint32(b, h.params.Time)
	b = binary.BigEndian.AppendUint32(b, h.params.Memory)
	b = append(b, h.params.Threads)
	b = append(b, h.salt[:]...)
	b = binary.BigEndian.AppendUint64(b, h.length)
	b = append(b, h.check[:]...)
	return append(b, headerSum(b)...)
}

func headerSum(b []byte) []byte {
	s := sha256.New()
	s.Write([]byte(HeaderSumLabel))
	s.Write(b)
	return s.Sum(nil)[:sumSize]
}

// parseHeader decodes exactly HeaderSize bytes (fewer: ErrTruncated).
func parseHeader(b []byte) (header, error) {
	m := len(MagicLine)
	if !bytes.HasPrefix(b, []byte(MagicLine)) {
		if len(b) < m && bytes.HasPrefix([]byte(MagicLine), b) && len(b) > 0 {
			return header{}, fmt.Errorf("%w: %d bytes", ErrTruncated, len(b))
		}
		return header{}, ErrNotBackup
	}
	if len(b) == m {
		return header{}, fmt.Errorf("%w: no header after the magic line", ErrTruncated)
	}
	if b[m] != Version {
		return header{}, fmt.Errorf("%w (format version %d)", ErrVersion, b[m])
	}
	if len(b) < HeaderSize {
		return header{}, fmt.Errorf("%w: a %d-byte header", ErrTruncated, len(b))
	}
	if len(b) > HeaderSize {
		return header{}, fmt.Errorf("%w: header of %d bytes", ErrCorrupt, len(b))
	}
	if subtle.ConstantTimeCompare(headerSum(b[:HeaderSize-sumSize]), b[HeaderSize-sumSize:]) != 1 {
		return header{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	p := b[m+1:]
	h := header{kind: Kind(p[0])}
	h.params = vault.Params{Time: binary.BigEndian.Uint32(p[1:5]), Memory: binary.BigEndian.Uint32(p[5:9]), Threads: p[9]}
	copy(h.salt[:], p[10:])
	h.length = binary.BigEndian.Uint64(p[10+SaltSize:])
	copy(h.check[:], p[18+SaltSize:])
	if h.length != UnknownLength && h.length > MaxLength {
		return header{}, fmt.Errorf("%w: data length %d", ErrCorrupt, h.length)
	}
	switch h.kind {
	case KindPassphrase:
		if err := checkParams(h.params); err != nil {
			return header{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	case KindRecoveryKey:
		if h.params != (vault.Params{}) {
			return header{}, fmt.Errorf("%w: Argon2id parameters on a recovery-key backup", ErrCorrupt)
		}
	default:
		return header{}, fmt.Errorf("%w: unknown key kind %d", ErrCorrupt, p[0])
	}
	return h, nil
}

// master derives the 32-byte master secret of key under h's salt and
// parameters.
func master(h *header, key Key) ([]byte, error) {
	if key.kind != h.kind {
		return nil, fmt.Errorf("%w: this backup is protected by a %s, not a %s", ErrKind, h.kind, key.kind)
	}
	switch key.kind {
	case KindPassphrase:
		return argon2.IDKey(key.passphrase, h.salt[:], h.params.Time, h.params.Memory, h.params.Threads, masterLen), nil
	case KindRecoveryKey:
		return bytes.Clone(key.recovery[:]), nil
	}
	return nil, fmt.Errorf("the zero Key")
}

// checkValue derives the key check value, which also authenticates the
// header fields before it (so the recorded length can be trusted once a key
// is accepted).
func checkValue(h *header, m []byte) ([]byte, error) {
	fields := h.marshal()[:checkOffset]
	c, err := hkdf.Key(sha256.New, m, h.salt[:], CheckLabel+string(fields), checkSize)
	if err != nil {
		return nil, fmt.Errorf("derive check value: %w", err)
	}
	return c, nil
}

func streamKey(h *header, m, raw []byte) ([]byte, error) {
	hh := sha256.Sum256(raw)
	k, err := hkdf.Key(sha256.New, m, h.salt[:], StreamKeyLabel+string(hh[:]), docstream.KeySize)
	if err != nil {
		return nil, fmt.Errorf("derive stream key: %w", err)
	}
	return k, nil
}

// Write seals everything read from r into a backup written to w, under key
// (its passphrase with its parameters, or a recovery key).
func Write(src entropy.Source, w io.Writer, r io.Reader, key Key) error {
	h := header{kind: key.kind}
	switch key.kind {
	case KindPassphrase:
		if len(key.passphrase) == 0 {
			return ErrEmptyPassphrase
		}
		if err := checkParams(key.params); err != nil {
			return err
		}
		h.params = key.params
	case KindRecoveryKey:
	default:
		return fmt.Errorf("the zero Key")
	}
	if err := src.Bytes(h.salt[:]); err != nil {
		return fmt.Errorf("salt: %w", err)
	}
	h.length = lengthOf(r)
	m, err := master(&h, key)
	if err != nil {
		return err
	}
	defer clear(m)
	c, err := checkValue(&h, m)
	if err != nil {
		return err
	}
	copy(h.check[:], c)
	raw := h.marshal()
	sk, err := streamKey(&h, m, raw)
	if err != nil {
		return err
	}
	defer clear(sk)
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	sw, err := docstream.NewWriter(w, sk)
	if err != nil {
		return fmt.Errorf("encrypt the backup: %w", err)
	}
	n, err := io.Copy(sw, r)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if h.length != UnknownLength && uint64(n) != h.length {
		return fmt.Errorf("the input changed size while it was read (%d bytes, then %d)", h.length, n)
	}
	if err := sw.Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// lengthOf returns how many bytes r will yield, if r says: a regular file
// (from its current offset) or an in-memory reader; else UnknownLength.
func lengthOf(r io.Reader) uint64 {
	switch v := r.(type) {
	case interface{ Len() int }: // bytes.Reader, strings.Reader, bytes.Buffer
		return uint64(v.Len())
	case interface { // *os.File
		Stat() (os.FileInfo, error)
		io.Seeker
	}:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return UnknownLength
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil || off > fi.Size() {
			return UnknownLength
		}
		return uint64(fi.Size() - off)
	}
	return UnknownLength
}

// countReader counts what it reads and whether the source ended.
type countReader struct {
	r   io.Reader
	n   int64
	eof bool
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}

// Backup is a backup file being read: Open reads its header, Unlock checks a
// key (as often as the user retries), WriteTo decrypts once.
type Backup struct {
	r    io.Reader
	h    header
	raw  []byte
	key  []byte // stream key, once unlocked
	used bool
}

// Open reads and checks the header of the backup read from r.
func Open(r io.Reader) (*Backup, error) {
	raw := make([]byte, HeaderSize)
	// The magic line and version first, so a newer format's different
	// header length reads as ErrVersion, not as damage.
	head := len(MagicLine) + 1
	n, err := io.ReadFull(r, raw[:head])
	if err == nil {
		var k int
		k, err = io.ReadFull(r, raw[head:])
		n += k
	}
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("read header: %w", err)
	}
	h, perr := parseHeader(raw[:n])
	if perr != nil {
		return nil, perr
	}
	return &Backup{r: r, h: h, raw: raw}, nil
}

// Kind returns what unlocks the backup.
func (b *Backup) Kind() Kind { return b.h.kind }

// Unlock checks key against the backup's check value. A wrong key returns
// ErrWrongPassphrase or ErrWrongRecoveryKey and may be retried.
func (b *Backup) Unlock(key Key) error {
	m, err := master(&b.h, key)
	if err != nil {
		return err
	}
	defer clear(m)
	c, err := checkValue(&b.h, m)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(c, b.h.check[:]) != 1 {
		if key.kind == KindPassphrase {
			return ErrWrongPassphrase
		}
		return ErrWrongRecoveryKey
	}
	sk, err := streamKey(&b.h, m, b.raw)
	if err != nil {
		return err
	}
	b.key = sk
	return nil
}

// WriteTo decrypts the backup's data to w (see the package documentation on
// what w holds after an error). It works once, after Unlock.
func (b *Backup) WriteTo(w io.Writer) (int64, error) {
	switch {
	case b.key == nil:
		return 0, ErrLocked
	case b.used:
		return 0, ErrUsed
	}
	b.used = true
	defer clear(b.key)
	src := &countReader{r: b.r}
	dr, err := docstream.NewReader(src, b.key)
	if err != nil {
		return 0, fmt.Errorf("decrypt the backup: %w", err)
	}
	n, err := io.Copy(w, onlyReader{dr})
	short := b.h.length != UnknownLength && src.eof && src.n < docstream.EncryptedSize(int64(b.h.length))
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, docstream.ErrTruncated):
		return n, fmt.Errorf("%w: %w", ErrTruncated, err)
	case errors.Is(err, docstream.ErrCorrupt) && short:
		return n, fmt.Errorf("%w: %d of %d bytes after the header", ErrTruncated, src.n, docstream.EncryptedSize(int64(b.h.length)))
	case errors.Is(err, docstream.ErrCorrupt):
		return n, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	return n, fmt.Errorf("decrypt: %w", err)
}

// onlyReader hides any io.WriterTo of the wrapped reader, so io.Copy pulls
// authenticated chunks through Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// Read decrypts the backup read from r to w, asking unlock once for the key
// of the kind the backup needs. See the package documentation on what w
// holds after an error.
func Read(w io.Writer, r io.Reader, unlock func(kind Kind) (Key, error)) error {
	b, err := Open(r)
	if err != nil {
		return err
	}
	key, err := unlock(b.Kind())
	if err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	if err := b.Unlock(key); err != nil {
		return err
	}
	_, err = b.WriteTo(w)
	return err
}
