package leak

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Input limits and errors for leaked text.
const MaxLeakSize = 8 << 20

// Errors for unusable leak input.
var (
	ErrEmpty    = errors.New("the leaked text is empty")
	ErrBinary   = errors.New("the input looks like a binary file, not text")
	ErrTooLarge = fmt.Errorf("the leaked text is larger than %d MiB", MaxLeakSize>>20)
	ErrNoWords  = errors.New("the leaked text contains no words")
)

// block is a run of leak text under one speaker label: a labelled line and
// the unlabelled lines that follow it, or a paragraph.
type block struct {
	start, end int    // byte span of the content (label excluded)
	labelAt    int    // where the label starts (== start if none)
	speaker    string // label as written, "" if none
	explicit   bool   // label written on this block (not carried over)
	clock      int    // claimed time as minutes after midnight, -1 if none
	date       [3]int // claimed date (year, month, day), zero if none
	zone       int    // stated time zone, minutes east of UTC
	zoned      bool
	event      bool // a room event line ("* alice added carol")
	weak       bool // the label may be words of the message ("Mr. Vest - EUR")
	ownID      bool // the label is a member id in the program's own layout
	quotes     []quote
	prose      bool // reads as reporting prose (attribution verbs outside quotes)
	plain      bool // a transcript line even if its label reports a quotation
}

type quote struct {
	start, end int    // inner span
	speaker    string // attribution found around the quote
}

var (
	clockRe = regexp.MustCompile(`^[\[(]?(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?\s*([AaPp]\.?[Mm]\.?)?[\])]?\s*[-|:]?\s*`)
	labelRe = regexp.MustCompile(`^([\p{L}][\p{L}\p{N}.'’ -]{0,48}?)\s*(?:[\[(](\d{1,2}[:.]\d{2}(?:[:.]\d{2})?\s*(?:[AaPp]\.?[Mm]\.?)?)[\])])?\s*:\s*`)
	saidRe  = regexp.MustCompile(`(?i)\s+(said|says|asked|replied|wrote|added)$`)
	verbRe  = regexp.MustCompile(`(?i)\b(said|says|told|asked|replied|added|wrote|insisted|declared|according to|stated|remarked)\b`)
	// "X said:", "X, the minister's aide, told the others that", "X wrote:"
	beforeQ = regexp.MustCompile(`(` + quoteName + `)\s*(?:,\s+[^,“”"«»„.;:]{1,60}?,)?\s*,?\s+(?:said|says|told(?:\s+(?:the|a|an))?\s+\w+|asked|replied|added|wrote|insisted|declared|stated|remarked|warned|explained)(?:\s+that)?\s*[:,]?\s*$`)
	// "according to X, “…”"
	accordingQ = regexp.MustCompile(`(?:^|\s)[Aa]ccording\s+to\s+(` + quoteName + `)\s*(?:,\s+[^,“”"«»„.;:]{1,60}?)?\s*[,:]?\s*$`)
	afterQ     = regexp.MustCompile(`^\s*[,.]?\s*(?:(?:said|says|asked|replied|added|wrote)\s+((?:[Tt]he\s+)?[\p{L}][\p{L}.'’-]*(?:\s+[\p{Lu}][\p{L}.'’-]*){0,3})|((?:[Tt]he\s+)?[\p{L}][\p{L}.'’-]*(?:\s+[\p{Lu}][\p{L}.'’-]*){0,3})\s+(?:said|says|asked|replied|added|wrote))`)
)

// quoteName is a speaker named around a quotation: "the envoy" or up to
// four capitalised words.
const quoteName = `(?:[Tt]he\s+\p{L}[\p{L}.'’-]*|[\p{Lu}][\p{L}.'’-]*(?:\s+[\p{Lu}][\p{L}.'’-]*){0,3})`

var labelSmallWords = map[string]bool{"of": true, "the": true, "de": true, "van": true, "von": true, "al": true, "bin": true, "la": true, "le": true, "du": true, "and": true, "for": true}

// looksLikeLabel accepts speaker labels: at most five words, all in
// capitals or each word capitalised ("SECRETARY KISSINGER", "Mr. Lansing",
// "Envoy said"), or a name the caller knows.
func looksLikeLabel(label string, known func(string) bool) bool {
	words := strings.Fields(label)
	if len(words) == 0 || len(words) > 5 {
		return false
	}
	if known != nil && known(label) {
		return true
	}
	for _, w := range words {
		r, _ := utf8.DecodeRuneInString(w)
		if !unicode.IsUpper(r) && !labelSmallWords[strings.ToLower(w)] {
			return false
		}
	}
	return true
}

