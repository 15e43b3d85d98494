package canary

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The minority test's bound holds for innocent members when it helps them
// most: a minority merge of three of ten members' copies, retyped, with the
// partners two real colluders (so the expected symbols are the third
// colluder's, perfectly). For every innocent member and each of the three
// pairs of colluders, the bound of that one hypothesis, exp(lb) before any
// union, is at most α for at most about α of them. Every trial draws its
// own marking key. A test that let the tested member's own symbols into
// the expected ones would show here as too many innocents at small α.
func TestMinorityTestNullWithColluderPartners(t *testing.T) {
	ten := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}
	msgs := sentMessages(proseParagraphs(t), ten, PolicyAll)
	rng := rand.New(rand.NewPCG(35, 36))
	levels := []float64{0.3, 0.1, 0.03, 0.01}
	var below [4]int
	hypotheses, colluderNamed := 0, 0
	const trials = 60
	for range trials {
		key := make([]byte, KeySize)
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		tr, err := NewTracer(key, msgs)
		if err != nil {
			t.Fatal(err)
		}
		var colluders []string
		for _, i := range rng.Perm(len(ten))[:3] {
			colluders = append(colluders, ten[i])
		}
		words := strings.Fields(Normalize(minorityMerge(t, key, msgs, colluders, rng)))
		n := 400 + rng.IntN(1100)
		start := rng.IntN(max(len(words)-n, 1))
		leak := strings.Join(words[start:min(start+n, len(words))], " ")
		for _, mem := range ten {
			for p := range 3 {
				a, b := colluders[p], colluders[(p+1)%3]
				if mem == a || mem == b {
					continue
				}
				lb := minorityBound(t, tr, leak, mem, a, b)
				if slices.Contains(colluders, mem) {
					if lb <= math.Log(1e-3) {
						colluderNamed++
					}
					continue
				}
				hypotheses++
				for i, al := range levels {
					if lb <= math.Log(al) {
						below[i]++
					}
				}
			}
		}
	}
	for i, a := range levels {
		allowed := a*float64(hypotheses) + 4*math.Sqrt(a*float64(hypotheses)) + 2
		if float64(below[i]) > allowed {
			t.Errorf("%d of %d innocent hypotheses have a minority bound at most %g (at most %.0f allowed)", below[i], hypotheses, a, allowed)
		}
		t.Logf("α = %g: %d of %d innocent hypotheses", a, below[i], hypotheses)
	}
	// The power, on the same leaks: the third colluder given the other
	// two. 400 to 1,500 words hold 10 to 40 slots.
	if colluderNamed < trials {
		t.Errorf("a colluder reached a bound of 1e-3 given the other two in %d of %d leaks' hypotheses", colluderNamed, 3*trials)
	}
	t.Logf("colluders at a bound of at most 1e-3 given the other two: %d of %d", colluderNamed, 3*trials)
}

// minorityBound is the minority test's bound on member mem given partners
// a and b alone, before the union over pairs and members (lb, its log).
func minorityBound(t *testing.T, tr *Tracer, leak, mem, a, b string) float64 {
	t.Helper()
	d, rsegs, scores := traceState(t, tr, leak)
	three := map[int32]*memberScore{}
	var target int32 = -1
	for i, name := range tr.members {
		if s, ok := scores[int32(i)]; ok && (name == mem || name == a || name == b) {
			three[int32(i)] = s
			if name == mem {
				target = int32(i)
			}
		}
	}
	if len(three) != 3 {
		return 0
	}
	v, ok := tr.mergeTests(d, rsegs, three, 1, nil, map[int]bool{testMinority: true})[target]
	if !ok {
		return 0
	}
	return v.lb
}

// A minority accusation is explained with its partners.
func TestExplainMinority(t *testing.T) {
	s := Suspect{Member: "carol", Test: "minority", Pair: []string{"alice", "bob"}, SlotsRead: 62, SlotsMatched: 62, FalseAccusationBound: 6e-15}
	got := s.Explain()
	for _, want := range []string{"carol's copy merged with others", "fewest copies", "given alice's and bob's copies", "62 of 62", "minority test", "6.0e-15"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}
