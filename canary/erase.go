package canary

import "math"

// ChannelReport says, for one channel, how many slots a trace read and how
// many aligned slots it discarded, and why.
type ChannelReport struct {
	Read      int    `json:"read"`
	Discarded int    `json:"discarded"`
	Reason    string `json:"reason,omitempty"`
}

// Flooded invisible marks. In a marked copy (or any merge of marked
// copies) the carrier of each invisible slot is uniform over the four
// carriers, independently of the others. A leak in which one carrier fills
// far more of the read gaps than that allows (one U+200B in every gap) was
// flooded by someone who knew the marks: the channel says nothing about
// whose copy it was and is erased. The test looks at the leak's symbols
// only, never at a codeword, so the bound's premise holds. A genuine copy
// is erased with probability at most 4·floodTail (union over carriers):
// erasing only costs power, never soundness.
const (
	floodMinSlots = 20
	floodTail     = 1e-4
)

// flooded reports whether the carrier counts of n read invisible slots
// cannot plausibly come from marked copies.
func flooded(count [4]int) bool {
	n := 0
	for _, k := range count {
		n += k
	}
	if n < floodMinSlots {
		return false
	}
	for _, k := range count {
		if logBinomTail(n, k, 0.25) <= math.Log(floodTail) {
			return true
		}
	}
	return false
}

// logBinomTail returns ln P(Bin(n, p) >= k).
func logBinomTail(n, k int, p float64) float64 {
	if k <= 0 {
		return 0
	}
	if k > n {
		return math.Inf(-1)
	}
	lgn, _ := math.Lgamma(float64(n + 1))
	m, acc := math.Inf(-1), 0.0
	terms := make([]float64, 0, n-k+1)
	for j := k; j <= n; j++ {
		a, _ := math.Lgamma(float64(j + 1))
		b, _ := math.Lgamma(float64(n - j + 1))
		v := lgn - a - b + float64(j)*math.Log(p) + float64(n-j)*math.Log1p(-p)
		terms = append(terms, v)
		m = math.Max(m, v)
	}
	for _, v := range terms {
		acc += math.Exp(v - m)
	}
	return math.Min(0, m+math.Log(acc))
}

// eraseFlooded drops the invisible slots of every segment when the leak's
// invisible symbols are flooded, and returns how many it dropped.
func (tr *Tracer) eraseFlooded(rsegs [][]altRead) int {
	var count [4]int
	for _, alts := range rsegs {
		for _, mr := range alts[0].msgs {
			for _, r := range mr.reads {
				if tr.msgs[mr.m].layout.slots[r.slot].kind == kindInvisible && r.sym < 4 {
					count[r.sym]++
				}
			}
		}
	}
	if !flooded(count) {
		return 0
	}
	dropped := 0
	for _, alts := range rsegs {
		for ai := range alts {
			for mi := range alts[ai].msgs {
				mr := &alts[ai].msgs[mi]
				kept := mr.reads[:0:0]
				for _, r := range mr.reads {
					if tr.msgs[mr.m].layout.slots[r.slot].kind == kindInvisible {
						if ai == 0 {
							dropped++
						}
						continue
					}
					kept = append(kept, r)
				}
				mr.reads = kept
			}
		}
	}
	return dropped
}
