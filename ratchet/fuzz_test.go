package ratchet

import (
	"bytes"
	"testing"
)

// FuzzUnmarshal: the state decoder never panics, and whatever it accepts
// re-encodes to the same bytes (an accepted version 2 or 3 state as the
// same state in version 4's layout, which adds the second flags byte).
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte{StateVersion})
	f.Add(append([]byte{StateVersion, 0, 0}, make([]byte, 101+16)...))
	f.Add(append([]byte{stateVersion2, 0, 0}, make([]byte, 101+16)...))
	f.Add(fuzzState(f).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Unmarshal(b)
		if err != nil {
			return
		}
		got := s.Marshal()
		if b[0] != StateVersion {
			got = asOldVersion(got, b[0], len(s.ad))
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("accepted state does not round-trip")
		}
	})
}

// FuzzDecrypt: arbitrary messages never panic a live state, and a refused
// message leaves it unchanged.
func FuzzDecrypt(f *testing.F) {
	f.Add(make([]byte, headerFixedSize+TagSize))
	f.Add([]byte{FlagKEMCiphertext})
	f.Fuzz(func(t *testing.T, msg []byte) {
		s := fuzzState(t)
		before := s.Marshal()
		if _, err := s.Decrypt(msg); err != nil && !bytes.Equal(before, s.Marshal()) {
			t.Fatal("refused message changed the state")
		}
	})
}
