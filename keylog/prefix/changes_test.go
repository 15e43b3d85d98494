package prefix

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
)

// testChanges returns k changes with ascending indices.
func testChanges(k int) []Change {
	cs := make([]Change, k)
	for i := range cs {
		cs[i].Index = Hash{0: byte(i >> 8), 1: byte(i), 2: 0xaa}
		cs[i].Leaf = sha256.Sum256(fmt.Appendf(nil, "leaf %d", i))
	}
	return cs
}

// refNode is the changes node hash written out from the spec text, independent of changesNode.
func refNode(l, r Hash) Hash {
	return sha256.Sum256(append(append([]byte(ChangesNodeLabel+"\x00"), l[:]...), r[:]...))
}

func TestChangeEncoding(t *testing.T) {
	c := Change{Index: Hash{1, 2, 3}, Leaf: Hash{31: 9}}
	b := c.Bytes()
	if len(b) != ChangeSize || !bytes.Equal(b[:32], c.Index[:]) || !bytes.Equal(b[32:], c.Leaf[:]) {
		t.Fatalf("encoding %x", b)
	}
	got, err := ParseChange(b)
	if err != nil || got != c {
		t.Fatalf("round trip: %v %+v", err, got)
	}
	for _, n := range []int{0, 63, 65, 128} {
		if _, err := ParseChange(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d bytes accepted: %v", n, err)
		}
	}
	want := sha256.Sum256(append([]byte("backchannel keylog change v1\x00"), b...))
	if ChangeHash(c) != want {
		t.Fatal("change hash differs from the spec")
	}
}

func TestChangesRoot(t *testing.T) {
	h := func(cs []Change, i int) Hash { return ChangeHash(cs[i]) }
	cs := testChanges(5)
	tests := []struct {
		k    int
		want Hash
	}{
		{0, Empty},
		{1, h(cs, 0)},
		{2, refNode(h(cs, 0), h(cs, 1))},
		{3, refNode(refNode(h(cs, 0), h(cs, 1)), h(cs, 2))},
		{5, refNode(refNode(refNode(h(cs, 0), h(cs, 1)), refNode(h(cs, 2), h(cs, 3))), h(cs, 4))},
	}
	for _, tc := range tests {
		if got := ChangesRoot(cs[:tc.k]); got != tc.want {
			t.Fatalf("k=%d: root %x, want %x", tc.k, got[:4], tc.want[:4])
		}
	}
}

func TestChangeProofs(t *testing.T) {
	for k := 1; k <= 33; k++ {
		cs := testChanges(k)
		root := ChangesRoot(cs)
		for i := range k {
			p := ChangeProof(cs, i)
			if k == 1 && len(p) != 0 {
				t.Fatal("k=1 proof not empty")
			}
			if !VerifyChange(cs[i], i, k, p, root) {
				t.Fatalf("k=%d i=%d: proof does not verify", k, i)
			}
			// Attacks: another position, another change, a truncated or extended path, a flipped sibling.
			if i+1 < k && VerifyChange(cs[i], i+1, k, p, root) {
				t.Fatalf("k=%d i=%d: verifies at position %d", k, i, i+1)
			}
			if i > 0 && VerifyChange(cs[i], i-1, k, p, root) {
				t.Fatalf("k=%d i=%d: verifies at position %d", k, i, i-1)
			}
			if VerifyChange(cs[(i+1)%k], i, k, p, root) && k > 1 {
				t.Fatalf("k=%d i=%d: another change verifies", k, i)
			}
			other := cs[i]
			other.Leaf[0] ^= 1
			if VerifyChange(other, i, k, p, root) {
				t.Fatalf("k=%d i=%d: altered leaf verifies", k, i)
			}
			if len(p) > 0 {
				if VerifyChange(cs[i], i, k, p[:len(p)-1], root) {
					t.Fatalf("k=%d i=%d: truncated path verifies", k, i)
				}
				bad := append([]Hash(nil), p...)
				bad[len(bad)/2][3] ^= 0x10
				if VerifyChange(cs[i], i, k, bad, root) {
					t.Fatalf("k=%d i=%d: flipped sibling verifies", k, i)
				}
			}
			if VerifyChange(cs[i], i, k, append(append([]Hash(nil), p...), Empty), root) {
				t.Fatalf("k=%d i=%d: extended path verifies", k, i)
			}
		}
	}
	cs := testChanges(3)
	root := ChangesRoot(cs)
	for _, tc := range []struct{ i, k int }{{-1, 3}, {3, 3}, {0, 0}, {0, -1}} {
		if VerifyChange(cs[0], tc.i, tc.k, ChangeProof(cs, 0), root) {
			t.Fatalf("i=%d k=%d verifies", tc.i, tc.k)
		}
	}
}

