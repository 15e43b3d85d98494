package leak

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// token is one normalised word with the byte span of its source in the
// original text.
type token struct {
	norm       string
	start, end int
	line       bool // a line break precedes the token (set for leaks)
	joined     bool // one of two words a leak ran together (splitJoined)
}

// foldRune maps one rune to its normalised form: "" drops it (invisible
// characters), otherwise an ASCII-leaning replacement, lower-cased if
// lower.
func foldRune(r rune, lower bool) string {
	switch {
	case r == '\u00AD', r == '\u034F', r == '\u061C', r == '\u180E', r == '\uFEFF',
		r >= '\u200B' && r <= '\u200F', r >= '\u202A' && r <= '\u202E',
		r >= '\u2060' && r <= '\u206F', r >= '\uFE00' && r <= '\uFE0F',
		r >= 0xE0000 && r <= 0xE007F, r >= 0xE0100 && r <= 0xE01EF:
		return ""
	case r == '\n', r == '\r', r == '\u2028', r == '\u2029', r == '\u0085':
		return "\n"
	case r == '\t', r == '\u00A0', r == '\u1680', r >= '\u2000' && r <= '\u200A',
		r == '\u202F', r == '\u205F', r == '\u3000':
		return " "
	case strings.ContainsRune("\u2018\u2019\u201A\u201B\u2032\u02BC\u0060\u00B4", r):
		return "'"
	case strings.ContainsRune("\u201C\u201D\u201E\u201F\u2033\u00AB\u00BB\u2039\u203A\u300C\u300D", r):
		return "\""
	case strings.ContainsRune("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uFE58\uFE63\uFF0D", r):
		return "-"
	case r == '\u2026':
		return "..."
	case r >= '\uFF01' && r <= '\uFF5E':
		if lower {
			return strings.ToLower(string(r - 0xFEE0))
		}
		return string(r - 0xFEE0)
	case r >= '\uFB00' && r <= '\uFB06':
		return [...]string{"ff", "fi", "fl", "ffi", "ffl", "st", "st"}[r-'\uFB00']
	case r < utf8.RuneSelf:
		if lower && r >= 'A' && r <= 'Z' {
			return string(r + 32)
		}
		return string(r)
	}
	if s, ok := latinFold[unicode.ToLower(r)]; ok {
		if !lower && unicode.IsUpper(r) {
			return strings.ToUpper(s)
		}
		return s
	}
	if unicode.IsControl(r) {
		return " "
	}
	if !lower {
		return string(r)
	}
	return string(unicode.ToLower(r))
}

var latinFold = func() map[rune]string {
	m := map[rune]string{'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ð': "d", 'þ': "th", 'ł': "l"}
	groups := map[string]string{
		"a": "àáâãäåāăą", "c": "çćĉċč", "e": "èéêëēĕėęě", "i": "ìíîïĩīĭįı", "n": "ñńņňŉ",
		"o": "òóôõöōŏő", "u": "ùúûüũūŭůűų", "y": "ýÿŷ", "s": "śŝşš", "z": "źżž", "g": "ĝğġģ", "r": "ŕŗř", "d": "ďđ", "t": "ţťŧ", "l": "ĺļľŀ",
	}
	for base, rs := range groups {
		for _, r := range rs {
			m[r] = base
		}
	}
	return m
}()

// folded is text after rune folding, with a map from each byte of it back
// to the original byte offset.
type folded struct {
	s   string
	pos []int // len(s)+1 entries
}

func fold(orig string, base int) folded { return foldCase(orig, base, true) }

func foldCase(orig string, base int, lower bool) folded {
	var b strings.Builder
	b.Grow(len(orig))
	pos := make([]int, 0, len(orig)+1)
	for i, r := range orig {
		f := foldRune(r, lower)
		for j := 0; j < len(f); j++ {
			pos = append(pos, base+i)
		}
		b.WriteString(f)
	}
	pos = append(pos, base+len(orig))
	return folded{b.String(), pos}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 0x80
}

