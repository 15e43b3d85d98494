package canary

import (
	"math"
	"sort"
)

// trioNoise is the rate at which the trio test's model lets a slot of the
// leak be an independent draw from the biases (a misread symbol, or a
// fourth source) rather than one of the three copies' symbols.
const trioNoise = 0.05

// trioCandidates caps the members among whom a tested member's partners
// are chosen: the trioCandidates others with the highest collusion scores
// without invisible marks.
const trioCandidates = 16

// trioTerm is the trio test's term for a slot whose leaked symbol has bias
// p, when h of the two partners hold a symbol there (h = 0, 1 or 2) and c
// of them hold the leak's: the log-likelihood ratio, for the tested
// member's symbol, of "the leak takes each slot from one of the h+1 copies
// at random (with noise)" against "the tested member's symbol is an
// independent draw". Its value is a when the member's symbol is the leak's
// (probability p under the null), b otherwise; p·e^a + (1−p)·e^b = 1.
func trioTerm(p float64, h, c int) term {
	w := (1 - trioNoise) / float64(h+1)
	den := trioMix(p, h, c)
	return term{a: math.Log((w*float64(c+1) + trioNoise*p) / den), b: math.Log((w*float64(c) + trioNoise*p) / den), p: p}
}

// trioMix is the model's probability of the leak's symbol (bias p) at a
// slot where c of h copies hold it and one more copy is an independent
// draw: each of the h+1 copies is the source with equal chance, or
// noise.
func trioMix(p float64, h, c int) float64 {
	w := (1 - trioNoise) / float64(h+1)
	return w*(float64(c)+p) + trioNoise*p
}

// trioTest runs the trio test (accuse.go) for every scored member not
// already named: each member m is scored on the slots outside the
// invisible channel, given the symbols of two partners: of the
// trioCandidates other members with the highest collusion scores without
// invisible marks, the pair whose symbols the leak best fits as an
// interleaving of theirs and a third copy's (pairFit). An
// interleaved merge of three copies takes each run of slots from one
// copy; once retyped, the runs are shorter than the gaps between the
// slots that survive, and each read slot holds the symbol of a colluder
// drawn at random. A colluder's own score then matches on a third of the
// slots beyond chance; given the other two colluders' symbols, the slots
// where they both miss the leak are the tested member's, and those where
// they split or both hold it say less: about two thirds more evidence per
// slot on binary slots, twice as much on ternary ones.
//
// The partners are chosen from the leak and the other members' symbols
// only, and the terms are functions of the leak, the biases and the
// partners' symbols: under the null hypothesis, the tested member's
// symbols on the read slots are independent draws from the biases, as the
// copy test's null model assumes, and the test makes one hypothesis per
// member.
func (tr *Tracer) trioTest(d *deriver, rsegs [][]altRead, scores map[int32]*memberScore, epsilon float64, best map[int32]verdictBound) map[int32]verdictBound {
	mems := visibleMembers(scores)
	n := len(mems)
	if n < 3 {
		return nil
	}
	// By collusion score without invisible marks, highest first.
	sort.Slice(mems, func(a, b int) bool {
		x, y := scores[mems[a]].s[testCollusionVisible], scores[mems[b]].s[testCollusionVisible]
		return x > y || (x == y && mems[a] < mems[b])
	})
	idx := map[int32]int{}
	for i, mem := range mems {
		idx[mem] = i
	}
	reads, sym := tr.pairReads(d, rsegs, mems, idx)
	if len(reads) == 0 {
		return nil
	}
	// The pairs of the first trioCandidates+1 members, best fit first: a
	// tested member's partners are the first pair without them among the
	// first trioCandidates others, a choice that does not depend on the
	// tested member's symbols (only on their place in the order, which
	// decides whether the (trioCandidates+1)th member is a candidate).
	nc := min(n, trioCandidates+1)
	type fit struct {
		a, b int
		s    float64
	}
	var fits []fit
	for a := 0; a < nc; a++ {
		for b := a + 1; b < nc; b++ {
			fits = append(fits, fit{a, b, pairFit(reads, sym[a], sym[b])})
		}
	}
	sort.SliceStable(fits, func(x, y int) bool { return fits[x].s > fits[y].s })
	mult := float64(n) / shares[testTrio]
	logThreshold := math.Log(epsilon / mult)
	out := map[int32]verdictBound{}
	var terms []term
	for i, mem := range mems {
		if v, ok := best[mem]; ok && v.log() <= math.Log(epsilon) {
			continue // already named
		}
		// Others ranked after the first trioCandidates others are not
		// candidates: index trioCandidates is one unless i is before it.
		last := trioCandidates - 1
		if i <= trioCandidates {
			last = trioCandidates
		}
		a, b := -1, -1
		for _, f := range fits {
			if f.a != i && f.b != i && f.b <= last {
				a, b = f.a, f.b
				break
			}
		}
		if a < 0 {
			continue
		}
		terms = terms[:0]
		score, hits := 0.0, 0
		for k, r := range reads {
			x := sym[i][k]
			if x < 0 {
				continue
			}
			h, c := 0, 0
			for _, j := range [2]int{a, b} {
				if xj := sym[j][k]; xj >= 0 {
					h++
					if int(xj) == r.y {
						c++
					}
				}
			}
			t := trioTerm(r.p, h, c)
			terms = append(terms, t)
			if int(x) == r.y {
				score += t.a
				hits++
			} else {
				score += t.b
			}
		}
		if len(terms) == 0 || score <= 0 {
			continue
		}
		lb := -score // λ = 1: E[exp(score)] = 1 under the null
		if lb > logThreshold {
			lb = math.Min(lb, scoreSet{{terms}}.tail()(score))
		}
		out[mem] = verdictBound{test: testTrio, lb: lb, mult: mult, read: len(terms), hit: hits, score: score, pair: [2]int32{mems[a], mems[b]}}
	}
	return out
}

// pairFit is the log-likelihood ratio of "the leak takes each slot read
// from a's copy, b's or a third one at random (with noise)" against "the
// leak is independent of a's and b's copies", over the slots both
// received: how well the pair fits as two of three interleaved copies.
func pairFit(reads []pairRead, xa, xb []int8) float64 {
	s := 0.0
	for k, r := range reads {
		if xa[k] < 0 || xb[k] < 0 {
			continue
		}
		c := 0
		if int(xa[k]) == r.y {
			c++
		}
		if int(xb[k]) == r.y {
			c++
		}
		s += math.Log(trioMix(r.p, 2, c) / r.p)
	}
	return s
}
