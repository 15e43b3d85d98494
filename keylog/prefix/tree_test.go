package prefix

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
)

// leafSpec is one leaf of a test tree.
type leafSpec struct {
	index      Hash
	updates    uint64
	commitment Hash
}

// idx returns an index whose first bits are the given '0'/'1' string, then fill (0x00 or 0xff) bits.
func idx(bits string, fill byte) Hash {
	var h Hash
	for i := range h {
		h[i] = fill
	}
	for i, c := range bits {
		mask := byte(1) << (7 - uint(i%8))
		if c == '1' {
			h[i/8] |= mask
		} else {
			h[i/8] &^= mask
		}
	}
	return h
}

func randomLeaves(r *rand.Rand, n int) []leafSpec {
	out := make([]leafSpec, n)
	for i := range out {
		for j := range out[i].index {
			out[i].index[j] = byte(r.Uint32())
		}
		for j := range out[i].commitment {
			out[i].commitment[j] = byte(r.Uint32())
		}
		out[i].updates = 1 + r.Uint64N(100)
	}
	return out
}

func build(leaves []leafSpec) *Tree {
	var t *Tree
	for _, l := range leaves {
		t = t.Set(l.index, l.updates, l.commitment)
	}
	return t
}

// naiveRoot recomputes the root from scratch per the definition in section 16:
// the subtree at depth d of the leaves sharing a prefix is empty, a single
// leaf, or the node hash of its two halves split on bit d.
func naiveRoot(leaves []leafSpec) Hash {
	sorted := append([]leafSpec(nil), leaves...)
	sort.Slice(sorted, func(i, j int) bool {
		return string(sorted[i].index[:]) < string(sorted[j].index[:])
	})
	var rec func(ls []leafSpec, d int) Hash
	rec = func(ls []leafSpec, d int) Hash {
		switch len(ls) {
		case 0:
			return Empty
		case 1:
			return LeafHash(ls[0].index, ls[0].updates, ls[0].commitment)
		}
		// sorted, so the bit-0 leaves come first
		k := sort.Search(len(ls), func(i int) bool { return bit(&ls[i].index, d) == 1 })
		return NodeHash(rec(ls[:k], d+1), rec(ls[k:], d+1))
	}
	return rec(sorted, 0)
}

func TestTreeShapes(t *testing.T) {
	c1, c2 := Hash{0xc1}, Hash{0xc2}
	a, b := idx("0000000000", 0x00), idx("0000000001", 0x00) // share 9 bits: leaves at depth 10
	tests := []struct {
		name      string
		leaves    []leafSpec
		wantRoot  func() Hash
		wantDepth map[Hash]int
	}{
		{"empty", nil, func() Hash { return Empty }, nil},
		{"one leaf is the root", []leafSpec{{a, 1, c1}},
			func() Hash { return LeafHash(a, 1, c1) }, map[Hash]int{a: 0}},
		{"two leaves differing in bit 0", []leafSpec{{idx("1", 0), 2, c2}, {idx("0", 0xff), 1, c1}},
			func() Hash { return NodeHash(LeafHash(idx("0", 0xff), 1, c1), LeafHash(idx("1", 0), 2, c2)) },
			map[Hash]int{idx("1", 0): 1, idx("0", 0xff): 1}},
		{"spec example 000 and 001 at depth 3", []leafSpec{{idx("000", 0), 1, c1}, {idx("001", 0), 1, c2}},
			func() Hash {
				n := NodeHash(LeafHash(idx("000", 0), 1, c1), LeafHash(idx("001", 0), 1, c2))
				return NodeHash(NodeHash(n, Empty), Empty)
			}, map[Hash]int{idx("000", 0): 3, idx("001", 0): 3}},
		{"long shared prefix, empty siblings", []leafSpec{{a, 1, c1}, {b, 7, c2}},
			func() Hash {
				h := NodeHash(LeafHash(a, 1, c1), LeafHash(b, 7, c2))
				for range 9 {
					h = NodeHash(h, Empty)
				}
				return h
			}, map[Hash]int{a: 10, b: 10}},
		{"indices differing only in the last bit sit at depth 256",
			[]leafSpec{{idx("", 0xff), 1, c1}, {func() Hash { h := idx("", 0xff); h[31] = 0xfe; return h }(), 1, c2}},
			nil, map[Hash]int{idx("", 0xff): 256}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := build(tc.leaves)
			if tr.Len() != len(tc.leaves) {
				t.Fatalf("Len = %d, want %d", tr.Len(), len(tc.leaves))
			}
			if got, want := tr.Root(), naiveRoot(tc.leaves); got != want {
				t.Fatalf("root %x, reference %x", got[:6], want[:6])
			}
			if tc.wantRoot != nil {
				if got, want := tr.Root(), tc.wantRoot(); got != want {
					t.Fatalf("root %x, want %x", got[:6], want[:6])
				}
			}
			for _, l := range tc.leaves {
				sib, ok := tr.Prove(l.index)
				if !ok {
					t.Fatalf("no proof for %x", l.index[:4])
				}
				if d, ok := tc.wantDepth[l.index]; ok && len(sib) != d {
					t.Fatalf("depth %d, want %d", len(sib), d)
				}
				if err := VerifyInclusion(tr.Root(), l.index, l.updates, l.commitment, sib); err != nil {
					t.Fatal(err)
				}
				u, c, ok := tr.Get(l.index)
				if !ok || u != l.updates || c != l.commitment {
					t.Fatalf("Get = %d %x %v", u, c[:4], ok)
				}
			}
			if _, ok := tr.Prove(idx("1", 0x5a)); ok && len(tc.leaves) < 2 {
				t.Fatal("proof for an absent index")
			}
		})
	}
}

