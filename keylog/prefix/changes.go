package prefix

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Change is one change of an epoch: a leaf whose leaf hash differs from the
// one the previous epoch's tree held for its index (or that the previous
// epoch did not hold). Its encoding is index (32) || leaf_hash (32).
type Change struct {
	Index Hash
	Leaf  Hash // the leaf hash at the epoch that lists the change
}

// Bytes returns the ChangeSize-byte encoding of c: index || leaf_hash.
func (c Change) Bytes() []byte {
	b := make([]byte, ChangeSize)
	copy(b, c.Index[:])
	copy(b[HashSize:], c.Leaf[:])
	return b
}

// ParseChange decodes one change: exactly ChangeSize bytes (ErrMalformed otherwise).
func ParseChange(b []byte) (Change, error) {
	var c Change
	if len(b) != ChangeSize {
		return c, fmt.Errorf("%w: change of %d bytes, want %d", ErrMalformed, len(b), ChangeSize)
	}
	copy(c.Index[:], b[:HashSize])
	copy(c.Leaf[:], b[HashSize:])
	return c, nil
}

// MarshalChanges concatenates the encodings of cs (k·ChangeSize bytes).
func MarshalChanges(cs []Change) []byte {
	b := make([]byte, 0, len(cs)*ChangeSize)
	for _, c := range cs {
		b = append(b, c.Index[:]...)
		b = append(b, c.Leaf[:]...)
	}
	return b
}

// ParseChanges decodes a concatenation of changes (as MarshalChanges writes it)
// and checks it with CheckChanges. Errors wrap ErrMalformed.
func ParseChanges(b []byte) ([]Change, error) {
	if len(b)%ChangeSize != 0 {
		return nil, fmt.Errorf("%w: change list of %d bytes, not a multiple of %d", ErrMalformed, len(b), ChangeSize)
	}
	cs := make([]Change, len(b)/ChangeSize)
	for i := range cs {
		cs[i], _ = ParseChange(b[i*ChangeSize : (i+1)*ChangeSize])
	}
	if err := CheckChanges(cs); err != nil {
		return nil, err
	}
	return cs, nil
}

// CheckChanges checks that cs is a change list an epoch may hold: at least one
// change, indices strictly ascending in byte order (so each index once).
// Errors wrap ErrMalformed.
func CheckChanges(cs []Change) error {
	if len(cs) == 0 {
		return fmt.Errorf("%w: empty change list", ErrMalformed)
	}
	for i := 1; i < len(cs); i++ {
		if bytes.Compare(cs[i-1].Index[:], cs[i].Index[:]) >= 0 {
			return fmt.Errorf("%w: change %d (index %x) does not follow change %d (index %x) in ascending order",
				ErrMalformed, i, cs[i].Index[:4], i-1, cs[i-1].Index[:4])
		}
	}
	return nil
}

// ChangeHash returns H(ChangeLabel || 0x00 || index || leaf_hash).
func ChangeHash(c Change) Hash {
	var b [len(ChangeLabel) + 1 + 2*HashSize]byte
	p := copy(b[:], ChangeLabel) + 1
	p += copy(b[p:], c.Index[:])
	copy(b[p:], c.Leaf[:])
	return sha256.Sum256(b[:])
}

// ChangesNodeHash returns H(ChangesNodeLabel || 0x00 || left || right), the
// interior hash of a change list's Merkle tree.
func ChangesNodeHash(left, right Hash) Hash { return changesNode(left, right) }

func changesNode(left, right Hash) Hash {
	var b [len(ChangesNodeLabel) + 1 + 2*HashSize]byte
	p := copy(b[:], ChangesNodeLabel) + 1
	p += copy(b[p:], left[:])
	copy(b[p:], right[:])
	return sha256.Sum256(b[:])
}

// mthSplit returns the largest power of two smaller than m (m ≥ 2).
func mthSplit(m int) int { return 1 << (bits.Len(uint(m-1)) - 1) }

// mth is the Merkle tree hash of change hashes hs (len(hs) ≥ 1).
func mth(hs []Hash) Hash {
	if len(hs) == 1 {
		return hs[0]
	}
	j := mthSplit(len(hs))
	return changesNode(mth(hs[:j]), mth(hs[j:]))
}

func changeHashes(cs []Change) []Hash {
	hs := make([]Hash, len(cs))
	for i, c := range cs {
		hs[i] = ChangeHash(c)
	}
	return hs
}

// ChangesRoot returns the changes_root of a change list: Empty for none, else
// the RFC 6962-shaped Merkle tree hash of the change hashes with the
// ChangesNodeLabel interior hash. It does not check the order (CheckChanges does).
func ChangesRoot(cs []Change) Hash {
	if len(cs) == 0 {
		return Empty
	}
	return mth(changeHashes(cs))
}

// ChangeProof returns the change proof of position i among cs: the RFC 9162
// §2.1.3 inclusion path of change_hash_i, deepest sibling first (empty for a
// single change). It panics if i is out of range.
func ChangeProof(cs []Change, i int) []Hash {
	if i < 0 || i >= len(cs) {
		panic(fmt.Sprintf("prefix: change proof for position %d of %d", i, len(cs)))
	}
	return changePath(changeHashes(cs), i)
}

func changePath(hs []Hash, m int) []Hash {
	if len(hs) == 1 {
		return nil
	}
	j := mthSplit(len(hs))
	if m < j {
		return append(changePath(hs[:j], m), mth(hs[j:]))
	}
	return append(changePath(hs[j:], m-j), mth(hs[:j]))
}

// VerifyChange reports whether path proves change c at position i of k changes
// under root, by the RFC 9162 §2.1.3.2 algorithm with the ChangesNodeLabel
// interior hash. Out-of-range positions, a path of the wrong length and any
// mismatch report false; it never panics.
func VerifyChange(c Change, i, k int, path []Hash, root Hash) bool {
	if k <= 0 || i < 0 || i >= k || len(path) > 64 {
		return false
	}
	fn, sn := uint64(i), uint64(k-1)
	r := ChangeHash(c)
	for _, p := range path {
		if sn == 0 {
			return false
		}
		if fn&1 == 1 || fn == sn {
			r = changesNode(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = changesNode(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return sn == 0 && r == root
}

// HeadHash returns H(ChangesHeadLabel || 0x00 || prev || u64(epoch) || u32(k) || changesRoot),
// the head of an epoch with k ≥ 1 changes whose root is changesRoot.
func HeadHash(prev Hash, epoch uint64, k uint32, changesRoot Hash) Hash {
	var b [len(ChangesHeadLabel) + 1 + HashSize + 8 + 4 + HashSize]byte
	p := copy(b[:], ChangesHeadLabel) + 1
	p += copy(b[p:], prev[:])
	binary.BigEndian.PutUint64(b[p:], epoch)
	binary.BigEndian.PutUint32(b[p+8:], k)
	copy(b[p+12:], changesRoot[:])
	return sha256.Sum256(b[:])
}

// NextHead returns head(epoch) from head(epoch−1) = prev and the epoch's
// changes: prev itself when cs is empty, else HeadHash(prev, epoch, len(cs), ChangesRoot(cs)).
// head(−1) is Empty.
func NextHead(prev Hash, epoch uint64, cs []Change) Hash {
	if len(cs) == 0 {
		return prev
	}
	return HeadHash(prev, epoch, uint32(len(cs)), ChangesRoot(cs))
}
