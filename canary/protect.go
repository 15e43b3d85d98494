package canary

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Protected spans are the parts of an original that marking never changes,
// whatever the channel: no invisible character is inserted into them, no
// quote, dash or space in them is restyled and no word in them is replaced.
// They are a function of the text alone (so the tracer finds the same slots
// as the sender) and are found the same way for messages and text
// documents, Markdown or not:
//
//   - Markdown blocks, whole lines: fenced code blocks (fences included),
//     indented code blocks, ATX headings ("# ..."), setext headings (the
//     text line and its "===" or "---" underline), horizontal rules,
//     tables (every line that holds a "|": header, delimiter row
//     "|---|:--:|" and body rows, cell text included), link reference
//     definitions ("[id]: url") and lines that start with an HTML tag;
//   - Markdown containers: the block quote markers (">") and list markers
//     ("-", "*", "+", "1.", "2)") at the start of a line, with the spaces
//     after them (the text of a quote or list item may be marked);
//   - inline: code spans ("`x`", "“`x`”"), images ("![alt](src)") and the
//     syntax and target of links ("[" and "](url "title")" or "][ref]";
//     the link text may be marked), autolinks and HTML tags ("<...>" on one
//     line), URLs and e-mail addresses anywhere;
//   - digit groups: two or more runs of letters and digits joined by spaces,
//     dots, commas, dashes, slashes, colons or brackets, at least one of
//     them with a digit and the others digits, 2–4 capital letters or a
//     month: IBANs ("GB29 NWBK 6016 1331 9268 19"), account and card
//     numbers, phone numbers, amounts ("EUR 1 250"), dates ("5 May 2025",
//     "2025-05-05"), times and reference numbers.
//
// A gap slot needs a gap with no protected byte, a word slot a word (or, for
// a lexical phrase, words and gaps) with none. Protection is generous: when
// a line might be structure it is left alone, at the price of a few slots.
type protection struct {
	spans []span // sorted by start, disjoint, not adjacent
}

type span struct{ start, end int }

// overlaps reports whether any byte of text[a:b] is protected.
func (p *protection) overlaps(a, b int) bool {
	if a >= b || len(p.spans) == 0 {
		return false
	}
	// The first span that ends after a.
	i := sort.Search(len(p.spans), func(i int) bool { return p.spans[i].end > a })
	return i < len(p.spans) && p.spans[i].start < b
}

// protectText is protect; tests replace it to measure what protection
// costs.
var protectText = protect

// protect finds the protected spans of text.
func protect(text string) *protection {
	var raw []span
	add := func(a, b int) {
		if a < b {
			raw = append(raw, span{a, min(b, len(text))})
		}
	}
	protectBlocks(text, add)
	for _, s := range codeSpans(text) {
		add(s[0], s[1])
	}
	protectInline(text, add)
	protectDigitGroups(text, add)
	return &protection{spans: mergeSpans(raw)}
}

// mergeSpans sorts spans and merges those that overlap or touch.
func mergeSpans(raw []span) []span {
	if len(raw) == 0 {
		return nil
	}
	sort.Slice(raw, func(i, j int) bool { return raw[i].start < raw[j].start })
	out := raw[:1]
	for _, s := range raw[1:] {
		last := &out[len(out)-1]
		if s.start <= last.end {
			last.end = max(last.end, s.end)
			continue
		}
		out = append(out, s)
	}
	return out
}

// line is one line of a text: text[start:end] without its line break;
// next is where the following line starts.
type line struct{ start, end, next int }

func splitLines(text string) []line {
	var out []line
	for i := 0; i <= len(text); {
		j := strings.IndexByte(text[i:], '\n')
		if j < 0 {
			out = append(out, line{i, len(text), len(text)})
			break
		}
		out = append(out, line{i, i + j, i + j + 1})
		i += j + 1
	}
	return out
}

// protectBlocks protects Markdown block structure line by line.
func protectBlocks(text string, add func(a, b int)) { markdownBlocks(text, add, false) }

// codeRegions returns the byte ranges of code in text, sorted and disjoint:
// fenced and indented code blocks (whole lines) and inline code spans.
func codeRegions(text string) []span {
	var raw []span
	add := func(a, b int) {
		if a < b {
			raw = append(raw, span{a, min(b, len(text))})
		}
	}
	markdownBlocks(text, add, true)
	for _, s := range codeSpans(text) {
		add(s[0], s[1])
	}
	return mergeSpans(raw)
}

