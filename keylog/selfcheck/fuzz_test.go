package selfcheck

import (
	"bytes"
	"encoding/json"
	"testing"

	"backchannel/keylog/prefix"
)

// FuzzDecodeAnchor: the stored anchor's decoder never panics, accepts only
// an anchor whose head is a hash, and what it accepts re-encodes to the
// same anchor (an empty field and an absent one are the same).
func FuzzDecodeAnchor(f *testing.F) {
	good, _ := json.Marshal(withEntry(4))
	f.Add(good)
	f.Add([]byte(`{"epoch":1,"head":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAnchor(b)
		if err != nil {
			return
		}
		if len(a.Head) != prefix.HashSize {
			t.Fatalf("accepted a head of %d bytes", len(a.Head))
		}
		raw, _ := json.Marshal(a)
		again, err := DecodeAnchor(raw)
		if err != nil {
			t.Fatalf("accepted anchor %+v does not re-encode: %v", a, err)
		}
		if raw2, _ := json.Marshal(again); !bytes.Equal(raw2, raw) {
			t.Fatalf("anchor %s decodes to %s", raw, raw2)
		}
		a.Entries() // never panics on what was accepted
	})
}
