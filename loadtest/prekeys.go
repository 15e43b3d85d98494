package loadtest

import (
	"fmt"

	"backchannel/handshake"
	"backchannel/server/api"
	"backchannel/server/apiclient"
)

// Prekeys travel to and from the server as the blobs of package handshake,
// through apiclient.PrekeyUpload and apiclient.AssembleBundle.

// prekeyUpload builds the upload of a device's signed prekey, last-resort KEM
// prekey and the given one-time prekeys.
func prekeyUpload(pk *handshake.Prekeys, ots []handshake.OneTimePrekey, kems []handshake.KEMPrekey) api.PrekeyUpload {
	spk, lr := pk.Signed(), pk.LastResort()
	return apiclient.PrekeyUpload(&spk, &lr, ots, kems)
}

// decodeBundle turns a bundle served by the server into a verified
// handshake.Bundle.
func decodeBundle(b api.Bundle) (*handshake.Bundle, error) {
	hb, err := apiclient.AssembleBundle(b)
	if err != nil {
		return nil, fmt.Errorf("prekey bundle: %w", err)
	}
	return hb, nil
}
