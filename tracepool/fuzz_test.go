package tracepool

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The decoders take bytes from other members: whatever they get, they
// return a value that passes its own validation, or an error, and a value
// they accept survives a re-encoding unchanged.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"v":1,"id":"0123456789abcdef0123456789abcdef","leak":"dGhlIGRyYWZ0","epsilon":1e-6}`))
	f.Add([]byte(`{"v":1,"id":"0123456789abcdef0123456789abcdef","leak":"","epsilon":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRequest(data)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted an invalid request: %v", err)
		}
		b, _ := json.Marshal(r)
		r2, err := DecodeRequest(b)
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoding changed the request: %v", err)
		}
	})
}

func FuzzDecodeAnswer(f *testing.F) {
	f.Add([]byte(`{"v":1,"request":"0123456789abcdef0123456789abcdef","leak_sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","status":"declined"}`))
	f.Add([]byte(`{"v":1,"request":"0123456789abcdef0123456789abcdef","leak_sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","status":"contributed","contribution":{"v":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodeAnswer(data)
		if err != nil {
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("accepted an invalid answer: %v", err)
		}
		b, _ := json.Marshal(a)
		if _, err := DecodeAnswer(b); err != nil {
			t.Fatalf("re-encoding an accepted answer: %v", err)
		}
	})
}
