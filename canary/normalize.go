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
		case r == ' ' || r == '\t' || r == '\r' || isSpaceRune(r):
			// A lone carriage return separates words as the tokenizer
			// reads them ("and\rtwelve" is two words: FuzzMarkVariants);
			// before a line break it goes with the other trailing space.
			space = true
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
// "organize", "Mr" → "Mr.") and every optional comma of the punctuation
// slots dropped ("Finally, we" → "Finally we"). All marked copies of one message have the same
// canonical form as the original, so a verifier can compare canonical forms
// and not flag a marked copy as altered.
func Canonicalize(text string) string {
	norm := Normalize(text)
	t := tokenize(norm)
	if len(t.words) == 0 {
		return norm
	}
	lx := mustLexicon()
	// An optional comma (punct.go) is dropped: its places depend on the
	// words only, so the original and every copy agree on them.
	drop := map[int]bool{}
	for _, p := range punctPositions(lx, t) {
		drop[p.k] = true
	}
	var b strings.Builder
	b.Grow(len(norm))
	last := 0
	gap := func(k int) {
		if drop[k] && stripIgnorable(t.gap(k)) == ", " {
			b.WriteString(norm[last:t.words[k-1].end])
			b.WriteByte(' ')
			last = t.words[k].start
		}
	}
	for k := 0; k < len(t.words); k++ {
		gap(k)
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

// Unmark removes every mark of the invisible and typographic channels that
// a text can carry, keeping its words, line breaks and layout: invisible
// characters are dropped, alternative spaces become a space, curly quotes
// and apostrophes become ASCII, "—" becomes "--", "–" becomes "-", "…"
// becomes "..." (an en dash touching a hyphen stays, as marking leaves it),
// and two or more spaces after a sentence's punctuation
// become one. A client applies it to outgoing text before marking, so a
// member who pastes a copy they received into their own message sends
// only their own marks: the pasted copy's marks would otherwise survive
// marking and point at the quoter (issue 10, item 9). Unlike Normalize it
// keeps indentation and other runs of spaces, which carry no marks.
// Lexical alternatives are words and stay as written; a room that marks
// wording chooses every lexical slot afresh for each recipient anyway.
// Code (fenced and indented code blocks, inline code spans), where marking
// never puts a mark, keeps its typography: only invisible characters go
// (a quote or dash in code may be what the code means).
func Unmark(text string) string {
	code := codeRegions(text)
	if len(code) == 0 {
		return unmarkProse(text)
	}
	var b strings.Builder
	b.Grow(len(text))
	at := 0
	for _, c := range code {
		b.WriteString(unmarkProse(text[at:c.start]))
		for _, r := range text[c.start:c.end] {
			if !isIgnorable(r) {
				b.WriteRune(r)
			}
		}
		at = c.end
	}
	b.WriteString(unmarkProse(text[at:]))
	return b.String()
}

// unmarkProse is Unmark outside code.
func unmarkProse(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	for i, r := range text {
		switch {
		case isIgnorable(r):
		case r == '\u2013' && dashLocked(text, i, utf8.RuneLen(r)):
			// Written plainly it would merge with the hyphen it touches
			// (and marking never makes one). An em dash becomes "--"
			// even there: marking can make one out of a run of hyphens,
			// and "--" next to a hyphen joins no words.
			b.WriteRune(r)
		case r != ' ' && isSpaceRune(r):
			b.WriteByte(' ')
		case r == '\u2018' || r == '\u2019' || r == '\u02BC':
			b.WriteByte('\'')
		case r == '\u201C' || r == '\u201D':
			b.WriteByte('"')
		case r == '\u2014':
			b.WriteString("--")
		case r == '\u2013':
			b.WriteByte('-')
		case r == '\u2026':
			b.WriteString("...")
		default:
			b.WriteRune(r)
		}
	}
	return singleSentenceSpaces(b.String())
}

// singleSentenceSpaces turns two or more spaces after sentence punctuation
// (and any closing quotes or brackets), before more text on the same line,
// into one: the "two spaces" symbol of the sentence-space slots.
func singleSentenceSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		b.WriteByte(c)
		i++
		if c != '.' && c != '!' && c != '?' {
			continue
		}
		for i < len(s) && strings.IndexByte("\"')]", s[i]) >= 0 {
			b.WriteByte(s[i])
			i++
		}
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j-i >= 2 && j < len(s) && s[j] != '\n' && s[j] != '\r' {
			b.WriteByte(' ')
			i = j
		}
	}
	return b.String()
}
