package leak

import "strings"

// opKind is a word-diff operation.
type opKind byte

const (
	opEqual  opKind = '='
	opDelete opKind = '-' // in the message, not in the leak
	opInsert opKind = '+' // in the leak, not in the message
)

type op struct {
	kind opKind
	li   int // leak token index (insert, equal)
	mi   int // message token index (delete, equal)
	// noise: part of a group that is only copying noise (noise.go); it
	// counts as neither an edit nor a cut
	noise bool
}

// lcsDiff aligns leak ids a against message ids b (a window of the
// message starting at offset off) and returns the edit script with message
// indices shifted by off.
func lcsDiff(a, b []uint32, aoff, off int) []op {
	n, m := len(a), len(b)
	// dp[i][j] = LCS of a[i:], b[j:]
	w := m + 1
	dp := make([]int32, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] && a[i] != 0 {
				dp[i*w+j] = dp[(i+1)*w+j+1] + 1
			} else if x, y := dp[(i+1)*w+j], dp[i*w+j+1]; x >= y {
				dp[i*w+j] = x
			} else {
				dp[i*w+j] = y
			}
		}
	}
	// Two tracebacks of the same table: one takes matches as early as
	// possible, one as late as possible. The script with fewer gaps wins,
	// so "the troops" against "the agreement ... the troops" and "accepted
	// Mr" against "accepted Mr McManaway ... Mr" both stay contiguous.
	// A third starts as late as possible and then matches early.
	best := trace(a, b, dp, w, aoff, off, 0)
	for _, mode := range []int{1, 2} {
		if t := trace(a, b, dp, w, aoff, off, mode); gaps(t) < gaps(best) {
			best = t
		}
	}
	return best
}

// trace walks the LCS table. mode 0 matches early, 1 late, 2 late until
// the first match and early after it.
func trace(a, b []uint32, dp []int32, w, aoff, off int, mode int) []op {
	n, m := len(a), len(b)
	ops := make([]op, 0, n+m)
	i, j, matched := 0, 0, false
	for i < n || j < m {
		match := i < n && j < m && a[i] == b[j] && a[i] != 0
		late := mode == 1 || mode == 2 && !matched
		if match && late && dp[i*w+j+1] == dp[i*w+j] {
			match = false // skipping this message word loses nothing
		}
		switch {
		case match:
			matched = true
			ops = append(ops, op{kind: opEqual, li: aoff + i, mi: off + j})
			i++
			j++
		case j < m && (i == n || dp[i*w+j+1] >= dp[(i+1)*w+j]):
			ops = append(ops, op{kind: opDelete, li: -1, mi: off + j})
			j++
		default:
			ops = append(ops, op{kind: opInsert, li: aoff + i, mi: -1})
			i++
		}
	}
	return ops
}

// gaps counts runs of non-matching operations between matches.
func gaps(ops []op) int {
	g, inGap, seen := 0, false, false
	for _, o := range ops {
		if o.kind == opEqual {
			if inGap && seen {
				g++
			}
			inGap, seen = false, true
		} else {
			inGap = true
		}
	}
	return g
}

// diffStats summarises an edit script: matched words, unmatched message
// words before the first and after the last match (cuts), and edits in
// between.
type diffStats struct {
	equal, head, tail, inserts, deletes int
	noise                               int // leak words in noise groups
	firstEq, lastEq                     int // op indices, -1 if none
}

func stats(ops []op) diffStats {
	s := diffStats{firstEq: -1, lastEq: -1}
	for k, o := range ops {
		if o.kind == opEqual {
			if s.firstEq < 0 {
				s.firstEq = k
			}
			s.lastEq = k
			s.equal++
		}
	}
	for k, o := range ops {
		switch {
		case o.noise:
			if o.kind == opInsert {
				s.noise++
			}
		case o.kind == opEqual:
		case o.kind == opDelete && (s.firstEq < 0 || k < s.firstEq):
			s.head++
		case o.kind == opDelete && k > s.lastEq:
			s.tail++
		case o.kind == opDelete:
			s.deletes++
		default:
			s.inserts++
		}
	}
	return s
}

// render writes a word diff in the wdiff convention: [-message words-]
// {+leak words+}. Long unchanged runs are elided; cuts the reader admitted
// (an ellipsis, a quotation) are omitted, others shown as deletions.
func render(ops []op, leakText string, lt []token, msgText string, mt []token, showHead, showTail bool, st diffStats) string {
	var b strings.Builder
	last := map[*token]bool{}
	word := func(text string, ts []token, i int) string {
		// an expanded contraction ("don't" -> do not) shares one span
		if i > 0 && ts[i-1].start == ts[i].start && ts[i-1].end == ts[i].end && last[&ts[i-1]] {
			last[&ts[i]] = true
			return ""
		}
		last[&ts[i]] = true
		return text[ts[i].start:ts[i].end]
	}
	emit := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	const ctx = 4
	changed := make([]bool, len(ops))
	for k, o := range ops {
		head := o.kind == opDelete && (st.firstEq < 0 || k < st.firstEq)
		tail := o.kind == opDelete && st.lastEq >= 0 && k > st.lastEq
		if o.kind != opEqual && !o.noise && (!head || showHead) && (!tail || showTail) {
			changed[k] = true
		}
	}
	near := func(k int) bool {
		for d := -ctx; d <= ctx; d++ {
			if k+d >= 0 && k+d < len(ops) && changed[k+d] {
				return true
			}
		}
		return false
	}
	elided := false
	for k := 0; k < len(ops); {
		o := ops[k]
		if !changed[k] {
			if o.noise && o.kind == opInsert {
				k++ // a noise group shows as the message's words
				continue
			}
			if (o.kind == opEqual || o.noise) && near(k) {
				emit(word(msgText, mt, o.mi))
				elided = false
			} else if !elided {
				emit("…")
				elided = true
			}
			k++
			continue
		}
		// group a run of changes: deletions then insertions
		var del, ins []string
		for k < len(ops) && changed[k] {
			if ops[k].kind == opDelete {
				del = append(del, word(msgText, mt, ops[k].mi))
			} else {
				ins = append(ins, word(leakText, lt, ops[k].li))
			}
			k++
		}
		if d := strings.Join(strings.Fields(strings.Join(del, " ")), " "); d != "" {
			emit("[-" + d + "-]")
		}
		if i := strings.Join(strings.Fields(strings.Join(ins, " ")), " "); i != "" {
			emit("{+" + i + "+}")
		}
		elided = false
	}
	return b.String()
}
