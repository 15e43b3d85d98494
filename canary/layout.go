package canary

import (
	"strings"
	"unicode/utf8"
)

// maxQ is the largest alphabet of a slot.
const maxQ = 4

type slotKind uint8

const (
	kindGapStyle      slotKind = iota // quotes, dashes, ellipses in a gap: plain or typographic
	kindSentenceSpace                 // one or two spaces after a sentence
	kindInvisible                     // one of four zero-width characters after a gap's space
	kindWordStyle                     // apostrophes and dashes inside a word
	kindLexical                       // one of a lexicon group's alternatives
	kindPunct                         // an optional comma in a gap (punct.go)
)

// inGap reports the kinds that mark a gap rather than a word.
func (k slotKind) inGap() bool { return k <= kindInvisible || k == kindPunct }

// class names the kind of alternative a slot offers, for density reports:
// the lexicon file of a lexical slot ("spelling", "contractions"), else the
// kind.
func (s slot) class() string {
	switch s.kind {
	case kindGapStyle:
		return "gap-style"
	case kindSentenceSpace:
		return "sentence-space"
	case kindInvisible:
		return "invisible"
	case kindWordStyle:
		return "word-style"
	case kindLexical:
		return s.m.g.class()
	case kindPunct:
		return s.pc.String()
	}
	return "unknown"
}

// Channel returns the policy channel a slot kind belongs to.
func (k slotKind) channel() Policy {
	switch k {
	case kindInvisible:
		return PolicyInvisible
	case kindLexical, kindPunct:
		return PolicyLexical
	}
	return PolicyTypographic
}

type slot struct {
	kind slotKind
	q    uint8
	w    int32      // the gap before word w, or word w
	m    lexMatch   // kindLexical only
	pc   punctClass // kindPunct only
}

// canonTok is one token of a text's canonical word sequence.
type canonTok struct {
	hash  uint64
	word  int32     // raw word it comes from
	g     *lexGroup // lexical group of the raw word(s), or nil
	alt   int8      // alternative found in the text
	first bool      // first canonical token of its raw word(s)
}

// Layout is the slot structure of one original text under one policy. It
// depends only on the text and the policy, never on a key or recipient.
type Layout struct {
	tok       *tokens
	prot      *protection // what no slot may change (protect.go)
	policy    Policy
	slots     []slot
	curly     bool // the original uses curly apostrophes
	canon     []canonTok
	wordCanon []int32 // first canonical token of each word
	punct     map[int]punctClass
}

// NewLayout finds the marking slots of text under policy p.
func NewLayout(text string, p Policy) *Layout {
	lx := mustLexicon()
	t := tokenize(text)
	l := &Layout{tok: t, prot: protectText(text), policy: p, curly: strings.ContainsRune(text, '\u2019')}
	l.canon, l.wordCanon = canonicalTokens(lx, t)
	if p.Has(PolicyLexical) {
		for _, pp := range punctPositions(lx, t) {
			if l.punct == nil {
				l.punct = map[int]punctClass{}
			}
			l.punct[pp.k] = pp.class
		}
	}
	skipGap := -1 // words inside a lexical slot carry no gap slots
	for k := 0; k < len(t.words); k++ {
		w := t.words[k]
		if k > 0 && k > skipGap {
			l.gapSlots(k)
		}
		if p.Has(PolicyLexical) {
			if m, ok := lx.match(t, k); ok && m.contextOK(t, k) && !l.prot.overlaps(w.start, t.words[k+m.n-1].end) {
				l.slots = append(l.slots, slot{kind: kindLexical, q: uint8(len(m.g.alts)), w: int32(k), m: m})
				skipGap = k + m.n - 1
				k += m.n - 1
				continue
			}
		}
		if p.Has(PolicyTypographic) && !w.prot && countStyle(t.raw(k), true) > 0 && !l.prot.overlaps(w.start, w.end) {
			l.slots = append(l.slots, slot{kind: kindWordStyle, q: 2, w: int32(k)})
		}
	}
	return l
}

