package leak

import (
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The label recogniser. A transcript line starts with a label in one of
// many layouts; the recogniser reads it layout by layout-independent parts:
//
//	decoration*  [date]  [time [zone]]  [sep]  [name [annotation] sep]  content
//
// decoration: ">" quote markers, list bullets, numbering ("12.", "(12)",
// "#12", "§ 12") and the "│" of a wrapped line in backchannel's own output;
// date: 2026-12-02 or 2026/12/02; time: 14:02, 14.02, 14h02, 2:02 pm,
// optionally with seconds, in brackets or parentheses, with a zone (Z, UTC,
// GMT, +01:00, UTC+1); name: a member's id or alias (or, with a ":"
// separator, a name in capitals), optionally bold (**Envoy:**), bracketed
// ([Envoy], <envoy>), followed by an annotation in parentheses or brackets
// (a role, "(aide)", or a time, "(14:02)"); sep: ":", a dash or em dash,
// ">", "|", or "said:"/"wrote:"/"says:". A Markdown table row gives time,
// speaker and text in cells. backchannel's own output adds three line
// kinds: the "# room — …" header and "! notice" lines (not messages: not
// verified) and "* alice added …" room events (verified against the room's
// events). A trailing delivery mark ("[delivered]", "[sent]") of one's own
// messages is not part of the text.

// lineKind is what a recognised line holds.
type lineKind int

const (
	kindText   lineKind = iota
	kindEvent           // "* alice added carol"
	kindNotice          // "! …": the program's own notice
	kindHeader          // "# room — …" or a table's header row
)

// lineLabel is what the recogniser found at the start of a line.
type lineLabel struct {
	kind    lineKind
	speaker string // as written, "" if none
	clock   int    // minutes after midnight, -1 if none
	date    [3]int // year, month, day; zero if none
	zone    int    // stated offset east of UTC, in minutes
	zoned   bool
	at      int  // offset of the label (after decorations)
	content int  // offset of the content
	end     int  // end of the content (before a delivery mark or table pipe)
	weak    bool // a name with a dash, ">" or "|" and nothing else: maybe text
	ownID   bool // a member id in the program's own layout, known here or not
}

var (
	decoRe     = regexp.MustCompile(`^(?:[ \t\x{a0}]*(?:>+|[-•+–]|\*(?:[ \t]|$)|│|\d{1,4}[.)]|\(\d{1,4}\)|#\d{1,4}|§ ?\d{1,4})(?:[ \t\x{a0}]+|$))+`)
	dateRe     = regexp.MustCompile(`^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:T|,?[ \t]+)`)
	timeRe     = regexp.MustCompile(`^([\[(]?)(\d{1,2})[:.h](\d{2})(?:[:.](\d{2}))?(?:[ \t]*([AaPp]\.?[Mm]\.?))?(?:[ \t]*(Z|UTC|GMT|[+-]\d{2}:?\d{2}|(?:UTC|GMT)[+-]\d{1,2}(?::?\d{2})?)\b)?([\])]?)`)
	timeNoAmPm = regexp.MustCompile(`^([\[(]?)(\d{1,2})[:.h](\d{2})(?:[:.](\d{2}))?()(?:[ \t]*(Z|UTC|GMT|[+-]\d{2}:?\d{2}|(?:UTC|GMT)[+-]\d{1,2}(?::?\d{2})?)\b)?([\])]?)`)
	timeSepRe  = regexp.MustCompile(`^[ \t]*(?:[-–—|,:][ \t]+|[ \t])[ \t]*`)
	sepRe      = regexp.MustCompile(`^[ \t]*(?::|[ \t][—–-]{1,2}(?:[ \t]|$)|[—–](?:[ \t]|$)|[ \t]?>(?:[ \t]|$)|[ \t]\|(?:[ \t]|$))[ \t]*`)
	saidSepRe  = regexp.MustCompile(`(?i)^[ \t]+(?:said|says|wrote|writes|asked|replied)[ \t]*[:—–-][ \t]*`)
	boldRe     = regexp.MustCompile(`^(\*\*|__)([^*_\n]{1,60}?)(:?)(\*\*|__)`)
	bracketRe  = regexp.MustCompile(`^[\[<]([^\]>\n]{1,60})[\]>]`)
	deliverRe  = regexp.MustCompile(`[ \t]{2}\[(?:queued|sent|delivered|delivered to \d+ of \d+)\][ \t]*$`)
	ownIDRe    = regexp.MustCompile(`^([\p{Ll}\p{N}][\p{Ll}\p{N}._-]{0,63}):[ \t]+`)
	headerRe   = regexp.MustCompile(`^#{1,3}[ \t].*\broom\b.*\b(?:marking|members)\b`)
	tableSep   = regexp.MustCompile(`^\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$`)
	tableHead  = regexp.MustCompile(`(?i)^(?:time|when|date|speaker|who|name|from|sender|member|message|text|said|content|remarks|statement|words|#|no\.?|line)$`)
)

// parseTime reads a time at the start of s.
func parseTime(s string) (clock, zone int, zoned bool, n int) {
	m := timeRe.FindStringSubmatchIndex(s)
	if m == nil {
		return -1, 0, false, 0
	}
	if m[10] >= 0 && m[11] < len(s) {
		// "15:04  ambassador": the "am" is a word's, not the time's
		if r, _ := utf8.DecodeRuneInString(s[m[11]:]); unicode.IsLetter(r) {
			m = timeNoAmPm.FindStringSubmatchIndex(s)
		}
	}
	g := func(i int) string {
		if m[2*i] < 0 {
			return ""
		}
		return s[m[2*i]:m[2*i+1]]
	}
	if (g(1) == "") != (g(7) == "") { // unbalanced bracket
		return -1, 0, false, 0
	}
	c := parseClock(g(2), g(3), g(4), g(5))
	if c < 0 {
		return -1, 0, false, 0
	}
	if z := g(6); z != "" {
		zone, zoned = parseZone(z)
	}
	return c, zone, zoned, m[1]
}

// parseZone reads Z, UTC, GMT, +01:00, -0530, UTC+1, GMT-3:30.
func parseZone(z string) (int, bool) {
	z = strings.TrimPrefix(strings.TrimPrefix(z, "UTC"), "GMT")
	if z == "" || z == "Z" {
		return 0, true
	}
	sign := 1
	if z[0] == '-' {
		sign = -1
	}
	z = strings.ReplaceAll(z[1:], ":", "")
	h, m := z, ""
	if len(z) > 2 {
		h, m = z[:len(z)-2], z[len(z)-2:]
	}
	hh, err := strconv.Atoi(h)
	if err != nil || hh > 14 {
		return 0, false
	}
	mm := 0
	if m != "" {
		if mm, err = strconv.Atoi(m); err != nil || mm > 59 {
			return 0, false
		}
	}
	return sign * (hh*60 + mm), true
}

// recognise reads the label of one line. known reports whether a name is a
// member's (nil: no transcript, names in capitals only). wrapped says the
// previous line did not end a sentence (a bare "Name:" is then more likely
// re-wrapped text, unless it is exactly a member's name: exact). ok is
// false when the line has no label this recogniser is sure of; the caller
// then applies its older, stricter rules.
func recognise(line string, known, exact func(string) bool, wrapped bool) (l lineLabel, ok bool) {
	l.clock, l.end = -1, len(line)
	if m := deliverRe.FindStringIndex(line); m != nil {
		l.end = m[0]
	}
	trimmed := strings.TrimSpace(line)
	if headerRe.MatchString(trimmed) || tableSep.MatchString(trimmed) && strings.Contains(trimmed, "-") {
		l.kind = kindHeader
		return l, true
	}
	if strings.HasPrefix(trimmed, "|") {
		return recogniseRow(line, known)
	}
	p := len(line) - len(strings.TrimLeft(line, " \t\u00a0"))
	// "* alice added carol": the star opens a room event, not a bullet
	if m := decoRe.FindStringIndex(line); m != nil && !eventStart(line[p:], known) {
		p = m[1]
	}
	l.at = p
	structural := false
	if m := dateRe.FindStringSubmatch(line[p:]); m != nil {
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		d, _ := strconv.Atoi(m[3])
		if mo >= 1 && mo <= 12 && d >= 1 && d <= 31 {
			if c, _, _, n := parseTime(line[p+len(m[0]):]); c >= 0 && n > 0 {
				l.date = [3]int{y, mo, d}
				p += len(m[0])
			}
		}
	}
	if c, z, zoned, n := parseTime(line[p:]); c >= 0 {
		if s := timeSepRe.FindString(line[p+n:]); s != "" || p+n == len(line) {
			l.clock, l.zone, l.zoned = c, z, zoned
			p += n + len(s)
			structural = true
		}
	}
	if !structural && l.date != [3]int{} {
		l.date = [3]int{}
	}
	rest := line[p:]
	switch {
	case strings.HasPrefix(rest, "! ") && (structural || p == l.at):
		l.kind = kindNotice
		return l, true
	case strings.HasPrefix(rest, "* ") && eventStart(rest, known):
		l.kind, l.content = kindEvent, p+2
		return l, true
	}
	// a bracketed room name before the speaker ("[talks] alice: …", as
	// sync --follow prints it) is skipped
	if m := bracketRe.FindStringSubmatchIndex(rest); m != nil && !isKnown(known, rest[m[2]:m[3]]) {
		after := strings.TrimLeft(rest[m[1]:], " \t")
		if name, n, _ := readName(after, known, exact, structural, wrapped); name != "" && n > 0 {
			p += len(rest) - len(after)
			rest = after
		}
	}
	name, n, weak := readName(rest, known, exact, structural, wrapped)
	if name == "" && l.date != [3]int{} {
		// backchannel's own output: a date, a time, two spaces and a
		// member id, whether or not the id is known here
		if m := ownIDRe.FindStringSubmatch(rest); m != nil {
			name, n = m[1], len(m[0])
			l.ownID = true
		}
	}
	if name == "" {
		if structural && !wrapped { // "… At\n9:10 a.m. Allende made …" continues a sentence
			l.content = p
			return l, true // a time without a name: "14:02 We agree."
		}
		return l, false
	}
	l.speaker, l.weak = name, weak
	l.content = p + n
	if c, z, zoned, ok := nameTime(rest[:n]); ok && l.clock < 0 {
		l.clock, l.zone, l.zoned = c, z, zoned
	}
	return l, true
}

// eventVerbs are the verbs of backchannel's room events ("alice added
// carol", "alice removed bob, who left", "alice renamed the room to …",
// "bob left", "alice sent the room's membership again, unchanged").
var eventVerbs = map[string]bool{"added": true, "removed": true, "renamed": true, "left": true, "sent": true, "created": true}

func isKnown(known func(string) bool, s string) bool {
	return known != nil && known(strings.TrimSpace(s))
}

// eventStart reports whether s ("* alice added …") opens a room event:
// a star, then a member's name (or, without a transcript, a lower-case id).
func eventStart(s string, known func(string) bool) bool {
	if !strings.HasPrefix(s, "* ") {
		return false
	}
	w := strings.Fields(s[2:])
	if len(w) < 2 {
		return false
	}
	if !eventVerbs[strings.ToLower(strings.TrimRight(w[1], ",;:"))] {
		return false // "* alice: text" is a bullet with a label
	}
	if known != nil {
		return known(w[0])
	}
	r, _ := utf8.DecodeRuneInString(w[0])
	return unicode.IsLower(r)
}

// nameTime finds a time in the annotation of a label ("Envoy (14:02):",
// "Envoy, 14:02:").
func nameTime(label string) (int, int, bool, bool) {
	for i := 0; i < len(label); i++ {
		if label[i] == '(' || label[i] == '[' || label[i] == ',' {
			s := label[i:]
			if label[i] == ',' {
				s = strings.TrimLeft(label[i+1:], " \t")
			}
			if c, z, zoned, n := parseTime(s); c >= 0 && n > 0 {
				return c, z, zoned, true
			}
		}
	}
	return -1, 0, false, false
}

// readName reads "name [annotation] sep" at the start of s and returns the
// name and the bytes consumed. A member's name is taken with ":"; with a
// dash, ">" or "|" only if it is exactly a member's id or alias, or follows
// a time or markup. Another name is taken only with ":", only if it looks
// like a label (capitals), and only after a time or inside markup (the
// caller's stricter rules decide the rest).
func readName(s string, known, exact func(string) bool, structural, wrapped bool) (string, int, bool) {
	weak := false
	accept := func(name string, sep string, deco bool) bool {
		weak = false
		name = strings.TrimSpace(name)
		if name == "" || strings.ContainsAny(name, "?!\"“”") || !abbreviated(name) {
			return false
		}
		colon := strings.Contains(sep, ":")
		isExact := exact != nil && exact(name)
		if isKnown(known, name) {
			if wrapped && !deco && !structural && !isExact {
				return false
			}
			weak = !colon && !deco && !structural
			return colon || isExact || deco || structural
		}
		if !colon || !looksLikeLabel(name, known) || !hasCapital(name) {
			return false
		}
		// an unknown name: sure only in the program's own layout (a time,
		// a date) or with markup that only labels carry
		return structural || deco
	}
	if m := boldRe.FindStringSubmatchIndex(s); m != nil {
		name := s[m[4]:m[5]]
		n := m[1]
		sep := s[m[6]:m[7]]
		if sm := sepRe.FindString(s[n:]); sm != "" {
			n += len(sm)
			sep += sm
		}
		if accept(stripAnnot(name), sep+":", true) {
			return stripAnnot(name), n, false
		}
	}
	if m := bracketRe.FindStringSubmatchIndex(s); m != nil {
		name := s[m[2]:m[3]]
		n := m[1]
		sm := sepRe.FindString(s[n:])
		if sm == "" {
			sm = timeSepRe.FindString(s[n:])
		}
		if sm != "" && accept(stripAnnot(name), ":", true) {
			return stripAnnot(name), n + len(sm), false
		}
	}
	// plain names: try each separator within the first 80 bytes
	limit := min(len(s), 80)
	for i := 1; i < limit; i++ {
		c := s[i]
		if c != ':' && c != ' ' && c != '\t' && c != '>' && c != '|' && c != 0xe2 && c != '-' ||
			c == ':' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
			continue
		}
		head := s[:i]
		if strings.ContainsAny(head, "\"“”") {
			break
		}
		if m := saidSepRe.FindString(s[i:]); m != "" {
			if accept(stripAnnot(head), ":", false) {
				return stripAnnot(head), i + len(m), false
			}
		}
		m := sepRe.FindString(s[i:])
		if m == "" {
			continue
		}
		name := stripAnnot(head)
		if accept(name, m, false) {
			return name, i + len(m), weak
		}
	}
	return "", 0, false
}

