package handshake

import (
	"encoding/binary"
	"fmt"

	"backchannel/identity"
)

// A server stores a device's prekeys as opaque blobs, one per prekey, with
// the id (and for KEM prekeys the kind) beside it. These are their byte
// forms, the bundle's fields after the id (docs/protocol.md, "Prekeys and
// bundles"):
//
//	signed prekey:  i64(created) || X25519 public key (32) || signature (64)
//	one-time:       X25519 public key (32)
//	KEM prekey:     i64(created) || ML-KEM-768 encapsulation key (1184) || signature (64)
const (
	SignedBlobSize  = timeSize + x25519Size + sigSize // 104
	OneTimeBlobSize = x25519Size                      // 32
	KEMBlobSize     = timeSize + kemPubSize + sigSize // 1256
)

// Blob returns the signed prekey's stored form.
func (p SignedPrekey) Blob() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, SignedBlobSize), uint64(p.Created))
	return append(append(b, p.Public...), p.Signature...)
}

// Blob returns the KEM prekey's stored form (its kind travels beside it).
func (p KEMPrekey) Blob() []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, KEMBlobSize), uint64(p.Created))
	return append(append(b, p.Public...), p.Signature...)
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
// certificate, both prekey signatures (which cover the creation times) and
// every key encoding. It does not judge the creation times: call CheckFresh.
func (s StoredBundle) Assemble() (*Bundle, error) {
	cert, err := identity.DecodeCertificate(s.Certificate) // verified with the bundle below
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if len(s.Signed) != SignedBlobSize {
		return nil, fmt.Errorf("%w: signed prekey blob is %d bytes, want %d", ErrBadBundle, len(s.Signed), SignedBlobSize)
	}
	if len(s.KEM) != KEMBlobSize {
		return nil, fmt.Errorf("%w: KEM prekey blob is %d bytes, want %d", ErrBadBundle, len(s.KEM), KEMBlobSize)
	}
	b := &Bundle{
		Cert: cert,
		Signed: SignedPrekey{ID: s.SignedID, Created: int64(binary.BigEndian.Uint64(s.Signed)),
			Public: s.Signed[timeSize : timeSize+x25519Size], Signature: s.Signed[timeSize+x25519Size:]},
		KEM: KEMPrekey{ID: s.KEMID, LastResort: s.KEMLastResort, Created: int64(binary.BigEndian.Uint64(s.KEM)),
			Public: s.KEM[timeSize : timeSize+kemPubSize], Signature: s.KEM[timeSize+kemPubSize:]},
	}
	if s.OneTime != nil {
		if len(s.OneTime) != OneTimeBlobSize {
			return nil, fmt.Errorf("%w: one-time prekey blob is %d bytes", ErrBadBundle, len(s.OneTime))
		}
		b.OneTime = &OneTimePrekey{ID: s.OneTimeID, Public: s.OneTime}
	}
	if err := b.Verify(); err != nil {
		return nil, err
	}
	return b, nil
}
