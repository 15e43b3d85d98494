package loadtest

import (
	"fmt"

	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/server/api"
)

// The server stores prekeys as opaque blobs. The load tool encodes them as
// follows (the client engine may choose its own encoding; the server cannot
// tell the difference):
//
//	signed prekey:        Data = X25519 public (32) || signature (64)
//	one-time prekey:      Data = X25519 public (32)
//	KEM prekey (any kind): Data = ML-KEM-768 encapsulation key (1184) || signature (64)
//
// The prekey id travels in api.Prekey.ID and the KEM kind in
// api.Bundle.KEMLastResort.

const (
	x25519Size = 32
	sigSize    = 64
	kemPubSize = 1184
)

func encodeSigned(p handshake.SignedPrekey) api.Prekey {
	return api.Prekey{ID: p.ID, Data: append(append(make([]byte, 0, x25519Size+sigSize), p.Public...), p.Signature...)}
}

func encodeKEM(p handshake.KEMPrekey) api.Prekey {
	return api.Prekey{ID: p.ID, Data: append(append(make([]byte, 0, kemPubSize+sigSize), p.Public...), p.Signature...)}
}

// prekeyUpload builds the upload of a device's signed prekey, last-resort KEM
// prekey and the given one-time prekeys.
func prekeyUpload(pk *handshake.Prekeys, ots []handshake.OneTimePrekey, kems []handshake.KEMPrekey) api.PrekeyUpload {
	signed := encodeSigned(pk.Signed())
	last := encodeKEM(pk.LastResort())
	up := api.PrekeyUpload{SignedPrekey: &signed, LastResortKEM: &last}
	for _, o := range ots {
		up.OneTimePrekeys = append(up.OneTimePrekeys, api.Prekey{ID: o.ID, Data: append([]byte(nil), o.Public...)})
	}
	for _, k := range kems {
		up.OneTimeKEMPrekeys = append(up.OneTimeKEMPrekeys, encodeKEM(k))
	}
	return up
}

// decodeBundle turns a bundle served by the server into a verified
// handshake.Bundle. The device certificate must name the user's identity key.
func decodeBundle(b api.Bundle) (*handshake.Bundle, error) {
	cert, err := identity.ParseCertificate(b.Device.Certificate)
	if err != nil {
		return nil, fmt.Errorf("loadtest: bundle of %s/%d: %w", b.User, b.Device.ID, err)
	}
	if string(cert.UserKey) != string(b.IdentityKey) || cert.DeviceID != b.Device.ID {
		return nil, fmt.Errorf("loadtest: bundle of %s/%d: certificate does not match the account", b.User, b.Device.ID)
	}
	if b.SignedPrekey == nil || len(b.SignedPrekey.Data) != x25519Size+sigSize {
		return nil, fmt.Errorf("loadtest: bundle of %s/%d: missing or malformed signed prekey", b.User, b.Device.ID)
	}
	if b.KEMPrekey == nil || len(b.KEMPrekey.Data) != kemPubSize+sigSize {
		return nil, fmt.Errorf("loadtest: bundle of %s/%d: missing or malformed KEM prekey", b.User, b.Device.ID)
	}
	hb := &handshake.Bundle{
		Cert: cert,
		Signed: handshake.SignedPrekey{
			ID:        b.SignedPrekey.ID,
			Public:    b.SignedPrekey.Data[:x25519Size],
			Signature: b.SignedPrekey.Data[x25519Size:],
		},
		KEM: handshake.KEMPrekey{
			ID:         b.KEMPrekey.ID,
			LastResort: b.KEMLastResort,
			Public:     b.KEMPrekey.Data[:kemPubSize],
			Signature:  b.KEMPrekey.Data[kemPubSize:],
		},
	}
	if b.OneTimePrekey != nil {
		if len(b.OneTimePrekey.Data) != x25519Size {
			return nil, fmt.Errorf("loadtest: bundle of %s/%d: malformed one-time prekey", b.User, b.Device.ID)
		}
		hb.OneTime = &handshake.OneTimePrekey{ID: b.OneTimePrekey.ID, Public: b.OneTimePrekey.Data}
	}
	if err := hb.Verify(); err != nil {
		return nil, fmt.Errorf("loadtest: bundle of %s/%d: %w", b.User, b.Device.ID, err)
	}
	return hb, nil
}
