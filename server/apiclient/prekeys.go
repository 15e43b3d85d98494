package apiclient

import (
	"fmt"

	"backchannel/handshake"
	"backchannel/server/api"
)

// Prekeys travel to and from the server as the opaque blobs of package
// handshake; these convert between them and the API's types.

// PrekeyUpload builds an upload of one-time prekeys and, when non-nil, the
// signed and last-resort prekeys.
func PrekeyUpload(signed *handshake.SignedPrekey, lastResort *handshake.KEMPrekey, ots []handshake.OneTimePrekey, kems []handshake.KEMPrekey) api.PrekeyUpload {
	var up api.PrekeyUpload
	if signed != nil {
		up.SignedPrekey = &api.Prekey{ID: signed.ID, Data: signed.Blob()}
	}
	if lastResort != nil {
		up.LastResortKEM = &api.Prekey{ID: lastResort.ID, Data: lastResort.Blob()}
	}
	for _, o := range ots {
		up.OneTimePrekeys = append(up.OneTimePrekeys, api.Prekey{ID: o.ID, Data: o.Blob()})
	}
	for _, k := range kems {
		up.OneTimeKEMPrekeys = append(up.OneTimeKEMPrekeys, api.Prekey{ID: k.ID, Data: k.Blob()})
	}
	return up
}

// AssembleBundle turns a served bundle into a verified handshake.Bundle
// whose certificate names the bundle's identity key and device. Whether that
// identity key is the right one is the caller's to check.
func AssembleBundle(b api.Bundle) (*handshake.Bundle, error) {
	if b.SignedPrekey == nil || b.KEMPrekey == nil {
		return nil, fmt.Errorf("bundle of %s/%d: %w: missing prekeys", b.User, b.Device.ID, handshake.ErrBadBundle)
	}
	s := handshake.StoredBundle{Certificate: b.Device.Certificate,
		SignedID: b.SignedPrekey.ID, Signed: b.SignedPrekey.Data,
		KEMID: b.KEMPrekey.ID, KEMLastResort: b.KEMLastResort, KEM: b.KEMPrekey.Data}
	if b.OneTimePrekey != nil {
		s.OneTimeID, s.OneTime = b.OneTimePrekey.ID, b.OneTimePrekey.Data
	}
	hb, err := s.Assemble()
	if err != nil {
		return nil, fmt.Errorf("bundle of %s/%d: %w", b.User, b.Device.ID, err)
	}
	if string(hb.Cert.UserKey) != string(b.IdentityKey) || hb.Cert.DeviceID != b.Device.ID {
		return nil, fmt.Errorf("bundle of %s/%d: %w: the certificate names another identity or device", b.User, b.Device.ID, handshake.ErrBadBundle)
	}
	return hb, nil
}