func TestNilTree(t *testing.T) {
	var tr *Tree
	if tr.Len() != 0 || tr.Root() != Empty {
		t.Fatal("nil tree is not empty")
	}
	if _, _, ok := tr.Get(Hash{}); ok {
		t.Fatal("Get on the empty tree")
	}
	if _, ok := tr.Prove(Hash{}); ok {
		t.Fatal("Prove on the empty tree")
	}
}

func TestRandomTreesMatchReference(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	for _, n := range []int{2, 3, 5, 17, 100, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			leaves := randomLeaves(r, n)
			tr := build(leaves)
			if tr.Len() != n {
				t.Fatalf("Len %d", tr.Len())
			}
			if tr.Root() != naiveRoot(leaves) {
				t.Fatal("root differs from the reference")
			}
			for i, l := range leaves {
				sib, ok := tr.Prove(l.index)
				if !ok {
					t.Fatalf("leaf %d: no proof", i)
				}
				if err := VerifyInclusion(tr.Root(), l.index, l.updates, l.commitment, sib); err != nil {
					t.Fatalf("leaf %d: %v", i, err)
				}
			}
			// absent indices
			for _, l := range randomLeaves(r, 20) {
				if _, _, ok := tr.Get(l.index); ok {
					t.Fatal("Get found an absent index")
				}
				if _, ok := tr.Prove(l.index); ok {
					t.Fatal("Prove for an absent index")
				}
			}
		})
	}
}

func TestUpdatesAndPersistence(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{2}))
	leaves := randomLeaves(r, 300)
	old := build(leaves)
	oldRoot := old.Root()
	oldProofs := make([][]Hash, len(leaves))
	for i, l := range leaves {
		oldProofs[i], _ = old.Prove(l.index)
	}

	// Replace leaf 7: new root, same count; the old version is untouched.
	newer := old.Set(leaves[7].index, leaves[7].updates+1, Hash{0xee})
	if newer.Len() != old.Len() {
		t.Fatalf("replacing changed Len: %d -> %d", old.Len(), newer.Len())
	}
	if newer.Root() == oldRoot {
		t.Fatal("an update did not change the root")
	}
	changed := append([]leafSpec(nil), leaves...)
	changed[7] = leafSpec{leaves[7].index, leaves[7].updates + 1, Hash{0xee}}
	if newer.Root() != naiveRoot(changed) {
		t.Fatal("updated root differs from the reference")
	}
	// Add one: count grows.
	extra := randomLeaves(r, 1)[0]
	newest := newer.Set(extra.index, extra.updates, extra.commitment)
	if newest.Len() != old.Len()+1 || newest.Root() != naiveRoot(append(changed, extra)) {
		t.Fatal("insert into an updated tree")
	}
	// Only updates changes the root too; only the commitment too.
	if old.Set(leaves[3].index, leaves[3].updates+1, leaves[3].commitment).Root() == oldRoot {
		t.Fatal("updates not bound")
	}
	c := leaves[3].commitment
	c[31] ^= 1
	if old.Set(leaves[3].index, leaves[3].updates, c).Root() == oldRoot {
		t.Fatal("commitment not bound")
	}
	// Setting the same values again keeps the root.
	if old.Set(leaves[3].index, leaves[3].updates, leaves[3].commitment).Root() != oldRoot {
		t.Fatal("re-setting a leaf changed the root")
	}

	// The old version still answers as before.
	if old.Root() != oldRoot || old.Root() != naiveRoot(leaves) || old.Len() != len(leaves) {
		t.Fatal("Set modified the tree it was called on")
	}
	for i, l := range leaves {
		sib, ok := old.Prove(l.index)
		if !ok || fmt.Sprint(sib) != fmt.Sprint(oldProofs[i]) {
			t.Fatalf("leaf %d: old proof changed", i)
		}
		if err := VerifyInclusion(oldRoot, l.index, l.updates, l.commitment, sib); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok := old.Get(extra.index); ok {
		t.Fatal("old version sees a later insert")
	}
	// The old leaf 7 does not verify against the new root.
	if err := VerifyInclusion(newer.Root(), leaves[7].index, leaves[7].updates, leaves[7].commitment, oldProofs[7]); !errors.Is(err, ErrProof) {
		t.Fatalf("stale leaf verified against the new root: %v", err)
	}
}

