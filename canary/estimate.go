package canary

import "math"

// The estimate of the words still needed (Result.MoreWordsNeeded and
// MoreWordsByChannel), for an inconclusive trace:
//
//	slots needed  S = ln(M/ε) / r
//	words needed  W = S / ρ            MoreWordsNeeded = ⌈W⌉ − words matched
//
// M is the union factor of the leading member's best test (accuse.go:
// n divided by its share, n members scored; without a lead, the copy
// test's over every channel when invisible slots were read, otherwise the
// one without invisible marks; a lead by a merge test counts as no lead,
// so for a merged leak the estimate is an unmerged copy's and errs low), r the evidence per read slot,
// ρ the slots read per matched word. r is the leading member's so far
// (−ln bound / slots read, on the slots its test read) when the evidence
// points at someone; otherwise the rate an unmerged copy
// would give: each read slot whose symbol has bias p adds ln((1−c)/p + c)
// to that copy's score (c = copyNoise), and at λ = 1 the Chernoff bound
// of the copy score falls by exactly the score. ρ is the leak's own
// density of read slots; if no slot was read, the density of slots in the
// messages the leak matched. Per channel, ρ is that channel's read slots
// per matched word: the words needed if only that channel's marks
// survive in the rest of the leak. A leak that matches none of the
// sender's words gets no estimate (0): more of it would not help.

// estimate fills in the words still needed.
func (tr *Tracer) estimate(d *deriver, res *Result, rsegs [][]altRead, lead *Suspect, leadV verdictBound, members int) {
	res.MoreWordsNeeded = 0
	if res.WordsMatched == 0 {
		return
	}
	// Without a lead the rate below is the unmerged copy's over every slot
	// read: with invisible slots among them, the copy test over every
	// channel is the one it describes, otherwise its twin.
	mult := float64(max(members, 1)) / shares[testCopyVisible]
	if tr.readsInvisible(rsegs) {
		mult = float64(max(members, 1)) / shares[testCopy]
	}
	rate := 0.0
	// The pair and split tests read a fraction of the slots (where two
	// others agree, or differ, against the leak) and the trio test scores
	// given two partners: their rate per slot says little about more words.
	if lead != nil && leadV.lb < 0 && lead.SlotsRead > 0 && leadV.test < numScoreTests {
		rate = -leadV.lb / float64(lead.SlotsRead)
		mult = leadV.mult
	}
	need := math.Log(mult / res.Epsilon) // −ln(ε/M)
	density := 0.0
	if res.SlotsRead > 0 {
		density = float64(res.SlotsRead) / float64(res.WordsMatched)
		if rate <= 0 {
			sum, k := 0.0, 0
			for _, alts := range rsegs {
				for _, mr := range alts[0].msgs {
					for _, r := range mr.reads {
						sum += copyTerm(prob(&mr.cum[r.slot], r.sym)).a
						k++
					}
				}
			}
			if k > 0 {
				rate = sum / float64(k)
			}
		}
	} else {
		// no slot read: the slots of the matched messages
		slots, words, sum := 0, 0, 0.0
		for m := range res.matched {
			tm := &tr.msgs[m]
			cum := d.biases(tm.id, tm.layout)
			slots += len(tm.layout.slots)
			words += len(tm.layout.canon)
			for i, s := range tm.layout.slots {
				for a := 0; a < int(s.q); a++ {
					p := prob(&cum[i], a)
					sum += p * copyTerm(p).a
				}
			}
		}
		if slots == 0 || words == 0 {
			return
		}
		density, rate = float64(slots)/float64(words), sum/float64(slots)
	}
	if rate <= 0 || density <= 0 {
		return
	}
	slotsNeeded := need / rate
	res.MoreWordsNeeded = max(1, int(math.Ceil(slotsNeeded/density))-res.WordsMatched)
	if len(res.SlotsByChannel) > 0 {
		res.MoreWordsByChannel = map[string]int{}
		for ch, k := range res.SlotsByChannel {
			if k > 0 {
				rho := float64(k) / float64(res.WordsMatched)
				res.MoreWordsByChannel[ch] = max(1, int(math.Ceil(slotsNeeded/rho))-res.WordsMatched)
			}
		}
	}
}
