package canary

import (
	"strings"
	"unicode/utf8"
)

// Normalize strips invisible characters and folds typography: curly quotes
// and apostrophes become ASCII, "—" becomes "--", "–" and "−" become "-",
// "…" becomes "...", alternative spaces become a space, runs of spaces and
// tabs become one space and lines lose trailing spaces. Words, punctuation
// and line breaks are kept. A retyped leak looks like its normalised copy.
func Normalize(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	space := false
	for _, r := range text {
		switch {
		case isIgnorable(r):
			continue
		case r == ' ' || r == '\t' || isSpaceRune(r):
			space = true
			continue
		case r == '\r':
			continue
		}
		if space {
			if r != '\n' {
				b.WriteByte(' ')
			}
			space = false
		}
		switch r {
		case '\u2018', '\u2019', '\u201A', '\u201B', '\u2032', '\u02BC':
			b.WriteByte('\'')
		case '\u201C', '\u201D', '\u201E', '\u201F', '\u2033':
			b.WriteByte('"')
		case '\u2014', '\u2015':
			b.WriteString("--")
		case '\u2010', '\u2011', '\u2012', '\u2013', '\u2212':
			b.WriteByte('-')
		case '\u2026':
			b.WriteString("...")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Canonicalize returns Normalize(text) with every lexicon alternative
// replaced by its group's canonical form ("it's" → "it is", "organise" →
// "organize", "Mr" → "Mr."). All marked copies of one message have the same
// canonical form as the original, so a verifier can compare canonical forms
// and not flag a marked copy as altered.
func Canonicalize(text string) string {
	norm := Normalize(text)
	t := tokenize(norm)
	if len(t.words) == 0 {
		return norm
	}
	lx := mustLexicon()
	var b strings.Builder
	b.Grow(len(norm))
	last := 0
	for k := 0; k < len(t.words); k++ {
		m, ok := lx.match(t, k)
		if !ok {
			continue
		}
		end := t.words[k+m.n-1].end
		b.WriteString(norm[last:t.words[k].start])
		b.WriteString(m.g.render(0, t.words[k].capital, false))
		last = end
		k += m.n - 1
	}
	b.WriteString(norm[last:])
	return b.String()
}

// CanonicalWords returns the canonical word sequence of text: lower-cased,
// typography folded, invisible marks dropped and lexical alternatives mapped
// to their canonical form. Punctuation is not part of it.
func CanonicalWords(text string) []string {
	t := tokenize(text)
	lx := mustLexicon()
	out := make([]string, 0, len(t.words))
	for k := 0; k < len(t.words); k++ {
		if m, ok := lx.match(t, k); ok {
			for _, key := range m.g.altKeys[0] {
				out = append(out, strings.ToLower(key))
			}
			k += m.n - 1
			continue
		}
		out = append(out, t.words[k].key)
	}
	return out
}

// validUTF8 replaces invalid bytes so that offsets stay meaningful.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
