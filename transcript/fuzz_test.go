package transcript

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func FuzzDecodeEntry(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "entry_vectors.json"))
	if err != nil {
		f.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		b, _ := hex.DecodeString(v.Encoding)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 1, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to the same bytes (one encoding).
		re, err := e.Encode()
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("non-canonical encoding accepted")
		}
		_ = e.VerifySignature()
	})
}

func FuzzDecodeBundle(f *testing.F) {
	l, _ := chatRoom(f, ModeOnRecord, 3)
	b, err := l.Export(ExportOptions{Only: []string{"aide#1"}}, t0)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := b.Marshal()
	f.Add(good)
	dl, dopt := deviceChat(f)
	db, err := dl.Export(dopt, t0)
	if err != nil {
		f.Fatal(err)
	}
	devices, _ := db.Marshal()
	f.Add(devices)
	f.Add([]byte(`{"format":"backchannel-transcript-bundle","version":1,"room":"r","mode":"deniable","entries":[{"entry":"AQ=="}]}`))
	f.Add([]byte("{}"))
	f.Add([]byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, opt := range []VerifyOptions{{}, {DeviceKeys: testDeviceKeys, RequireTrusted: true}} {
			rep, err := VerifyBundle(data, opt)
			if err != nil {
				return
			}
			if rep.OK != (len(rep.Problems) == 0) {
				t.Fatal("OK disagrees with problems")
			}
			if opt.RequireTrusted && rep.OK && len(rep.Unverified) > 0 {
				t.Fatal("unverified members passed RequireTrusted")
			}
		}
	})
}
