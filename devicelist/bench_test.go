package devicelist

import (
	"crypto/ed25519"
	"fmt"
	"testing"
)

// fourDevices returns alice's list with 3 devices and its successor adding a
// fourth, plus a version 1 holding all four.
func fourDevices(b *testing.B) (pinned *List, next []byte, genesis []byte) {
	c := newChain(b)
	var entries []Entry
	for i := range 4 {
		k := mustKeys(b, fmt.Sprintf("devicelist bench %d", i))
		entries = append(entries, mustEntry(b, "alice", c.user, uint32(4+i), k, fmt.Sprintf("device %d", i+1), t2))
	}
	p, err := Next(c.v3, c.user, entries[:1], nil, t2) // devices 1, 3, 4
	if err != nil {
		b.Fatal(err)
	}
	n, err := Next(p, c.user, entries[1:2], nil, t2) // devices 1, 3, 4, 5
	if err != nil {
		b.Fatal(err)
	}
	g, err := Genesis("alice", c.user, entries, t2)
	if err != nil {
		b.Fatal(err)
	}
	return p, n.Marshal(), g.Marshal()
}

// BenchmarkVerifyChain: a client checks a contact's new 4-device list
// against the one it pinned (the per-contact cost of a device list update),
// and, for comparison, a first 4-device list with nothing pinned.
func BenchmarkVerifyChain(b *testing.B) {
	pinned, next, genesis := fourDevices(b)
	b.Run("extend-pinned", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := VerifyChain("alice", pinned.AccountKey, pinned, [][]byte{next}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("first-list", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := VerifyChain("alice", pinned.AccountKey, nil, [][]byte{genesis}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParse: decode and verify a 4-device list (5 Ed25519 verifications).
func BenchmarkParse(b *testing.B) {
	_, next, _ := fourDevices(b)
	b.SetBytes(int64(len(next)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(next); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the baseline: one signature verification, the
// unit the figures above are made of.
func BenchmarkEd25519Verify(b *testing.B) {
	pinned, _, _ := fourDevices(b)
	msg := pinned.signedBytes()
	for b.Loop() {
		if !ed25519.Verify(pinned.AccountKey, msg, pinned.Signature) {
			b.Fatal("does not verify")
		}
	}
}
