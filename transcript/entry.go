// Package transcript implements backchannel's room transcript: a hash-linked
// DAG of entries, one per message or membership change, signed in
// on-the-record rooms with the sender's Ed25519 identity key or with the
// signing key of one of the sender's linked devices, and unsigned in
// deniable rooms.
//
// Contract:
//
//   - An Entry has one canonical binary encoding (EncodingVersion 1, see
//     docs/transcript.md). DecodeEntry accepts exactly the bytes Encode
//     produces and nothing else: unknown versions, non-canonical fields,
//     unsorted or duplicate parents and trailing bytes are errors.
//   - The entry hash is SHA-256 over HashLabel, a zero byte and the signed
//     body (everything but the signature). The signature is Ed25519 over
//     SignatureLabel, a zero byte and the same body.
//   - The content is never inside the entry; the entry carries a salted
//     commitment (Commit), so a bundle can disclose some contents and prove
//     that they belong to the chain without revealing the others.
//   - Log is the per-room state a client keeps. It reports withheld,
//     reordered, duplicated, replayed, forked and forged entries as sentinel
//     errors or as human warnings (Log.Warnings) that clear once resolved.
//   - Sequence numbers belong to a signer, the pair (Sender, SenderKey): each
//     of a member's keys numbers its own entries, so two devices sending at
//     once are not a fork; gaps, forks and clock checks are per signer.
//   - Export and VerifyBundle produce and check a self-contained, versioned
//     JSON bundle offline; device keys are accepted only as far as the
//     verifier's VerifyOptions.DeviceKeys proves them from the member's
//     signed device lists, and identities only as far as
//     VerifyOptions.Trusted vouches for them.
//
// Verification of leaked text against a transcript lives in transcript/leak;
// the doctoring benchmark generator in transcript/doctor.
package transcript

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"
)

// Domain-separation labels. Each is prefixed, followed by one zero byte, to
// the bytes it covers. Changing any of them is a format break.
const (
	SignatureLabel  = "backchannel transcript entry v1"
	HashLabel       = "backchannel transcript entry hash v1"
	CommitmentLabel = "backchannel transcript content v1"
)

// Encoding limits enforced by Encode and DecodeEntry.
const (
	EncodingVersion = 1
	MaxIDLen        = 256 // room and member ids, bytes
	MaxParents      = 64  // parent hashes per entry
	MaxContentLen   = 1 << 20
	SaltSize        = 32
	HashSize        = sha256.Size
	// MaxEntrySize bounds an encoded entry.
	MaxEntrySize = 3 + 2 + MaxIDLen + 2 + MaxIDLen + ed25519.PublicKeySize + 8 + 8 + 2 + MaxParents*HashSize + HashSize + ed25519.SignatureSize
)

// Representable times: int64 Unix nanoseconds.
var (
	minTime = time.Unix(0, -1<<63).UTC()
	maxTime = time.Unix(0, 1<<63-1).UTC()
)

// Sentinel errors for the structural and cryptographic checks.
var (
	ErrMalformed    = errors.New("malformed entry")
	ErrBadSignature = errors.New("invalid signature")
	ErrCommitment   = errors.New("content does not match commitment")
)

// Kind says what an entry records.
type Kind uint8

// Entry kinds.
const (
	KindMessage    Kind = 1
	KindMembership Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindMembership:
		return "membership"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Mode is a room's recording mode, fixed at creation.
type Mode uint8

// Room modes. On-record entries carry a signature; deniable ones do not.
const (
	ModeOnRecord Mode = 1
	ModeDeniable Mode = 2
)

func (m Mode) String() string {
	switch m {
	case ModeOnRecord:
		return "on-record"
	case ModeDeniable:
		return "deniable"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode parses "on-record" or "deniable".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "on-record":
		return ModeOnRecord, nil
	case "deniable":
		return ModeDeniable, nil
	}
	return 0, fmt.Errorf("unknown room mode %q (want on-record or deniable)", s)
}

// Hash is an entry hash or a content commitment.
type Hash [HashSize]byte

// String returns the lower-case hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ID returns the short message id shown to users: the first 16 hex digits.
func (h Hash) ID() string { return hex.EncodeToString(h[:8]) }

// ParseHash parses 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != HashSize {
		return h, fmt.Errorf("bad hash %q: want %d hex digits", s, 2*HashSize)
	}
	copy(h[:], b)
	return h, nil
}

// Salt blinds a content commitment.
type Salt [SaltSize]byte

