// Package entropytest provides a deterministic entropy.Source for known-answer
// test vectors. It must only be imported from _test.go files: its output is
// predictable by design.
package entropytest

import (
	"backchannel/x25519"
	"crypto/mlkem"
	"crypto/mlkem/mlkemtest"
	"crypto/sha3"
)

// Deterministic is an entropy.Source whose output is SHAKE-256(seed label)
// read as a stream: the same label always yields the same keys.
type Deterministic struct {
	xof *sha3.SHAKE
}

// New returns a Deterministic source seeded with label.
func New(label string) *Deterministic {
	x := sha3.NewSHAKE256()
	x.Write([]byte("backchannel test entropy v1\x00"))
	x.Write([]byte(label))
	return &Deterministic{xof: x}
}

func (d *Deterministic) read(n int) []byte {
	b := make([]byte, n)
	d.xof.Read(b)
	return b
}

// X25519 implements entropy.Source.
func (d *Deterministic) X25519() (*x25519.PrivateKey, error) {
	return x25519.NewPrivateKey(d.read(32))
}

// MLKEM768 implements entropy.Source.
func (d *Deterministic) MLKEM768() (*mlkem.DecapsulationKey768, error) {
	return mlkem.NewDecapsulationKey768(d.read(mlkem.SeedSize))
}

// Encapsulate implements entropy.Source with derandomised encapsulation.
func (d *Deterministic) Encapsulate(ek *mlkem.EncapsulationKey768) ([]byte, []byte, error) {
	return mlkemtest.Encapsulate768(ek, d.read(32))
}

// Bytes implements entropy.Source.
func (d *Deterministic) Bytes(b []byte) error {
	d.xof.Read(b)
	return nil
}
