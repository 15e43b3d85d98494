package vault

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The passphrase rule (docs/threat-model.md, "The client"). A thief of
// profile.db tries passphrases offline, each guess costing one Argon2id
// evaluation (64 MiB, t = 3, p = 4): well under a second on one core, and
// much less per guess on a farm of GPUs. Only length buys safety against
// that; a rule of character classes does not (users meet it with
// "Password1!"). So a new passphrase must have at least
// MinPassphraseChars characters and not be one character or a short
// pattern repeated; a generated passphrase (GeneratePassphrase, 125 random
// bits) is the recommended choice.
const (
	MinPassphraseChars    = 12
	minDistinctCharacters = 5
	generatedGroups       = 5
	generatedGroupLen     = 5
	// generatedAlphabet has 32 symbols (5 bits each, no bias from a byte)
	// and no look-alikes (no 0, 1, l, o).
	generatedAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"
)

// ErrWeakPassphrase: a new passphrase fails the rule.
var ErrWeakPassphrase = errors.New("the passphrase is too weak")

// CheckPassphrase applies the rule to a new passphrase.
func CheckPassphrase(p []byte) error {
	if !utf8.Valid(p) {
		return fmt.Errorf("%w: it is not valid UTF-8 text", ErrWeakPassphrase)
	}
	n := utf8.RuneCount(p)
	if n < MinPassphraseChars {
		return fmt.Errorf("%w: %d characters, at least %d are needed (several words, or a generated passphrase)", ErrWeakPassphrase, n, MinPassphraseChars)
	}
	distinct := map[rune]bool{}
	for _, r := range string(p) {
		distinct[r] = true
	}
	if len(distinct) < minDistinctCharacters {
		return fmt.Errorf("%w: it repeats %d different characters; use several words, or a generated passphrase", ErrWeakPassphrase, len(distinct))
	}
	return nil
}

// GeneratePassphrase returns a random passphrase of 25 characters in five
// groups ("k7mqx-2hvab-…"), 125 bits.
func GeneratePassphrase() (string, error) {
	b := make([]byte, generatedGroups*generatedGroupLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	var out strings.Builder
	for i, c := range b {
		if i > 0 && i%generatedGroupLen == 0 {
			out.WriteByte('-')
		}
		out.WriteByte(generatedAlphabet[int(c)%len(generatedAlphabet)])
	}
	return out.String(), nil
}
