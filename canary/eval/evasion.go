package eval

import (
	"math/rand/v2"
	"strings"
	"unicode"
)

// carriers are the zero-width characters the invisible channel writes
// (canary/text.go); an evader who knows the scheme uses the same ones.
var carriers = [4]rune{'\u200B', '\u200C', '\u2060', '\u200D'}

func isCarrier(r rune) bool {
	for _, c := range carriers {
		if r == c {
			return true
		}
	}
	return r == '\uFEFF'
}

// stripInvisible removes every zero-width character and keeps everything
// else, typography included: the plain stripping an evader starts from.
func stripInvisible(text string) string {
	return strings.Map(func(r rune) rune {
		if isCarrier(r) {
			return -1
		}
		return r
	}, text)
}

// scramble strips the invisible marks and puts one U+200B after the space
// of every word gap instead, so that each gap seems to carry a symbol and
// every copy seems to agree.
func scramble(text string) string {
	text = stripInvisible(text)
	var b strings.Builder
	b.Grow(len(text) + len(text)/2)
	prevSpace := false
	for _, r := range text {
		sp := unicode.IsSpace(r)
		if prevSpace && !sp && b.Len() > 0 {
			b.WriteRune('\u200B')
		}
		b.WriteRune(r)
		prevSpace = sp
	}
	return b.String()
}

// randomise replaces every invisible carrier by one drawn at random, so
// that the gaps keep their carriers but none says whose copy it was.
func randomise(rng *rand.Rand, text string) string {
	return strings.Map(func(r rune) rune {
		if isCarrier(r) {
			return carriers[rng.IntN(len(carriers))]
		}
		return r
	}, text)
}

// typos gives each word with probability rate one typing error of the
// kinds people make: two neighbouring letters swapped, a letter dropped or a
// letter doubled. Words of fewer than three letters are left alone (a
// one-letter typo there is usually another word). Layout is kept.
func typos(rng *rand.Rand, text string, rate float64) string {
	var b strings.Builder
	b.Grow(len(text) + len(text)/50)
	rs := []rune(text)
	for i := 0; i < len(rs); {
		if !unicode.IsLetter(rs[i]) {
			b.WriteRune(rs[i])
			i++
			continue
		}
		j := i
		for j < len(rs) && unicode.IsLetter(rs[j]) {
			j++
		}
		w := rs[i:j]
		if len(w) >= 3 && rng.Float64() < rate {
			w = typo(rng, append([]rune(nil), w...))
		}
		b.WriteString(string(w))
		i = j
	}
	return b.String()
}

func typo(rng *rand.Rand, w []rune) []rune {
	k := rng.IntN(len(w) - 1)
	switch rng.IntN(3) {
	case 0: // swap w[k] and w[k+1]
		w[k], w[k+1] = w[k+1], w[k]
		return w
	case 1: // drop a letter
		return append(w[:k], w[k+1:]...)
	default: // double a letter
		return append(w[:k+1], w[k:]...)
	}
}
