// Package entropy is the single place where protocol code draws randomness.
//
// Every key generation and every ML-KEM encapsulation in backchannel goes
// through a Source. Production code uses System, which reads crypto/rand via
// the standard library. Known-answer test vectors need reproducible keys, so
// tests substitute a deterministic Source from package entropytest; no
// non-test code may import that package (an invariant test checks this).
package entropy

import (
	"crypto/mlkem"
	"crypto/rand"
	"fmt"

	"backchannel/x25519"
)

// Source supplies the randomness protocol steps consume.
type Source interface {
	// X25519 returns a fresh X25519 private key.
	X25519() (*x25519.PrivateKey, error)
	// MLKEM768 returns a fresh ML-KEM-768 decapsulation key.
	MLKEM768() (*mlkem.DecapsulationKey768, error)
	// Encapsulate runs ML-KEM-768 encapsulation to ek.
	Encapsulate(ek *mlkem.EncapsulationKey768) (sharedKey, ciphertext []byte, err error)
	// Bytes fills b with random bytes (salts, ids, Ed25519 seeds).
	Bytes(b []byte) error
}

// System is the Source backed by the operating system's CSPRNG.
type System struct{}

// X25519 implements Source.
func (System) X25519() (*x25519.PrivateKey, error) {
	k, err := x25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate X25519 key: %w", err)
	}
	return k, nil
}

// MLKEM768 implements Source.
func (System) MLKEM768() (*mlkem.DecapsulationKey768, error) {
	k, err := mlkem.GenerateKey768()
	if err != nil {
		return nil, fmt.Errorf("generate ML-KEM-768 key: %w", err)
	}
	return k, nil
}

// Encapsulate implements Source.
func (System) Encapsulate(ek *mlkem.EncapsulationKey768) ([]byte, []byte, error) {
	ss, ct := ek.Encapsulate()
	return ss, ct, nil
}

// Bytes implements Source.
func (System) Bytes(b []byte) error {
	_, err := rand.Read(b)
	return err
}
