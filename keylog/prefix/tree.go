package prefix

import (
	"crypto/subtle"
	"fmt"
)

// Tree is a binary prefix tree (a trie, not path-compressed) over 256-bit
// indices, most significant bit first, as docs/protocol.md section 16 defines
// it: each leaf sits at the shallowest depth where no other index shares its
// prefix. A Tree never changes once built (Set copies the path it changes),
// so one version may be read by any number of goroutines. The nil *Tree is
// the empty tree.
type Tree struct {
	root *node
	n    int
}

// node is an interior node (leaf == nil) or a leaf. An interior node has at
// least one child; a nil child is an empty subtree.
type node struct {
	hash        Hash
	left, right *node
	leaf        *leaf
}

type leaf struct {
	index      Hash
	updates    uint64
	commitment Hash
}

func (n *node) h() Hash {
	if n == nil {
		return Empty
	}
	return n.hash
}

func newLeaf(index Hash, updates uint64, commitment Hash) *node {
	return &node{
		hash: LeafHash(index, updates, commitment),
		leaf: &leaf{index: index, updates: updates, commitment: commitment},
	}
}

func newInterior(left, right *node) *node {
	return &node{hash: NodeHash(left.h(), right.h()), left: left, right: right}
}

// Len returns the number of leaves.
func (t *Tree) Len() int {
	if t == nil {
		return 0
	}
	return t.n
}

// Root returns the root hash: Empty for an empty tree, the leaf hash for one
// leaf, else the node hash of the top node.
func (t *Tree) Root() Hash {
	if t == nil {
		return Empty
	}
	return t.root.h()
}

// Set returns a tree in which index holds (updates, commitment), replacing
// what index held before. t is left unchanged.
func (t *Tree) Set(index Hash, updates uint64, commitment Hash) *Tree {
	var root *node
	n := 0
	if t != nil {
		root, n = t.root, t.n
	}
	nr, added := insert(root, 0, &index, newLeaf(index, updates, commitment))
	if added {
		n++
	}
	return &Tree{root: nr, n: n}
}

// insert puts lf (a leaf for *index) into the subtree n at depth d and returns
// the new subtree, and whether a leaf was added (rather than replaced).
func insert(n *node, d int, index *Hash, lf *node) (*node, bool) {
	switch {
	case n == nil:
		return lf, true
	case n.leaf != nil:
		if n.leaf.index == *index {
			return lf, false
		}
		return split(n, d, index, lf), true
	default:
		if bit(index, d) == 0 {
			c, added := insert(n.left, d+1, index, lf)
			return newInterior(c, n.right), added
		}
		c, added := insert(n.right, d+1, index, lf)
		return newInterior(n.left, c), added
	}
}

// split replaces the leaf old at depth d by the subtree holding old and lf
// (whose indices agree on their first d bits and differ somewhere after).
func split(old *node, d int, index *Hash, lf *node) *node {
	p := d
	for bit(index, p) == bit(&old.leaf.index, p) {
		p++ // terminates before MaxDepth: the indices differ
	}
	var n *node
	if bit(index, p) == 0 {
		n = newInterior(lf, old)
	} else {
		n = newInterior(old, lf)
	}
	for i := p - 1; i >= d; i-- {
		if bit(index, i) == 0 {
			n = newInterior(n, nil)
		} else {
			n = newInterior(nil, n)
		}
	}
	return n
}

// find returns the leaf for index and its depth, or nil.
func (t *Tree) find(index *Hash) (*leaf, int) {
	if t == nil {
		return nil, 0
	}
	n, d := t.root, 0
	for n != nil && n.leaf == nil {
		if bit(index, d) == 0 {
			n = n.left
		} else {
			n = n.right
		}
		d++
	}
	if n == nil || n.leaf.index != *index {
		return nil, 0
	}
	return n.leaf, d
}

// Get returns what index holds.
func (t *Tree) Get(index Hash) (updates uint64, commitment Hash, ok bool) {
	l, _ := t.find(&index)
	if l == nil {
		return 0, Hash{}, false
	}
	return l.updates, l.commitment, true
}

// Prove returns the inclusion proof of index: the sibling hashes from the
// leaf's depth up to the root, deepest first (Empty for an empty sibling).
// ok is false if the tree holds no leaf for index.
func (t *Tree) Prove(index Hash) (siblings []Hash, ok bool) {
	l, d := t.find(&index)
	if l == nil {
		return nil, false
	}
	siblings = make([]Hash, d)
	n := t.root
	for i := 0; i < d; i++ {
		if bit(&index, i) == 0 {
			siblings[d-1-i] = n.right.h()
			n = n.left
		} else {
			siblings[d-1-i] = n.left.h()
			n = n.right
		}
	}
	return siblings, true
}

// RootFromPath recomputes the root from a leaf hash at depth len(siblings) on
// the path of index. It returns ErrProof for more than MaxDepth siblings.
func RootFromPath(index Hash, leafHash Hash, siblings []Hash) (Hash, error) {
	d := len(siblings)
	if d > MaxDepth {
		return Hash{}, fmt.Errorf("%w: path of %d siblings, at most %d", ErrProof, d, MaxDepth)
	}
	h := leafHash
	for i := d - 1; i >= 0; i-- {
		if bit(&index, i) == 0 {
			h = NodeHash(h, siblings[d-1-i])
		} else {
			h = NodeHash(siblings[d-1-i], h)
		}
	}
	return h, nil
}

// VerifyInclusion checks that the tree with the given root holds the leaf
// (index, updates, commitment), with siblings as Prove returns them. It
// returns nil or an error wrapping ErrProof.
func VerifyInclusion(root, index Hash, updates uint64, commitment Hash, siblings []Hash) error {
	got, err := RootFromPath(index, LeafHash(index, updates, commitment), siblings)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got[:], root[:]) != 1 {
		return fmt.Errorf("%w: inclusion path of depth %d does not lead to the root", ErrProof, len(siblings))
	}
	return nil
}
