// Package leak verifies leaked or published text against a room's real
// messages, line by line.
//
// Contract: Verify (or Index.Verify) takes the text as published — pasted,
// retyped, re-wrapped, with or without speaker labels and times, quotations
// inside reporting prose, excerpts marked with "…" — and gives every line or
// quotation one verdict:
//
//   - authentic: the words are a real message (or an excerpt of one, where
//     the omission is marked by an ellipsis or the claim is a quotation),
//     and any stated speaker and time agree with it;
//   - altered: the closest real message differs in wording (words
//     inserted, removed or substituted, an unmarked omission, or two
//     messages spliced together); the diff shows how;
//   - fabricated: no message is the source of the words;
//   - misattributed: the words are authentic but the stated speaker is
//     someone else (or one line merges messages of different senders
//     under one speaker);
//   - misdated: the words (and speaker) are authentic but the stated time
//     or date is not when the message was sent. The display's rounding to
//     the minute and one time-zone offset for the whole leak (stated, such
//     as "UTC" or "+01:00", or implied: the same whole or quarter-hour
//     shift on most timed lines, at least two) are allowed.
//
// Room events (membership and name changes, "* alice added carol" in
// backchannel's own output) are verified against Options.Events:
// authentic, altered or fabricated like messages. The program's own header
// ("# room — …") and notices ("! …") are not messages: they are skipped and
// counted in Summary.Skipped.
//
// Comparison is on normalised words (see Normalize): typography, case,
// whitespace, invisible characters, contractions and number words never
// make a difference; every other change of wording does. An optional
// canonicaliser (Options.Canonicalize) extends this to meaning-preserving
// variants such as a canary-marked copy's lexical marks.
//
// The transcript is indexed by word 3-grams, so a leak is aligned in time
// roughly linear in its length, independent of the transcript's size
// except for repeated phrases.
package leak

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Verdict is the outcome for one line or quotation.
type Verdict string

// Verdicts.
const (
	Authentic     Verdict = "authentic"
	Altered       Verdict = "altered"
	Fabricated    Verdict = "fabricated"
	Misattributed Verdict = "misattributed"
	Misdated      Verdict = "misdated"
)

// Line is the verdict on one line or quotation of the leak. Line is the
// 1-based line number where it starts; several Lines may share a line
// number when one leaked line holds several messages or quotations.
type Line struct {
	Line      int     `json:"line"`
	Text      string  `json:"text"`
	Verdict   Verdict `json:"verdict"`
	MessageID string  `json:"message_id"`
	Sender    string  `json:"sender"`
	SentAt    string  `json:"sent_at"`
	Diff      string  `json:"diff"`

	// Noise describes differences waved through as copying noise (OCR
	// confusions, typos in long words, spacing, hyphenation, dropped
	// punctuation); the verdict does not count them. Empty if none.
	Noise string `json:"noise,omitempty"`

	claim timeClaim // the stated time, checked once the leak's offset is known
	sent  time.Time
	// for the arrangement of the leak (order.go)
	msg, pos     int   // message index and first matched word of the main message; msg -1 if none
	msgs         []int // every message a segment of the line comes from
	spliced      bool
	quote, event bool
	labelled     bool // an explicitly labelled transcript line
	aside        bool // takes no part in the arrangement
	cover        bool // matches at least two thirds of its message's words
	doubt        bool // altered and also a wrong speaker or time: maybe another message
	at           int  // byte offset where the line's words start
	from, to     int  // byte span of the line's block (label included)
}

// Summary counts the verdicts.
type Summary struct {
	Lines         int    `json:"lines"`
	Authentic     int    `json:"authentic"`
	Altered       int    `json:"altered"`
	Fabricated    int    `json:"fabricated"`
	Misattributed int    `json:"misattributed"`
	Misdated      int    `json:"misdated"`
	Reordered     int    `json:"reordered"`     // findings: runs of lines out of order
	Omitted       int    `json:"omitted"`       // findings: gaps of left-out messages
	Noisy         int    `json:"noisy"`         // authentic lines with copying noise
	Skipped       int    `json:"skipped_lines"` // the program's own header and notices
	Messages      int    `json:"messages"`
	Matched       int    `json:"matched_messages"`
	Note          string `json:"note,omitempty"`
}