func TestCheckChanges(t *testing.T) {
	cs := testChanges(4)
	dup := append([]Change(nil), cs...)
	dup[2].Index = dup[1].Index
	swapped := append([]Change(nil), cs...)
	swapped[0], swapped[3] = swapped[3], swapped[0]
	tests := []struct {
		name string
		cs   []Change
		ok   bool
	}{
		{"four ascending", cs, true},
		{"one", cs[:1], true},
		{"none", nil, false},
		{"a repeated index", dup, false},
		{"out of order", swapped, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckChanges(tc.cs)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Fatalf("got %v", err)
			}
			got, err := ParseChanges(MarshalChanges(tc.cs))
			if (err == nil) != tc.ok || (tc.ok && len(got) != len(tc.cs)) {
				t.Fatalf("ParseChanges: %v", err)
			}
		})
	}
	if _, err := ParseChanges(MarshalChanges(cs)[:100]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ragged list: %v", err)
	}
}

func TestNextHead(t *testing.T) {
	prev := Hash{5}
	if NextHead(prev, 3, nil) != prev {
		t.Fatal("an empty epoch changed the head")
	}
	cs := testChanges(3)
	root := ChangesRoot(cs)
	var b []byte
	b = append(b, "backchannel keylog changes head v1\x00"...)
	b = append(b, prev[:]...)
	b = append(b, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 3)
	b = append(b, root[:]...)
	if NextHead(prev, 258, cs) != sha256.Sum256(b) || HeadHash(prev, 258, 3, root) != sha256.Sum256(b) {
		t.Fatal("head differs from the spec")
	}
	if NextHead(prev, 259, cs) == NextHead(prev, 258, cs) || NextHead(Empty, 258, cs) == NextHead(prev, 258, cs) {
		t.Fatal("head does not bind epoch and previous head")
	}
}

func FuzzParseChange(f *testing.F) {
	f.Add(testChanges(1)[0].Bytes())
	f.Add([]byte{})
	f.Add(make([]byte, 65))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseChange(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(c.Bytes(), b) {
			t.Fatalf("accepted %x but re-encodes to %x", b, c.Bytes())
		}
	})
}

// FuzzCheckChanges drives CheckChanges through ParseChanges, the decoder of a stored or served list.
func FuzzCheckChanges(f *testing.F) {
	f.Add(MarshalChanges(testChanges(3)))
	f.Add(MarshalChanges(testChanges(1)))
	f.Add([]byte{})
	f.Add(append(MarshalChanges(testChanges(2)), MarshalChanges(testChanges(1))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := ParseChanges(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(MarshalChanges(cs), b) {
			t.Fatal("accepted list re-encodes differently")
		}
		for i := 1; i < len(cs); i++ {
			if bytes.Compare(cs[i-1].Index[:], cs[i].Index[:]) >= 0 {
				t.Fatalf("accepted out-of-order indices at %d", i)
			}
		}
		root := ChangesRoot(cs)
		for i := range cs {
			if !VerifyChange(cs[i], i, len(cs), ChangeProof(cs, i), root) {
				t.Fatalf("proof %d of %d does not verify", i, len(cs))
			}
		}
	})
}

func FuzzVerifyChange(f *testing.F) {
	cs := testChanges(5)
	var p []byte
	for _, h := range ChangeProof(cs, 2) {
		p = append(p, h[:]...)
	}
	root := ChangesRoot(cs)
	f.Add(cs[2].Bytes(), 2, 5, p, root[:])
	f.Add([]byte{}, 0, 0, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, cb []byte, i, k int, pathB, rootB []byte) {
		var c Change
		copy(c.Index[:], cb)
		if len(cb) > HashSize {
			copy(c.Leaf[:], cb[HashSize:])
		}
		var r Hash
		copy(r[:], rootB)
		path := make([]Hash, len(pathB)/HashSize)
		for j := range path {
			copy(path[j][:], pathB[j*HashSize:])
		}
		ok := VerifyChange(c, i, k, path, r)
		// Against the fixture's root and size, only the fixture's changes verify, each at its own position.
		if ok && r == root && k == len(cs) && cs[i] != c {
			t.Fatalf("forged change at %d", i)
		}
	})
}
