package devicelink

import (
	"bytes"
	"errors"
	"testing"

	"backchannel/entropy/entropytest"
)

// FuzzOpenRequest: arbitrary bytes never open (they would need the code) and
// never panic; the genuine request, mutated, fails cleanly.
func FuzzOpenRequest(f *testing.F) {
	src := entropytest.New("fuzz request")
	code, _ := NewCode(src, testServer)
	_, hello, _ := NewPrimary(src, code)
	dev := makeDevice(f, src)
	_, req, _, err := NewJoiner(src, code, hello, "phone", dev.keys)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(req)
	f.Add(req[:HelloSize])
	f.Add(make([]byte, HelloSize+tagSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		src := entropytest.New("fuzz request")
		code, _ := NewCode(src, testServer)
		p, _, _ := NewPrimary(src, code)
		got, sas, err := p.OpenRequest(b)
		if bytes.Equal(b, req) {
			if err != nil || got.Name != "phone" || sas == "" {
				t.Fatalf("the genuine request: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatalf("forged request %x opened", b)
		}
		if !errors.Is(err, ErrNotAuthentic) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzParseRequestBody: the strict decoder accepts only what re-encodes to
// the same bytes.
func FuzzParseRequestBody(f *testing.F) {
	f.Add(encodeRequestBody("phone", make([]byte, 32), make([]byte, 32), make([]byte, 64)))
	f.Add([]byte{0})
	f.Add([]byte{255})
	f.Fuzz(func(t *testing.T, b []byte) {
		name, ds, dh, sig, err := parseRequestBody(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !ValidName(name) {
			t.Fatalf("accepted name %q", name)
		}
		if !bytes.Equal(encodeRequestBody(name, ds, dh, sig), b) {
			t.Fatal("accepted bytes that do not re-encode identically")
		}
	})
}

// FuzzOpenResponse: only the sealed response opens.
func FuzzOpenResponse(f *testing.F) {
	src := entropytest.New("fuzz response")
	code, _ := NewCode(src, testServer)
	p, hello, _ := NewPrimary(src, code)
	dev := makeDevice(f, src)
	j, req, _, err := NewJoiner(src, code, hello, "phone", dev.keys)
	if err != nil {
		f.Fatal(err)
	}
	if _, _, err := p.OpenRequest(req); err != nil {
		f.Fatal(err)
	}
	resp, err := p.SealResponse([]byte("payload"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(resp)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := j.OpenResponse(b)
		if bytes.Equal(b, resp) {
			if err != nil || string(got) != "payload" {
				t.Fatalf("the genuine response: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatal("a forged response opened")
		}
	})
}