// Report is the result of a verification.
type Report struct {
	Lines    []Line    `json:"lines"`
	Findings []Finding `json:"findings"`
	Summary  Summary   `json:"summary"`
}

// JSON returns the report as one JSON object.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode report: %w", err)
	}
	return append(b, '\n'), nil
}

// Verify indexes msgs and verifies leak against them.
func Verify(msgs []Message, leak []byte, opt Options) (*Report, error) {
	return NewIndex(msgs, opt).Verify(leak)
}

// Verify checks leaked text against the indexed transcript. It returns an
// error only for unusable input (see CheckInput).
func (ix *Index) Verify(leak []byte) (*Report, error) {
	if err := CheckInput(leak); err != nil {
		return nil, err
	}
	rep, shift := ix.verify(string(leak))
	if shift != 0 {
		// The leak shows times in another zone: verify again with that
		// zone, so that among messages with the same words the one sent at
		// the stated time is chosen.
		at := time.Now()
		if len(ix.msgs) > 0 {
			at = ix.msgs[0].SentAt
		}
		_, off := at.In(ix.opt.Location).Zone()
		shifted := *ix
		shifted.opt.Location = time.FixedZone(offsetText(off/60+shift), off+shift*60)
		rep, _ = shifted.verify(string(leak))
	}
	return rep, nil
}

// verify verifies text and returns the time-zone shift it allowed.
func (ix *Index) verify(text string) (*Report, int) {
	li := newLineIndex(text)
	rep := &Report{Lines: []Line{}, Findings: []Finding{}}
	prev := -1
	blocks, skipped := parseBlocks(text, ix.knownLabel, ix.exactLabel, ix.memberLabel, ix.wholeMessage)
	for _, b := range blocks {
		if b.event {
			l := ix.verifyEvent(text, li, b)
			l.event, l.msg, l.from, l.to = true, -1, b.labelAt, b.end
			rep.Lines = append(rep.Lines, l)
			continue
		}
		before := prev
		lines := ix.verifyBlock(text, li, b, &prev)
		if q, ok := reportedQuote(text, b); ok && ix.ownQuotes(text, q) {
			// the quotation marks are the message's own (a telegram
			// quoted in full, leaked as "Envoy wrote: “…”"): a transcript
			// line, whose text must be the whole message
			b.plain, prev = true, before
			lines = ix.verifyBlock(text, li, b, &prev)
		}
		if b.explicit && (b.weak || !isCaps(b.speaker) && !ix.knownLabel(b.speaker)) {
			// "Ref: Your memorandum …" or "Mr. Vest - EUR" may be words
			// of a message rather than a speaker label: keep the reading
			// with fewer flags (for a dashed member's name, fewer changed
			// words: a wrong speaker there is still a finding).
			alt := b
			alt.start, alt.speaker, alt.explicit = b.labelAt, "", false
			p2 := before
			l2 := ix.verifyBlock(text, li, alt, &p2)
			better := flags(l2) < flags(lines)
			if b.weak {
				// on a tie, the name is the message's own first words if
				// only then the first line is authentic ("Mr. Gammon - M")
				firstBad := len(lines) > 0 && (lines[0].Verdict == Altered || lines[0].Verdict == Fabricated)
				better = wordFlags(l2) < wordFlags(lines) ||
					wordFlags(l2) == wordFlags(lines) && firstBad && len(l2) > 0 && l2[0].Verdict == Authentic
			}
			if better {
				// the label's words read as a message ("Mr. Trask" of an
				// attendance list) fix no position in the arrangement
				for k := range l2 {
					l2[k].aside = l2[k].at < b.start
				}
				lines, prev = l2, p2
			}
		}
		for k := range lines {
			if len(b.quotes) > 0 && !b.explicit {
				lines[k].quote = true // text around quotations: prose, in any order
			}
			lines[k].labelled = b.explicit && !lines[k].quote
			lines[k].from = b.labelAt
		}
		rep.Lines = append(rep.Lines, lines...)
	}
	shift := ix.checkTimes(rep.Lines)
	rep.Findings = append(rep.Findings, ix.arrangement(text, rep.Lines)...)
	matched := map[string]bool{}
	s := &rep.Summary
	for _, l := range rep.Lines {
		switch l.Verdict {
		case Authentic:
			s.Authentic++
		case Altered:
			s.Altered++
		case Fabricated:
			s.Fabricated++
		case Misattributed:
			s.Misattributed++
		case Misdated:
			s.Misdated++
		}
		if l.MessageID != "" {
			matched[l.MessageID] = true
		}
		if l.Noise != "" && l.Verdict == Authentic {
			s.Noisy++
		}
	}
	for _, f := range rep.Findings {
		switch f.Kind {
		case Reordered:
			s.Reordered++
		case Omitted:
			s.Omitted++
		}
	}
	s.Lines, s.Messages, s.Matched, s.Skipped = len(rep.Lines), len(ix.msgs), len(matched), skipped
	switch {
	case s.Lines == 0:
		s.Note = "the leak contains no words to verify"
	case s.Matched == 0:
		s.Note = "no line matches this room's transcript: wrong room, or entirely invented"
	}
	return rep, shift
}

