package doctor

import (
	"fmt"
	"math/rand"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"backchannel/transcript/leak"
)

// Edit is the doctoring applied to one leaked line.
type Edit string

// Edits. None means formatting only: the line must verify as authentic.
const (
	None       Edit = "none"
	Insert     Edit = "inserted line"
	Substitute Edit = "substituted word"
	Number     Edit = "changed number"
	Negate     Edit = "negation"
	Splice     Edit = "splice of two messages"
	Swap       Edit = "swapped speakers"
	Omit       Edit = "omitted context"
	Retime     Edit = "wrong time"
	Merge      Edit = "merged line (two senders)"
	EventLine  Edit = "room event"
	FakeEvent  Edit = "invented room event"
	// Noise: copying noise only (noise.go): must stay authentic.
	Noise Edit = "OCR noise"
	// NoiseMeaning: noise plus a change of meaning noise must not hide.
	NoiseMeaning Edit = "OCR noise + meaning change"
	// SwapPress: a quotation attributed in press prose to another member.
	SwapPress Edit = "misattributed quotation (press)"
)

// Expected verdict of each edit.
func (e Edit) Expected() leak.Verdict {
	switch e {
	case None, EventLine, Noise:
		return leak.Authentic
	case Insert, FakeEvent:
		return leak.Fabricated
	case Swap, Merge, SwapPress:
		return leak.Misattributed
	case Retime:
		return leak.Misdated
	}
	return leak.Altered
}

// Style is how a leak is laid out.
type Style struct {
	Labels bool // "SPEAKER: text" lines
	Times  bool // "[14:02]" before labels
	Prose  bool // press style: quotations inside reporting prose, out of order
	Blank  bool // blank line between lines
	Wrap   int  // re-wrap at this width (0: no wrapping)
	Retype bool // typographic, contraction and number-form changes
	// Layout, if not 0, is 1 + the index in Layouts of the label layout
	// (Labels and Times are then set from it).
	Layout int
	// Shift shows times this many minutes ahead of UTC (a leak from a
	// member in another time zone), unless the layout states UTC.
	Shift int
	// Memo: paragraphs of multi-paragraph messages (MemoLeak).
	Memo bool
}

// LayoutName names the style's layout.
func (st Style) LayoutName() string {
	switch {
	case st.Memo:
		return "memo paragraphs"
	case st.Layout > 0:
		return Layouts[st.Layout-1].Name
	case st.Prose:
		return "press prose"
	case st.Labels && st.Times:
		return "[hh:mm] NAME: text"
	case st.Labels:
		return "NAME: text"
	}
	return "unlabelled"
}

// Item is one leaked line with its ground truth.
type Item struct {
	Source    int // message index, -1 for an inserted line
	Speaker   string
	Text      string
	Edit      Edit
	FirstLine int // 1-based physical lines of the leak text
	LastLine  int
}

// Leak is a generated leak.
type Leak struct {
	Transcript string
	Style      Style
	Text       string
	Items      []Item
	// Moved are the source messages of lines moved out of order (each
	// must be named by a "reordered" finding).
	Moved []int
	// Omitted are the ids of messages left out inside a labelled run
	// (each must be named by an "omitted" finding).
	Omitted []string
}

// Generator builds doctored leaks from one transcript.
type Generator struct {
	T       Transcript
	Foreign []string // sentences from elsewhere, for inserted lines
	Rate    float64  // share of lines doctored (default 0.3)
	Window  int      // messages per leak (default 24)
	// Mark, if set, turns a message into the leaker's personal copy (a
	// canary-marked copy) before the leak is formatted and doctored.
	Mark  func(msgID, text string) string
	vocab []string
	known map[string]bool            // every normalised word of the transcript
	words map[string]map[string]bool // normalised words -> senders
	count map[string]int             // normalised words -> messages
}

var stop = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`that this with have from they will would there their which been were what when your about
	could should these those than then them into some such only also more most very much many other over just like upon
	shall being does must said here where after before because while might each both said made make`) {
		stop[w] = true
	}
}

