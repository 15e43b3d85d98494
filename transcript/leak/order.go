package leak

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Kinds of findings about the leak as a whole (not about one line's words).
const (
	Reordered = "reordered"
	Omitted   = "omitted"
)

// Finding is a problem with how lines are arranged: authentic lines shown
// in another order than they were sent, or messages of the room left out
// of a stretch the leak presents as a continuous transcript. The lines
// themselves keep their own verdicts.
type Finding struct {
	Kind  string `json:"kind"`  // "reordered" or "omitted"
	Lines []int  `json:"lines"` // the leak lines concerned
	Text  string `json:"text"`
	// Messages are the ids of the omitted messages (omitted only).
	Messages []string `json:"messages,omitempty"`
	Senders  []string `json:"senders,omitempty"`
}

// ConcurrentWindow: two messages of different senders sent less than this
// apart may have been written at the same time, each before its sender saw
// the other; displays may show them in either order, so their order in a
// leak is no finding.
const ConcurrentWindow = 10 * time.Second

// placed is a line that stands for one message at one position of it.
type placed struct {
	k        int // index in Report.Lines
	msg, pos int
}

// arrangement reports reordered lines and omitted messages. Quotations
// and the text around them (press prose quotes in any order) and room
// events take no part; a spliced line, or an altered one with less than
// two thirds of its message, marks its messages as present but fixes no
// position.
func (ix *Index) arrangement(text string, lines []Line) []Finding {
	var ps []placed
	for k, l := range lines {
		// (an altered line with less than two thirds of its message's words
		// may be a fragment pasted elsewhere: it marks its message present
		// but fixes no position)
		// (nor does an altered line whose stated speaker or time is also
		// wrong: its words may be another message's, edited, "Well, thank
		// you very much." for "Well, thank you very much. We shall do that.")
		if l.quote || l.event || l.aside || l.msg < 0 || l.spliced || l.Verdict == Fabricated || l.Verdict == Altered && (!l.cover || l.doubt) {
			continue
		}
		// words that another member also said: which occurrence is meant
		// is a guess, so the line fixes no position
		if ms := ix.same[idKey(ix.ids[l.msg])]; len(ms) > 1 && !sameSender(ix, ms) {
			continue
		}
		ps = append(ps, placed{k, l.msg, l.pos})
	}
	ix.settleRepeats(lines, ps)
	present := map[int]bool{}
	for _, l := range lines {
		for _, m := range l.msgs {
			present[m] = true
		}
	}
	var out []Finding
	kept := ix.inOrder(ps)
	out = append(out, ix.moved(lines, ps, kept)...)
	out = append(out, ix.omissions(text, lines, ps, kept, present)...)
	return out
}

// firstPos is the message position of the segment's first matched word.
func (s *seg) firstPos() int {
	for _, o := range s.ops {
		if o.kind == opEqual {
			return o.mi
		}
	}
	return 0
}

// settleRepeats: a line whose words the same sender said more than once
// (and that states no time to choose by) is the occurrence nearest the
// lines around it, so a repeated "Thank you." is neither moved nor the
// edge of an omission.
func (ix *Index) settleRepeats(lines []Line, ps []placed) {
	repeated := func(p placed) []int {
		ms := ix.same[idKey(ix.ids[p.msg])]
		if len(ms) < 2 || lines[p.k].claim.clock >= 0 {
			return nil
		}
		return ms
	}
	for i := range ps {
		ms := repeated(ps[i])
		if ms == nil {
			continue
		}
		// the nearest line before (or else after) with a single source
		ref := -1
		for j := i - 1; j >= 0 && ref < 0; j-- {
			if repeated(ps[j]) == nil {
				ref = ps[j].msg
			}
		}
		for j := i + 1; j < len(ps) && ref < 0; j++ {
			if repeated(ps[j]) == nil {
				ref = ps[j].msg
			}
		}
		if ref < 0 {
			continue
		}
		best := ps[i].msg
		for _, m := range ms {
			if ix.msgs[m].Sender == ix.msgs[best].Sender && abs(m-ref) < abs(best-ref) {
				best = m
			}
		}
		if best != ps[i].msg {
			l := &lines[ps[i].k]
			for k, x := range l.msgs {
				if x == l.msg {
					l.msgs[k] = best
				}
			}
			ps[i].msg, l.msg = best, best
			l.MessageID, l.SentAt = ix.msgs[best].ID, ix.msgs[best].SentAt.UTC().Format(time.RFC3339)
		}
	}
}

func sameSender(ix *Index, ms []int) bool {
	for _, m := range ms[1:] {
		if ix.msgs[m].Sender != ix.msgs[ms[0]].Sender {
			return false
		}
	}
	return true
}

func before(a, b placed) bool { return a.msg < b.msg || a.msg == b.msg && a.pos <= b.pos }

// concurrent reports whether messages a and b may have been written at the
// same time (see ConcurrentWindow).
func (ix *Index) concurrent(a, b int) bool {
	x, y := ix.msgs[a], ix.msgs[b]
	d := x.SentAt.Sub(y.SentAt)
	return x.Sender != y.Sender && d < ConcurrentWindow && d > -ConcurrentWindow
}

// inOrder marks the longest subsequence of ps in transcript order (a
// longest non-decreasing subsequence): the fewest lines are called moved.
// A line out of it only against concurrent messages is kept too.
func (ix *Index) inOrder(ps []placed) []bool {
	n := len(ps)
	kept := make([]bool, n)
	if n == 0 {
		return kept
	}
	tails, prevOf := []int{}, make([]int, n)
	for i := range ps {
		// first tail that ps[i] cannot follow
		j := sort.Search(len(tails), func(j int) bool { return !before(ps[tails[j]], ps[i]) })
		if j > 0 {
			prevOf[i] = tails[j-1]
		} else {
			prevOf[i] = -1
		}
		if j == len(tails) {
			tails = append(tails, i)
		} else {
			tails[j] = i
		}
	}
	for i := tails[len(tails)-1]; i >= 0; i = prevOf[i] {
		kept[i] = true
	}
	for i := range ps {
		if kept[i] {
			continue
		}
		l, r := -1, -1
		for j := i - 1; j >= 0; j-- {
			if kept[j] {
				l = j
				break
			}
		}
		for j := i + 1; j < n; j++ {
			if kept[j] {
				r = j
				break
			}
		}
		okL := l < 0 || before(ps[l], ps[i]) || ix.concurrent(ps[l].msg, ps[i].msg)
		okR := r < 0 || before(ps[i], ps[r]) || ix.concurrent(ps[i].msg, ps[r].msg)
		if okL && okR {
			kept[i] = true
		}
	}
	return kept
}

// moved turns the lines out of order into findings: a run of neighbouring
// moved lines is one finding, placed against the kept line it was sent
// before (or after).
func (ix *Index) moved(lines []Line, ps []placed, kept []bool) []Finding {
	var out []Finding
	for i := 0; i < len(ps); {
		if kept[i] {
			i++
			continue
		}
		j := i + 1
		for j < len(ps) && !kept[j] && before(ps[j-1], ps[j]) {
			j++
		}
		var ls []int
		for k := i; k < j; k++ {
			ls = appendLine(ls, lines[ps[k].k].Line)
		}
		what := "line " + fmt.Sprint(ls[0])
		verb := "is"
		if len(ls) > 1 {
			what, verb = fmt.Sprintf("lines %d–%d", ls[0], ls[len(ls)-1]), "are"
		}
		// the first kept line sent after the moved ones
		after := -1
		for k := range ps {
			if kept[k] && before(ps[j-1], ps[k]) && ps[k].msg != ps[j-1].msg {
				after = k
				break
			}
		}
		prevKept := -1
		for k := i - 1; k >= 0; k-- {
			if kept[k] {
				prevKept = k
				break
			}
		}
		f := Finding{Kind: Reordered, Lines: ls}
		// two neighbours exchanged: the moved lines belong just after the
		// kept line that follows them, or just before the one preceding
		swapR := j < len(ps) && kept[j] && before(ps[j], ps[i]) && (prevKept < 0 || before(ps[prevKept], ps[j])) &&
			(nextKept(kept, j) < 0 || before(ps[j-1], ps[nextKept(kept, j)]))
		swapL := prevKept == i-1 && prevKept >= 0 && before(ps[j-1], ps[prevKept]) &&
			(prevKeptOf(kept, prevKept) < 0 || before(ps[prevKeptOf(kept, prevKept)], ps[i]))
		switch {
		case swapR || swapL:
			at := prevKept
			if swapR {
				at = j
			}
			f.Lines = append(f.Lines, lines[ps[at].k].Line)
			sort.Ints(f.Lines)
			f.Text = fmt.Sprintf("lines %d–%d appear in the reverse order", f.Lines[0], f.Lines[len(f.Lines)-1])
		case after >= 0:
			at := lines[ps[after].k].Line
			f.Lines = appendLine(ls, at)
			it := "it was"
			if len(ls) > 1 {
				it = "they were"
			}
			f.Text = fmt.Sprintf("%s %s out of order: %s sent before line %d", what, verb, it, at)
		default:
			last := -1
			for k := len(ps) - 1; k >= 0; k-- {
				if kept[k] {
					last = k
					break
				}
			}
			at := lines[ps[last].k].Line
			f.Lines = appendLine(ls, at)
			it := "it was"
			if len(ls) > 1 {
				it = "they were"
			}
			f.Text = fmt.Sprintf("%s %s out of order: %s sent after line %d", what, verb, it, at)
		}
		sort.Ints(f.Lines)
		out = append(out, f)
		i = j
	}
	return out
}

func nextKept(kept []bool, i int) int {
	for k := i + 1; k < len(kept); k++ {
		if kept[k] {
			return k
		}
	}
	return -1
}

func prevKeptOf(kept []bool, i int) int {
	for k := i - 1; k >= 0; k-- {
		if kept[k] {
			return k
		}
	}
	return -1
}

func appendLine(ls []int, more ...int) []int {
	for _, l := range more {
		if len(ls) == 0 || ls[len(ls)-1] != l {
			ls = append(ls, l)
		}
	}
	return ls
}

// omissions reports messages left out between two consecutive lines of a
// run the leak presents as a continuous transcript: labelled lines, one
// after the other, with no unlabelled text, no ellipsis and no separator
// line ("---", "* * *", "[…]") between them. Where the leak starts and
// ends is an excerpt, not an omission; neither is anything outside such a
// run (prose, quotations, unlabelled paragraphs).
func (ix *Index) omissions(text string, lines []Line, ps []placed, kept []bool, present map[int]bool) []Finding {
	var out []Finding
	last := -1 // index in ps of the previous kept line of the current run
	for i, p := range ps {
		if !kept[i] {
			continue
		}
		l := lines[p.k]
		if !l.labelled {
			last = -1
			continue
		}
		if last >= 0 && ix.contiguous(text, lines, ps[last].k, p.k) {
			a, b := ps[last].msg, p.msg
			var ids, who []string
			var miss []int
			for m := a + 1; m < b; m++ {
				if !present[m] {
					miss = append(miss, m)
				}
			}
			if len(miss) > 0 {
				seen := map[string]bool{}
				for _, m := range miss {
					ids = append(ids, ix.msgs[m].ID)
					if s := ix.msgs[m].Sender; !seen[s] {
						seen[s] = true
						who = append(who, s)
					}
				}
				la, lb := lines[ps[last].k].Line, l.Line
				n := "1 message"
				if len(miss) > 1 {
					n = fmt.Sprintf("%d messages", len(miss))
				}
				out = append(out, Finding{Kind: Omitted, Lines: []int{la, lb}, Messages: ids, Senders: who,
					Text: fmt.Sprintf("%s between lines %d and %d %s omitted (sent by %s)", n, la, lb,
						map[bool]string{true: "is", false: "are"}[len(miss) == 1], strings.Join(who, ", "))})
			}
		}
		last = i
	}
	return out
}

// separator reports whether a line is a separator ("---", "* * *",
// "___"): three or more of one rule character and nothing else.
func separator(t string) bool {
	t = strings.ReplaceAll(t, " ", "")
	if len(t) < 3 || !strings.ContainsRune("-*_=~#·•", rune(t[0])) {
		return false
	}
	return strings.Count(t, t[:1]) == len(t)
}

// contiguous reports whether lines a < b (indices in lines) are neighbours
// in one continuous run: every line between them is labelled or a room
// event, and no ellipsis or separator line stands between them.
func (ix *Index) contiguous(text string, lines []Line, a, b int) bool {
	for k := a + 1; k < b; k++ {
		if !lines[k].labelled && !lines[k].event && !lines[k].aside {
			return false
		}
	}
	from, to := lines[a].to, lines[b].from
	if from < 0 || to <= from || to > len(text) {
		return from >= 0 && to >= 0 && to <= len(text)
	}
	for i, ln := range strings.Split(text[from:to], "\n") {
		t := strings.TrimSpace(ln)
		if ellipsisRe.MatchString(t) {
			return false
		}
		if t == "" || i == 0 {
			continue // the end of line a's own line: its closing punctuation
		}
		if separator(t) {
			return false
		}
	}
	return true
}