func (ix *Index) verifyBlock(text string, li lineIndex, b block, prev *int) []Line {
	var out []Line
	for _, u := range ix.units(text, b, *prev) {
		out = append(out, ix.verifyUnit(text, li, u, prev)...)
	}
	return out
}

// wordFlags counts altered and fabricated lines.
func wordFlags(ls []Line) int {
	n := 0
	for _, l := range ls {
		if l.Verdict == Altered || l.Verdict == Fabricated {
			n++
		}
	}
	return n
}

func flags(ls []Line) int {
	n := 0
	for _, l := range ls {
		if l.Verdict != Authentic {
			n++
		}
	}
	return n
}

// units turns a block into claims: the whole block (transcript style), or
// its quotations when it reads as reporting prose around them.
func (ix *Index) units(text string, b block, prev int) []unit {
	base := unit{label: b.speaker, clock: b.clock, ownID: b.ownID && b.explicit, claim: timeClaim{clock: b.clock, date: b.date, zone: b.zone, zoned: b.zoned}}
	if b.speaker != "" {
		base.member, _ = ix.resolve(b.speaker)
	}
	if q, ok := reportedQuote(text, b); ok {
		// "Envoy wrote: “…”": a label that reports a quotation, as press
		// prose does: the quotation may be an excerpt, its speaker is
		// still checked
		u := base
		u.quote, u.pieces = true, splitEllipses(text, q.start, q.end, true)
		return []unit{u}
	}
	if !ix.quoted(text, b) || b.explicit {
		base.pieces = splitEllipses(text, b.start, b.end, false)
		return []unit{base}
	}
	if prose, matched := ix.proseAround(text, b, prev); prose {
		var us []unit
		for _, m := range matched { // message text between quotations
			u := base
			u.pieces, u.prose = splitEllipses(text, m[0], m[1], false), true
			us = append(us, u)
		}
		for _, q := range b.quotes {
			u := base
			u.quote, u.label, u.member = true, q.speaker, ""
			if q.speaker != "" {
				u.member, _ = ix.resolve(q.speaker)
			}
			u.pieces = splitEllipses(text, q.start, q.end, true)
			us = append(us, u)
		}
		sort.Slice(us, func(i, j int) bool { return us[i].pieces[0].start < us[j].pieces[0].start })
		return us
	}
	base.pieces = splitEllipses(text, b.start, b.end, false)
	return []unit{base}
}

// reportedQuote returns the quotation of an explicitly labelled block whose
// label reports it with a verb ("Envoy wrote: “…”", "Envoy said: “…”") and
// whose content is that one quotation and nothing else (closing
// punctuation aside). A plain label ("ENVOY: “…”") is a transcript line:
// its text must be the whole message.
func reportedQuote(text string, b block) (quote, bool) {
	if !b.explicit || b.plain || len(b.quotes) != 1 || b.labelAt >= b.start || !verbRe.MatchString(text[b.labelAt:b.start]) {
		return quote{}, false
	}
	q := b.quotes[0]
	head := strings.TrimSpace(text[b.start:q.start])
	tail := strings.Trim(text[q.end:b.end], " \t\r\n.,;:!?")
	r, size := utf8.DecodeRuneInString(tail)
	if size > 0 && strings.ContainsRune("”\"»“", r) {
		tail = strings.Trim(tail[size:], " \t\r\n.,;:!?")
	}
	if utf8.RuneCountInString(head) != 1 || tail != "" {
		return quote{}, false
	}
	return q, true
}

