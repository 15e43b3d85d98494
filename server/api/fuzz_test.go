package api_test

import (
	"net/http"
	"testing"

	"backchannel/server/api"
)

// FuzzDecode feeds arbitrary bytes to every request decoder and validator
// and arbitrary header values to the proof parser; none may panic.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"messages":[{"to":"bob","device":1,"data":"QUFB"}]}`), "alice", "1", "1700000000000", "AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Add([]byte(`{"name":"alice","identity_key":"AAAA","device":{"id":1,"signing_key":"AAAA","certificate":""}}`), "", "", "", "", "")
	f.Add([]byte(`{"signed_prekey":{"id":1,"data":"AA=="},"one_time_prekeys":[{"id":2,"data":"AA=="}]}`), "a", "4294967296", "-1", "x", "y")
	f.Add([]byte(`{"ids":[1,2,3]}`), "a", "0", "0", "", "")
	f.Add([]byte(`{"messages":[{"to":"bob","device":1,"data":"QUFB"}],"counter":9223372036854775808}`), "a", "1", "0", "", "")
	f.Add([]byte(`{"list":"AQI="}`), "a", "1", "0", "", "")
	f.Add([]byte(`{"certificate":"AAAA"}`), "a", "1", "0", "", "")
	f.Fuzz(func(t *testing.T, body []byte, user, device, ts, nonce, sig string) {
		var reg api.RegisterRequest
		if api.Decode(body, &reg) == nil {
			_ = reg.Validate()
		}
		var send api.SendRequest
		if api.Decode(body, &send) == nil {
			_ = send.Validate(256, 1<<17)
		}
		var up api.PrekeyUpload
		if api.Decode(body, &up) == nil {
			_ = up.Validate()
		}
		var ack api.AckRequest
		if api.Decode(body, &ack) == nil {
			_ = ack.Validate()
		}
		var dev api.DeviceInfo
		if api.Decode(body, &dev) == nil {
			_ = dev.Validate()
		}
		var dl api.DeviceListRequest
		if api.Decode(body, &dl) == nil {
			_ = dl.Validate()
		}
		var cert api.CertificateRequest
		if api.Decode(body, &cert) == nil {
			_ = cert.Validate()
		}
		var fin api.BlobFinalizeRequest
		_ = api.Decode(body, &fin)
		h := http.Header{}
		h.Set(api.HeaderUser, user)
		h.Set(api.HeaderDevice, device)
		h.Set(api.HeaderTimestamp, ts)
		h.Set(api.HeaderNonce, nonce)
		h.Set(api.HeaderSignature, sig)
		if p, err := api.ParseProof(h); err == nil {
			_ = p.Verify(make([]byte, 32), "POST", "/v1/messages", [32]byte{})
		}
	})
}