// rawWords splits folded text into words: letters and digits, apostrophes
// between letters, and '.'/',' between digits ("10,000", "3.5"). '%' and
// '&' become words of their own. Spans are byte offsets in s.
func rawWords(s string) (words []string, spans [][2]int) {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '%' || c == '&' {
			words = append(words, map[byte]string{'%': "percent", '&': "and"}[c])
			spans = append(spans, [2]int{i, i + 1})
			i++
			continue
		}
		if !isWordByte(c) {
			i++
			continue
		}
		if c >= 0x80 {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
				i += n
				continue
			}
		}
		j := i
		for j < len(s) {
			c := s[j]
			if c >= 0x80 {
				r, n := utf8.DecodeRuneInString(s[j:])
				if !unicode.IsLetter(r) && !unicode.IsNumber(r) {
					break
				}
				j += n
				continue
			}
			if isWordByte(c) {
				j++
				continue
			}
			if j+1 < len(s) && j > i && isWordByte(s[j+1]) {
				prevDigit := s[j-1] >= '0' && s[j-1] <= '9'
				nextDigit := s[j+1] >= '0' && s[j+1] <= '9'
				if c == '\'' && !prevDigit && !nextDigit || (c == ',' || c == '.') && prevDigit && nextDigit {
					j++
					continue
				}
			}
			break
		}
		words = append(words, s[i:j])
		spans = append(spans, [2]int{i, j})
		i = j
	}
	return words, spans
}

var contractions = map[string][]string{
	"won't": {"will", "not"}, "can't": {"can", "not"}, "shan't": {"shall", "not"}, "ain't": {"is", "not"},
	"cannot": {"can", "not"}, "let's": {"let", "us"},
}

var isPronoun = map[string]bool{"it": true, "that": true, "there": true, "here": true, "what": true, "who": true,
	"he": true, "she": true, "where": true, "how": true, "this": true, "everything": true, "nothing": true}

// expand splits contractions into full words, so "don't" and "do not"
// compare equal.
func expand(w string) []string {
	if x, ok := contractions[w]; ok {
		return x
	}
	i := strings.IndexByte(w, '\'')
	if i < 0 {
		return []string{w}
	}
	stem, suf := w[:i], w[i+1:]
	switch {
	case suf == "t" && strings.HasSuffix(stem, "n") && len(stem) > 1:
		return []string{stem[:len(stem)-1], "not"}
	case suf == "re":
		return []string{stem, "are"}
	case suf == "ve":
		return []string{stem, "have"}
	case suf == "ll":
		return []string{stem, "will"}
	case suf == "m":
		return []string{stem, "am"}
	case suf == "d":
		return []string{stem, "would"}
	case suf == "s" && isPronoun[stem]:
		return []string{stem, "is"}
	}
	return []string{strings.ReplaceAll(w, "'", "")}
}

