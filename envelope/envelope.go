// Package envelope defines the versioned binary wire format of what one
// device sends another: a prekey message (a PQXDH initiation followed by a
// ratchet message) or a plain ratchet message. Parse is strict: unknown
// versions and types, truncation, trailing bytes and oversized input are
// refused with errors that say which. The layout is in docs/protocol.md,
// section "Envelope".
package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"

	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/ratchet"
)

// Wire constants, as in docs/protocol.md section "Envelope".
const (
	// Version 2: ratchet messages carry a synthetic nonce after the header
	// (docs/protocol.md, "Encrypt"); version 1 used a fixed nonce.
	Version = 2

	TypePrekey  = 0x01
	TypeMessage = 0x02

	flagOneTime       = 0x01
	flagKEMLastResort = 0x02

	kemCiphertextSize = 1088
	initiationMaxSize = identity.CertificateSize + 32 + 4 + 1 + 4 + 4 + kemCiphertextSize
	// MaxSize bounds a whole envelope.
	MaxSize = 2 + initiationMaxSize + ratchet.MaxHeaderSize + ratchet.NonceSize + ratchet.MaxPlaintext + ratchet.TagSize
)

// Errors callers branch on.
var (
	ErrMalformed = errors.New("malformed")
	ErrVersion   = errors.New("unsupported version")
	ErrTooLarge  = errors.New("too large")
)

// Envelope is a decoded envelope. Initiation is set for prekey messages only.
type Envelope struct {
	Type       byte
	Initiation *handshake.Initiation
	Message    []byte // the ratchet message: header || ciphertext
}

// Marshal encodes e.
func (e *Envelope) Marshal() []byte {
	return append(e.AppendPrefix(make([]byte, 0, PrefixSize(e.Initiation)+len(e.Message))), e.Message...)
}

// AppendPrefix appends everything before the ratchet message: version,
// type and, for a prekey message, the initiation.
func (e *Envelope) AppendPrefix(b []byte) []byte {
	b = append(b, Version, e.Type)
	if e.Type == TypePrekey {
		b = AppendInitiation(b, e.Initiation)
	}
	return b
}

// PrefixSize bounds the bytes AppendPrefix adds.
func PrefixSize(in *handshake.Initiation) int {
	if in == nil {
		return 2
	}
	return 2 + initiationMaxSize
}

// Parse decodes an envelope; e.Message aliases b. Parse checks the layout
// only: signatures, keys and ciphertexts are checked by handshake.Respond
// and the ratchet.
func Parse(b []byte) (*Envelope, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxSize)
	}
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d bytes is shorter than any envelope", ErrMalformed, len(b))
	}
	if b[0] < Version {
		return nil, fmt.Errorf("%w %d (this build speaks %d; the sender must upgrade backchannel)", ErrVersion, b[0], Version)
	}
	if b[0] > Version {
		return nil, fmt.Errorf("%w %d (this build speaks %d; upgrade backchannel)", ErrVersion, b[0], Version)
	}
	e := &Envelope{Type: b[1]}
	rest := b[2:]
	switch e.Type {
	case TypeMessage:
	case TypePrekey:
		in, n, err := ParseInitiation(rest)
		if err != nil {
			return nil, err
		}
		e.Initiation, rest = in, rest[n:]
	default:
		return nil, fmt.Errorf("%w: unknown type %#02x", ErrMalformed, e.Type)
	}
	if err := ratchet.CheckHeader(rest); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	e.Message = rest
	return e, nil
}

// AppendInitiation appends the wire form of a PQXDH initiation to b.
func AppendInitiation(b []byte, in *handshake.Initiation) []byte {
	b = append(b, in.Cert.Marshal()...)
	b = append(b, in.EphemeralKey...)
	b = binary.BigEndian.AppendUint32(b, in.SignedPrekeyID)
	var f byte
	if in.OneTimeUsed {
		f |= flagOneTime
	}
	if in.KEMLastResort {
		f |= flagKEMLastResort
	}
	b = append(b, f)
	if in.OneTimeUsed {
		b = binary.BigEndian.AppendUint32(b, in.OneTimeID)
	}
	b = binary.BigEndian.AppendUint32(b, in.KEMPrekeyID)
	return append(b, in.KEMCiphertext...)
}

// ParseInitiation decodes an initiation from the front of b and returns it
// with the number of bytes it occupied.
func ParseInitiation(b []byte) (*handshake.Initiation, int, error) {
	short := func() (*handshake.Initiation, int, error) {
		return nil, 0, fmt.Errorf("%w: prekey message truncated", ErrMalformed)
	}
	const fixed = identity.CertificateSize + 32 + 4 + 1
	if len(b) < fixed {
		return short()
	}
	// Decoded only: handshake.Respond verifies the certificate.
	cert, err := identity.DecodeCertificate(b[:identity.CertificateSize])
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	off := identity.CertificateSize
	in := &handshake.Initiation{Cert: cert}
	in.EphemeralKey = append([]byte(nil), b[off:off+32]...)
	off += 32
	in.SignedPrekeyID = binary.BigEndian.Uint32(b[off:])
	off += 4
	f := b[off]
	off++
	if f&^(flagOneTime|flagKEMLastResort) != 0 {
		return nil, 0, fmt.Errorf("%w: unknown prekey flags %#02x", ErrMalformed, f)
	}
	in.KEMLastResort = f&flagKEMLastResort != 0
	if f&flagOneTime != 0 {
		if len(b) < off+4 {
			return short()
		}
		in.OneTimeUsed, in.OneTimeID = true, binary.BigEndian.Uint32(b[off:])
		off += 4
	}
	if len(b) < off+4+kemCiphertextSize {
		return short()
	}
	in.KEMPrekeyID = binary.BigEndian.Uint32(b[off:])
	off += 4
	in.KEMCiphertext = append([]byte(nil), b[off:off+kemCiphertextSize]...)
	off += kemCiphertextSize
	return in, off, nil
}