func (l *Layout) gapSlots(k int) {
	t := l.tok
	if t.words[k-1].hard || t.words[k].hard || l.prot.overlaps(t.words[k-1].end, t.words[k].start) {
		return
	}
	g := t.gap(k)
	if l.policy.Has(PolicyTypographic) {
		// Quotes next to digits may be feet, inches or elided years ('70s).
		if countStyle(g, false) > 0 && !t.words[k-1].prot && !t.words[k].prot && !optionDashes(g) {
			l.slots = append(l.slots, slot{kind: kindGapStyle, q: 2, w: int32(k)})
		}
		if t.words[k].capital && sentenceSpaces(g) == 1 {
			l.slots = append(l.slots, slot{kind: kindSentenceSpace, q: 2, w: int32(k)})
		}
	}
	if l.policy.Has(PolicyInvisible) && strings.HasSuffix(g, " ") {
		l.slots = append(l.slots, slot{kind: kindInvisible, q: 4, w: int32(k)})
	}
	// phrase-comma is one-way: only a comma in the original (punct.go).
	if c, ok := l.punct[k]; ok && (g == ", " || (g == " " && c != punctPhrase)) {
		l.slots = append(l.slots, slot{kind: kindPunct, q: 2, w: int32(k), pc: c})
	}
}

// NumSlots returns the number of marking slots.
func (l *Layout) NumSlots() int { return len(l.slots) }

// Alphabet returns the number of symbols slot i can carry (2 to 4).
func (l *Layout) Alphabet(i int) int { return int(l.slots[i].q) }

// Words returns the number of words of the original.
func (l *Layout) Words() int { return len(l.tok.words) }

// Render returns the copy of the original that carries symbols (one per
// slot, each below Alphabet(i)). Symbols out of range leave a slot unmarked.
func (l *Layout) Render(symbols []int) string {
	t := l.tok
	if len(t.words) == 0 {
		return t.text
	}
	var b strings.Builder
	b.Grow(len(t.text) + len(t.text)/8)
	si := 0
	openQuote := -1 // the style of the last opening double quote (pairQuotes)
	sym := func(i int) int {
		if i < len(symbols) && symbols[i] >= 0 && symbols[i] < int(l.slots[i].q) {
			return symbols[i]
		}
		return -1
	}
	for k := 0; k < len(t.words); k++ {
		g := t.gap(k)
		style, space, inv, comma := -1, -1, -1, -1
		for si < len(l.slots) && int(l.slots[si].w) == k && l.slots[si].kind.inGap() {
			switch l.slots[si].kind {
			case kindPunct:
				comma = sym(si)
			case kindGapStyle:
				style = sym(si)
			case kindSentenceSpace:
				space = sym(si)
			case kindInvisible:
				inv = sym(si)
			}
			si++
		}
		switch comma {
		case 0:
			g = " "
		case 1:
			g = ", "
		}
		if style >= 0 {
			g = restyle(g, style == 1, k == 0)
		}
		if k == 0 || !l.prot.overlaps(t.words[k-1].end, t.words[k].start) {
			g = pairQuotes(g, &openQuote, k == 0)
		}
		b.WriteString(g)
		if space == 1 {
			b.WriteByte(' ')
		}
		if inv >= 0 {
			b.WriteRune(zeroWidth[inv])
		}
		if si < len(l.slots) && int(l.slots[si].w) == k {
			s := l.slots[si]
			si++
			if v := sym(si - 1); v >= 0 {
				switch s.kind {
				case kindLexical:
					end := t.words[k+s.m.n-1].end
					if v == s.m.alt {
						b.WriteString(t.text[t.words[k].start:end])
					} else {
						b.WriteString(s.m.g.render(v, t.words[k].capital, l.curly))
					}
					k += s.m.n - 1
					continue
				case kindWordStyle:
					b.WriteString(restyle(t.raw(k), v == 1, false))
					continue
				}
			}
			if s.kind == kindLexical {
				b.WriteString(t.text[t.words[k].start:t.words[k+s.m.n-1].end])
				k += s.m.n - 1
				continue
			}
		}
		b.WriteString(t.raw(k))
	}
	b.WriteString(t.text[t.words[len(t.words)-1].end:])
	return b.String()
}

