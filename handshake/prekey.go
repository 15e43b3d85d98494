package handshake

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"backchannel/identity"
)

// Labels and sizes, as in docs/protocol.md section "Prekeys and bundles".
const (
	SignedPrekeyLabel = "backchannel signed prekey v2"
	KEMPrekeyLabel    = "backchannel kem prekey v2"
	BundleVersion     = 2

	timeSize   = 8 // i64: signed creation time, Unix seconds, big-endian
	x25519Size = 32
	sigSize    = ed25519.SignatureSize
	kemPubSize = mlkem.EncapsulationKeySize768 // 1184
	kemCTSize  = mlkem.CiphertextSize768       // 1088

	// KEM prekey kinds.
	KEMOneTime    = 0x00
	KEMLastResort = 0x01
)

// Errors callers branch on.
var (
	ErrBadBundle     = errors.New("bad prekey bundle")
	ErrBadSignature  = errors.New("prekey signature does not verify")
	ErrUnknownPrekey = errors.New("unknown or already used prekey")
	ErrReplay        = errors.New("initial message replayed")
	// ErrStalePrekey: a bundle's signed or KEM prekey is older than
	// MaxPrekeyAge, or dated more than MaxClockSkew in the future.
	ErrStalePrekey = errors.New("prekey too old or dated in the future")
	// ErrReplayCacheFull: so many sessions were started without one-time
	// prekeys since the last rotation that no more can be remembered; the
	// device must rotate its prekeys (Rotate) before accepting more.
	ErrReplayCacheFull = errors.New("replay cache full; rotate the prekeys")
)

// SignedPrekey is a device's medium-term X25519 prekey, signed by the device
// together with its creation time.
type SignedPrekey struct {
	ID        uint32
	Created   int64 // Unix seconds, covered by the signature
	Public    []byte
	Signature []byte
}

// OneTimePrekey is an unsigned X25519 prekey handed out at most once.
type OneTimePrekey struct {
	ID     uint32
	Public []byte
}

// KEMPrekey is a signed ML-KEM-768 prekey: one-time, or the last-resort key
// used when the one-time ones are exhausted.
type KEMPrekey struct {
	ID         uint32
	LastResort bool
	Created    int64 // Unix seconds, covered by the signature
	Public     []byte
	Signature  []byte
}

// signedPrekeyMessage is what the device signs for a signed prekey:
// label || u32(id) || i64(created) || SPK.
func signedPrekeyMessage(id uint32, created int64, pub []byte) []byte {
	b := make([]byte, 0, len(SignedPrekeyLabel)+4+timeSize+len(pub))
	b = append(b, SignedPrekeyLabel...)
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint64(b, uint64(created))
	return append(b, pub...)
}

// kemPrekeyMessage is what the device signs for a KEM prekey:
// label || kind || u32(id) || i64(created) || PQPK.
func kemPrekeyMessage(lastResort bool, id uint32, created int64, pub []byte) []byte {
	b := make([]byte, 0, len(KEMPrekeyLabel)+1+4+timeSize+len(pub))
	b = append(b, KEMPrekeyLabel...)
	b = append(b, kemKind(lastResort))
	b = binary.BigEndian.AppendUint32(b, id)
	b = binary.BigEndian.AppendUint64(b, uint64(created))
	return append(b, pub...)
}

func kemKind(lastResort bool) byte {
	if lastResort {
		return KEMLastResort
	}
	return KEMOneTime
}

// Verify checks the prekey's signature under the device signing key.
func (p *SignedPrekey) Verify(deviceKey []byte) error {
	if len(p.Public) != x25519Size || len(p.Signature) != sigSize {
		return fmt.Errorf("%w: signed prekey has wrong sizes", ErrBadBundle)
	}
	if !ed25519.Verify(deviceKey, signedPrekeyMessage(p.ID, p.Created, p.Public), p.Signature) {
		return fmt.Errorf("signed prekey %d: %w", p.ID, ErrBadSignature)
	}
	return nil
}

// Verify checks the prekey's signature under the device signing key.
func (p *KEMPrekey) Verify(deviceKey []byte) error {
	if len(p.Public) != kemPubSize || len(p.Signature) != sigSize {
		return fmt.Errorf("%w: KEM prekey has wrong sizes", ErrBadBundle)
	}
	if !ed25519.Verify(deviceKey, kemPrekeyMessage(p.LastResort, p.ID, p.Created, p.Public), p.Signature) {
		return fmt.Errorf("KEM prekey %d: %w", p.ID, ErrBadSignature)
	}
	return nil
}

// maxBundleSize is the encoded size of a bundle with a one-time prekey.
const maxBundleSize = 1 + identity.CertificateSize + 4 + timeSize + x25519Size + sigSize +
	1 + 4 + x25519Size + 4 + 1 + timeSize + kemPubSize + sigSize

// Bundle is what an initiator fetches to start a session with one device.
type Bundle struct {
	Cert    identity.Certificate
	Signed  SignedPrekey
	OneTime *OneTimePrekey // nil when the device's one-time prekeys are exhausted
	KEM     KEMPrekey

	// checked remembers the last successful verification, so that the
	// client's path (assemble, check, initiate) verifies each of the three
	// signatures once and parses the KEM key once. It holds the digest of
	// the bundle it verified: a bundle changed since is verified again.
	checked *checkedBundle
}

type checkedBundle struct {
	digest [sha256.Size]byte
	pqpk   *mlkem.EncapsulationKey768
}

// Verify checks every signature in the bundle: the device certificate under
// its user key, and both signed prekeys under the device key.
func (b *Bundle) Verify() error {
	_, err := b.verify()
	return err
}