// markdownBlocks finds the block structure of text line by line: every
// protected kind, or (codeOnly) only code blocks.
func markdownBlocks(text string, add func(a, b int), codeOnly bool) {
	lines := splitLines(text)
	whole := func(i int) { add(lines[i].start, lines[i].next) }
	content := make([]string, len(lines)) // each line after its container markers
	blank := make([]bool, len(lines))
	for i, ln := range lines {
		s := strings.TrimRight(text[ln.start:ln.end], "\r")
		blank[i] = strings.TrimSpace(s) == ""
		// Block quote markers, then (unless the line is a rule or an
		// underline) list markers.
		p := quotePrefix(s)
		if !isRule(s[p:]) && !isSetextUnderline(s[p:]) {
			p += listPrefix(s[p:])
		}
		if p > 0 && !codeOnly {
			add(ln.start, ln.start+p)
		}
		content[i] = s[p:]
	}
	var fence string // the open fence's marker run, or ""
	for i := range lines {
		c := content[i]
		if fence != "" {
			whole(i)
			if t := strings.TrimSpace(c); strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" && indent(c) < 4 {
				fence = ""
			}
			continue
		}
		if blank[i] {
			continue
		}
		t := strings.TrimLeft(c, " ")
		switch {
		case indent(c) < 4 && (strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~")):
			n := len(t) - len(strings.TrimLeft(t, t[:1]))
			fence = t[:n]
			whole(i)
		case indent(c) >= 4 && (i == 0 || blank[i-1] || isIndentedCode(content[i-1])):
			whole(i) // indented code (and, generously, indented text after a blank line)
		case codeOnly:
		case strings.Contains(c, "|"):
			whole(i) // a table's row or delimiter row, or maybe one
		case isSetextUnderline(c):
			// Under text it underlines a heading; after a blank line it is
			// a line of dashes or equals signs a reader takes for a rule or
			// a divider, and is not ours to turn into an em dash.
			if i > 0 && !blank[i-1] {
				for j := i - 1; j >= 0 && !blank[j]; j-- {
					whole(j) // the heading's text may run over several lines
				}
			}
			whole(i)
		case isRule(c), isATXHeading(c), isLinkDefinition(c), isHTMLLine(t):
			whole(i)
		}
	}
}

func indent(s string) int {
	n := 0
	for _, r := range s {
		switch r {
		case ' ':
			n++
		case '\t':
			n += 4 - n%4
		default:
			return n
		}
	}
	return n
}

func isIndentedCode(s string) bool { return indent(s) >= 4 && strings.TrimSpace(s) != "" }

// quotePrefix returns the length of the block quote markers that start s.
func quotePrefix(s string) int {
	p := 0
	for {
		q := p
		for q < len(s) && q-p < 3 && s[q] == ' ' {
			q++
		}
		if q >= len(s) || s[q] != '>' {
			return p
		}
		q++
		if q < len(s) && s[q] == ' ' {
			q++
		}
		p = q
	}
}

// listPrefix returns the length of the list marker (with its indentation
// and the spaces after it) that starts s, or 0.
func listPrefix(s string) int {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	j := i
	switch {
	case j < len(s) && strings.IndexByte("-*+", s[j]) >= 0:
		j++
	case strings.HasPrefix(s[j:], "\u2022"):
		j += len("\u2022")
	default:
		for j < len(s) && j-i < 9 && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j >= len(s) || (s[j] != '.' && s[j] != ')') {
			return 0
		}
		j++
	}
	if j < len(s) && s[j] != ' ' && s[j] != '\t' {
		return 0
	}
	for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
		j++
	}
	return j
}

// isRule reports a horizontal rule: three or more "-", "*" or "_" (one
// kind), optionally with spaces between.
func isRule(s string) bool {
	if indent(s) >= 4 {
		return false
	}
	t := strings.TrimSpace(s)
	if t == "" || strings.IndexByte("-*_", t[0]) < 0 {
		return false
	}
	n := 0
	for _, r := range t {
		switch {
		case byte(r) == t[0]:
			n++
		case r == ' ' || r == '\t':
		default:
			return false
		}
	}
	return n >= 3
}

func isATXHeading(s string) bool {
	t := strings.TrimLeft(s, " ")
	if len(s)-len(t) > 3 {
		return false
	}
	n := len(t) - len(strings.TrimLeft(t, "#"))
	return n >= 1 && n <= 6 && (n == len(t) || t[n] == ' ' || t[n] == '\t')
}

func isSetextUnderline(s string) bool {
	t := strings.TrimSpace(s)
	return indent(s) < 4 && t != "" && (strings.Trim(t, "=") == "" || strings.Trim(t, "-") == "")
}

func isLinkDefinition(s string) bool {
	t := strings.TrimLeft(s, " ")
	if len(s)-len(t) > 3 || !strings.HasPrefix(t, "[") {
		return false
	}
	e := strings.Index(t, "]:")
	return e > 1
}

func isHTMLLine(t string) bool {
	if len(t) < 2 || t[0] != '<' {
		return false
	}
	c := t[1]
	return c == '/' || c == '!' || c == '?' || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// protectInline protects links, images, autolinks, HTML tags, URLs and
// e-mail addresses.
func protectInline(text string, add func(a, b int)) {
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		switch {
		case r == '[':
			if e := linkEnd(text, i, add); e > i {
				i = e
				continue
			}
		case r == '<':
			if e := tagEnd(text, i); e > i {
				add(i, e)
				i = e
				continue
			}
		case isWordRune(r) && (i == 0 || !isWordRune(prevRune(text, i))) && mayBeURL(text, i):
			if e := urlEnd(text, i); e > i {
				add(i, e)
				i = e
				continue
			}
		}
		i += n
	}
}