// optionDashes reports a gap that ends in "--" touching the next word after
// a space or line break: a command-line option ("--since"), not a dash, so
// it is never restyled.
func optionDashes(g string) bool {
	rest, ok := strings.CutSuffix(g, "--")
	if !ok {
		return false
	}
	return rest == "" || strings.ContainsRune(" \t\n([", rune(rest[len(rest)-1]))
}

// sentenceSpaces returns the number of spaces after sentence punctuation
// (optionally followed by closing quotes or brackets) if g is exactly that,
// else 0. Invisible characters are ignored.
func sentenceSpaces(g string) int {
	i := 0
	for i < len(g) && isIgnorableByte(g, i) {
		_, n := utf8.DecodeRuneInString(g[i:])
		i += n
	}
	if i >= len(g) || !strings.ContainsRune(".!?", rune(g[i])) {
		return 0
	}
	i++
	spaces := 0
	for _, r := range g[i:] {
		switch {
		case isIgnorable(r):
		case r == ' ':
			spaces++
		case spaces == 0 && strings.ContainsRune("\"'\u2019\u201D)]", r):
		default:
			return 0
		}
	}
	return spaces
}

func isIgnorableByte(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return isIgnorable(r)
}

// countStyle counts the typographic units of s: apostrophes and quotes,
// dashes ("—", "--", "–") and ellipses. Inside a word only apostrophes and
// dashes count.
func countStyle(s string, inWord bool) int {
	f, p := styleUnits(s, inWord)
	return f + p
}

// dashLocked reports whether the dash rune of n bytes at s[i] touches a
// hyphen: written plainly it would merge with it into another dash ("-–"
// would become "--"), so it is no marking unit and is never restyled. An
// em or en dash counts as a hyphen here: written plainly they are "--" and
// "-" (found by FuzzUnmark: "--–" and "—–" must unmark alike, and "––"
// must not become "--").
func dashLocked(s string, i, n int) bool {
	return (i > 0 && (s[i-1] == '-' || strings.HasSuffix(s[:i], "\u2014") || strings.HasSuffix(s[:i], "\u2013"))) ||
		(i+n < len(s) && (s[i+n] == '-' || strings.HasPrefix(s[i+n:], "\u2014") || strings.HasPrefix(s[i+n:], "\u2013")))
}

// styleUnits returns the number of typographic (fancy) and plain units.
func styleUnits(s string, inWord bool) (fancy, plain int) {
	prev := rune(-1)
	// Invisible characters do not decide whether a quote opens: a copy
	// whose gaps were scrambled with zero-width characters reads as the
	// stripped copy does (found by eval trace's scramble rows).
	for i := 0; i < len(s); prev = lastVisibleOr(s[:i], -1) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case !inWord && isDoubleQuote(r) && !openingAfter(prev, false):
			// A closing double quote is no unit: it follows its opening
			// one (Render), so a pair never reads “like this".
		case (r == '\u2014' || r == '\u2013') && dashLocked(s, i, n):
		case r == '\u2019' || r == '\u2018' || r == '\u2014' || r == '\u2013':
			fancy++
		case r == '\u201C' || r == '\u201D' || r == '\u2026':
			if !inWord {
				fancy++
			}
		case r == '\'':
			plain++
		case r == '"':
			if !inWord {
				plain++
			}
		case strings.HasPrefix(s[i:], "--"):
			plain++
			n = 2
		case strings.HasPrefix(s[i:], "..."):
			if !inWord {
				plain++
			}
			n = 3
		}
		i += n
	}
	return fancy, plain
}

func isDoubleQuote(r rune) bool { return r == '"' || r == '\u201C' || r == '\u201D' }