var antonyms = map[string]string{
	"accept": "reject", "agree": "refuse", "agreed": "refused", "before": "after", "after": "before", "increase": "reduce",
	"more": "less", "less": "more", "approve": "oppose", "approved": "opposed", "support": "oppose", "always": "never",
	"never": "always", "possible": "impossible", "important": "trivial", "best": "worst", "early": "late", "open": "closed",
	"public": "secret", "publish": "suppress", "published": "suppressed", "release": "withhold", "first": "last",
	"friends": "enemies", "allies": "rivals", "yes": "no", "should": "must", "strongly": "weakly", "favor": "oppose",
}

var wordRe = regexp.MustCompile(`[A-Za-z]+`)

// pick a random element satisfying ok, or -1.
func pick(rng *rand.Rand, n int, ok func(int) bool) int {
	var cand []int
	for i := 0; i < n; i++ {
		if ok(i) {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return -1
	}
	return cand[rng.Intn(len(cand))]
}

func sameWords(a, b string) bool {
	return slices.Equal(leak.Normalize(a, nil), leak.Normalize(b, nil))
}

// edit applies e to text; ok is false when e does not apply or changes no
// word after normalisation.
func (g *Generator) edit(e Edit, text string, other string, rng *rand.Rand) (string, bool) {
	var out string
	switch e {
	case Substitute:
		locs := wordRe.FindAllStringIndex(text, -1)
		k := pick(rng, len(locs), func(i int) bool {
			w := strings.ToLower(text[locs[i][0]:locs[i][1]])
			return len(w) >= 4 && !stop[w]
		})
		if k < 0 {
			return "", false
		}
		w := text[locs[k][0]:locs[k][1]]
		r, ok := antonyms[strings.ToLower(w)]
		for tries := 0; !ok || strings.EqualFold(r, w); tries++ {
			if tries > 20 {
				return "", false
			}
			r, ok = g.vocab[rng.Intn(len(g.vocab))], true
		}
		if w[0] >= 'A' && w[0] <= 'Z' {
			r = strings.ToUpper(r[:1]) + r[1:]
		}
		out = text[:locs[k][0]] + r + text[locs[k][1]:]
	case Number:
		locs := regexp.MustCompile(`\b\d+\b`).FindAllStringIndex(text, -1)
		if len(locs) == 0 {
			return "", false
		}
		l := locs[rng.Intn(len(locs))]
		n, _ := strconv.Atoi(text[l[0]:l[1]])
		out = text[:l[0]] + strconv.Itoa(n+1+rng.Intn(9)) + text[l[1]:]
	case Negate:
		if locs := regexp.MustCompile(`\b[Nn]ot `).FindAllStringIndex(text, -1); len(locs) > 0 && rng.Intn(3) == 0 {
			l := locs[rng.Intn(len(locs))]
			out = text[:l[0]] + text[l[1]:]
			break
		}
		re := regexp.MustCompile(`\b(will|would|should|could|is|are|was|were|must|does|did|has|have|can)\b( not| never)?`)
		locs := re.FindAllStringSubmatchIndex(text, -1)
		k := pick(rng, len(locs), func(i int) bool { return locs[i][4] < 0 })
		if k < 0 {
			return "", false
		}
		out = text[:locs[k][1]] + " not" + text[locs[k][1]:]
	case Omit:
		words := strings.Fields(text)
		if len(words) < 8 {
			return "", false
		}
		cut := -1
		for i := len(words) - 3; i >= len(words)*2/5; i-- {
			if strings.HasSuffix(words[i], ",") || strings.HasSuffix(words[i], ";") || strings.HasSuffix(words[i], ".") {
				cut = i
				break
			}
		}
		if cut < 0 {
			cut = len(words) * 2 / 3
		}
		out = strings.TrimRight(strings.Join(words[:cut+1], " "), ",;:") + "."
		if strings.Count(out, "“") > strings.Count(out, "”") {
			out += "”" // a doctored quotation still closes
		}
	case Splice:
		a, b := strings.Fields(text), strings.Fields(other)
		if len(a) < 8 || len(b) < 8 {
			return "", false
		}
		// no ellipsis at the join: that would be an honest excerpt
		head := strings.TrimRight(strings.Join(a[:len(a)/2], " "), ".… ")
		out = head + " " + strings.TrimLeft(strings.Join(b[len(b)/2:], " "), ".… ")
	default:
		return "", false
	}
	if sameWords(out, text) {
		return "", false
	}
	return out, true
}

// retype makes meaning-preserving changes a person retyping or a paste
// would make.
func retype(s string, rng *rand.Rand) string {
	r := []struct{ from, to string }{
		{"’", "'"}, {"“", "\""}, {"”", "\""}, {" -- ", " — "}, {"--", "—"}, {"...", "…"},
		{"don't", "do not"}, {"Don't", "Do not"}, {"I'm", "I am"}, {"it's", "it is"}, {"cannot", "can't"},
		{"do not", "don't"}, {"will not", "won't"}, {"It is", "It's"}, {" two ", " 2 "},
		{" three ", " 3 "}, {" five ", " 5 "}, {". ", ".  "}, {", ", ",\u00a0"},
	}
	for _, x := range r {
		if rng.Intn(2) == 0 {
			s = strings.ReplaceAll(s, x.from, x.to)
		}
	}
	if rng.Intn(2) == 0 { // numbers written out, whole numbers only
		words := map[string]string{"10": "ten", "20": "twenty", "12": "twelve"}
		locs := regexp.MustCompile(`\b(10|20|12)\b`).FindAllStringIndex(s, -1)
		for k := len(locs) - 1; k >= 0; k-- {
			l := locs[k]
			if l[1]+1 < len(s) && strings.ContainsRune(",.", rune(s[l[1]])) && s[l[1]+1] >= '0' && s[l[1]+1] <= '9' ||
				l[0] > 0 && strings.ContainsRune(",.$", rune(s[l[0]-1])) {
				continue // part of 10,000 or 3.10 or $10
			}
			s = s[:l[0]] + words[s[l[0]:l[1]]] + s[l[1]:]
		}
	}
	if rng.Intn(3) == 0 { // a copy-paste artefact: zero-width space inside a word
		if locs := wordRe.FindAllStringIndex(s, -1); len(locs) > 0 {
			l := locs[rng.Intn(len(locs))]
			if l[1]-l[0] > 3 {
				s = s[:l[0]+2] + "\u200b" + s[l[0]+2:]
			}
		}
	}
	return s
}

func wrap(s string, width int) string {
	if width <= 0 {
		return s
	}
	var b strings.Builder
	col := 0
	for _, w := range strings.Fields(s) {
		if col > 0 && col+1+len(w) > width {
			b.WriteByte('\n')
			col = 0
		} else if col > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

func sentences(s string) []string {
	var out []string
	for _, p := range regexp.MustCompile(`[.!?]["”’]?\s+`).Split(s, -1) {
		if len(strings.Fields(p)) >= 6 {
			out = append(out, p)
		}
	}
	return out
}

func (g *Generator) init() {
	if g.Rate == 0 {
		g.Rate = 0.3
	}
	if g.Window == 0 {
		g.Window = 24
	}
	if g.words == nil {
		g.words, g.count = map[string]map[string]bool{}, map[string]int{}
		for _, m := range g.T.Messages {
			k := strings.Join(leak.Normalize(m.Text, nil), " ")
			g.count[k]++
			if g.words[k] == nil {
				g.words[k] = map[string]bool{}
			}
			g.words[k][m.Sender] = true
		}
	}
	if g.known == nil {
		g.known = map[string]bool{}
		for _, m := range g.T.Messages {
			for _, w := range leak.Normalize(m.Text, nil) {
				g.known[w] = true
			}
		}
	}
	if g.vocab == nil {
		seen := map[string]bool{}
		for _, m := range g.T.Messages {
			for _, w := range wordRe.FindAllString(strings.ToLower(m.Text), -1) {
				if len(w) >= 5 && !stop[w] && !seen[w] {
					seen[w] = true
					g.vocab = append(g.vocab, w)
				}
			}
		}
		slices.Sort(g.vocab)
	}
}

// Generate builds one leak with a random style.
func (g *Generator) Generate(rng *rand.Rand) Leak {
	g.init()
	st := Style{Labels: rng.Intn(10) < 7, Wrap: 0, Retype: rng.Intn(10) < 7}
	if rng.Intn(2) == 0 {
		st.Wrap = 40 + rng.Intn(50)
	}
	st.Times = st.Labels && rng.Intn(10) < 4
	st.Prose = !st.Labels && rng.Intn(3) == 0
	st.Blank = st.Prose || rng.Intn(2) == 0
	return g.GenerateStyle(rng, st)
}

// GenerateStyle builds one leak in the given style.
func (g *Generator) GenerateStyle(rng *rand.Rand, st Style) Leak {
	g.init()
	var lay *Layout
	if st.Layout > 0 {
		lay = &Layouts[st.Layout-1]
		st.Labels, st.Times, st.Prose = true, lay.Timed, false
	}
	msgs := g.T.Messages
	n := min(g.Window, len(msgs))
	start := rng.Intn(len(msgs) - n + 1)
	var items []Item
	var skipped []int
	spliced := map[int]bool{} // messages half-quoted by a splice
	for i := start; i < start+n; i++ {
		if rng.Intn(10) == 0 {
			skipped = append(skipped, i) // a line left out
			continue
		}
		if rng.Float64() < g.Rate/4 && len(g.Foreign) > 0 {
			who := msgs[start+rng.Intn(n)].Sender
			items = append(items, Item{Source: -1, Speaker: who, Text: g.Foreign[rng.Intn(len(g.Foreign))], Edit: Insert})
		}
		it := Item{Source: i, Speaker: msgs[i].Sender, Text: msgs[i].Text, Edit: None}
		if g.Mark != nil {
			it.Text = g.Mark(msgs[i].ID, msgs[i].Text)
		}
		if rng.Float64() < g.Rate && len(strings.Fields(it.Text)) >= 6 {
			edits := []Edit{Substitute, Number, Negate, Splice, Omit}
			if st.Prose {
				edits = []Edit{Substitute, Number, Negate, Splice}
			}
			rng.Shuffle(len(edits), func(a, b int) { edits[a], edits[b] = edits[b], edits[a] })
			oi := start + rng.Intn(n)
			other := msgs[oi].Text
			for _, e := range edits {
				if other == it.Text {
					break
				}
				if txt, ok := g.edit(e, it.Text, other, rng); ok && !g.said("", txt) {
					it.Text, it.Edit = txt, e
					if e == Splice {
						spliced[oi] = true
					}
					break
				}
			}
		} else if r := rng.Float64(); r < 0.18 {
			// copying noise, alone or hiding a change of meaning
			hyphen := st.Layout == 0 && st.Wrap == 0
			if r < 0.12 {
				if txt, ok := g.noisy(it.Text, rng, hyphen); ok && !sameWords(txt, it.Text) {
					it.Text, it.Edit = txt, Noise
				}
			} else if txt, ok := g.noisyMeaning(it.Text, rng); ok && !g.said("", txt) {
				it.Text, it.Edit = txt, NoiseMeaning
			}
		} else if st.Prose && rng.Intn(2) == 0 {
			if ss := sentences(it.Text); len(ss) > 1 {
				it.Text = ss[rng.Intn(len(ss))] // a quoted sentence: an excerpt
			}
		}
		items = append(items, it)
	}
	present := map[int]bool{}
	for _, it := range items {
		if it.Source >= 0 {
			present[it.Source] = true
		}
	}
	var omitted []string
	if st.Labels {
		// a message left out between two leaked ones, in a labelled
		// transcript, is an omission the verifier must report
		lo, hi := -1, -1
		for _, it := range items {
			if it.Source >= 0 && it.Edit != Splice {
				if lo < 0 {
					lo = it.Source
				}
				hi = it.Source
			}
		}
		for _, i := range skipped {
			if i > lo && i < hi && !spliced[i] {
				omitted = append(omitted, msgs[i].ID)
			}
		}
	}
	if st.Labels && rng.Intn(2) == 0 {
		// merge two neighbouring lines of different senders into one line
		// under the first one's label
		k := pick(rng, len(items)-1, func(k int) bool {
			a, b := items[k], items[k+1]
			// (two short lines such as "Mr. Lansing" merged read as one
			// altered line, not as two messages)
			return a.Edit == None && b.Edit == None && a.Source >= 0 && b.Source >= 0 && a.Speaker != b.Speaker &&
				!g.said(a.Speaker, b.Text) && len(strings.Fields(a.Text)) >= 6 && len(strings.Fields(b.Text)) >= 6
		})
		if k >= 0 {
			items[k].Text = strings.TrimSpace(items[k].Text) + " " + strings.TrimSpace(items[k+1].Text)
			items[k].Edit = Merge
			items = slices.Delete(items, k+1, k+2)
		}
	}
	if st.Labels || st.Prose {
		// swap the speakers of a few pairs of unedited lines
		for tries := 0; tries < 2; tries++ {
			a := pick(rng, len(items), func(k int) bool { return items[k].Edit == None })
			b := pick(rng, len(items), func(k int) bool {
				return a >= 0 && k != a && items[k].Edit == None && items[k].Speaker != items[a].Speaker
			})
			if a >= 0 && b >= 0 && rng.Intn(2) == 0 && !g.said(items[b].Speaker, items[a].Text) && !g.said(items[a].Speaker, items[b].Text) {
				items[a].Speaker, items[b].Speaker = items[b].Speaker, items[a].Speaker
				items[a].Edit, items[b].Edit = Swap, Swap
			}
		}
	}
	var moved []int
	if st.Prose {
		rng.Shuffle(len(items), func(a, b int) { items[a], items[b] = items[b], items[a] })
		for k := range items {
			if items[k].Edit == Swap {
				items[k].Edit = SwapPress
			}
		}
	} else if rng.Intn(3) == 0 {
		// one line moved out of order, 1 to 4 places
		k := pick(rng, len(items), func(k int) bool {
			it := items[k]
			return it.Source >= 0 && (it.Edit == None || it.Edit == Swap || it.Edit == Noise) &&
				len(strings.Fields(it.Text)) >= 5 && g.count[strings.Join(leak.Normalize(it.Text, nil), " ")] == 1
		})
		if k >= 0 {
			d := 1 + rng.Intn(4)
			if rng.Intn(2) == 0 {
				d = -d
			}
			to := max(0, min(len(items)-1, k+d))
			if to != k {
				it := items[k]
				before := sourceOrder(items)
				items = slices.Insert(slices.Delete(items, k, k+1), to, it)
				// (a move across invented or spliced lines only leaves the
				// real messages in order: nothing to report)
				if !slices.Equal(before, sourceOrder(items)) {
					moved = append(moved, it.Source)
				}
			}
		}
	}
	var b strings.Builder
	line := 1
	zone := time.FixedZone("", st.Shift*60)
	var head []Item // the room event lines of backchannel's own output
	if lay != nil && lay.Own {
		b.WriteString(fmt.Sprintf("# talks — on-record room, marking: all, members: %s\n", strings.Join(g.T.members(), ", ")))
		line++
		evs := g.T.Events()
		if len(evs) > 0 {
			ev := evs[0]
			head = append(head, Item{Source: -2, Speaker: ev.Actor, Text: ev.Texts[0], Edit: EventLine, FirstLine: line, LastLine: line})
			b.WriteString(ev.SentAt.In(zone).Format("2006-01-02 15:04") + "  * " + ev.Texts[0] + "\n")
			line++
			if rng.Intn(2) == 0 && len(g.T.members()) > 1 {
				ms := g.T.members()
				fake := fmt.Sprintf("%s removed %s", ev.Actor, ms[len(ms)-1])
				head = append(head, Item{Source: -1, Speaker: ev.Actor, Text: fake, Edit: FakeEvent, FirstLine: line, LastLine: line})
				b.WriteString(ev.SentAt.Add(time.Minute).In(zone).Format("2006-01-02 15:04") + "  * " + fake + "\n")
				line++
			}
		}
		b.WriteString("! the transcript has a gap: 2 messages before this one have not arrived yet\n")
		line++
	}
	for k := range items {
		it := &items[k]
		at := time.Time{}
		if it.Source >= 0 {
			at = msgs[it.Source].SentAt
		} else if k > 0 && items[k-1].Source >= 0 {
			at = msgs[items[k-1].Source].SentAt
		}
		// (only unique words: "General Bliss" at another time may be
		// another, real "General Bliss")
		if st.Times && it.Edit == None && rng.Intn(12) == 0 && g.count[strings.Join(leak.Normalize(it.Text, nil), " ")] == 1 {
			it.Edit = Retime
			at = at.Add(time.Duration(7+rng.Intn(40)) * time.Minute)
		}
		text := it.Text
		if st.Retype {
			text = retype(text, rng)
		}
		label := g.T.Labels[it.Speaker]
		if label == "" {
			label = strings.ToUpper(it.Speaker)
		}
		if st.Retype && rng.Intn(2) == 0 {
			label = titleCase(label)
		}
		var s string
		switch {
		case lay != nil:
			shown := at.In(zone)
			if lay.Own {
				label = it.Speaker
			}
			s = lay.Render(label, it.Speaker, shown, text)
		case st.Prose:
			text = strings.NewReplacer("“", "‘", "”", "’", "\"", "'").Replace(text)
			switch rng.Intn(6) {
			case 0:
				s = fmt.Sprintf("According to the transcript, %s said: “%s”", label, text)
			case 1:
				s = fmt.Sprintf("“%s,” %s said.", strings.TrimRight(text, "."), label)
			case 2:
				s = fmt.Sprintf("%s, %s, told the others that “%s”", label, roles[rng.Intn(len(roles))], text)
			case 3:
				s = fmt.Sprintf("According to %s, “%s”", label, text)
			case 4:
				s = fmt.Sprintf("%s wrote: “%s”", label, text)
			default:
				s = fmt.Sprintf("The record shows that %s told the meeting: \"%s\"", label, text)
			}
		case st.Labels:
			s = label + ": " + text
			if st.Times {
				s = "[" + at.Format("15:04") + "] " + s
			}
		default:
			s = text
		}
		s = wrap(s, st.Wrap)
		if k > 0 {
			b.WriteString("\n")
			line++
			if st.Blank {
				b.WriteString("\n")
				line++
			}
		}
		it.FirstLine = line
		line += strings.Count(s, "\n")
		it.LastLine = line
		b.WriteString(s)
	}
	b.WriteString("\n")
	return Leak{Transcript: g.T.Name, Style: st, Text: b.String(), Items: append(head, items...), Moved: moved, Omitted: omitted}
}

// sourceOrder lists the messages of the lines that stand for one message.
func sourceOrder(items []Item) []int {
	var out []int
	for _, it := range items {
		if it.Source >= 0 && it.Edit != Splice && it.Edit != Insert {
			out = append(out, it.Source)
		}
	}
	return out
}

// roles are appositions of press prose ("X, the minister's aide, told …").
var roles = []string{"the minister's aide", "who chaired the session", "the head of the delegation", "a senior adviser"}

// said reports whether member who (anyone if "") sent a message with the
// same words as text: then attributing text to who is no misattribution,
// and an edit producing text is no edit.
func (g *Generator) said(who, text string) bool {
	senders := g.words[strings.Join(leak.Normalize(text, nil), " ")]
	return who == "" && len(senders) > 0 || senders[who]
}

func titleCase(s string) string {
	words := strings.Fields(strings.ToLower(s))
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}