var abbreviations = map[string]bool{"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "gen": true,
	"col": true, "st": true, "no": true, "vs": true, "messrs": true, "sen": true, "rep": true, "amb": true}

// endsSentence reports whether s ends a sentence ("Mr." and initials do
// not).
func endsSentence(s string) bool {
	s = strings.TrimRight(s, " \t\r")
	r, _ := utf8.DecodeLastRuneInString(s)
	if r == '.' {
		w := s[strings.LastIndexAny(s, " \t\n(")+1 : len(s)-1]
		if abbreviations[strings.ToLower(w)] || utf8.RuneCountInString(w) == 1 {
			return false
		}
	}
	return strings.ContainsRune(".?!:\"”’)]…", r)
}

func isCaps(s string) bool {
	letters := 0
	for _, r := range s {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsLetter(r) {
			letters++
		}
	}
	return letters >= 2
}

func parseClock(h, m, s, ampm string) int {
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh > 23 || mm > 59 {
		return -1
	}
	if ampm != "" {
		p := strings.ToLower(ampm[:1])
		if hh > 12 {
			return -1
		}
		if p == "p" && hh < 12 {
			hh += 12
		} else if p == "a" && hh == 12 {
			hh = 0
		}
	}
	return hh*60 + mm
}

// CheckInput rejects what is no leaked text: empty (ErrEmpty), too large
// (ErrTooLarge), binary — invalid UTF-8, NUL bytes, many control
// characters — (ErrBinary), or without a single word (ErrNoWords). verify
// and trace both apply it.
func CheckInput(data []byte) error {
	if err := checkInput(data); err != nil {
		return err
	}
	for _, r := range string(data) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return nil
		}
	}
	return ErrNoWords
}

// checkInput rejects empty, oversized and binary input.
func checkInput(data []byte) error {
	if len(data) > MaxLeakSize {
		return ErrTooLarge
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return ErrEmpty
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w (not valid UTF-8)", ErrBinary)
	}
	ctrl := 0
	for _, c := range data {
		if c == 0 {
			return fmt.Errorf("%w (contains NUL bytes)", ErrBinary)
		}
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' {
			ctrl++
		}
	}
	if ctrl*100 > len(data) {
		return fmt.Errorf("%w (%d control characters)", ErrBinary, ctrl)
	}
	return nil
}

// lineIndex maps byte offsets to 1-based line numbers.
type lineIndex []int

func newLineIndex(s string) lineIndex {
	li := lineIndex{0}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			li = append(li, i+1)
		}
	}
	return li
}

func (li lineIndex) line(off int) int { return sort.SearchInts(li, off+1) }