// openingAfter says whether a quote after prev opens (-1: the start of a
// run of text, which opens when atStart).
func openingAfter(prev rune, atStart bool) bool {
	if prev == -1 {
		return atStart
	}
	return prev == ' ' || prev == '\n' || prev == '\t' || prev == '(' || prev == '[' || prev == '\u2014' || prev == '\u201C' || prev == '"'
}

// lastVisibleOr returns the last rune of s that is not ignorable, or none
// if there is none.
func lastVisibleOr(s string, none rune) rune {
	if r := lastVisible(s); r != utf8.RuneError || strings.HasSuffix(s, "\uFFFD") {
		return r
	}
	return none
}

func lastRune(s string) rune {
	if s == "" {
		return -1
	}
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

// pairQuotes makes the closing double quotes of g follow the style of the
// last opening one (*open: -1 none yet, 0 plain, 1 curly), and records the
// openings g holds. atStart: g begins the text.
func pairQuotes(g string, open *int, atStart bool) string {
	if !strings.ContainsAny(g, "\"\u201C\u201D") {
		return g
	}
	var b strings.Builder
	prev := rune(-1)
	for _, r := range g {
		if isDoubleQuote(r) {
			if openingAfter(prev, atStart) {
				*open = 0
				if r == '\u201C' {
					*open = 1
				}
			} else if *open >= 0 {
				r = '"'
				if *open == 1 {
					r = '\u201D'
				}
			}
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// restyle rewrites the typographic units of s in typographic (fancy) or
// plain ASCII style. atStart says s begins the text (an opening position).
func restyle(s string, fancy, atStart bool) string {
	var b strings.Builder
	b.Grow(len(s) + 4)
	prev := rune(-1) // -1: start of s
	opening := func() bool { return openingAfter(prev, atStart) }
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		out := ""
		switch {
		case r == '\'' || r == '\u2019' || r == '\u2018':
			switch {
			case !fancy:
				out = "'"
			case opening():
				out = "\u2018"
			default:
				out = "\u2019"
			}
		case isDoubleQuote(r) && !opening():
			out = string(r) // a closing quote follows its opening one (Render)
		case isDoubleQuote(r):
			switch {
			case !fancy:
				out = "\""
			case opening():
				out = "\u201C"
			default:
				out = "\u201D"
			}
		case (r == '\u2014' || r == '\u2013') && dashLocked(s, i, n):
			out = s[i : i+n]
		case r == '\u2014' || strings.HasPrefix(s[i:], "--"):
			if r != '\u2014' {
				n = 2
			}
			out = "--"
			if fancy {
				out = "\u2014"
			}
		case r == '\u2013':
			out = "-"
			if fancy {
				out = "\u2013"
			}
		case r == '\u2026' || strings.HasPrefix(s[i:], "..."):
			if r != '\u2026' {
				n = 3
			}
			out = "..."
			if fancy {
				out = "\u2026"
			}
		default:
			out = s[i : i+n]
		}
		b.WriteString(out)
		if r, _ := utf8.DecodeLastRuneInString(out); !isIgnorable(r) {
			prev = r
		}
		i += n
	}
	return b.String()
}

// canonicalTokens maps a text to its canonical word sequence: every lexicon
// alternative becomes its group's canonical form.
func canonicalTokens(lx *lexicon, t *tokens) ([]canonTok, []int32) {
	canon := make([]canonTok, 0, len(t.words)+4)
	wc := make([]int32, len(t.words))
	for k := 0; k < len(t.words); k++ {
		wc[k] = int32(len(canon))
		if m, ok := lx.match(t, k); ok {
			for j, key := range m.g.altKeys[0] {
				canon = append(canon, canonTok{hash: hashKey(strings.ToLower(key)), word: int32(k), g: m.g, alt: int8(m.alt), first: j == 0})
			}
			for j := 1; j < m.n; j++ {
				wc[k+j] = -1
			}
			k += m.n - 1
			continue
		}
		canon = append(canon, canonTok{hash: hashKey(t.words[k].key), word: int32(k), first: true})
	}
	return canon, wc
}

// hashKey is 64-bit FNV-1a.
func hashKey(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