// NewSalt returns a fresh random salt.
func NewSalt() (Salt, error) {
	var s Salt
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("salt: %w", err)
	}
	return s, nil
}

// Commit returns SHA-256(CommitmentLabel || 0x00 || salt || content).
func Commit(salt Salt, content []byte) Hash {
	h := sha256.New()
	h.Write([]byte(CommitmentLabel))
	h.Write([]byte{0})
	h.Write(salt[:])
	h.Write(content)
	var out Hash
	h.Sum(out[:0])
	return out
}

// CheckCommitment reports whether salt and content open commitment c.
func CheckCommitment(c Hash, salt Salt, content []byte) error {
	got := Commit(salt, content)
	if subtle.ConstantTimeCompare(got[:], c[:]) != 1 {
		return ErrCommitment
	}
	return nil
}

// Entry is one transcript entry. Time is the sender's clock, kept to the
// nanosecond in UTC.
type Entry struct {
	Mode       Mode
	Kind       Kind
	Room       string
	Sender     string
	SenderKey  ed25519.PublicKey
	Seq        uint64 // per sender, starting at 1
	Time       time.Time
	Parents    []Hash // sorted ascending, no duplicates
	Commitment Hash
	Signature  []byte // ed25519.SignatureSize bytes on-record, empty when deniable
}

// SortParents sorts and de-duplicates hashes as the encoding requires.
func SortParents(ps []Hash) []Hash {
	out := append([]Hash(nil), ps...)
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	w := 0
	for i := range out {
		if w > 0 && out[w-1] == out[i] {
			continue
		}
		out[w] = out[i]
		w++
	}
	return out[:w]
}

func checkID(what, s string) error {
	if s == "" || len(s) > MaxIDLen || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s must be 1..%d bytes of UTF-8", ErrMalformed, what, MaxIDLen)
	}
	return nil
}

// validate checks everything except the signature.
func (e *Entry) validate() error {
	if e.Mode != ModeOnRecord && e.Mode != ModeDeniable {
		return fmt.Errorf("%w: unknown mode %d", ErrMalformed, e.Mode)
	}
	if e.Kind != KindMessage && e.Kind != KindMembership {
		return fmt.Errorf("%w: unknown kind %d", ErrMalformed, e.Kind)
	}
	if err := checkID("room id", e.Room); err != nil {
		return err
	}
	if err := checkID("sender id", e.Sender); err != nil {
		return err
	}
	if len(e.SenderKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: sender key must be %d bytes", ErrMalformed, ed25519.PublicKeySize)
	}
	if e.Seq == 0 {
		return fmt.Errorf("%w: sequence numbers start at 1", ErrMalformed)
	}
	if e.Time.Before(minTime) || e.Time.After(maxTime) {
		return fmt.Errorf("%w: time %v outside %d..%d", ErrMalformed, e.Time, minTime.Year(), maxTime.Year())
	}
	if len(e.Parents) > MaxParents {
		return fmt.Errorf("%w: %d parents (max %d)", ErrMalformed, len(e.Parents), MaxParents)
	}
	for i := 1; i < len(e.Parents); i++ {
		if string(e.Parents[i-1][:]) >= string(e.Parents[i][:]) {
			return fmt.Errorf("%w: parents not strictly ascending", ErrMalformed)
		}
	}
	return nil
}

// Body returns the canonical signed bytes (everything but the signature):
//
//	version u8 | mode u8 | kind u8 | room len u16 | room | sender len u16 | sender |
//	sender key [32] | seq u64 | time i64 (Unix ns) | parent count u16 | parents [32]... |
//	commitment [32]
//
// Integers are big-endian.
func (e *Entry) Body() ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 3+2+len(e.Room)+2+len(e.Sender)+32+16+2+len(e.Parents)*HashSize+HashSize+ed25519.SignatureSize)
	b = append(b, EncodingVersion, byte(e.Mode), byte(e.Kind))
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Room)))
	b = append(b, e.Room...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Sender)))
	b = append(b, e.Sender...)
	b = append(b, e.SenderKey...)
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Parents)))
	for _, p := range e.Parents {
		b = append(b, p[:]...)
	}
	b = append(b, e.Commitment[:]...)
	return b, nil
}