// parseBlocks splits text into blocks. known, if not nil, reports whether a
// label names a member (so lower-case member ids are recognised); exact
// whether it is exactly a member's id or alias. It also returns the
// number of lines skipped as the program's own header and notices.
// member is the strict test the label recogniser uses: every word of the
// label is part of one member's name.
//
// whole, if not nil, reports whether a line's words are a whole message:
// then a line holding only a member's name ("ENVOY", "**Envoy**") is that
// message, not the label of the lines below it (screenplay layout).
func parseBlocks(text string, known, exact, member, whole func(string) bool) ([]block, int) {
	var blocks []block
	skipped := 0
	var cur *block
	carried, off := "", 0
	pending := "" // a name on a line of its own labels the next block
	flush := func() {
		if cur != nil && strings.TrimSpace(text[cur.start:cur.end]) != "" {
			blocks = append(blocks, *cur)
		}
		cur = nil
	}
	for off <= len(text) {
		nl := strings.IndexByte(text[off:], '\n')
		end := len(text)
		if nl >= 0 {
			end = off + nl
		}
		line := text[off:end]
		lineEnd := end
		if strings.HasSuffix(line, "\r") {
			lineEnd--
		}
		trimmed := strings.TrimLeft(line, " \t\u00a0>*•-│")
		wrappedHere := cur != nil && !endsSentence(text[cur.start:cur.end])
		rl, recognised := lineLabel{}, false
		if strings.TrimSpace(trimmed) != "" {
			rl, recognised = recognise(text[off:lineEnd], member, exact, wrappedHere)
		}
		next := ""
		if nl >= 0 {
			next, _, _ = strings.Cut(text[end+1:], "\n")
		}
		name, alone := "", false
		// (a re-wrapped line that happens to be a name, "Secretary
		// Kissinger.", is no label unless marked up as one)
		if whole != nil && strings.TrimSpace(next) != "" && (!wrappedHere || strings.ContainsAny(line, "*_[:")) {
			name, alone = nameLine(text[off:lineEnd], member, exact)
			// ... unless those words are a message ("Mr. Lansing" in an
			// attendance list): then the line is that message
			alone = alone && !whole(name)
		}
		switch {
		case strings.TrimSpace(trimmed) == "":
			flush()
		case alone:
			flush()
			pending, carried = name, name
		case recognised && (rl.kind == kindHeader || rl.kind == kindNotice):
			flush()
			skipped++
		case recognised && rl.kind == kindEvent:
			flush()
			blocks = append(blocks, block{start: off + rl.content, labelAt: off + rl.at, end: off + rl.end, clock: rl.clock,
				date: rl.date, zone: rl.zone, zoned: rl.zoned, event: true})
			carried = ""
		case recognised && strings.TrimSpace(text[off+rl.content:off+rl.end]) != "":
			flush()
			label := rl.speaker
			if label == "" && pending != "" {
				label = pending
			}
			explicit := label != ""
			if !explicit {
				label = carried
			}
			pending = ""
			if !rl.weak { // "Mr. Vest - EUR" may be a message: its name does not carry on
				carried = label
			}
			cur = &block{start: off + rl.content, labelAt: off + rl.at, end: off + rl.end, speaker: label, explicit: explicit,
				clock: rl.clock, date: rl.date, zone: rl.zone, zoned: rl.zoned, weak: rl.weak, ownID: rl.ownID}
		default:
			p := off + len(line) - len(trimmed)
			lineStart := p
			// Mid-paragraph, after a line that does not end a sentence, a
			// line is most likely re-wrapped text.
			wrapped := cur != nil && !endsSentence(text[cur.start:cur.end])
			clock := -1
			if m := clockRe.FindStringSubmatch(text[p:lineEnd]); m != nil && len(m[0]) < lineEnd-p {
				if c := parseClock(m[1], m[2], m[3], m[4]); c >= 0 {
					clock = c
					p += len(m[0])
				}
			}
			label, labelAt := "", p
			if m := labelRe.FindStringSubmatchIndex(text[p:lineEnd]); m != nil {
				l := strings.TrimSpace(text[p+m[2] : p+m[3]])
				l = saidRe.ReplaceAllString(l, "")
				// So "Woods: foreign ..." or "SALT I: the number" there is
				// not a label, unless it names a member.
				reported := saidRe.MatchString(strings.TrimSpace(text[p+m[2] : p+m[3]]))
				member := exact != nil && exact(l) || isCaps(l) && known != nil && known(l)
				if looksLikeLabel(l, known) && (!wrapped || !reported && (member || known == nil && isCaps(l))) {
					label = l
					if m[4] >= 0 {
						t := text[p+m[4] : p+m[5]]
						if c := clockRe.FindStringSubmatch(t); c != nil {
							clock = parseClock(c[1], c[2], c[3], c[4])
						}
					}
					p += m[1]
				}
			}
			if label == "" && clock >= 0 && wrapped { // "11:30 and would ..." continues a sentence
				clock, p, labelAt = -1, lineStart, lineStart
			}
			if label != "" || clock >= 0 || cur == nil || pending != "" {
				flush()
				if label == "" && pending != "" {
					label, labelAt = pending, lineStart
				}
				pending = ""
				explicit := label != ""
				if !explicit {
					label = carried
				}
				carried = label
				cur = &block{start: p, labelAt: labelAt, end: lineEnd, speaker: label, explicit: explicit, clock: clock}
			} else {
				cur.end = lineEnd
			}
		}
		if nl < 0 {
			break
		}
		off = end + 1
	}
	flush()
	for i := range blocks {
		if !blocks[i].event {
			findQuotes(text, &blocks[i])
		}
	}
	return blocks, skipped
}

