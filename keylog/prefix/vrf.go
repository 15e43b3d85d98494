package prefix

import (
	"fmt"

	vrf "filippo.io/mostly-harmless/vrf-r255"

	"backchannel/entropy"
)

// Sizes of ECVRF-RISTRETTO255-SHA512 (c2sp.org/vrf-r255).
const (
	VRFKeySize    = 32 // a private key: a canonical ristretto255 scalar, little-endian
	VRFPublicSize = 32 // a public key: a ristretto255 element
	VRFProofSize  = 80 // a proof pi: Gamma (32) || c (16) || s (32)
	VRFOutputSize = 64 // the VRF output beta
)

// VRFKey is the server's VRF private key. It maps an account name to its tree
// index (VRFInput, then beta[0:32]) with a proof anyone holding the public key
// can check, without revealing the indices of names it was not asked about.
type VRFKey struct {
	sk *vrf.PrivateKey
}

// NewVRFKey returns a fresh key from the system's randomness.
func NewVRFKey() (*VRFKey, error) { return NewVRFKeyFrom(entropy.System{}) }

// NewVRFKeyFrom returns a fresh key drawn from src: 32 random bytes with the
// top 4 bits cleared (a scalar below 2^252, under the group order), nonzero.
func NewVRFKeyFrom(src entropy.Source) (*VRFKey, error) {
	for range 8 {
		b := make([]byte, VRFKeySize)
		if err := src.Bytes(b); err != nil {
			return nil, fmt.Errorf("VRF key randomness: %w", err)
		}
		b[31] &= 0x0f
		k, err := VRFKeyFromBytes(b)
		if err == nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("VRF key randomness gave only zero scalars")
}

// VRFKeyFromBytes decodes a private key as Bytes returns it: a canonical,
// nonzero scalar of VRFKeySize bytes. Errors wrap ErrMalformed.
func VRFKeyFromBytes(b []byte) (*VRFKey, error) {
	if len(b) != VRFKeySize {
		return nil, fmt.Errorf("%w: VRF key of %d bytes, want %d", ErrMalformed, len(b), VRFKeySize)
	}
	if isZero(b) {
		return nil, fmt.Errorf("%w: VRF key is zero", ErrMalformed)
	}
	sk, err := vrf.NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: VRF key: %v", ErrMalformed, err)
	}
	return &VRFKey{sk: sk}, nil
}

// Bytes returns the private key encoding (keep it secret).
func (k *VRFKey) Bytes() []byte { return k.sk.Bytes() }

// Public returns the VRFPublicSize-byte public key.
func (k *VRFKey) Public() []byte { return k.sk.PublicKey().Bytes() }

// Prove returns the tree index of account and the VRFProofSize-byte proof of it.
func (k *VRFKey) Prove(account string) (index Hash, proof []byte) {
	pi := k.sk.Prove(VRFInput(account))
	copy(index[:], pi.Hash()[:HashSize])
	return index, pi.Bytes()
}

// VerifyVRF checks proof for account under the public key and returns the
// account's tree index. A key or proof that does not decode, the identity
// element as a key, or a proof that does not verify: an error wrapping ErrProof.
func VerifyVRF(public []byte, account string, proof []byte) (Hash, error) {
	var index Hash
	if len(public) != VRFPublicSize || isZero(public) {
		return index, fmt.Errorf("%w: VRF public key is not a %d-byte non-identity element", ErrProof, VRFPublicSize)
	}
	pk, err := vrf.NewPublicKey(public)
	if err != nil {
		return index, fmt.Errorf("%w: VRF public key: %v", ErrProof, err)
	}
	if len(proof) != VRFProofSize {
		return index, fmt.Errorf("%w: VRF proof of %d bytes, want %d", ErrProof, len(proof), VRFProofSize)
	}
	pi, err := vrf.NewProof(proof)
	if err != nil {
		return index, fmt.Errorf("%w: VRF proof: %v", ErrProof, err)
	}
	beta, err := pk.Verify(pi, VRFInput(account))
	if err != nil {
		return index, fmt.Errorf("%w: VRF proof for %q: %v", ErrProof, account, err)
	}
	return IndexOf(beta)
}

func isZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return acc == 0
}
