package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"backchannel/server"
	"backchannel/server/api"
	"backchannel/store/sqlite"
)

// FuzzHandler sends arbitrary, correctly signed requests through the real
// handler (and an SQLite store): the server must answer every one with a
// well-formed JSON reply and never fail internally.
func FuzzHandler(f *testing.F) {
	st, err := sqlite.OpenDir(context.Background(), f.TempDir(), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	h := server.New(server.Config{OpenRegistration: true, Limits: server.Limits{RatePerSecond: 1e9, RateBurst: 1e9, RegisterPerMin: 1e9}}, st, nil).Handler()
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	list := genesis(f, "fuzz", key, key)
	reg, _ := json.Marshal(api.RegisterRequest{Name: "fuzz", IdentityKey: key.Public().(ed25519.PublicKey),
		Device: api.DeviceInfo{ID: 1, SigningKey: key.Public().(ed25519.PublicKey)}, DeviceList: list.Marshal()})
	u := &user{name: "fuzz", key: key, ik: key, list: list}
	next, _ := u.makeNext(f, []ed25519.PrivateKey{ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))})
	putList, _ := json.Marshal(api.DeviceListRequest{List: next.Marshal()})
	putCert, _ := json.Marshal(api.CertificateRequest{Certificate: fakeCertificate(key)})
	req := httptest.NewRequest("POST", "/v1/accounts", bytes.NewReader(reg))
	api.SignRequest(req, reg, "fuzz", 1, key, time.Now())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		f.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	f.Add("POST", "/v1/messages", []byte(`{"messages":[{"to":"fuzz","device":1,"data":"QUFB"}]}`))
	f.Add("PUT", "/v1/prekeys", []byte(`{"signed_prekey":{"id":1,"data":"AA=="},"one_time_prekeys":[{"id":2,"data":"AA=="}]}`))
	f.Add("POST", "/v1/messages/ack", []byte(`{"ids":[1]}`))
	f.Add("POST", "/v1/accounts", reg)
	f.Add("GET", "/v1/bundles/fuzz/1", []byte{})
	f.Add("GET", "/v1/messages?after=0&limit=3", []byte{})
	f.Add("POST", "/v1/blobs/00000000000000000000000000000000/finalize", []byte(`{"chunks":1}`))
	f.Add("PUT", "/v1/devicelist", putList)
	f.Add("GET", "/v1/accounts/fuzz/devicelists?after=0", []byte{})
	f.Add("PUT", "/v1/devices/self/certificate", putCert)
	f.Add("GET", "/v1/devices/self", []byte{})
	f.Add("POST", "/v1/messages", []byte(`{"messages":[{"to":"fuzz","device":1,"data":"QUFB"}],"counter":7}`))
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		if !validMethod(method) || len(target) == 0 || target[0] != '/' || target == "/v1/stream" || len(target) > 1024 {
			return
		}
		req, err := http.NewRequest(method, "http://fuzz"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		api.SignRequest(req, body, "fuzz", 1, key, time.Now())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var er api.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Code == "" {
				t.Fatalf("%s %s: %d with body %q", method, target, rec.Code, rec.Body)
			}
		}
	})
}

func validMethod(m string) bool {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS":
		return true
	}
	return false
}
