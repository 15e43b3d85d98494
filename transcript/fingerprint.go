package transcript

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Key fingerprint sizes: Fingerprint shows FingerprintSize bytes of
// SHA-256(key) as FingerprintGroups groups of hex digits; ShortFingerprint,
// which names a device in warnings, shows the first ShortFingerprintSize
// bytes (the first two groups, without the space).
const (
	FingerprintSize      = 16
	FingerprintGroups    = 8
	ShortFingerprintSize = 4
	fingerprintDigits    = 2 * FingerprintSize / FingerprintGroups // hex digits per group
)

// Fingerprint returns the text form of an Ed25519 public key that people
// compare aloud: the first 16 bytes of SHA-256(key) in lower-case hex, as 8
// groups of 4 digits separated by single spaces, e.g.
// "3f2a 9c01 77de 0b4e 5a61 c2f0 e913 08ad". It is the form of
// MemberReport.Fingerprint and of the CLI's `keys fingerprint`.
func Fingerprint(key ed25519.PublicKey) string {
	sum := sha256.Sum256(key)
	digits := hex.EncodeToString(sum[:FingerprintSize])
	var b strings.Builder
	b.Grow(len(digits) + FingerprintGroups - 1)
	for i := 0; i < len(digits); i += fingerprintDigits {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(digits[i : i+fingerprintDigits])
	}
	return b.String()
}

// ShortFingerprint returns the first 8 hex digits of SHA-256(key) (the
// first two groups of Fingerprint, without the space), the name of a device
// key in warnings and notices: "bob's message #3 (device 3f2a9c01)".
func ShortFingerprint(key ed25519.PublicKey) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:ShortFingerprintSize])
}
