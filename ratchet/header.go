package ratchet

import (
	"crypto/mlkem"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Header layout, as in docs/protocol.md section "Message header".
const (
	FlagKEMCiphertext = 0x01 // a KEM step: target key id and ciphertext follow
	FlagKEMPublic     = 0x02 // the sender's new ML-KEM-768 public key follows
	// FlagKEMOmitted marks a message of a chain with a KEM step that does
	// not repeat the chain's KEM fields. This release never sets it (every
	// message carries them); releases before protocol 2.1 set it from the
	// fifth message of a chain on, and a receiver still understands it.
	FlagKEMOmitted = 0x04

	KEMKeyIDSize     = 8
	KEMPublicSize    = mlkem.EncapsulationKeySize768 // 1184
	KEMCiphertextSz  = mlkem.CiphertextSize768       // 1088
	headerFixedSize  = 1 + 32 + 4 + 4
	MaxHeaderSize    = headerFixedSize + KEMKeyIDSize + KEMCiphertextSz + KEMPublicSize
	knownHeaderFlags = FlagKEMCiphertext | FlagKEMPublic | FlagKEMOmitted
)

// Header is the cleartext part of a ratchet message. It is authenticated as
// associated data, never encrypted.
type Header struct {
	DH            []byte // sender's current ratchet public key (X25519)
	PN            uint32 // length of the sender's previous sending chain
	N             uint32 // message number in the current sending chain
	KEMTargetID   []byte // with FlagKEMCiphertext: id of the receiver's KEM key
	KEMCiphertext []byte // with FlagKEMCiphertext
	KEMPublic     []byte // with FlagKEMPublic
	KEMOmitted    bool   // FlagKEMOmitted
}

func (h *Header) flags() byte {
	var f byte
	if h.KEMCiphertext != nil {
		f |= FlagKEMCiphertext
	}
	if h.KEMPublic != nil {
		f |= FlagKEMPublic
	}
	if h.KEMOmitted {
		f |= FlagKEMOmitted
	}
	return f
}

func (h *Header) size() int {
	n := headerFixedSize
	if h.KEMCiphertext != nil {
		n += KEMKeyIDSize + KEMCiphertextSz
	}
	if h.KEMPublic != nil {
		n += KEMPublicSize
	}
	return n
}

// Marshal appends the header's wire form to b.
func (h *Header) Marshal(b []byte) []byte {
	b = append(b, h.flags())
	b = append(b, h.DH...)
	b = binary.BigEndian.AppendUint32(b, h.PN)
	b = binary.BigEndian.AppendUint32(b, h.N)
	if h.KEMCiphertext != nil {
		b = append(b, h.KEMTargetID...)
		b = append(b, h.KEMCiphertext...)
	}
	if h.KEMPublic != nil {
		b = append(b, h.KEMPublic...)
	}
	return b
}

// ParseHeader decodes a header from the front of msg and returns it with
// the number of bytes it occupied. Slices alias msg.
func ParseHeader(msg []byte) (*Header, int, error) {
	h := new(Header)
	n, err := parseHeader(h, msg)
	if err != nil {
		return nil, 0, err
	}
	return h, n, nil
}

// CheckHeader reports whether msg starts with a well-formed header, as
// ParseHeader would, without keeping it.
func CheckHeader(msg []byte) error {
	var h Header
	_, err := parseHeader(&h, msg)
	return err
}

// parseHeader is ParseHeader into h, which Decrypt keeps on its stack.
func parseHeader(h *Header, msg []byte) (int, error) {
	if len(msg) < headerFixedSize {
		return 0, fmt.Errorf("%w: header truncated (%d bytes)", ErrMalformed, len(msg))
	}
	f := msg[0]
	if f&^knownHeaderFlags != 0 {
		return 0, fmt.Errorf("%w: unknown header flags %#02x", ErrMalformed, f)
	}
	if f&FlagKEMOmitted != 0 && f != FlagKEMOmitted {
		return 0, fmt.Errorf("%w: KEM fields both omitted and present", ErrMalformed)
	}
	*h = Header{
		KEMOmitted: f&FlagKEMOmitted != 0,
		DH:         msg[1:33],
		PN:         binary.BigEndian.Uint32(msg[33:37]),
		N:          binary.BigEndian.Uint32(msg[37:41]),
	}
	off := headerFixedSize
	if f&FlagKEMCiphertext != 0 {
		if len(msg) < off+KEMKeyIDSize+KEMCiphertextSz {
			return 0, fmt.Errorf("%w: KEM ciphertext truncated", ErrMalformed)
		}
		h.KEMTargetID = msg[off : off+KEMKeyIDSize]
		off += KEMKeyIDSize
		h.KEMCiphertext = msg[off : off+KEMCiphertextSz]
		off += KEMCiphertextSz
	}
	if f&FlagKEMPublic != 0 {
		if len(msg) < off+KEMPublicSize {
			return 0, fmt.Errorf("%w: KEM public key truncated", ErrMalformed)
		}
		h.KEMPublic = msg[off : off+KEMPublicSize]
		off += KEMPublicSize
	}
	return off, nil
}

// kemKeyID names an ML-KEM encapsulation key: the first 8 bytes of its SHA-256.
func kemKeyID(pub []byte) []byte {
	s := sha256.Sum256(pub)
	return s[:KEMKeyIDSize]
}
