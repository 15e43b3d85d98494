package canary

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// word is one word of a text. The gap before word i is
// text[words[i-1].end:words[i].start].
type word struct {
	start, end int
	key        string // folded, lower-cased form (see foldKey)
	prot       bool   // never marked lexically: URL, e-mail, code, digits
	hard       bool   // URL, e-mail or code: nothing next to it is marked
	name       bool   // capitalised in mid-sentence (or all capitals)
	capital    bool   // first letter is upper case
}

// tokens is a text split into words and gaps.
type tokens struct {
	text  string
	words []word
}

func (t *tokens) gap(i int) string {
	if i == 0 {
		return t.text[:t.words[0].start]
	}
	return t.text[t.words[i-1].end:t.words[i].start]
}

func (t *tokens) raw(i int) string { return t.text[t.words[i].start:t.words[i].end] }

// Invisible characters: the four carriers of the invisible channel first.
var zeroWidth = [4]rune{'\u200B', '\u200C', '\u2060', '\u200D'}

// isIgnorable reports characters that are invisible in rendered text.
func isIgnorable(r rune) bool {
	switch r {
	case '\u200B', '\u200C', '\u200D', '\u2060', '\uFEFF', '\u00AD', '\u200E', '\u200F', '\u2061', '\u2062', '\u2063', '\u2064':
		return true
	}
	return false
}

func isApostrophe(r rune) bool { return r == '\'' || r == '\u2019' || r == '\u02BC' || r == '\u2018' }
func isDash(r rune) bool {
	return r == '-' || r == '\u2010' || r == '\u2011' || r == '\u2012' || r == '\u2013' || r == '\u2014' || r == '\u2212'
}

// isWordRune: U+02BC (modifier letter apostrophe) is a letter to Unicode but
// an apostrophe here, as Unmark writes it ASCII (found by FuzzUnmark: "r\x00ʼ"
// must have the words of "r\x00'").
func isWordRune(r rune) bool {
	return r != '\u02BC' && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r))
}

// titles keep their full stop inside the word ("Mr." is one word).
var titles = map[string]bool{"mr": true, "mrs": true, "ms": true, "dr": true, "messrs": true}

// tokenize splits text into words. URLs and e-mail addresses are single
// protected words; words inside `code` spans are protected.
func tokenize(text string) *tokens {
	t := &tokens{text: text, words: make([]word, 0, len(text)/5+1)}
	code := codeSpans(text)
	ci := 0
	i := 0
	for i < len(text) {
		r, n := utf8.DecodeRuneInString(text[i:])
		if !isWordRune(r) {
			i += n
			continue
		}
		if e := urlEnd(text, i); e > i {
			t.words = append(t.words, word{start: i, end: e, key: urlKey(text[i:e]), prot: true, hard: true})
			i = e
			continue
		}
		end := scanWord(text, i)
		for ci < len(code) && code[ci][1] <= i {
			ci++
		}
		inCode := ci < len(code) && code[ci][0] <= i
		w := word{start: i, end: end, prot: inCode, hard: inCode}
		raw := text[i:end]
		w.key = foldKey(raw)
		first, _ := utf8.DecodeRuneInString(raw)
		w.capital = unicode.IsUpper(first)
		for _, c := range raw {
			if unicode.IsDigit(c) {
				w.prot = true
				break
			}
		}
		t.words = append(t.words, w)
		i = end
	}
	for k := range t.words {
		w := &t.words[k]
		if !w.capital || w.key == "i" || strings.HasPrefix(w.key, "i'") {
			continue
		}
		w.name = !sentenceStart(t, k) || isAllCaps(t.raw(k))
	}
	return t
}

