package ratchet

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

func TestHMAC32MatchesCryptoHMAC(t *testing.T) {
	for _, keyLen := range []int{0, 1, 32, 63, 64} {
		key := bytes.Repeat([]byte{0xA5}, keyLen)
		for _, msg := range []byte{0x00, chainMessageByte, chainNextByte, 0xFF} {
			var got [32]byte
			hmac32(&got, key, msg)
			m := hmac.New(sha256.New, key)
			m.Write([]byte{msg})
			if want := m.Sum(nil); !bytes.Equal(got[:], want) {
				t.Errorf("key %d bytes, msg %#x: got %x, want %x", keyLen, msg, got, want)
			}
		}
	}
}

func TestHeaderRoundTripAndStrictness(t *testing.T) {
	dh := bytes.Repeat([]byte{7}, 32)
	cases := []Header{
		{DH: dh, PN: 3, N: 9},
		{DH: dh, KEMPublic: make([]byte, KEMPublicSize)},
		{DH: dh, KEMTargetID: make([]byte, KEMKeyIDSize), KEMCiphertext: make([]byte, KEMCiphertextSz), KEMPublic: make([]byte, KEMPublicSize)},
		{DH: dh, N: legacyKEMRepeat, KEMOmitted: true},
	}
	for i, h := range cases {
		b := h.Marshal(nil)
		if len(b) != h.size() {
			t.Errorf("case %d: size %d, marshalled %d", i, h.size(), len(b))
		}
		got, n, err := ParseHeader(append(b, 1, 2, 3))
		if err != nil || n != len(b) {
			t.Fatalf("case %d: parse: n=%d err=%v", i, n, err)
		}
		if !bytes.Equal(got.Marshal(nil), b) {
			t.Errorf("case %d: round trip differs", i)
		}
	}
	bad := map[string][]byte{
		"short":            make([]byte, headerFixedSize-1),
		"unknown flag":     append([]byte{0x08}, make([]byte, 40)...),
		"omitted with ct":  append([]byte{FlagKEMOmitted | FlagKEMCiphertext}, make([]byte, 40+KEMKeyIDSize+KEMCiphertextSz)...),
		"ct truncated":     append([]byte{FlagKEMCiphertext}, make([]byte, 40+100)...),
		"public truncated": append([]byte{FlagKEMPublic}, make([]byte, 40+100)...),
		"omitted with pub": append([]byte{FlagKEMOmitted | FlagKEMPublic}, make([]byte, 40+KEMPublicSize)...),
	}
	for name, b := range bad {
		if _, _, err := ParseHeader(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
