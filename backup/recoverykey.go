package backup

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"backchannel/entropy"
)

// Recovery key text form (docs/protocol.md section 15).
const (
	// RecoveryKeyPrefix starts the printed form of a recovery key.
	RecoveryKeyPrefix = "bcrk-"
	// RecoveryKeySize is the secret's length.
	RecoveryKeySize = 32
	// RecoveryChecksumLabel prefixes the bytes hashed for the checksum.
	RecoveryChecksumLabel = "backchannel recovery key v1"
	// RecoveryAlphabet is Crockford's base32 alphabet in lower case (no i,
	// l, o or u; typed i, l and o read as 1, 1 and 0).
	RecoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

	checksumSize  = 3
	recoveryChars = (RecoveryKeySize + checksumSize) * 8 / 5 // 56
	groupSize     = 4
)

var recoveryEncoding = base32.NewEncoding(RecoveryAlphabet).WithPadding(base32.NoPadding)

// Errors of ParseRecoveryKey; each wraps ErrBadRecoveryKey.
var (
	ErrBadRecoveryKey = errors.New("not a valid recovery key")
	// ErrRecoveryKeyTypo: the characters are valid but the checksum does
	// not match: a character is mistyped, or two are swapped.
	ErrRecoveryKeyTypo = fmt.Errorf("%w: its checksum does not match (a character is mistyped)", ErrBadRecoveryKey)
)

// RecoveryKey is 32 random bytes that can unlock a backup, printed as
// "bcrk-" and 14 groups of 4 base32 characters; the last 24 bits are a
// checksum, so a typo is caught before any decryption is tried.
type RecoveryKey struct {
	k [RecoveryKeySize]byte
}

// NewRecoveryKey draws a recovery key.
func NewRecoveryKey(src entropy.Source) (RecoveryKey, error) {
	var r RecoveryKey
	if err := src.Bytes(r.k[:]); err != nil {
		return RecoveryKey{}, fmt.Errorf("recovery key: %w", err)
	}
	return r, nil
}

func recoveryChecksum(k []byte) []byte {
	h := sha256.New()
	h.Write([]byte(RecoveryChecksumLabel))
	h.Write(k)
	return h.Sum(nil)[:checksumSize]
}

// String returns the printed form, e.g. "bcrk-7k2q-...-x9a0" (14 groups).
// It is the secret: show it to the user once, never log it.
func (r RecoveryKey) String() string {
	raw := append(r.k[:], recoveryChecksum(r.k[:])...)
	enc := recoveryEncoding.EncodeToString(raw)
	var b strings.Builder
	b.WriteString(RecoveryKeyPrefix)
	for i := 0; i < len(enc); i += groupSize {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(enc[i : i+groupSize])
	}
	return b.String()
}

// ParseRecoveryKey reads a recovery key as the user typed it: case, spaces
// and dashes do not matter, the prefix may be left out, and o, i and l read
// as 0, 1 and 1.
func ParseRecoveryKey(s string) (RecoveryKey, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, RecoveryKeyPrefix)
	var b strings.Builder
	n := 0
	for _, c := range s {
		switch {
		case c == '-' || c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		case c == 'o':
			c = '0'
		case c == 'i' || c == 'l':
			c = '1'
		}
		n++
		if c > 0x7f || !strings.ContainsRune(RecoveryAlphabet, c) {
			return RecoveryKey{}, fmt.Errorf("%w: character %d (%q) is not in a recovery key", ErrBadRecoveryKey, n, c)
		}
		b.WriteRune(c)
	}
	if n != recoveryChars {
		return RecoveryKey{}, fmt.Errorf("%w: it has %d characters, not %d (%d groups of %d)", ErrBadRecoveryKey, n, recoveryChars, recoveryChars/groupSize, groupSize)
	}
	raw, err := recoveryEncoding.DecodeString(b.String())
	if err != nil || len(raw) != RecoveryKeySize+checksumSize {
		return RecoveryKey{}, fmt.Errorf("%w: it does not decode", ErrBadRecoveryKey)
	}
	if subtle.ConstantTimeCompare(recoveryChecksum(raw[:RecoveryKeySize]), raw[RecoveryKeySize:]) != 1 {
		return RecoveryKey{}, ErrRecoveryKeyTypo
	}
	var r RecoveryKey
	copy(r.k[:], raw)
	return r, nil
}

// Key returns the backup key this recovery key stands for.
func (r RecoveryKey) Key() Key { return Key{kind: KindRecoveryKey, recovery: r.k} }