func isAllCaps(s string) bool {
	n := 0
	for _, r := range s {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n > 1
}

// sentenceStart reports whether word k begins a sentence: it is the first
// word, or the gap before it holds a line break or sentence punctuation.
func sentenceStart(t *tokens, k int) bool {
	if k == 0 {
		return true
	}
	return strings.ContainsAny(t.gap(k), "\n.!?:")
}

// scanWord returns the end of the word starting at i.
func scanWord(text string, i int) int {
	j := i
	letters := 0    // letters since the last '.'
	dotted := true  // word so far is single letters separated by dots
	components := 0 // number of dot-separated components
	for j < len(text) {
		r, n := utf8.DecodeRuneInString(text[j:])
		switch {
		case isWordRune(r):
			if unicode.IsLetter(r) {
				letters++
				if letters > 1 {
					dotted = false
				}
			} else {
				dotted = false
			}
			j += n
			continue
		case isIgnorable(r):
			k := j + n
			for k < len(text) {
				r2, n2 := utf8.DecodeRuneInString(text[k:])
				if !isIgnorable(r2) {
					break
				}
				k += n2
			}
			// Invisible characters are transparent: the word goes on if what
			// follows them would have continued it (found by FuzzUnmark:
			// "a\u200b'b" must be the one word "a'b", as it is once unmarked).
			if nr, _ := utf8.DecodeRuneInString(text[k:]); k < len(text) && (isWordRune(nr) || isApostrophe(nr) || isDash(nr)) {
				j = k
				continue
			}
		case isApostrophe(r):
			prev := lastVisible(text[i:j])
			next := nextVisible(text[j+n:])
			if unicode.IsLetter(prev) && unicode.IsLetter(next) {
				j += n
				dotted = false
				continue
			}
		case isDash(r):
			k := j + n
			if r2, n2 := utf8.DecodeRuneInString(text[k:]); r2 == '-' && r == '-' {
				k += n2 // "--" is one dash
			}
			prev := lastVisible(text[i:j])
			next := nextVisible(text[k:])
			if isWordRune(prev) && isWordRune(next) {
				j = k
				dotted = false
				continue
			}
		case r == '.' || r == ',':
			prev, _ := utf8.DecodeLastRuneInString(text[i:j])
			next, nn := utf8.DecodeRuneInString(text[j+n:])
			if unicode.IsDigit(prev) && unicode.IsDigit(next) {
				j += n
				continue
			}
			if r == '.' && dotted && letters == 1 {
				components++
				// "U.S.", "e.g.": single letters separated by dots.
				// A dot that begins "..." is an ellipsis, not the
				// abbreviation's, as "…" would be (found by FuzzUnmark).
				after := j + n + nn
				if unicode.IsLetter(next) && strings.HasPrefix(text[after:], ".") && !strings.HasPrefix(text[after:], "..") && !strings.HasPrefix(text[after:], ".\u2026") {
					j += n
					letters = 0
					continue
				}
				if components > 1 && next != '.' && next != '\u2026' {
					return j + n
				}
			}
			if r == '.' && titles[strings.ToLower(text[i:j])] {
				return j + n
			}
		}
		break
	}
	return j
}

// foldKey lower-cases a word, drops invisible characters and folds
// apostrophes and dashes.
func foldKey(raw string) string {
	ascii := true
	for k := 0; k < len(raw); k++ {
		c := raw[k]
		if c >= utf8.RuneSelf || (c >= 'A' && c <= 'Z') {
			ascii = false
			break
		}
	}
	if ascii && !strings.Contains(raw, "--") {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw))
	prevDash := false
	for _, r := range raw {
		switch {
		case isIgnorable(r):
			continue
		case isApostrophe(r):
			b.WriteByte('\'')
		case isDash(r):
			if !prevDash {
				b.WriteByte('-')
			}
			prevDash = true
			continue
		default:
			b.WriteRune(unicode.ToLower(r))
		}
		prevDash = false
	}
	return b.String()
}

// codeSpans returns the byte ranges of code spans: a run of backticks up
// to the next run of the same length (Markdown inline code and fences).
func codeSpans(text string) [][2]int {
	var spans [][2]int
	run := func(i int) int {
		j := i
		for j < len(text) && text[j] == '`' {
			j++
		}
		return j - i
	}
	for i := 0; i < len(text); {
		s := strings.IndexByte(text[i:], '`')
		if s < 0 {
			break
		}
		s += i
		n := run(s)
		end := -1
		for j := s + n; j < len(text); {
			k := strings.IndexByte(text[j:], '`')
			if k < 0 {
				break
			}
			k += j
			if m := run(k); m == n {
				end = k + m
				break
			} else {
				j = k + m
			}
		}
		if end < 0 {
			i = s + n // an unmatched run protects nothing
			continue
		}
		spans = append(spans, [2]int{s, end})
		i = end
	}
	return spans
}

// urlEnd returns the end of a URL or e-mail address starting at i, or i.
func urlEnd(text string, i int) int {
	if i > 0 {
		if r, _ := utf8.DecodeLastRuneInString(text[:i]); !unicode.IsSpace(r) && !strings.ContainsRune("(<[\"'“”‘’", r) {
			return i
		}
	}
	e := i
	for e < len(text) {
		r, n := utf8.DecodeRuneInString(text[e:])
		if unicode.IsSpace(r) || strings.ContainsRune("<>\"“”)]", r) {
			break
		}
		e += n
	}
	// Typography that marking or Unmark may change must not change what
	// is a URL: any quote may open one, and "…" counts as the "..." it
	// unmarks to (found by FuzzNormalize and FuzzUnmark).
	chunk := strings.TrimRight(text[i:e], ".,;:!?'’…")
	lc := strings.ReplaceAll(strings.ToLower(chunk), "…", ".")
	if strings.Contains(lc, "://") || strings.HasPrefix(lc, "www.") {
		return i + len(chunk)
	}
	if at := strings.IndexByte(lc, '@'); at > 0 && strings.Contains(lc[at:], ".") && at < len(lc)-1 {
		return i + len(chunk)
	}
	return i
}

// urlTypography maps what Unmark rewrites in prose to what it writes, so
// that a URL's key is the same before and after (found by FuzzUnmark);
// invisible characters are dropped by isIgnorable, the one list of them.
var urlTypography = strings.NewReplacer("\u2018", "'", "\u2019", "'", "\u02BC", "'", "\u2014", "--", "\u2013", "-", "\u2026", "...")

func urlKey(raw string) string {
	visible := strings.Map(func(r rune) rune {
		if isIgnorable(r) {
			return -1
		}
		return r
	}, raw)
	return strings.ToLower(urlTypography.Replace(visible))
}

// lastVisible returns the last rune of s that is not ignorable (RuneError
// if none).
func lastVisible(s string) rune {
	for len(s) > 0 {
		r, n := utf8.DecodeLastRuneInString(s)
		if !isIgnorable(r) {
			return r
		}
		s = s[:len(s)-n]
	}
	return utf8.RuneError
}

// nextVisible returns the first rune of s that is not ignorable (RuneError
// if none).
func nextVisible(s string) rune {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if !isIgnorable(r) {
			return r
		}
		s = s[n:]
	}
	return utf8.RuneError
}