func abbreviated(name string) bool {
	for _, w := range strings.Fields(name) {
		if strings.HasSuffix(w, ".") && !abbreviations[strings.ToLower(strings.TrimSuffix(w, "."))] && utf8.RuneCountInString(w) > 2 {
			return false
		}
	}
	return true
}

// stripAnnot removes annotations after a name: "(aide)", "[14:02]",
// ", 14:02", and a trailing colon or said-verb.
func stripAnnot(name string) string {
	name = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(name), ":"))
	for {
		i := strings.LastIndexAny(name, "([")
		if i <= 0 || !strings.HasSuffix(name, ")") && !strings.HasSuffix(name, "]") {
			break
		}
		name = strings.TrimSpace(name[:i])
	}
	if i := strings.LastIndexByte(name, ','); i > 0 {
		if c, _, _, n := parseTime(strings.TrimSpace(name[i+1:])); c >= 0 && n > 0 {
			name = strings.TrimSpace(name[:i])
		}
	}
	return name
}

// recogniseRow reads a Markdown table row: "| 14:02 | Envoy | text |".
// The last non-empty cell is the text; earlier cells give the time and the
// speaker.
func recogniseRow(line string, known func(string) bool) (lineLabel, bool) {
	l := lineLabel{clock: -1, end: len(line)}
	type cell struct{ a, b int }
	var cells []cell
	start := strings.IndexByte(line, '|') + 1
	for i := start; i <= len(line); i++ {
		if i == len(line) || line[i] == '|' && (i == 0 || line[i-1] != '\\') {
			a, b := start, i
			for a < b && (line[a] == ' ' || line[a] == '\t') {
				a++
			}
			for b > a && (line[b-1] == ' ' || line[b-1] == '\t') {
				b--
			}
			cells = append(cells, cell{a, b})
			start = i + 1
		}
	}
	for len(cells) > 0 && cells[len(cells)-1].a == cells[len(cells)-1].b {
		cells = cells[:len(cells)-1]
	}
	if len(cells) < 2 {
		return l, false
	}
	header := true
	for _, c := range cells {
		if !tableHead.MatchString(strings.Trim(line[c.a:c.b], "*_ ")) {
			header = false
		}
	}
	if header {
		l.kind = kindHeader
		return l, true
	}
	text := cells[len(cells)-1]
	for _, c := range cells[:len(cells)-1] {
		v := strings.Trim(line[c.a:c.b], "*_ ")
		if cl, z, zoned, n := parseTime(v); cl >= 0 && n == len(v) {
			l.clock, l.zone, l.zoned = cl, z, zoned
			continue
		}
		if v != "" && (isKnown(known, stripAnnot(v)) || looksLikeLabel(stripAnnot(v), known)) {
			l.speaker = stripAnnot(v)
		}
	}
	l.at, l.content, l.end = cells[0].a, text.a, text.b
	return l, true
}

