package canary

import "math"

// pairRead is one slot of the leak the pair test reads: the first
// alternative of each segment, outside the invisible channel.
type pairRead struct {
	m int32   // message
	y int     // the leak's symbol
	p float64 // its bias
	q int     // the slot's alphabet
}

// pick is a slot a merge test scores, with the symbol the tested member's
// copy holds there if the merge hypothesis is right, and its bias.
type pick struct {
	k int     // index into the reads
	y int     // expected symbol
	p float64 // its bias
}

// pairTest runs the pair, split and minority tests (accuse.go) for every scored
// member not already named by a score test, and returns each one's best
// pair. It
// does not run with fewer than 3 or more than maxPairMembers members.
//
// Which slots are read, which alternative of a segment, and which members
// are skipped depend on the leak, the sender's texts and other members'
// symbols only, never on the tested member's: under the null hypothesis
// the tested member's symbols on the selected slots are independent draws
// from the biases, as the copy test's null model assumes. Skipping a
// hypothesis only loses power; the union factor counts every pair.
func (tr *Tracer) pairTest(d *deriver, rsegs [][]altRead, scores map[int32]*memberScore, epsilon float64, best map[int32]verdictBound) map[int32]verdictBound {
	return tr.mergeTests(d, rsegs, scores, epsilon, best, pairTests)
}

// pairTests are the tests pairTest runs, all of them.
var pairTests = map[int]bool{testPair: true, testSplit: true, testMinority: true}

// mergeTests is pairTest running only the tests in run (tests use it to
// see one test alone).
func (tr *Tracer) mergeTests(d *deriver, rsegs [][]altRead, scores map[int32]*memberScore, epsilon float64, best map[int32]verdictBound, run map[int]bool) map[int32]verdictBound {
	mems := visibleMembers(scores)
	n := len(mems)
	if n < 3 || n > maxPairMembers {
		return nil
	}
	idx := map[int32]int{}
	for i, mem := range mems {
		idx[mem] = i
	}
	reads, sym := tr.pairReads(d, rsegs, mems, idx)
	if len(reads) == 0 {
		return nil
	}
	pairs := float64(n-1) * float64(n-2) / 2
	out := map[int32]verdictBound{}
	var terms []term
	// evaluate scores every other member on the slots sel of pair (a, b).
	evaluate := func(test, a, b int, sel []pick) {
		if !run[test] {
			return
		}
		mult := float64(n) * pairs / shares[test]
		logThreshold := math.Log(epsilon / mult)
		for i, mem := range mems {
			if i == a || i == b {
				continue
			}
			if v, ok := best[mem]; ok && v.log() <= math.Log(epsilon) {
				continue // already named
			}
			terms = terms[:0]
			score, top, floor := 0.0, 0.0, 0.0
			hits := 0
			for _, pk := range sel {
				x := sym[i][pk.k]
				if x < 0 {
					continue
				}
				t := copyTerm(pk.p)
				terms = append(terms, t)
				top += t.a
				floor += math.Log(t.p) // ln P(every symbol matches)
				if int(x) == pk.y {
					score += t.a
					hits++
				} else {
					score += t.b
				}
			}
			// Even a match on every slot could not be named, or this
			// score is far from one: not worth the bound's cost.
			if len(terms) == 0 || floor > logThreshold || score < top/2 {
				continue
			}
			lb := -score // λ = 1: E[exp(copy score)] = 1 under the null
			if lb > logThreshold {
				lb = math.Min(lb, scoreSet{{terms}}.logTail(score))
			}
			v := verdictBound{test: test, lb: lb, mult: mult, read: len(terms), hit: hits, score: score, pair: [2]int32{mems[a], mems[b]}}
			if o, ok := out[mem]; !ok || v.log() < o.log() {
				out[mem] = v
			}
		}
	}
	var against, split, minority []pick
	for a := 0; a < n; a++ {
		for b := a + 1; b < n; b++ {
			against, split, minority = against[:0], split[:0], minority[:0]
			for k, r := range reads {
				xa, xb := sym[a][k], sym[b][k]
				if xa < 0 || xb < 0 {
					continue
				}
				leak := pick{k: k, y: r.y, p: r.p}
				switch {
				case xa == xb && int(xa) != r.y:
					against = append(against, leak)
				case xa != xb:
					split = append(split, leak)
				}
				// A minority merge of a, b and the tested copy: where a
				// and b agree, the leak holds the third copy's symbol;
				// where they differ, the third holds the one the leak
				// does not (the rarest is the one the other two lack).
				if r.q == 2 {
					if xa == xb {
						minority = append(minority, leak)
					} else {
						minority = append(minority, pick{k: k, y: 1 - r.y, p: 1 - r.p})
					}
				}
			}
			evaluate(testPair, a, b, against)
			evaluate(testSplit, a, b, split)
			evaluate(testMinority, a, b, minority)
		}
	}
	return out
}

// pairReads returns the slots the merge tests read (the
// first alternative of each segment, outside the invisible channel) and,
// for each member of mems (idx: their positions), the symbol of their copy
// on each of them (sym[i][k], -1 if the member did not receive the
// message).
func (tr *Tracer) pairReads(d *deriver, rsegs [][]altRead, mems []int32, idx map[int32]int) ([]pairRead, [][]int8) {
	n := len(mems)
	var reads []pairRead
	// sym[i][k]: member i's symbol on read k, -1 if i did not receive it.
	sym := make([][]int8, n)
	for _, alts := range rsegs {
		for _, mr := range alts[0].msgs {
			tm := &tr.msgs[mr.m]
			var k0 = len(reads)
			for _, r := range mr.reads {
				if sl := tm.layout.slots[r.slot]; sl.kind != kindInvisible {
					reads = append(reads, pairRead{m: mr.m, y: r.sym, p: prob(&mr.cum[r.slot], r.sym), q: int(sl.q)})
				}
			}
			if len(reads) == k0 {
				continue
			}
			for i := range sym {
				for len(sym[i]) < len(reads) {
					sym[i] = append(sym[i], -1)
				}
			}
			for _, mem := range tm.recips {
				i, ok := idx[mem]
				if !ok {
					continue
				}
				st := d.stream(tm.id, tr.members[mem])
				k := k0
				for _, r := range mr.reads {
					if sl := tm.layout.slots[r.slot]; sl.kind != kindInvisible {
						sym[i][k] = int8(st.symbol(r.slot, &mr.cum[r.slot], int(sl.q)))
						k++
					}
				}
			}
		}
	}
	return reads, sym
}