// ownQuotes reports whether quotation q opens as some message does that
// itself opens with a quotation mark: then the marks are the message's.
func (ix *Index) ownQuotes(text string, q quote) bool {
	ids := ix.lookup(tokenize(text[q.start:q.end], q.start, ix.opt.Canonicalize))
	if len(ids) > shingleK {
		ids = ids[:shingleK]
	}
	var ms []int
	if len(ids) == shingleK {
		for _, p := range ix.shingles[shingleKey(ids[0], ids[1], ids[2])] {
			if p.pos == 0 {
				ms = append(ms, int(p.msg))
			}
		}
	} else {
		ms = ix.short[idKey(ids)]
	}
	for _, m := range ms {
		r, _ := utf8.DecodeRuneInString(strings.TrimSpace(ix.msgs[m].Text))
		if strings.ContainsRune("“\"«„", r) {
			return true
		}
	}
	return false
}

// quoted reports whether the block quotes at least three words, or a
// whole short message, somewhere: single-word "scare quotes" make no claim.
func (ix *Index) quoted(text string, b block) bool {
	for _, q := range b.quotes {
		lt := tokenize(text[q.start:q.end], q.start, ix.opt.Canonicalize)
		if len(lt) >= 3 || len(lt) > 0 && len(ix.short[idKey(ix.lookup(lt))]) > 0 {
			return true
		}
	}
	return false
}

// proseAround reports whether an unlabelled block with quotations is
// reporting prose ("…,” the envoy said.) rather than a message that itself
// contains a quotation: most words outside the quotations, taken on their
// own, match no message. It also returns the outside stretches that do
// match messages, which are verified as lines of their own.
func (ix *Index) proseAround(text string, b block, prev int) (bool, [][2]int) {
	outside, covered := 0, 0
	var matched [][2]int
	from := b.start
	for k := 0; k <= len(b.quotes); k++ {
		to := b.end
		if k < len(b.quotes) {
			to = b.quotes[k].start
		}
		if to > from {
			lt := tokenize(text[from:to], from, ix.opt.Canonicalize)
			ids := ix.lookup(lt)
			var long []anchor // common phrases do not make prose a message
			for _, a := range ix.anchors(ids) {
				if a.i1-a.i0 >= 5 {
					long = append(long, a)
				}
			}
			owner, _ := ix.assign(len(ids), long, &unit{clock: -1}, prev)
			c := 0
			for _, o := range owner {
				if o >= 0 {
					c++
				}
			}
			outside, covered = outside+len(owner), covered+c
			if len(owner) >= 5 && 2*c >= len(owner) {
				matched = append(matched, [2]int{from, to})
			}
		}
		if k < len(b.quotes) {
			from = b.quotes[k].end
		}
	}
	return outside > 0 && 2*covered < outside, matched
}

// verifyUnit aligns a claim and groups its segments into reported lines:
// segments meeting at clean message boundaries (or across an ellipsis) are
// separate lines; segments meeting mid-message are one spliced line.
func (ix *Index) verifyUnit(text string, li lineIndex, u unit, prev *int) []Line {
	var segs []seg
	var pieceOf []int
	for pi, p := range u.pieces {
		lt := ix.splitJoined(tokenize(text[p.start:p.end], p.start, ix.opt.Canonicalize))
		if len(lt) == 0 {
			continue
		}
		for _, s := range ix.alignPiece(text, lt, ix.lookup(lt), p, &u, *prev) {
			segs = append(segs, s)
			pieceOf = append(pieceOf, pi)
			if s.msg >= 0 {
				*prev = s.msg
			}
		}
	}
	var out []Line
	var group []seg
	flush := func() {
		if len(group) > 0 {
			out = append(out, ix.lineFor(text, li, u, group))
		}
		group = nil
	}
	for k, s := range segs {
		if k > 0 {
			p := segs[k-1]
			sameExcerpt := pieceOf[k] != pieceOf[k-1] && p.msg >= 0 && p.msg == s.msg
			// Only a run that ends mid-message followed by one that starts
			// mid-message is a splice; otherwise each is its own line.
			// A boundary at a line start also separates lines: each part
			// still shows its own omission.
			clean := pieceOf[k] != pieceOf[k-1] || p.msg < 0 || s.msg < 0 || !p.tailCut || !s.headCut || s.lt[s.a].line
			if !sameExcerpt && clean {
				flush()
			}
		}
		group = append(group, s)
	}
	flush()
	// One labelled line holding messages of different senders merges them
	// under one speaker: the others' messages are misattributed.
	if u.member != "" && len(out) > 1 {
		for i := range out {
			if out[i].Sender != "" && out[i].Sender != u.member && out[i].Verdict == Misattributed {
				out[i].Diff = "one line merges messages of different senders: " + out[i].Diff
			}
		}
	}
	return out
}