// hasCapital reports whether some word of name starts with a capital
// ("[and]" in a quotation is no label).
func hasCapital(name string) bool {
	for _, w := range strings.Fields(name) {
		if r, _ := utf8.DecodeRuneInString(w); unicode.IsUpper(r) {
			return true
		}
	}
	return false
}

// nameLine reports whether line holds only a speaker's name — a member's,
// exactly or in capitals, or in markup: "ENVOY", "Envoy:", "**Envoy**",
// "[Envoy]" — the label of the lines below it.
func nameLine(line string, member, exact func(string) bool) (string, bool) {
	s := strings.TrimSpace(strings.TrimLeft(line, " \t\u00a0>"))
	deco := false
	if m := boldRe.FindStringSubmatch(s); m != nil && len(m[0]) == len(strings.TrimSuffix(s, ":")) {
		s, deco = m[2], true
	} else if m := bracketRe.FindStringSubmatch(s); m != nil && len(m[0]) == len(s) {
		s, deco = m[1], true
	}
	colon := strings.HasSuffix(s, ":")
	s = strings.TrimSpace(strings.TrimSuffix(s, ":"))
	if s == "" || len(strings.Fields(s)) > 5 || !isKnown(member, s) {
		return "", false
	}
	return s, deco || colon || isCaps(s) || exact != nil && exact(s)
}