// TestConcurrentReaders: readers of a published version run while a writer
// builds the next ones (meaningful under -race).
func TestConcurrentReaders(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{3}))
	leaves := randomLeaves(r, 200)
	published := build(leaves)
	root := published.Root()
	more := randomLeaves(r, 500)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(leaves); i += 4 {
				sib, ok := published.Prove(leaves[i].index)
				if !ok || VerifyInclusion(root, leaves[i].index, leaves[i].updates, leaves[i].commitment, sib) != nil {
					t.Errorf("reader: leaf %d", i)
					return
				}
			}
		}()
	}
	next := published
	for _, l := range more {
		next = next.Set(l.index, l.updates, l.commitment)
	}
	wg.Wait()
	if next.Len() != 700 || published.Len() != 200 || published.Root() != root {
		t.Fatal("versions mixed")
	}
}

func TestVerifyInclusionRejects(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{4}))
	leaves := randomLeaves(r, 64)
	// two leaves deep under a long shared prefix, so the path has empty siblings
	deepA, deepB := idx("1010101010101010101", 0x00), idx("1010101010101010100", 0xff)
	leaves = append(leaves, leafSpec{deepA, 3, Hash{0xaa}}, leafSpec{deepB, 4, Hash{0xbb}})
	tr := build(leaves)
	root := tr.Root()
	target := leaves[len(leaves)-2]
	sib, _ := tr.Prove(target.index)
	if len(sib) != 19 {
		t.Fatalf("deep leaf at depth %d, want 19", len(sib))
	}
	if err := VerifyInclusion(root, target.index, target.updates, target.commitment, sib); err != nil {
		t.Fatal(err)
	}
	other := leaves[0]
	otherSib, _ := tr.Prove(other.index)

	tests := []struct {
		name       string
		root       Hash
		index      Hash
		updates    uint64
		commitment Hash
		sib        []Hash
	}{
		{"wrong root", Hash{1}, target.index, target.updates, target.commitment, sib},
		{"empty root", Empty, target.index, target.updates, target.commitment, sib},
		{"another index", root, other.index, target.updates, target.commitment, sib},
		{"the sibling leaf's index", root, deepB, target.updates, target.commitment, sib},
		{"wrong updates", root, target.index, target.updates + 1, target.commitment, sib},
		{"updates zero", root, target.index, 0, target.commitment, sib},
		{"wrong commitment", root, target.index, target.updates, Hash{0xab}, sib},
		{"one hash short (dropped deepest)", root, target.index, target.updates, target.commitment, sib[1:]},
		{"one hash short (dropped top)", root, target.index, target.updates, target.commitment, sib[:len(sib)-1]},
		{"one hash long (empty on top)", root, target.index, target.updates, target.commitment, append(append([]Hash(nil), sib...), Empty)},
		{"one hash long (empty at bottom)", root, target.index, target.updates, target.commitment, append([]Hash{Empty}, sib...)},
		{"no siblings", root, target.index, target.updates, target.commitment, nil},
		{"another leaf's path", root, target.index, target.updates, target.commitment, otherSib},
		{"order reversed", root, target.index, target.updates, target.commitment, reversed(sib)},
		{"257 siblings", root, target.index, target.updates, target.commitment, make([]Hash, MaxDepth+1)},
	}
	for i := range sib {
		s := append([]Hash(nil), sib...)
		s[i][i%HashSize] ^= 0x01
		tests = append(tests, struct {
			name       string
			root       Hash
			index      Hash
			updates    uint64
			commitment Hash
			sib        []Hash
		}{fmt.Sprintf("sibling %d flipped", i), root, target.index, target.updates, target.commitment, s})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyInclusion(tc.root, tc.index, tc.updates, tc.commitment, tc.sib)
			if !errors.Is(err, ErrProof) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
		})
	}
	// Each leaf's proof fails for every other leaf.
	for i := 0; i < 10; i++ {
		s, _ := tr.Prove(leaves[i].index)
		for j := 0; j < 10; j++ {
			if i == j {
				continue
			}
			if VerifyInclusion(root, leaves[j].index, leaves[j].updates, leaves[j].commitment, s) == nil {
				t.Fatalf("proof of %d verified for %d", i, j)
			}
		}
	}
}

func TestMaxDepthAccepted(t *testing.T) {
	a := idx("", 0xff)
	b := a
	b[31] = 0xfe
	tr := build([]leafSpec{{a, 1, Hash{1}}, {b, 1, Hash{2}}})
	sib, _ := tr.Prove(a)
	if len(sib) != MaxDepth {
		t.Fatalf("depth %d", len(sib))
	}
	if err := VerifyInclusion(tr.Root(), a, 1, Hash{1}, sib); err != nil {
		t.Fatalf("a path of exactly MaxDepth: %v", err)
	}
}

func reversed(s []Hash) []Hash {
	out := make([]Hash, len(s))
	for i := range s {
		out[len(s)-1-i] = s[i]
	}
	return out
}