// Encode returns the body followed by the signature (on-record) or nothing
// (deniable).
func (e *Entry) Encode() ([]byte, error) {
	b, err := e.Body()
	if err != nil {
		return nil, err
	}
	switch e.Mode {
	case ModeOnRecord:
		if len(e.Signature) != ed25519.SignatureSize {
			return nil, fmt.Errorf("%w: on-record entry needs a %d-byte signature", ErrMalformed, ed25519.SignatureSize)
		}
		b = append(b, e.Signature...)
	case ModeDeniable:
		if len(e.Signature) != 0 {
			return nil, fmt.Errorf("%w: deniable entries carry no signature", ErrMalformed)
		}
	}
	return b, nil
}

func hashBody(body []byte) Hash {
	h := sha256.New()
	h.Write([]byte(HashLabel))
	h.Write([]byte{0})
	h.Write(body)
	var out Hash
	h.Sum(out[:0])
	return out
}

func signedMessage(body []byte) []byte {
	m := make([]byte, 0, len(SignatureLabel)+1+len(body))
	m = append(m, SignatureLabel...)
	m = append(m, 0)
	return append(m, body...)
}

// Hash returns the entry hash, which does not cover the signature.
func (e *Entry) Hash() (Hash, error) {
	b, err := e.Body()
	if err != nil {
		return Hash{}, err
	}
	return hashBody(b), nil
}

// Sign sets SenderKey from priv and signs the body. It fails on deniable
// entries, which must stay unsigned.
func (e *Entry) Sign(priv ed25519.PrivateKey) error {
	if e.Mode != ModeOnRecord {
		return fmt.Errorf("%w: only on-record entries are signed", ErrMalformed)
	}
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("sign: private key must be %d bytes", ed25519.PrivateKeySize)
	}
	e.SenderKey = append(ed25519.PublicKey(nil), priv.Public().(ed25519.PublicKey)...)
	b, err := e.Body()
	if err != nil {
		return err
	}
	e.Signature = ed25519.Sign(priv, signedMessage(b))
	return nil
}

// VerifySignature checks the on-record signature against e.SenderKey. The
// caller must separately check that SenderKey is the sender's identity key
// or one of the sender's device keys (Log.Append and VerifyBundle do).
// Deniable entries verify if and only if they carry no signature.
func (e *Entry) VerifySignature() error {
	b, err := e.Body()
	if err != nil {
		return err
	}
	return verifyBody(e, b)
}

func verifyBody(e *Entry, body []byte) error {
	if e.Mode == ModeDeniable {
		if len(e.Signature) != 0 {
			return fmt.Errorf("%w: signature on a deniable entry", ErrMalformed)
		}
		return nil
	}
	if len(e.Signature) != ed25519.SignatureSize || !ed25519.Verify(e.SenderKey, signedMessage(body), e.Signature) {
		return fmt.Errorf("%w: %s #%d", ErrBadSignature, e.Sender, e.Seq)
	}
	return nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrMalformed)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() int {
	if b := r.take(2); b != nil {
		return int(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) str(what string) string {
	n := r.u16()
	if r.err == nil && (n == 0 || n > MaxIDLen) {
		r.err = fmt.Errorf("%w: %s length %d", ErrMalformed, what, n)
	}
	return string(r.take(n))
}

// DecodeEntry parses one encoded entry strictly. It checks structure only;
// call VerifySignature (or Log.Append) for the signature.
func DecodeEntry(b []byte) (*Entry, error) {
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformed, len(b), MaxEntrySize)
	}
	r := &reader{b: b}
	if v := r.u8(); r.err == nil && v != EncodingVersion {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrMalformed, v)
	}
	e := &Entry{Mode: Mode(r.u8()), Kind: Kind(r.u8())}
	e.Room = r.str("room id")
	e.Sender = r.str("sender id")
	e.SenderKey = append(ed25519.PublicKey(nil), r.take(ed25519.PublicKeySize)...)
	e.Seq = r.u64()
	e.Time = time.Unix(0, int64(r.u64())).UTC()
	n := r.u16()
	if r.err == nil && n > MaxParents {
		return nil, fmt.Errorf("%w: %d parents (max %d)", ErrMalformed, n, MaxParents)
	}
	for i := 0; i < n && r.err == nil; i++ {
		var h Hash
		copy(h[:], r.take(HashSize))
		e.Parents = append(e.Parents, h)
	}
	copy(e.Commitment[:], r.take(HashSize))
	if r.err != nil {
		return nil, r.err
	}
	if e.Mode == ModeOnRecord {
		e.Signature = append([]byte(nil), r.take(ed25519.SignatureSize)...)
		if r.err != nil {
			return nil, r.err
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return e, nil
}
