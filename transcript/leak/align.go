package leak

import (
	"slices"
	"sort"
)

// unit is one claim to verify: a transcript-style block or a quotation,
// cut into pieces at ellipses.
type unit struct {
	pieces []piece
	label  string // speaker as written
	member string // label resolved to a member id, "" if none
	clock  int    // claimed minutes after midnight, -1 if none
	claim  timeClaim
	ownID  bool // the label is a member id as the program prints it
	quote  bool
	prose  bool // message text inside reporting prose (not a transcript line)
}

type anchor struct {
	msg, i0, i1, j0 int32
	line            bool // a whole leaked line equal to a short message: assigned first
}

// seg is a run of leak tokens attributed to one message (msg >= 0) or to
// none (msg < 0: no source).
type seg struct {
	a, b           int
	msg            int
	lt             []token
	src            string // the leak text lt's offsets point into
	ids            []uint32
	ops            []op
	st             diffStats
	headCut        bool // message words before the leak's first word omitted
	tailCut        bool
	headOK, tailOK bool // such omissions are admitted (ellipsis, quotation)
	cost           int
}

func (s *seg) edits() bool {
	return s.st.inserts+s.st.deletes > 0 || s.headCut && !s.headOK || s.tailCut && !s.tailOK
}

// anchors finds maximal exact runs of shared word 3-grams between the leak
// ids and the messages.
func (ix *Index) anchors(ids []uint32) []anchor {
	n := len(ids)
	var out []anchor
	if n < shingleK {
		if n == 0 || ids[0] == 0 {
			return nil
		}
		if ms := ix.short[idKey(ids)]; len(ms) > 0 { // a whole short message
			for _, m := range ms {
				out = append(out, anchor{int32(m), 0, int32(n), 0, false})
			}
			return out
		}
		ps := ix.unigrams[ids[0]]
		if len(ps) > 8*maxPostings {
			ps = ps[:8*maxPostings]
		}
	next:
		for _, p := range ps {
			mids := ix.ids[p.msg]
			if int(p.pos)+n > len(mids) {
				continue
			}
			for k := 1; k < n; k++ {
				if mids[int(p.pos)+k] != ids[k] {
					continue next
				}
			}
			out = append(out, anchor{p.msg, 0, int32(n), p.pos, false})
		}
		return out
	}
	open := map[uint64]int32{}
	for i := 0; i+shingleK <= n; i++ {
		if ids[i] == 0 || ids[i+1] == 0 || ids[i+2] == 0 {
			continue
		}
		ps := ix.shingles[shingleKey(ids[i], ids[i+1], ids[i+2])]
		if len(ps) > maxPostings {
			continue
		}
		for _, p := range ps {
			k := uint64(uint32(p.msg))<<32 | uint64(uint32(p.pos-int32(i)))
			if ai, ok := open[k]; ok && out[ai].i1 == int32(i+shingleK-1) {
				out[ai].i1++
				continue
			}
			open[k] = int32(len(out))
			out = append(out, anchor{p.msg, int32(i), int32(i + shingleK), p.pos, false})
		}
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// assign gives each leak position to the longest anchor covering it,
// preferring the claimed speaker and then the message after prev.
func (ix *Index) assign(n int, as []anchor, u *unit, prev int) (owner, jpos []int) {
	order := make([]int, len(as))
	for i := range order {
		order[i] = i
	}
	pref := func(a anchor) (int, int) {
		return ix.fits(u, int(a.msg)), abs(int(a.msg) - (prev + 1))
	}
	sort.Slice(order, func(x, y int) bool {
		a, b := as[order[x]], as[order[y]]
		if a.line != b.line {
			return a.line
		}
		if la, lb := a.i1-a.i0, b.i1-b.i0; la != lb {
			return la > lb
		}
		if wa, wb := ix.whole(a), ix.whole(b); wa != wb {
			return wa // a complete message beats the same words inside a longer one
		}
		sa, pa := pref(a)
		sb, pb := pref(b)
		if sa != sb {
			return sa > sb
		}
		if pa != pb {
			return pa < pb
		}
		return a.msg < b.msg
	})
	owner, jpos = make([]int, n), make([]int, n)
	for i := range owner {
		owner[i], jpos[i] = -1, -1
	}
	for _, ai := range order {
		a := as[ai]
		free := 0
		for i := a.i0; i < a.i1; i++ {
			if owner[i] < 0 {
				free++
			}
		}
		if free < min(shingleK, int(a.i1-a.i0)) {
			continue
		}
		for i := a.i0; i < a.i1; i++ {
			if owner[i] < 0 {
				owner[i], jpos[i] = int(a.msg), int(a.j0+i-a.i0)
			}
		}
	}
	return owner, jpos
}

// whole reports whether anchor a covers its entire message.
func (ix *Index) whole(a anchor) bool {
	return a.j0 == 0 && int(a.i1-a.i0) == len(ix.ids[a.msg])
}

// run is a stretch of leak positions [a,b) given to message msg (-1:
// none); j0 and j1 are the first and last known message positions (-1 if
// none), so repeated text is not merged into one run.
type run struct{ a, b, msg, j0, j1 int }

// follows reports whether y can continue x in the same message: same
// message and not going back in it (a repeat is a separate line).
func follows(x, y run) bool {
	return x.msg == y.msg && !(x.j1 >= 0 && y.j0 >= 0 && y.j0 <= x.j1)
}

func join(x, y run) run {
	x.b = y.b
	if x.j0 < 0 {
		x.j0 = y.j0
	}
	if y.j1 >= 0 {
		x.j1 = y.j1
	}
	return x
}

// runs turns per-position owners into segments: edits inside a message
// are absorbed, stray short matches dropped, unmatched stretches of four
// or more words kept as sourceless runs. fz are ids with noisy words
// replaced by the message word they may stand for (fuzzy): by them a
// short wrapped line is attached to its neighbour's message and a short
// stretch found to be a whole short message ("Very sedlom."); the diff
// still judges the words as written.
func (ix *Index) runs(owner, jpos []int, lt []token, ids, fz []uint32, u *unit, prev int) []run {
	n := len(owner)
	var rs []run
	for i := 0; i < n; {
		j := i + 1
		for j < n && owner[j] == owner[i] && (jpos[j] < 0 || jpos[j-1] < 0 || jpos[j] > jpos[j-1]) {
			j++
		}
		r := run{i, j, owner[i], -1, -1}
		for k := i; k < j; k++ {
			if jpos[k] >= 0 {
				if r.j0 < 0 {
					r.j0 = jpos[k]
				}
				r.j1 = jpos[k]
			}
		}
		rs = append(rs, r)
		i = j
	}
	// merge joins neighbouring runs of one message; unmatched runs stay
	// apart at line starts until the end.
	lines := true
	merge := func(rs []run) []run {
		var out []run
		for _, r := range rs {
			if k := len(out) - 1; k >= 0 && follows(out[k], r) && (r.msg >= 0 || !lines || !lt[r.a].line) {
				out[k] = join(out[k], r)
				continue
			}
			out = append(out, r)
		}
		return out
	}
	// A gap between two runs of the same message is an edit inside it,
	// unless the gap opens a new line and what follows is a mere phrase.
	closeGaps := func(rs []run) []run {
		for changed := true; changed; {
			changed = false
			for k := 1; k+1 < len(rs); k++ {
				phrase := lt[rs[k].a].line && rs[k+1].b-rs[k+1].a < 5
				small := rs[k].b-rs[k].a <= len(ix.ids[max(rs[k-1].msg, 0)])+8 // an edit, not a whole text
				if rs[k].msg < 0 && rs[k-1].msg >= 0 && follows(rs[k-1], rs[k+1]) && !phrase && small {
					rs[k].msg = rs[k-1].msg
					changed = true
				}
			}
			rs = merge(rs)
		}
		return rs
	}
	rs = closeGaps(rs)
	// Drop short matches that are neither the whole claim nor most of
	// their message: common phrases inside invented text.
	for k := range rs {
		r := &rs[k]
		if r.msg >= 0 && r.b-r.a < 5 && r.b-r.a < n && 2*(r.b-r.a) < len(ix.ids[r.msg]) {
			r.msg = -1
		}
	}
	rs = closeGaps(merge(rs))
	// Unmatched stretches are examined line by line: a line that is a
	// whole short message ("Thank you.") is that message.
	var split []run
	for _, r := range rs {
		if r.msg >= 0 {
			split = append(split, r)
			continue
		}
		a := r.a
		for i := r.a + 1; i <= r.b; i++ {
			if i == r.b || lt[i].line {
				split = append(split, run{a, i, -1, -1, -1})
				a = i
			}
		}
	}
	rs = split
	for k := range rs {
		if rs[k].msg < 0 && rs[k].b-rs[k].a < shortLen {
			if ms := ix.short[idKey(fz[rs[k].a:rs[k].b])]; len(ms) > 0 {
				rs[k].msg = ix.pickShort(ms, u, prev)
			}
		}
	}
	rs = closeGaps(merge(rs))
	// Short unmatched stretches attach to the neighbour on their line
	// (an edit at the start or end of a message); a short line of its own
	// stays unattributed.
	for k := range rs {
		r := rs[k]
		if r.msg >= 0 || r.b-r.a >= 4 {
			continue
		}
		startsLine := r.a > 0 && lt[r.a].line
		endsLine := r.b == n || lt[r.b].line
		prevMsg, nextMsg := k > 0 && rs[k-1].msg >= 0, k+1 < len(rs) && rs[k+1].msg >= 0
		switch {
		case startsLine && endsLine && k > 0 && !prevMsg:
			// the wrapped tail of an unattributed line stays with it
		case startsLine && endsLine && prevMsg && ix.hasAll(rs[k-1].msg, fz[r.a:r.b]):
			rs[k].msg = rs[k-1].msg // the wrapped tail of that message, behind an edit
		case startsLine && endsLine && nextMsg && ix.hasAll(rs[k+1].msg, fz[r.a:r.b]):
			rs[k].msg = rs[k+1].msg
		case startsLine && endsLine:
		case !startsLine && prevMsg:
			rs[k].msg = rs[k-1].msg
		case startsLine && nextMsg:
			rs[k].msg = rs[k+1].msg
		case prevMsg:
			rs[k].msg = rs[k-1].msg
		case nextMsg:
			rs[k].msg = rs[k+1].msg
		}
	}
	lines = false
	return merge(rs)
}

// hasAll reports whether message m contains every word of ids.
func (ix *Index) hasAll(m int, ids []uint32) bool {
	for _, id := range ids {
		if !slices.Contains(ix.ids[m], id) {
			return false
		}
	}
	return true
}

// pickShort chooses among messages with identical words: the one that
// fits the claimed speaker and time, then the one nearest after prev.
func (ix *Index) pickShort(ms []int, u *unit, prev int) int {
	best := ms[0]
	for _, m := range ms[1:] {
		fb, fm := ix.fits(u, best), ix.fits(u, m)
		if fm > fb || fm == fb && abs(m-(prev+1)) < abs(best-(prev+1)) {
			best = m
		}
	}
	return best
}

// fits counts the claims (speaker, time) message m agrees with.
func (ix *Index) fits(u *unit, m int) int {
	n := 0
	if u.member != "" && ix.msgs[m].Sender == u.member {
		n++
	}
	if u.clock >= 0 && ix.timeOK(u.clock, ix.msgs[m]) {
		n++
	}
	return n
}

// maxCells bounds one word diff (the LCS table has this many cells).
const maxCells = 16 << 20

// evaluate diffs the leak run against message m.
func (ix *Index) evaluate(s *seg, m int, hint anchor) {
	a := s.ids[s.a:s.b]
	mids := ix.ids[m]
	lo, hi := 0, len(mids)
	if len(a)*len(mids) > 4_000_000 { // very long message: diff a window
		lo = max(0, int(hint.j0)-len(a))
		hi = min(len(mids), int(hint.j0)+2*len(a))
	}
	s.msg = m
	if len(a)*(hi-lo) > maxCells { // no single message is the source of that much text
		s.ops, s.st, s.cost = nil, diffStats{firstEq: -1, lastEq: -1}, 1<<30
		return
	}
	s.ops = lcsDiff(a, mids[lo:hi], s.a, lo)
	ix.markNoise(s, m, s.src)
	s.st = stats(s.ops)
	s.headCut = lo+s.st.head > 0
	s.tailCut = len(mids)-hi+s.st.tail > 0
	// A multi-paragraph message (a memo) is matched paragraph by
	// paragraph: a cut at a paragraph boundary is no omission.
	if ps := ix.paras[m]; ps != nil && s.st.equal > 0 {
		if s.headCut && ps[lo+s.st.head] {
			s.headOK = true
		}
		if s.tailCut && ps[hi-s.st.tail] {
			s.tailOK = true
		}
	}
	s.cost = s.st.inserts + s.st.deletes
	if s.headCut && !s.headOK {
		s.cost += lo + s.st.head
	}
	if s.tailCut && !s.tailOK {
		s.cost += len(mids) - hi + s.st.tail
	}
}

// bagCandidates ranks messages by shared rare words, for stretches that
// share no 3-gram with any message (short claims, heavy edits).
func (ix *Index) bagCandidates(ids []uint32, limit int) []int {
	score := map[int32]float64{}
	seen := map[uint32]bool{}
	for _, id := range ids {
		if id == 0 || seen[id] {
			continue
		}
		seen[id] = true
		ps := ix.unigrams[id]
		if len(ps) > 4*maxPostings {
			continue
		}
		w := 1 / float64(len(ps))
		last := int32(-1)
		for _, p := range ps {
			if p.msg != last {
				score[p.msg] += w
				last = p.msg
			}
		}
	}
	ms := make([]int, 0, len(score))
	for m := range score {
		ms = append(ms, int(m))
	}
	sort.Slice(ms, func(i, j int) bool {
		if score[int32(ms[i])] != score[int32(ms[j])] {
			return score[int32(ms[i])] > score[int32(ms[j])]
		}
		return ms[i] < ms[j]
	})
	if len(ms) > limit {
		ms = ms[:limit]
	}
	return ms
}

// better reports whether candidate x beats y for the claim.
func (ix *Index) better(x, y *seg, u *unit, prev int) bool {
	if x.cost != y.cost {
		return x.cost < y.cost
	}
	if fx, fy := ix.fits(u, x.msg), ix.fits(u, y.msg); fx != fy {
		return fx > fy
	}
	return abs(x.msg-(prev+1)) < abs(y.msg-(prev+1))
}

// alignPiece attributes the tokens of one piece to messages.
func (ix *Index) alignPiece(text string, lt []token, ids []uint32, p piece, u *unit, prev int) []seg {
	fz := ix.fuzzy(lt, ids)
	as := ix.anchors(fz)
	// A whole message that occupies whole leaked lines is that message,
	// even if a longer message quotes it ("… read as follows: …").
	for k, a := range as {
		if ix.whole(a) && (a.i0 == 0 || lt[a.i0].line) && (int(a.i1) == len(ids) || lt[a.i1].line) {
			as[k].line = true
		}
	}
	if len(ids) >= shingleK {
		// A leaked line that is exactly a short message is that message,
		// even where its words run on into the next line's.
		for a := 0; a < len(ids); {
			b := a + 1
			for b < len(ids) && !lt[b].line {
				b++
			}
			// ... unless a long match or a whole message runs across it
			// (a wrapped message whose last line happens to be "Colonel
			// House." like an attendance list entry).
			crossing := u.quote
			for _, x := range as {
				if int(x.i0) <= a && int(x.i1) >= b && (int(x.i0) < a || int(x.i1) > b) && (x.i1-x.i0 >= 8 || ix.whole(x)) {
					crossing = true
					break
				}
			}
			if (a == 0 || lt[a].line) && b-a < shortLen && !crossing {
				if ms := ix.short[idKey(ids[a:b])]; len(ms) > 0 {
					as = append(as, anchor{int32(ix.pickShort(ms, u, prev)), int32(a), int32(b), 0, true})
				}
			}
			a = b
		}
	}
	owner, jpos := ix.assign(len(ids), as, u, prev)
	var out []seg
	for _, r := range ix.runs(owner, jpos, lt, ids, fz, u, prev) {
		s := seg{a: r.a, b: r.b, msg: -1, lt: lt, src: text, ids: ids,
			headOK: r.a == 0 && p.headOK, tailOK: r.b == len(ids) && p.tailOK}
		var cands []int
		var hint anchor
		if r.msg >= 0 {
			// the assigned message and others sharing most of the run
			cands = append(cands, r.msg)
			for _, a := range as {
				if int(a.msg) == r.msg && hint.i1 == 0 && a.i0 >= int32(r.a) && a.i1 <= int32(r.b) {
					hint = a
				}
				ov := min(int(a.i1), r.b) - max(int(a.i0), r.a)
				if int(a.msg) != r.msg && 5*ov >= 3*(r.b-r.a) && len(cands) < 6 && !containsInt(cands, int(a.msg)) {
					cands = append(cands, int(a.msg))
				}
			}
		} else {
			cands = ix.bagCandidates(ids[r.a:r.b], 4)
		}
		var best *seg
		for _, m := range cands {
			c := s
			h := hint
			if m != r.msg {
				h = anchor{j0: 0}
				for _, a := range as {
					if int(a.msg) == m {
						h = a
						break
					}
				}
			}
			ix.evaluate(&c, m, h)
			if best == nil || ix.better(&c, best, u, prev) {
				cc := c
				best = &cc
			}
		}
		if best != nil && ix.sourced(best, r.msg >= 0, u.quote) {
			out = append(out, *best)
		} else {
			out = append(out, s)
		}
	}
	// Neighbouring runs may have resolved to the same message.
	var merged []seg
	for _, s := range out {
		if k := len(merged) - 1; k >= 0 && s.msg >= 0 && merged[k].msg == s.msg && merged[k].tailCut && s.headCut {
			m := merged[k]
			m.b, m.tailOK = s.b, s.tailOK
			ix.evaluate(&m, s.msg, anchor{})
			merged[k] = m
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// sourced decides whether a run really comes from the candidate message:
// at least half its words must match; for runs found only by shared words
// (no common 3-gram), the message must also be mostly present.
func (ix *Index) sourced(s *seg, anchored, quote bool) bool {
	n := s.b - s.a
	if 2*(s.st.equal+s.st.noise) < n || s.st.equal == 0 {
		return false
	}
	if anchored {
		return true
	}
	if quote {
		return n >= 2 && 5*s.st.equal >= 3*n
	}
	return 2*s.st.equal >= len(ix.ids[s.msg])
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