// digest hashes every field of the bundle, each with its length, so that no
// change to a field, however its neighbours shift, keeps the digest.
func (b *Bundle) digest() [sha256.Size]byte {
	h := sha256.New()
	field := func(v []byte) {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(v))))
		h.Write(v)
	}
	c := &b.Cert
	for _, v := range [][]byte{c.UserKey, c.SigningKey, c.DHKey, c.Signature, b.Signed.Public, b.Signed.Signature, b.KEM.Public, b.KEM.Signature} {
		field(v)
	}
	var fixed []byte
	fixed = binary.BigEndian.AppendUint32(fixed, c.DeviceID)
	fixed = binary.BigEndian.AppendUint32(fixed, b.Signed.ID)
	fixed = binary.BigEndian.AppendUint64(fixed, uint64(b.Signed.Created))
	fixed = binary.BigEndian.AppendUint32(fixed, b.KEM.ID)
	fixed = append(fixed, kemKind(b.KEM.LastResort))
	fixed = binary.BigEndian.AppendUint64(fixed, uint64(b.KEM.Created))
	if b.OneTime != nil {
		fixed = binary.BigEndian.AppendUint32(append(fixed, 1), b.OneTime.ID)
		field(b.OneTime.Public)
	}
	h.Write(fixed)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// verify is Verify returning the parsed KEM prekey.
func (b *Bundle) verify() (*mlkem.EncapsulationKey768, error) {
	digest := b.digest()
	if c := b.checked; c != nil && c.digest == digest {
		return c.pqpk, nil
	}
	b.checked = nil
	if err := b.Cert.Verify(); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if err := b.Signed.Verify(b.Cert.SigningKey); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if err := b.KEM.Verify(b.Cert.SigningKey); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if b.OneTime != nil {
		if _, err := ecdh.X25519().NewPublicKey(b.OneTime.Public); err != nil {
			return nil, fmt.Errorf("%w: one-time prekey: %v", ErrBadBundle, err)
		}
	}
	if _, err := ecdh.X25519().NewPublicKey(b.Signed.Public); err != nil {
		return nil, fmt.Errorf("%w: signed prekey: %v", ErrBadBundle, err)
	}
	ek, err := mlkem.NewEncapsulationKey768(b.KEM.Public)
	if err != nil {
		return nil, fmt.Errorf("%w: KEM prekey: %v", ErrBadBundle, err)
	}
	b.checked = &checkedBundle{digest: digest, pqpk: ek}
	return ek, nil
}

// Marshal encodes the bundle (docs/protocol.md, "Bundle").
func (b *Bundle) Marshal() []byte {
	out := make([]byte, 0, maxBundleSize)
	out = append(out, BundleVersion)
	out = append(out, b.Cert.Marshal()...)
	out = binary.BigEndian.AppendUint32(out, b.Signed.ID)
	out = binary.BigEndian.AppendUint64(out, uint64(b.Signed.Created))
	out = append(out, b.Signed.Public...)
	out = append(out, b.Signed.Signature...)
	if b.OneTime != nil {
		out = append(out, 1)
		out = binary.BigEndian.AppendUint32(out, b.OneTime.ID)
		out = append(out, b.OneTime.Public...)
	} else {
		out = append(out, 0)
	}
	out = binary.BigEndian.AppendUint32(out, b.KEM.ID)
	out = append(out, kemKind(b.KEM.LastResort))
	out = binary.BigEndian.AppendUint64(out, uint64(b.KEM.Created))
	out = append(out, b.KEM.Public...)
	return append(out, b.KEM.Signature...)
}

// ParseBundle strictly decodes a bundle and verifies all its signatures.
func ParseBundle(in []byte) (*Bundle, error) {
	r := reader{b: in}
	if v := r.byte(); v != BundleVersion {
		if r.err != nil {
			return nil, fmt.Errorf("%w: empty", ErrBadBundle)
		}
		return nil, fmt.Errorf("%w: unsupported version %d (this client speaks %d)", ErrBadBundle, v, BundleVersion)
	}
	certBytes := r.bytes(identity.CertificateSize)
	b := &Bundle{}
	b.Signed.ID = r.uint32()
	b.Signed.Created = r.int64()
	b.Signed.Public = r.bytes(x25519Size)
	b.Signed.Signature = r.bytes(sigSize)
	switch r.byte() {
	case 0:
	case 1:
		b.OneTime = &OneTimePrekey{ID: r.uint32(), Public: r.bytes(x25519Size)}
	default:
		return nil, fmt.Errorf("%w: bad one-time prekey flag", ErrBadBundle)
	}
	b.KEM.ID = r.uint32()
	switch r.byte() {
	case KEMOneTime:
	case KEMLastResort:
		b.KEM.LastResort = true
	default:
		return nil, fmt.Errorf("%w: bad KEM prekey kind", ErrBadBundle)
	}
	b.KEM.Created = r.int64()
	b.KEM.Public = r.bytes(kemPubSize)
	b.KEM.Signature = r.bytes(sigSize)
	if r.err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrBadBundle)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadBundle, len(r.b))
	}
	cert, err := identity.DecodeCertificate(certBytes) // verified with the bundle below
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	b.Cert = cert
	if err := b.Verify(); err != nil {
		return nil, err
	}
	return b, nil
}

// reader is a strict big-endian cursor: after the first short read every
// call returns zero values and err stays set.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errors.New("short")
		return nil
	}
	out := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *reader) uint32() uint32 {
	b := r.bytes(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (r *reader) int64() int64 {
	b := r.bytes(timeSize)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}