func (ix *Index) lineFor(text string, li lineIndex, u unit, g []seg) Line {
	first, last := g[0], g[len(g)-1]
	start, end := first.lt[first.a].start, last.lt[last.b-1].end
	wordsEnd := end
	for end < len(text) && strings.IndexByte(".,;:!?", text[end]) >= 0 {
		end++ // keep closing punctuation in the shown text
	}
	l := Line{Line: li.line(start), Text: strings.Join(strings.Fields(text[start:end]), " "), msg: -1, quote: u.quote || u.prose, at: start, to: wordsEnd}
	// the segment carrying the most words names the message
	main := -1
	spliced := false
	for k, s := range g {
		if s.msg >= 0 && (main < 0 || s.b-s.a > g[main].b-g[main].a) {
			main = k
		}
		if k > 0 && s.msg != g[0].msg {
			spliced = true
		}
	}
	if main < 0 {
		l.Verdict = Fabricated
		l.Diff = "no message in the transcript contains these words"
		return l
	}
	msg := ix.msgs[g[main].msg]
	l.msg, l.pos, l.spliced = g[main].msg, g[main].firstPos(), spliced
	l.cover = 3*g[main].st.equal >= 2*len(ix.ids[g[main].msg])
	for _, s := range g {
		if s.msg >= 0 && !containsInt(l.msgs, s.msg) {
			l.msgs = append(l.msgs, s.msg)
		}
	}
	l.MessageID, l.Sender, l.SentAt = msg.ID, msg.Sender, msg.SentAt.UTC().Format(time.RFC3339)
	l.claim, l.sent = u.claim, msg.SentAt
	var diffs []string
	altered := spliced
	for _, s := range g {
		if s.msg < 0 {
			diffs = append(diffs, "{+"+strings.Join(strings.Fields(text[s.lt[s.a].start:s.lt[s.b-1].end]), " ")+"+}")
			altered = true
			continue
		}
		m := ix.msgs[s.msg]
		d := render(s.ops, text, s.lt, m.Text, ix.toks[s.msg], !s.headOK, !s.tailOK, s.st)
		if spliced {
			d = fmt.Sprintf("from %s (%s): %s", m.ID, m.Sender, d)
		}
		diffs = append(diffs, d)
		if s.edits() {
			altered = true
		}
		if s.st.noise > 0 {
			if l.Noise != "" {
				l.Noise += ", "
			}
			l.Noise += noiseText(&s, text, m.Text, ix.toks[s.msg])
		}
		if j := joinedText(&s, text, m.Text, ix.toks[s.msg]); j != "" {
			if l.Noise != "" {
				l.Noise += ", "
			}
			l.Noise += j
		}
	}
	who := ix.speakerProblem(u, msg)
	switch {
	case altered:
		l.Verdict = Altered
		if spliced {
			l.Diff = "spliced from several messages: " + strings.Join(diffs, " | ")
		} else {
			l.Diff = strings.Join(diffs, " | ")
		}
		if who != "" {
			l.Diff += "; also " + who
			l.doubt = true
		}
	case who != "":
		l.Verdict = Misattributed
		l.Diff = who
	default:
		l.Verdict = Authentic
	}
	if l.Noise != "" {
		l.Noise = "copying noise, not counted: " + l.Noise
	}
	return l
}

// speakerProblem describes a wrong speaker, or returns "". (Times are
// checked for the whole leak at once: checkTimes.)
func (ix *Index) speakerProblem(u unit, m Message) string {
	switch {
	case u.member != "" && u.member != m.Sender:
		return fmt.Sprintf("attributed to %s, but sent by %s", u.label, m.Sender)
	case u.member == "" && u.ownID:
		return fmt.Sprintf("attributed to %s, who is not a member of this room, but sent by %s", u.label, m.Sender)
	}
	return ""
}
