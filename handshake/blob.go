package handshake

import (
	"fmt"

	"backchannel/identity"
)

// A server stores a device's prekeys as opaque blobs, one per prekey, with
// the id beside it. These are their byte forms (docs/protocol.md, "Prekeys"):
//
//	signed prekey:  X25519 public key (32) || signature (64)
//	one-time:       X25519 public key (32)
//	KEM prekey:     ML-KEM-768 encapsulation key (1184) || signature (64)

// Blob returns the signed prekey's stored form.
func (p SignedPrekey) Blob() []byte {
	return append(append(make([]byte, 0, x25519Size+sigSize), p.Public...), p.Signature...)
}

// Blob returns the KEM prekey's stored form (its kind travels beside it).
func (p KEMPrekey) Blob() []byte {
	return append(append(make([]byte, 0, kemPubSize+sigSize), p.Public...), p.Signature...)
}

// Blob returns the one-time prekey's stored form.
func (p OneTimePrekey) Blob() []byte { return append([]byte(nil), p.Public...) }

// StoredBundle is a bundle as a server hands it out: the device certificate
// and the prekey blobs with their ids. OneTime is nil when none is left.
type StoredBundle struct {
	Certificate   []byte
	SignedID      uint32
	Signed        []byte
	OneTimeID     uint32
	OneTime       []byte
	KEMID         uint32
	KEMLastResort bool
	KEM           []byte
}

// Assemble decodes the blobs and verifies the resulting bundle: the
// certificate, both prekey signatures and every key encoding.
func (s StoredBundle) Assemble() (*Bundle, error) {
	cert, err := identity.ParseCertificate(s.Certificate)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if len(s.Signed) != x25519Size+sigSize {
		return nil, fmt.Errorf("%w: signed prekey blob is %d bytes", ErrBadBundle, len(s.Signed))
	}
	if len(s.KEM) != kemPubSize+sigSize {
		return nil, fmt.Errorf("%w: KEM prekey blob is %d bytes", ErrBadBundle, len(s.KEM))
	}
	b := &Bundle{
		Cert:   cert,
		Signed: SignedPrekey{ID: s.SignedID, Public: s.Signed[:x25519Size], Signature: s.Signed[x25519Size:]},
		KEM:    KEMPrekey{ID: s.KEMID, LastResort: s.KEMLastResort, Public: s.KEM[:kemPubSize], Signature: s.KEM[kemPubSize:]},
	}
	if s.OneTime != nil {
		if len(s.OneTime) != x25519Size {
			return nil, fmt.Errorf("%w: one-time prekey blob is %d bytes", ErrBadBundle, len(s.OneTime))
		}
		b.OneTime = &OneTimePrekey{ID: s.OneTimeID, Public: s.OneTime}
	}
	if err := b.Verify(); err != nil {
		return nil, err
	}
	return b, nil
}