// findQuotes records quotations in a block and whether the block reads as
// reporting prose around them.
func findQuotes(text string, b *block) {
	s := text[b.start:b.end]
	open := -1
	var openR rune
	outside := strings.Builder{}
	last := 0
	for i, r := range s {
		switch {
		case open < 0 && (r == '“' || r == '"' || r == '«' || r == '„'):
			open, openR = i+utf8.RuneLen(r), r
			outside.WriteString(s[last:i])
			outside.WriteByte(' ')
		case open >= 0 && (r == '”' && openR != '"' || r == '"' && (openR == '"' || openR == '„') || r == '»' && openR == '«' || r == '“' && openR == '„'):
			if strings.TrimSpace(s[open:i]) != "" {
				b.quotes = append(b.quotes, quote{start: b.start + open, end: b.start + i})
			}
			open = -1
			last = i + utf8.RuneLen(r)
		}
	}
	if open >= 0 { // unbalanced: treat the rest as outside text
		return
	}
	outside.WriteString(s[last:])
	if len(b.quotes) == 0 {
		return
	}
	b.prose = verbRe.MatchString(outside.String())
	for qi := range b.quotes {
		q := &b.quotes[qi]
		before := text[b.start:q.start]
		if k := strings.LastIndexAny(before, "“\"«„"); k >= 0 {
			before = before[:k]
		}
		if m := beforeQ.FindStringSubmatch(before); m != nil {
			q.speaker = m[1]
		} else if m := accordingQ.FindStringSubmatch(before); m != nil {
			q.speaker = m[1]
		}
		after := text[q.end:b.end]
		if k := strings.IndexAny(after, "”\"»"); k >= 0 && k < 4 {
			_, size := utf8.DecodeRuneInString(after[k:])
			after = after[k+size:]
		}
		if m := afterQ.FindStringSubmatch(after); m != nil && q.speaker == "" {
			q.speaker = m[1] + m[2]
		}
		if q.speaker == "" && b.explicit {
			q.speaker = b.speaker
		}
	}
}

var ellipsisRe = regexp.MustCompile(`\[\s*(?:\.\s*){3}\]|\[…\]|\(\s*(?:\.\s*){3}\)|\(…\)|…|\.\s?\.\s?\.`)

// piece is part of a claim between ellipses.
type piece struct {
	start, end     int
	headOK, tailOK bool // an omission before/after this piece is admitted
}

// splitEllipses cuts [start,end) at ellipsis marks. open admits omissions
// at both ends (quotations are fragments by nature).
func splitEllipses(text string, start, end int, open bool) []piece {
	var ps []piece
	p := start
	head := open
	for _, m := range ellipsisRe.FindAllStringIndex(text[start:end], -1) {
		ps = append(ps, piece{start: p, end: start + m[0], headOK: head, tailOK: true})
		p, head = start+m[1], true
	}
	ps = append(ps, piece{start: p, end: end, headOK: head, tailOK: open})
	return ps
}

// Claim is one parsed unit of a leak: a transcript-style line (possibly
// re-wrapped over several lines) or a quotation in reporting prose.
type Claim struct {
	Line    int    `json:"line"`
	Speaker string `json:"speaker,omitempty"`
	Time    string `json:"time,omitempty"`
	Quote   bool   `json:"quote"`
	Text    string `json:"text"`
}

// ParseLeak checks and parses leaked text into claims, without a
// transcript: quotations are used when the text reads as reporting prose.
func ParseLeak(data []byte) ([]Claim, error) {
	if err := CheckInput(data); err != nil {
		return nil, err
	}
	text := string(data)
	li := newLineIndex(text)
	var out []Claim
	blocks, _ := parseBlocks(text, nil, nil, nil, nil)
	for _, b := range blocks {
		c := Claim{Speaker: b.speaker}
		if b.clock >= 0 {
			c.Time = fmt.Sprintf("%02d:%02d", b.clock/60, b.clock%60)
		}
		if b.prose {
			for _, q := range b.quotes {
				qc := c
				qc.Line, qc.Quote, qc.Speaker = li.line(q.start), true, q.speaker
				qc.Text = strings.TrimSpace(text[q.start:q.end])
				out = append(out, qc)
			}
			continue
		}
		c.Line = li.line(b.start)
		c.Text = strings.TrimSpace(text[b.start:b.end])
		out = append(out, c)
	}
	return out, nil
}
