// Package x25519 is X25519 (RFC 7748) with a cheaper key object than
// crypto/ecdh's.
//
// Its contract: every result equals crypto/ecdh's X25519 for the same bytes.
// A scalar is any 32 bytes, clamped as RFC 7748 section 5 says when it is
// used and kept unclamped in the key object (Bytes returns it as given); a
// peer's public key is any 32 bytes, its top bit masked and a non-canonical
// u-coordinate (2^255-19 and above) reduced; an all-zero shared secret (the
// peer's key is a low-order point) is refused with ErrLowOrder; wrong sizes
// are errors, never panics.
//
// What differs is the cost. GenerateKey and NewPrivateKey derive the public
// key with a fixed-base multiplication on edwards25519 (filippo.io/
// edwards25519's precomputed table, then the birational map to the
// Montgomery u-coordinate), about twice as fast as crypto/ecdh's ladder;
// NewPrivateKeyWithPublic builds a key from stored scalar and public bytes
// with no multiplication at all, for keys read back from authenticated
// storage. Diffie-Hellman (ECDH) is the Montgomery ladder of RFC 7748 section
// 5 on filippo.io/edwards25519/field, in constant time: the scalar's bits
// select by conditional swaps only, with no secret-dependent branch or
// index.
package x25519

import (
	"crypto/ecdh"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

const (
	// ScalarSize is the size in bytes of an X25519 private key (scalar).
	ScalarSize = 32
	// PointSize is the size in bytes of an X25519 public key (a Montgomery
	// u-coordinate) and of a shared secret.
	PointSize = 32
)

// ErrLowOrder is returned (possibly wrapped) by ECDH when the shared secret
// is all zeros, which happens exactly when the peer's public key is a point
// of small order (on the curve or on its twist): such a key contributes
// nothing secret, and crypto/ecdh refuses it too.
var ErrLowOrder = errors.New("X25519 output is all zeros (the peer's key is a low-order point)")

var (
	errScalarSize = errors.New("X25519 private key must be 32 bytes")
	errPointSize  = errors.New("X25519 public key must be 32 bytes")
	errNilRand    = errors.New("X25519 key generation needs a source of randomness")
)

// PrivateKey is an X25519 private key together with its public key. The
// zero value is not a valid key: make one with GenerateKey, NewPrivateKey or
// NewPrivateKeyWithPublic. A PrivateKey is safe for concurrent use.
type PrivateKey struct {
	scalar [ScalarSize]byte // as given, unclamped
	public [PointSize]byte
}

// GenerateKey reads 32 bytes from rand as the scalar and returns the key
// with its public key, computed by a fixed-base multiplication. A nil rand
// or a short read is an error.
func GenerateKey(rand io.Reader) (*PrivateKey, error) {
	if rand == nil {
		return nil, errNilRand
	}
	k := new(PrivateKey)
	if _, err := io.ReadFull(rand, k.scalar[:]); err != nil {
		return nil, fmt.Errorf("read X25519 private key: %w", err)
	}
	basePublic(&k.public, &k.scalar)
	return k, nil
}

// NewPrivateKey returns the key whose scalar is the 32 bytes given (any 32
// bytes are a valid X25519 scalar), with its public key computed by a
// fixed-base multiplication. Any other length is an error. The slice is
// copied.
func NewPrivateKey(scalar []byte) (*PrivateKey, error) {
	if len(scalar) != ScalarSize {
		return nil, errScalarSize
	}
	k := new(PrivateKey)
	copy(k.scalar[:], scalar)
	basePublic(&k.public, &k.scalar)
	return k, nil
}

// NewPrivateKeyWithPublic returns the key made of the given scalar and public
// key, computing nothing: public is taken as the scalar's public key without
// any check. It is for keys read back from storage that authenticates them
// (the pair having been made by GenerateKey or NewPrivateKey); a public key
// that does not belong to the scalar would be announced to peers, and
// Diffie-Hellman with it would not agree. Only the sizes are checked (32
// bytes each). Both slices are copied.
func NewPrivateKeyWithPublic(scalar, public []byte) (*PrivateKey, error) {
	if len(scalar) != ScalarSize {
		return nil, errScalarSize
	}
	if len(public) != PointSize {
		return nil, errPointSize
	}
	k := new(PrivateKey)
	copy(k.scalar[:], scalar)
	copy(k.public[:], public)
	return k, nil
}

// Bytes returns a copy of the 32-byte scalar exactly as it was given or
// generated (unclamped, as crypto/ecdh's PrivateKey.Bytes).
func (k *PrivateKey) Bytes() []byte {
	out := k.scalar
	return out[:]
}

// PublicKey returns a copy of the 32-byte public key (the u-coordinate of
// the clamped scalar times the base point 9).
func (k *PrivateKey) PublicKey() []byte {
	out := k.public
	return out[:]
}

// ECDHKey returns the key as a crypto/ecdh key, for code that needs one;
// building it costs crypto/ecdh's scalar multiplication.
func (k *PrivateKey) ECDHKey() (*ecdh.PrivateKey, error) {
	return ecdh.X25519().NewPrivateKey(k.scalar[:])
}

// ECDH returns the 32-byte shared secret X25519(scalar, peer) of RFC 7748.
// peer must be 32 bytes; an all-zero result gives ErrLowOrder.
func (k *PrivateKey) ECDH(peer []byte) ([]byte, error) {
	return sharedSecret(&k.scalar, peer)
}

// ECDH returns X25519(scalar, peer) as PrivateKey.ECDH does, for a scalar
// without a key object (no public key is computed). Both must be 32 bytes.
func ECDH(scalar, peer []byte) ([]byte, error) {
	if len(scalar) != ScalarSize {
		return nil, errScalarSize
	}
	return sharedSecret((*[ScalarSize]byte)(scalar), peer)
}

func sharedSecret(scalar *[ScalarSize]byte, peer []byte) ([]byte, error) {
	if len(peer) != PointSize {
		return nil, errPointSize
	}
	out := make([]byte, PointSize)
	x25519((*[PointSize]byte)(out), scalar, (*[PointSize]byte)(peer))
	var zero [PointSize]byte
	if subtle.ConstantTimeCompare(out, zero[:]) == 1 {
		return nil, ErrLowOrder
	}
	return out, nil
}

// basePublic sets out to X25519(scalar, 9) by a fixed-base multiplication on
// edwards25519: the u-coordinate of [clamp(scalar)]B is that of
// [clamp(scalar)](9) on curve25519, B mapping to the point with u = 9.
// SetBytesWithClamping clamps as RFC 7748 does and reduces modulo the group
// order, which changes nothing since B has that order; the result is never
// the identity, since no clamped scalar is a multiple of the order.
func basePublic(out *[PointSize]byte, scalar *[ScalarSize]byte) {
	s, err := new(edwards25519.Scalar).SetBytesWithClamping(scalar[:])
	if err != nil {
		panic("SetBytesWithClamping refused 32 bytes") // unreachable: the size is fixed
	}
	p := new(edwards25519.Point).ScalarBaseMult(s)
	copy(out[:], p.BytesMontgomery())
}

// clamp returns the scalar clamped as in RFC 7748 section 5 (decodeScalar25519):
// the three low bits cleared, bit 255 cleared, bit 254 set.
func clamp(scalar *[ScalarSize]byte) [ScalarSize]byte {
	k := *scalar
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64
	return k
}

// x25519 sets out to the function X25519(k, u) of RFC 7748 section 5: the
// Montgomery ladder over the clamped scalar's 255 bits, from the top, with
// projective (x, z) coordinates and conditional swaps, then one inversion.
// Its running time and memory accesses do not depend on k or u.
func x25519(out *[PointSize]byte, scalar, peer *[PointSize]byte) {
	k := clamp(scalar)

	// decodeUCoordinate: the top bit masked, non-canonical values accepted
	// (the field arithmetic reduces them). SetBytes fails only on a length
	// other than 32.
	var x1 field.Element
	if _, err := x1.SetBytes(peer[:]); err != nil {
		panic("field.Element.SetBytes refused 32 bytes") // unreachable
	}

	var x2, z2, x3, z3 field.Element
	x2.One()
	z2.Zero()
	x3.Set(&x1)
	z3.One()
	swap := 0

	var a, aa, b, bb, e, c, d, da, cb, t field.Element
	for i := 254; i >= 0; i-- {
		// The byte index and the shift depend on the loop counter only.
		bit := int(k[i>>3]>>(uint(i)&7)) & 1
		swap ^= bit
		x2.Swap(&x3, swap)
		z2.Swap(&z3, swap)
		swap = bit

		a.Add(&x2, &z2)       // A = x_2 + z_2
		aa.Square(&a)         // AA = A^2
		b.Subtract(&x2, &z2)  // B = x_2 - z_2
		bb.Square(&b)         // BB = B^2
		e.Subtract(&aa, &bb)  // E = AA - BB
		c.Add(&x3, &z3)       // C = x_3 + z_3
		d.Subtract(&x3, &z3)  // D = x_3 - z_3
		da.Multiply(&d, &a)   // DA = D * A
		cb.Multiply(&c, &b)   // CB = C * B
		x3.Add(&da, &cb)      //
		x3.Square(&x3)        // x_3 = (DA + CB)^2
		z3.Subtract(&da, &cb) //
		z3.Square(&z3)        //
		z3.Multiply(&z3, &x1) // z_3 = x_1 * (DA - CB)^2
		x2.Multiply(&aa, &bb) // x_2 = AA * BB
		t.Mult32(&e, 121665)  // a24 * E, a24 = (486662 - 2) / 4
		t.Add(&t, &aa)        //
		z2.Multiply(&e, &t)   // z_2 = E * (AA + a24 * E)
	}
	x2.Swap(&x3, swap)
	z2.Swap(&z3, swap)

	// x_2 * z_2^(p-2); Invert maps zero to zero, so the point at infinity
	// (z_2 = 0) gives the all-zero output.
	z2.Invert(&z2)
	x2.Multiply(&x2, &z2)
	copy(out[:], x2.Bytes())
}
