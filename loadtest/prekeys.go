package loadtest

import (
	"fmt"

	"backchannel/handshake"
	"backchannel/server/api"
)

// Prekeys travel to and from the server as the blobs of package handshake
// (handshake.SignedPrekey.Blob and friends, handshake.StoredBundle).

// prekeyUpload builds the upload of a device's signed prekey, last-resort KEM
// prekey and the given one-time prekeys.
func prekeyUpload(pk *handshake.Prekeys, ots []handshake.OneTimePrekey, kems []handshake.KEMPrekey) api.PrekeyUpload {
	signed := api.Prekey{ID: pk.Signed().ID, Data: pk.Signed().Blob()}
	last := api.Prekey{ID: pk.LastResort().ID, Data: pk.LastResort().Blob()}
	up := api.PrekeyUpload{SignedPrekey: &signed, LastResortKEM: &last}
	for _, o := range ots {
		up.OneTimePrekeys = append(up.OneTimePrekeys, api.Prekey{ID: o.ID, Data: o.Blob()})
	}
	for _, k := range kems {
		up.OneTimeKEMPrekeys = append(up.OneTimeKEMPrekeys, api.Prekey{ID: k.ID, Data: k.Blob()})
	}
	return up
}

// decodeBundle turns a bundle served by the server into a verified
// handshake.Bundle. The device certificate must name the user's identity key.
func decodeBundle(b api.Bundle) (*handshake.Bundle, error) {
	if b.SignedPrekey == nil || b.KEMPrekey == nil {
		return nil, fmt.Errorf("loadtest: bundle of %s/%d: missing prekeys", b.User, b.Device.ID)
	}
	s := handshake.StoredBundle{Certificate: b.Device.Certificate,
		SignedID: b.SignedPrekey.ID, Signed: b.SignedPrekey.Data,
		KEMID: b.KEMPrekey.ID, KEMLastResort: b.KEMLastResort, KEM: b.KEMPrekey.Data}
	if b.OneTimePrekey != nil {
		s.OneTimeID, s.OneTime = b.OneTimePrekey.ID, b.OneTimePrekey.Data
	}
	hb, err := s.Assemble()
	if err != nil {
		return nil, fmt.Errorf("loadtest: bundle of %s/%d: %w", b.User, b.Device.ID, err)
	}
	if string(hb.Cert.UserKey) != string(b.IdentityKey) || hb.Cert.DeviceID != b.Device.ID {
		return nil, fmt.Errorf("loadtest: bundle of %s/%d: certificate names another identity or device", b.User, b.Device.ID)
	}
	return hb, nil
}
