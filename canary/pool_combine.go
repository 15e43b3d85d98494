package canary

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Combine turns the senders' contributions for one leak into one verdict.
//
// Why the bound holds: an innocent member's symbols in different senders'
// messages come from different senders' keys, so its scores in different
// parts are independent, and within a part Λ_s(λ) bounds the log-MGF of its
// score (trace.go). The log-MGF of the sum is the sum of the log-MGFs, so
// for every grid λ, P(Σ_s S_s ≥ z) ≤ exp(Σ_s Λ_s(λ) − λz) (Markov). A
// member named when 2N·min_λ exp(…) ≤ ε, N the members scored in any part,
// gives P(any innocent named) ≤ ε by the union over two tests and N
// members, as for one sender. A member who did not receive a sender's
// messages has no term in that sender's part.
func Combine(parts []*Contribution, epsilon float64) (*Result, error) {
	if epsilon <= 0 {
		epsilon = DefaultEpsilon
	}
	if epsilon >= 1 || math.IsNaN(epsilon) {
		return nil, fmt.Errorf("the false-accusation bound must be between 0 and 1 (not %g)", epsilon)
	}
	if len(parts) == 0 {
		return nil, errors.New("combine: no contribution")
	}
	senders := map[string]bool{}
	res := &Result{Verdict: Inconclusive, Epsilon: epsilon, Suspects: []Suspect{}, SlotsByChannel: map[string]int{}}
	type acc struct {
		score      [2]float64
		mgf        [2][]float64
		read, hits int
		shares     []SenderShare
		parts      []int // index of the part of each share
	}
	members := map[string]*acc{}
	for pi, c := range parts {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("combine: %w", err)
		}
		if senders[c.Sender] {
			return nil, fmt.Errorf("combine: two contributions of %s", c.Sender)
		}
		senders[c.Sender] = true
		res.WordsMatched += c.WordsMatched
		res.SlotsRead += c.SlotsRead
		res.Messages += c.Messages
		for ch, n := range c.SlotsByChannel {
			res.SlotsByChannel[ch] += n
		}
		res.Senders = append(res.Senders, SenderPart{Sender: c.Sender, WordsMatched: c.WordsMatched, SlotsRead: c.SlotsRead, Members: len(c.Members)})
		for _, m := range c.Members {
			a := members[m.Member]
			if a == nil {
				a = &acc{mgf: [2][]float64{make([]float64, len(PoolLambdas)), make([]float64, len(PoolLambdas))}}
				members[m.Member] = a
			}
			for t := 0; t < 2; t++ {
				a.score[t] += m.Scores[t]
				for k, v := range c.Groups[m.Group].LogMGF[t] {
					a.mgf[t][k] += v
				}
			}
			a.read += m.SlotsRead
			a.hits += m.SlotsMatched
			a.shares = append(a.shares, SenderShare{Sender: c.Sender, Score: m.Scores[0], SlotsRead: m.SlotsRead, SlotsMatched: m.SlotsMatched})
			a.parts = append(a.parts, pi)
		}
	}
	res.Members = len(members)
	n := float64(max(len(members), 1))
	logThreshold := math.Log(epsilon / (2 * n))
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	sort.Strings(names)
	var lead *Suspect
	leadLog := 0.0
	for _, name := range names {
		a := members[name]
		lb, test := gridBound(a.mgf, a.score)
		s := Suspect{Member: name, Test: poolTests[test], Score: a.score[test], SlotsRead: a.read, SlotsMatched: a.hits,
			FalseAccusationBound: math.Min(1, math.Exp(lb)*2*n), Evidence: []Evidence{}}
		for i, sh := range a.shares {
			// The bound without this sender's part: its score and terms out.
			c := parts[a.parts[i]]
			var m MemberPart
			for _, x := range c.Members {
				if x.Member == name {
					m = x
				}
			}
			var mgf [2][]float64
			var score [2]float64
			for t := 0; t < 2; t++ {
				mgf[t] = make([]float64, len(PoolLambdas))
				for k := range mgf[t] {
					mgf[t][k] = a.mgf[t][k] - c.Groups[m.Group].LogMGF[t][k]
				}
				score[t] = a.score[t] - m.Scores[t]
			}
			wb, _ := gridBound(mgf, score)
			sh.Score = m.Scores[test]
			sh.BoundWithout = math.Min(1, math.Exp(wb)*2*n)
			s.BySender = append(s.BySender, sh)
		}
		switch {
		case lb <= logThreshold:
			res.Suspects = append(res.Suspects, s)
		case lead == nil || lb < leadLog:
			lead, leadLog = &s, lb
		}
	}
	sort.SliceStable(res.Suspects, func(a, b int) bool {
		return res.Suspects[a].FalseAccusationBound < res.Suspects[b].FalseAccusationBound
	})
	if len(res.Suspects) > 0 {
		res.Verdict = Identified
		return res, nil
	}
	res.Leading = lead
	res.MoreWordsNeeded = pooledMoreWords(res, lead, leadLog, n)
	return res, nil
}

// gridBound returns the smaller of the two tests' log bounds min over the
// grid of Λ(λ) − λS (at most 0), and which test gave it.
func gridBound(mgf [2][]float64, score [2]float64) (float64, int) {
	best, test := 0.0, 0
	for t := 0; t < 2; t++ {
		for k, l := range PoolLambdas {
			if v := mgf[t][k] - l*score[t]; v < best {
				best, test = v, t
			}
		}
	}
	return best, test
}

// pooledMoreWords is estimate.go's formula on the pooled evidence: the
// leading member's rate per slot so far, or an unmerged copy's rate on a
// binary uniform slot when the evidence points at nobody.
func pooledMoreWords(res *Result, lead *Suspect, leadLog, n float64) int {
	if res.WordsMatched == 0 || res.SlotsRead == 0 {
		return 0
	}
	rate := copyTerm(0.5).a
	if lead != nil && leadLog < 0 && lead.SlotsRead > 0 {
		rate = -leadLog / float64(lead.SlotsRead)
	}
	density := float64(res.SlotsRead) / float64(res.WordsMatched)
	slots := math.Log(2*n/res.Epsilon) / rate
	return max(1, int(math.Ceil(slots/density))-res.WordsMatched)
}