// mayBeURL is a quick test before urlEnd: the run of non-space bytes at i
// holds "://" or "@", or starts with "www.".
func mayBeURL(text string, i int) bool {
	if len(text)-i >= 4 && strings.EqualFold(text[i:i+4], "www.") {
		return true
	}
	for j := i; j < len(text); j++ {
		switch text[j] {
		case ' ', '\n', '\t', '\r':
			return false
		case '@':
			return true
		case ':':
			if strings.HasPrefix(text[j:], "://") {
				return true
			}
		}
	}
	return false
}

func prevRune(s string, i int) rune {
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return r
}

// linkEnd handles a "[" at i: for an inline link or image it protects the
// syntax and the target and returns where the link ends; otherwise i.
func linkEnd(text string, i int, add func(a, b int)) int {
	image := i > 0 && text[i-1] == '!'
	close := -1
	depth := 0
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '\\':
			j++
		case '[':
			depth++
		case ']':
			depth--
		case '\n':
			if j+1 < len(text) && text[j+1] == '\n' {
				return i // a paragraph ends first
			}
		}
		if depth < 0 {
			close = j
			break
		}
	}
	if close < 0 || close+1 >= len(text) {
		return i
	}
	var end int
	switch text[close+1] {
	case '(':
		end = matchingParen(text, close+1)
	case '[':
		if k := strings.IndexByte(text[close+2:], ']'); k >= 0 && !strings.Contains(text[close+2:close+2+k], "\n\n") {
			end = close + 2 + k + 1
		}
	}
	if end <= 0 {
		return i
	}
	if image {
		add(i-1, end) // alt text included: it is the image's description
		return end
	}
	add(i, i+1)
	add(close, end)
	return i + 1 // the link text is scanned like other text
}

// matchingParen returns the index after the ")" matching the "(" at i, on
// the same paragraph, or 0.
func matchingParen(text string, i int) int {
	depth := 0
	for j := i; j < len(text); j++ {
		switch text[j] {
		case '\\':
			j++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j + 1
			}
		case '\n':
			if j+1 < len(text) && text[j+1] == '\n' {
				return 0
			}
		}
	}
	return 0
}

// tagEnd returns the end of an autolink or HTML tag starting at i (on one
// line), or i.
func tagEnd(text string, i int) int {
	if i+1 >= len(text) {
		return i
	}
	c := text[i+1]
	if c != '/' && c != '!' && c != '?' && !(c|0x20 >= 'a' && c|0x20 <= 'z') {
		return i
	}
	e := strings.IndexAny(text[i+1:], ">\n<")
	if e < 0 || text[i+1+e] != '>' {
		return i
	}
	return i + 1 + e + 1
}

// months are the month names and abbreviations a date's digit group may
// hold.
var months = map[string]bool{}

func init() {
	for _, m := range []string{"january", "february", "march", "april", "may", "june", "july", "august",
		"september", "october", "november", "december"} {
		months[m] = true
		months[m[:3]] = true
	}
	months["sept"] = true
}

// isMonth reports a month's name or abbreviation, in any case.
func isMonth(w string) bool {
	if len(w) < 3 || len(w) > 9 {
		return false
	}
	var buf [9]byte
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return months[string(buf[:len(w)])]
}

// chunk is a run of letters and digits.
type chunk struct {
	start, end int
	digit      bool // holds a digit
	member     bool // may be part of a digit group
}

// protectDigitGroups protects the digit groups of text (see protection).
func protectDigitGroups(text string, add func(a, b int)) {
	var run []chunk
	flush := func() {
		digits := 0
		for _, c := range run {
			if c.digit {
				digits++
			}
		}
		if len(run) >= 2 && digits >= 1 {
			add(run[0].start, run[len(run)-1].end)
		}
		run = run[:0]
	}
	prevEnd := -1
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if !isWordRune(r) {
			i += n
			continue
		}
		c := chunk{start: i}
		letters, upper := 0, 0
		for i < len(text) {
			r, n = utf8.DecodeRuneInString(text[i:])
			if !isWordRune(r) {
				break
			}
			if unicode.IsDigit(r) {
				c.digit = true
			} else if unicode.IsLetter(r) {
				letters++
				if r >= 'A' && r <= 'Z' {
					upper++
				}
			}
			i += n
		}
		c.end = i
		c.member = c.digit || (letters >= 2 && letters <= 4 && upper == letters) || isMonth(text[c.start:c.end])
		if !c.member {
			flush()
			prevEnd = -1
			continue
		}
		if prevEnd < 0 || !groupSeparator(text[prevEnd:c.start]) {
			flush()
		}
		run = append(run, c)
		prevEnd = c.end
	}
	flush()
}

// groupSeparator reports whether sep can join two parts of a digit group:
// one to three spaces, dots, commas, dashes, slashes, colons or brackets on
// one line.
func groupSeparator(sep string) bool {
	n := 0
	for _, r := range sep {
		n++
		if n > 3 || !strings.ContainsRune(" .,-/:()+\u2013\u2011\u00A0\u202F\u2009", r) {
			return false
		}
	}
	return n > 0
}