var smallNumbers = map[string]int{
	"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
	"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
	"seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
	"sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}

var scales = map[string]int{"hundred": 100, "thousand": 1000, "million": 1000000, "billion": 1000000000}

var ordinals = map[string]string{
	"first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th", "sixth": "6th",
	"seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th", "eleventh": "11th", "twelfth": "12th",
	"twentieth": "20th", "thirtieth": "30th", "hundredth": "100th",
}

// numbers rewrites number words as digits ("twenty five" -> "25", "one
// hundred and five" -> "105", "10,000" -> "10000") and "per cent" as
// "percent". Spans of merged words are joined.
func numbers(ts []token) []token {
	out := ts[:0:0]
	for i := 0; i < len(ts); {
		w := ts[i].norm
		if o, ok := ordinals[w]; ok {
			out = append(out, token{norm: o, start: ts[i].start, end: ts[i].end, line: ts[i].line})
			i++
			continue
		}
		if w == "per" && i+1 < len(ts) && ts[i+1].norm == "cent" {
			out = append(out, token{norm: "percent", start: ts[i].start, end: ts[i+1].end, line: ts[i].line})
			i += 2
			continue
		}
		if strings.ContainsAny(w, ",") && w[0] >= '0' && w[0] <= '9' {
			out = append(out, token{norm: strings.ReplaceAll(w, ",", ""), start: ts[i].start, end: ts[i].end, line: ts[i].line})
			i++
			continue
		}
		if _, ok := smallNumbers[w]; !ok {
			out = append(out, ts[i])
			i++
			continue
		}
		total, cur, j, last := 0, 0, i, i
		for j < len(ts) {
			t := ts[j].norm
			if v, ok := smallNumbers[t]; ok {
				if j > i && !(cur == 0 || cur%100 == 0 || cur%100 >= 20 && cur%10 == 0 && v < 10) {
					break
				}
				cur += v
			} else if s, ok := scales[t]; ok && (cur > 0 || total > 0) {
				if s == 100 {
					cur *= 100
				} else {
					total += cur * s
					cur = 0
				}
			} else if t == "and" && j+1 < len(ts) && j > i {
				if _, ok := smallNumbers[ts[j+1].norm]; ok && (cur >= 100 || total > 0) {
					j++
					continue
				}
				break
			} else {
				break
			}
			last = j
			j++
		}
		out = append(out, token{norm: strconv.Itoa(total + cur), start: ts[i].start, end: ts[last].end, line: ts[i].line})
		i = last + 1
	}
	return out
}

// tokenize normalises s (whose first byte is at offset base of the
// original) into tokens with original spans. canon, if not nil, is applied
// to the folded text; see Options.Canonicalize.
func tokenize(s string, base int, canon func(string) string) []token {
	f := fold(s, base)
	words, spans := rawWords(f.s)
	if canon != nil {
		// The canonicaliser sees the case-preserving fold ("US" is not
		// "us"); its output is folded and lower-cased again.
		// Line breaks are spaces to it: a phrase may be re-wrapped.
		in := strings.ReplaceAll(foldCase(s, base, false).s, "\n", " ")
		cs := fold(canon(in), 0).s
		if cs != f.s {
			cw, _ := rawWords(cs)
			spans = remapSpans(words, spans, cw)
			words = cw
		}
	}
	ts := make([]token, 0, len(words)+4)
	for i, w := range words {
		st, en := f.pos[spans[i][0]], f.pos[spans[i][1]]
		// (canonicalised words may share a span: "it's" -> "it is")
		nl := i > 0 && spans[i-1][1] <= spans[i][0] && strings.IndexByte(f.s[spans[i-1][1]:spans[i][0]], '\n') >= 0
		for _, x := range expand(w) {
			if x != "" {
				ts = append(ts, token{norm: x, start: st, end: en, line: nl})
				nl = false // "it's" -> it is: only "it" starts the line
			}
		}
	}
	return numbers(ts)
}

// remapSpans gives each word of b (the canonicalised words) the span of the
// corresponding words of a, synchronising on runs of equal words. The
// canonicaliser changes text locally, so a short look-ahead suffices.
func remapSpans(a []string, aspans [][2]int, b []string) [][2]int {
	out := make([][2]int, len(b))
	i, j := 0, 0
	const look = 6
	for j < len(b) {
		if i < len(a) && a[i] == b[j] {
			out[j] = aspans[i]
			i++
			j++
			continue
		}
		// find the nearest sync point (i+di, j+dj) where two words agree
		bi, bj, best := len(a), len(b), 1<<30
		for di := 0; di <= look && i+di < len(a); di++ {
			for dj := 0; dj <= look && j+dj < len(b); dj++ {
				if di+dj < best && a[i+di] == b[j+dj] && (i+di+1 >= len(a) || j+dj+1 >= len(b) || a[i+di+1] == b[j+dj+1]) {
					bi, bj, best = i+di, j+dj, di+dj
				}
			}
		}
		var sp [2]int
		switch {
		case bi > i:
			sp = [2]int{aspans[i][0], aspans[bi-1][1]}
		case i < len(aspans):
			sp = [2]int{aspans[i][0], aspans[i][0]}
		case len(aspans) > 0:
			sp = [2]int{aspans[len(aspans)-1][1], aspans[len(aspans)-1][1]}
		}
		for ; j < bj; j++ {
			out[j] = sp
		}
		i = bi
	}
	return out
}

// Normalize returns the normalised words of s as the verifier compares
// them: typography, case, invisible characters, whitespace, contractions
// and number words folded, then canon applied (if not nil).
func Normalize(s string, canon func(string) string) []string {
	ts := tokenize(s, 0, canon)
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.norm
	}
	return out
}
