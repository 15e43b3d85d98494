package leak

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
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
// (press prose quotes in any order) and room events take no part; a
// spliced line marks its messages as present but fixes no position.
func (ix *Index) arrangement(text string, lines []Line) []Finding {
	present := map[int]bool{}
	var ps []placed
	for k, l := range lines {
		for _, m := range l.msgs {
			present[m] = true
		}
		if l.quote || l.event || l.msg < 0 || l.spliced || l.Verdict == Fabricated {
			continue
		}
		ps = append(ps, placed{k, l.msg, l.pos})
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

// contiguous reports whether lines a < b (indices in lines) are neighbours
// in one continuous run: every line between them is labelled or a room
// event, and no ellipsis or separator line stands between them.
func (ix *Index) contiguous(text string, lines []Line, a, b int) bool {
	for k := a + 1; k < b; k++ {
		if !lines[k].labelled && !lines[k].event {
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
		words := false
		for _, r := range t {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				words = true
				break
			}
		}
		if !words {
			return false
		}
	}
	return true
}
