package keylog

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"backchannel/keylog/prefix"
)

// The server's level-by-level change tree gives prefix.ChangesRoot and, for
// every position, exactly prefix.ChangeProof's path.
func TestChangeListMatchesPrefix(t *testing.T) {
	for k := 1; k <= 70; k++ {
		cs := make([]prefix.Change, k)
		for i := range cs {
			cs[i] = prefix.Change{Index: prefix.Hash{0: byte(i)}, Leaf: sha256.Sum256(fmt.Appendf(nil, "%d", i))}
		}
		cl := newChangeList(9, nil, cs)
		if cl.root() != prefix.ChangesRoot(cs) {
			t.Fatalf("k=%d: root differs", k)
		}
		for i := range k {
			got := cl.proof(i)
			want := prefix.ChangeProof(cs, i)
			if len(got) != len(want) {
				t.Fatalf("k=%d i=%d: path of %d hashes, want %d", k, i, len(got), len(want))
			}
			for j := range want {
				if !bytes.Equal(got[j], want[j][:]) {
					t.Fatalf("k=%d i=%d: sibling %d differs", k, i, j)
				}
			}
		}
	}
}

func TestChangeCacheEvicts(t *testing.T) {
	c := newChangeCache(10)
	one := []prefix.Change{{}}
	for e := range uint64(8) {
		c.put(newChangeList(e, nil, one)) // weight 2 each
	}
	if c.get(0) != nil || c.get(2) != nil || c.get(7) == nil || c.get(3) == nil {
		t.Fatal("the cache kept the wrong lists")
	}
	big := make([]prefix.Change, 20)
	c.put(newChangeList(100, nil, big)) // heavier than the bound: kept alone
	if c.get(100) == nil || c.get(7) != nil || c.size != 40 {
		t.Fatalf("after a large list: size %d", c.size)
	}
}
