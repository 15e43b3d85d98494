// Package prefix implements the data structures of the backchannel key log
// (docs/protocol.md section 16): the VRF index of an account, the commitment
// to its device list, the leaf and node hashes, a persistent binary prefix
// tree over the 256-bit indices with inclusion proofs, the change list of an
// epoch (its Merkle root, change proofs and the chained head), and the
// 125-byte epoch entry appended to the log once per epoch.
//
// Contract:
//   - Every hash and every encoding here is byte for byte the one in
//     section 16; the labels and sizes are the named constants below.
//   - Tree is persistent: Set returns a new Tree and never changes the one it
//     was called on, so any number of goroutines may read (Get, Root, Prove)
//     one version while another builds the next. A nil *Tree is the empty tree.
//   - Verifiers (VerifyInclusion, VerifyChange, ParseEntry, ParseChange,
//     CheckChanges, VerifyVRF) take untrusted input:
//     they never panic, and report failure as an error wrapping ErrProof (a
//     well-formed proof that does not check out) or ErrMalformed (bytes that do
//     not decode).
//   - Randomness (VRF key generation) comes from an entropy.Source.
package prefix

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Labels and sizes of docs/protocol.md section 16. Each label is hashed
// followed by one 0x00 byte.
const (
	CommitmentLabel = "backchannel keylog commitment v1"
	LeafLabel       = "backchannel keylog leaf v1"
	NodeLabel       = "backchannel keylog node v1"
	VRFInputLabel   = "backchannel keylog account v1"

	ChangeLabel      = "backchannel keylog change v1"
	ChangesNodeLabel = "backchannel keylog changes node v1"
	ChangesHeadLabel = "backchannel keylog changes head v1"

	EntryFormat = 2   // the format byte of an epoch entry
	EntrySize   = 125 // bytes in an epoch entry
	ChangeSize  = 64  // bytes in one change: index (32) || leaf_hash (32)
	HashSize    = 32  // bytes in every hash (SHA-256)
	NonceSize   = 32  // bytes in a commitment nonce
	MaxDepth    = 256 // the deepest a leaf can sit: the bits of an index
)

// Sentinel errors that callers branch on.
var (
	// ErrProof: a proof (inclusion path or VRF proof) does not verify.
	ErrProof = errors.New("proof does not verify")
	// ErrMalformed: bytes that do not decode (wrong length, unknown format).
	ErrMalformed = errors.New("malformed")
)

// Hash is a SHA-256 output: a tree index, a leaf, node or root hash, or a commitment.
type Hash [HashSize]byte

// Empty is the hash of an empty subtree (and the root of an empty tree): 32 zero bytes.
var Empty Hash

// HashFromBytes returns b as a Hash; b must be exactly HashSize bytes (ErrMalformed otherwise).
func HashFromBytes(b []byte) (Hash, error) {
	var h Hash
	if len(b) != HashSize {
		return h, fmt.Errorf("%w: hash of %d bytes, want %d", ErrMalformed, len(b), HashSize)
	}
	copy(h[:], b)
	return h, nil
}

// VRFInput returns the VRF input (alpha) of an account:
// "backchannel keylog account v1" || 0x00 || account name.
func VRFInput(account string) []byte {
	b := make([]byte, 0, len(VRFInputLabel)+1+len(account))
	b = append(b, VRFInputLabel...)
	b = append(b, 0)
	return append(b, account...)
}

// IndexOf returns the tree index of an account from its VRF output beta: beta[0:32].
// beta must be 64 bytes (ErrMalformed otherwise).
func IndexOf(beta []byte) (Hash, error) {
	var h Hash
	if len(beta) != VRFOutputSize {
		return h, fmt.Errorf("%w: VRF output of %d bytes, want %d", ErrMalformed, len(beta), VRFOutputSize)
	}
	copy(h[:], beta[:HashSize])
	return h, nil
}

// Commitment returns H(CommitmentLabel || 0x00 || nonce || u64(version) || listHash).
// nonce must be NonceSize bytes: Commitment panics otherwise, so code that
// handles untrusted input uses CheckedCommitment.
func Commitment(nonce []byte, version uint64, listHash [32]byte) Hash {
	c, err := CheckedCommitment(nonce, version, listHash)
	if err != nil {
		panic(err)
	}
	return c
}

// CheckedCommitment is Commitment returning ErrMalformed for a nonce that is not NonceSize bytes.
func CheckedCommitment(nonce []byte, version uint64, listHash [32]byte) (Hash, error) {
	if len(nonce) != NonceSize {
		return Hash{}, fmt.Errorf("%w: commitment nonce of %d bytes, want %d", ErrMalformed, len(nonce), NonceSize)
	}
	var b [len(CommitmentLabel) + 1 + NonceSize + 8 + HashSize]byte
	p := copy(b[:], CommitmentLabel) + 1
	p += copy(b[p:], nonce)
	binary.BigEndian.PutUint64(b[p:], version)
	copy(b[p+8:], listHash[:])
	return sha256.Sum256(b[:]), nil
}

// LeafHash returns H(LeafLabel || 0x00 || index || u64(updates) || commitment).
func LeafHash(index Hash, updates uint64, commitment Hash) Hash {
	var b [len(LeafLabel) + 1 + HashSize + 8 + HashSize]byte
	p := copy(b[:], LeafLabel) + 1
	p += copy(b[p:], index[:])
	binary.BigEndian.PutUint64(b[p:], updates)
	copy(b[p+8:], commitment[:])
	return sha256.Sum256(b[:])
}

// NodeHash returns H(NodeLabel || 0x00 || left || right); left is the bit-0 child.
func NodeHash(left, right Hash) Hash {
	var b [len(NodeLabel) + 1 + 2*HashSize]byte
	p := copy(b[:], NodeLabel) + 1
	p += copy(b[p:], left[:])
	copy(b[p:], right[:])
	return sha256.Sum256(b[:])
}

// bit returns bit i of x, bit 0 being the most significant bit of x[0].
func bit(x *Hash, i int) byte {
	return (x[i>>3] >> (7 - uint(i&7))) & 1
}
