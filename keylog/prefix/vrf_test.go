package prefix

import (
	"bytes"
	"errors"
	"testing"

	"backchannel/entropy/entropytest"
)

func TestVRFKeys(t *testing.T) {
	k1, err := NewVRFKeyFrom(entropytest.New("vrf"))
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := NewVRFKeyFrom(entropytest.New("vrf"))
	if !bytes.Equal(k1.Bytes(), k2.Bytes()) {
		t.Fatal("deterministic source gave different keys")
	}
	k3, _ := NewVRFKey()
	if bytes.Equal(k1.Public(), k3.Public()) || len(k3.Public()) != VRFPublicSize {
		t.Fatal("system key")
	}
	back, err := VRFKeyFromBytes(k1.Bytes())
	if err != nil || !bytes.Equal(back.Public(), k1.Public()) {
		t.Fatalf("round trip: %v", err)
	}
	// Prove is deterministic and verifies; distinct names get distinct indices.
	i1, p1 := k1.Prove("alice")
	i2, p2 := back.Prove("alice")
	if i1 != i2 || !bytes.Equal(p1, p2) || len(p1) != VRFProofSize {
		t.Fatal("Prove not deterministic")
	}
	if got, err := VerifyVRF(k1.Public(), "alice", p1); err != nil || got != i1 {
		t.Fatalf("verify: %v", err)
	}
	if ib, _ := k1.Prove("bob"); ib == i1 {
		t.Fatal("two names, one index")
	}
	if _, err := VerifyVRF(k3.Public(), "alice", p1); !errors.Is(err, ErrProof) {
		t.Fatalf("proof under another key: %v", err)
	}
}

func TestVRFKeyFromBytesRejects(t *testing.T) {
	order := []byte{ // the ristretto255 group order l, little-endian: not canonical
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"31 bytes", make([]byte, 31)},
		{"33 bytes", append([]byte{1}, make([]byte, 32)...)},
		{"zero scalar", make([]byte, 32)},
		{"the group order", order},
		{"all ones", bytes.Repeat([]byte{0xff}, 32)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := VRFKeyFromBytes(tc.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
		})
	}
	if _, err := IndexOf(make([]byte, 63)); !errors.Is(err, ErrMalformed) {
		t.Fatal("IndexOf of 63 bytes")
	}
	if _, err := CheckedCommitment(make([]byte, 31), 1, Hash{}); !errors.Is(err, ErrMalformed) {
		t.Fatal("commitment with a short nonce")
	}
	if _, err := HashFromBytes(make([]byte, 33)); !errors.Is(err, ErrMalformed) {
		t.Fatal("HashFromBytes of 33 bytes")
	}
}

func FuzzVerifyVRF(f *testing.F) {
	k, _ := NewVRFKeyFrom(entropytest.New("fuzz vrf"))
	_, pi := k.Prove("alice")
	f.Add(k.Public(), "alice", pi)
	f.Add([]byte{}, "", []byte{})
	f.Fuzz(func(t *testing.T, pub []byte, account string, proof []byte) {
		index, err := VerifyVRF(pub, account, proof)
		if err != nil {
			if !errors.Is(err, ErrProof) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if bytes.Equal(pub, k.Public()) {
			// beta is unique (the proof need not be: another nonce gives another valid proof)
			if want, _ := k.Prove(account); want != index {
				t.Fatalf("a second index verified for %q", account)
			}
		}
	})
}
