package demo

import (
	"strings"
	"unicode"
)

// The invisible characters of the marks, as Visible shows them.
var invisibleSymbols = map[rune]string{
	'\u200B': "·", // zero width space
	'\u200C': "∘", // zero width non-joiner
	'\u2060': "•", // word joiner
	'\u200D': "⋄", // zero width joiner
}

// legend explains Visible's symbols.
const legend = "· ∘ • ⋄ are invisible characters, ␣ an extra or special space, [ ] wording or typography unlike what was typed"

// otherInvisible is shown for any other invisible character.
const otherInvisible = "¤"

// Rendering is a marked copy made visible.
type Rendering struct {
	// Text is the copy with every invisible character and special space
	// shown as a symbol (see legend) and the words that differ from the
	// original highlighted.
	Text string
	// Differs lists the copy's words unlike the original's, in order.
	Differs []string
}

// Visible renders copy against original: invisible characters as symbols,
// a special or extra space as ␣, and the words (wording, quotes, dashes)
// that differ from original between brackets, or in reverse video when
// highlight is set.
func Visible(original, copy string, highlight bool) Rendering {
	ow, cw := splitWords(original), splitWords(copy)
	okeys := make([]string, len(ow))
	for i, w := range ow {
		okeys[i] = stripInvisible(w.word)
	}
	ckeys := make([]string, len(cw))
	for i, w := range cw {
		ckeys[i] = stripInvisible(w.word)
	}
	same := lcsMask(okeys, ckeys)
	var r Rendering
	var b strings.Builder
	for i, w := range cw {
		b.WriteString(showGap(w.gap, i == 0))
		word := showInvisible(w.word)
		if same[i] || ckeys[i] == "" {
			b.WriteString(word)
			continue
		}
		r.Differs = append(r.Differs, ckeys[i])
		if highlight {
			b.WriteString("\x1b[7m" + word + "\x1b[27m")
		} else {
			b.WriteString("[" + word + "]")
		}
	}
	r.Text = b.String()
	return r
}

// gapWord is a word and the spaces before it.
type gapWord struct{ gap, word string }

// isGap reports whether r separates words: a space of any kind.
func isGap(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\u00A0' || (r >= '\u2000' && r <= '\u200A') || r == '\u202F' || r == '\u205F' || r == '\u3000'
}

// splitWords splits s into words, each with the gap before it; a trailing
// gap becomes a last, empty word.
func splitWords(s string) []gapWord {
	var out []gapWord
	var gap, word strings.Builder
	flush := func() {
		out = append(out, gapWord{gap.String(), word.String()})
		gap.Reset()
		word.Reset()
	}
	for _, r := range s {
		if isGap(r) {
			if word.Len() > 0 {
				flush()
			}
			gap.WriteRune(r)
			continue
		}
		word.WriteRune(r)
	}
	if word.Len() > 0 || gap.Len() > 0 {
		flush()
	}
	return out
}

// showGap shows a gap: one plain space as itself, anything else with one
// ␣ per special or extra space (a line break stays).
func showGap(g string, first bool) string {
	if g == " " || g == "" {
		return g
	}
	var b strings.Builder
	plain := first // a leading gap has no plain space to keep
	for _, r := range g {
		switch {
		case r == '\n':
			b.WriteRune(r)
		case r == ' ' && !plain:
			b.WriteRune(' ')
			plain = true
		default:
			b.WriteString("␣")
		}
	}
	return b.String()
}

func stripInvisible(s string) string {
	return strings.Map(func(r rune) rune {
		if isInvisible(r) {
			return -1
		}
		return r
	}, s)
}

func showInvisible(s string) string {
	var b strings.Builder
	for _, r := range s {
		if sym, ok := invisibleSymbols[r]; ok {
			b.WriteString(sym)
		} else if isInvisible(r) {
			b.WriteString(otherInvisible)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isInvisible reports whether r shows nothing: format characters (zero
// width spaces and joiners, the soft hyphen, direction marks).
func isInvisible(r rune) bool { return unicode.Is(unicode.Cf, r) }

// lcsMask marks the elements of b that belong to a longest common
// subsequence of a and b.
func lcsMask(a, b []string) []bool {
	n, m := len(a), len(b)
	dp := make([][]int, n+1)
	for i := range dp {
		dp[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	mask := make([]bool, m)
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case a[i] == b[j]:
			mask[j] = true
			i++
			j++
		case dp[i+1][j] >= dp[i][j+1]:
			i++
		default:
			j++
		}
	}
	return mask
}
