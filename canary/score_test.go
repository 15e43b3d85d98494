package canary

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// exactTail computes P(S >= z) exactly for a small sum of two-valued terms.
func exactTail(terms []term, z float64) float64 {
	total := 0.0
	for mask := 0; mask < 1<<len(terms); mask++ {
		s, p := 0.0, 1.0
		for i, t := range terms {
			if mask&(1<<i) != 0 {
				s, p = s+t.a, p*t.p
			} else {
				s, p = s+t.b, p*(1-t.p)
			}
		}
		if s >= z-1e-12 {
			total += p
		}
	}
	return total
}

// The Chernoff bound is never below the exact tail probability.
func TestChernoffBoundsExactTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 60; trial++ {
		n := 4 + rng.IntN(12)
		var tA, tB []term
		for i := 0; i < n; i++ {
			p := biasCutoff + rng.Float64()*(1-2*biasCutoff)
			tA = append(tA, tardosTerm(p))
			tB = append(tB, copyTerm(p))
		}
		for _, terms := range [][]term{tA, tB} {
			hi := 0.0
			for _, t := range terms {
				hi += t.a
			}
			for _, frac := range []float64{0.1, 0.3, 0.5, 0.8, 1} {
				z := hi * frac
				exact := exactTail(terms, z)
				bound := math.Exp(scoreSet{{terms}}.logTail(z))
				if bound < exact*(1-1e-9) {
					t.Fatalf("n=%d z=%.3f: bound %.3g < exact %.3g", n, z, bound, exact)
				}
			}
		}
	}
}

// With alternatives, the bound covers the maximum over them.
func TestChernoffBoundsMaximum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 20; trial++ {
		var a1, a2 []term
		for i := 0; i < 6; i++ {
			a1 = append(a1, tardosTerm(0.2+0.6*rng.Float64()))
			a2 = append(a2, tardosTerm(0.2+0.6*rng.Float64()))
		}
		for _, z := range []float64{1, 3, 5} {
			// P(max(X1, X2) >= z) for independent X1, X2.
			p1, p2 := exactTail(a1, z), exactTail(a2, z)
			exact := 1 - (1-p1)*(1-p2)
			bound := math.Exp(scoreSet{{a1, a2}}.logTail(z))
			if bound < exact*(1-1e-9) {
				t.Fatalf("z=%v: bound %.3g < exact %.3g", z, bound, exact)
			}
		}
	}
}

// Innocent members' symbols are drawn from the biases: over many members,
// the fraction sharing the leak's symbol matches the bias.
func TestSymbolsFollowBiases(t *testing.T) {
	d, err := newDeriver(testKey(7))
	if err != nil {
		t.Fatal(err)
	}
	longest := ""
	for _, p := range proseParagraphs(t) {
		if len(p) > len(longest) {
			longest = p
		}
	}
	l := NewLayout(longest, PolicyAll)
	if l.NumSlots() < 100 {
		t.Fatalf("only %d slots", l.NumSlots())
	}
	cum := d.biases("m", l)
	const members = 3000
	counts := make([][maxQ]int, len(cum))
	for r := 0; r < members; r++ {
		st := d.stream("m", string(rune(0x4E00+r)))
		for i := range cum {
			counts[i][st.symbol(i, &cum[i], int(l.slots[i].q))]++
		}
	}
	for i := range cum {
		for a := 0; a < int(l.slots[i].q); a++ {
			p := prob(&cum[i], a)
			sd := math.Sqrt(p * (1 - p) / members)
			if got := float64(counts[i][a]) / members; math.Abs(got-p) > 5*sd+1e-9 {
				t.Fatalf("slot %d symbol %d: frequency %.3f, bias %.3f", i, a, got, p)
			}
		}
	}
}

// The lattice bound is never below the exact tail, and for a few dozen
// slots it is tighter than the Chernoff bound.
func TestLatticeBoundsExactTail(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tighter := 0
	for trial := 0; trial < 60; trial++ {
		n := 4 + rng.IntN(12)
		var tA, tB []term
		for i := 0; i < n; i++ {
			p := biasCutoff + rng.Float64()*(1-2*biasCutoff)
			if trial%3 == 0 {
				p = 0.5
			}
			tA = append(tA, tardosTerm(p))
			tB = append(tB, copyTerm(p))
		}
		for _, terms := range [][]term{tA, tB} {
			lat := newLattice(terms)
			hi := 0.0
			for _, t := range terms {
				hi += t.a
			}
			for _, frac := range []float64{0.2, 0.5, 0.8, 1} {
				z := hi * frac
				exact := exactTail(terms, z)
				lb := math.Exp(lat.logTail(z))
				if lb < exact*(1-1e-9) {
					t.Fatalf("n=%d z=%.3f: lattice %.3g < exact %.3g", n, z, lb, exact)
				}
				if f := (scoreSet{{terms}}).tail()(z); math.Exp(f) < exact*(1-1e-9) {
					t.Fatalf("combined bound below exact tail")
				}
				if lb < math.Exp(scoreSet{{terms}}.logTail(z)) {
					tighter++
				}
			}
		}
	}
	if tighter == 0 {
		t.Error("lattice never tighter than Chernoff")
	}
}

// Under the null hypothesis (the leak is an outsider's copy, so every member
// is innocent) the reported bound behaves like a p-value: the smallest
// FalseAccusationBound over the members is at most α in at most a fraction
// α of traces, up to sampling error.
func TestNullCalibration(t *testing.T) {
	key := testKey(40)
	msgs := sentMessages(proseParagraphs(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	outsider := copyOf(t, key, msgs, "outsider")
	words := strings.Fields(outsider)
	rng := rand.New(rand.NewPCG(8, 9))
	const n = 300
	var mins []float64
	for i := 0; i < n; i++ {
		w := 15 + rng.IntN(60)
		start := rng.IntN(len(words) - w)
		leak := strings.Join(words[start:start+w], " ")
		if i%2 == 1 {
			leak = Normalize(leak)
		}
		res, err := tr.Trace(leak, 0.5)
		if err != nil {
			t.Fatal(err)
		}
		m := 1.0
		for _, s := range res.Suspects {
			m = math.Min(m, s.FalseAccusationBound)
		}
		if res.Leading != nil {
			m = math.Min(m, res.Leading.FalseAccusationBound)
		}
		mins = append(mins, m)
	}
	for _, alpha := range []float64{0.05, 0.1, 0.2, 0.5} {
		k := 0
		for _, m := range mins {
			if m <= alpha {
				k++
			}
		}
		limit := alpha + 3*math.Sqrt(alpha*(1-alpha)/n)
		t.Logf("alpha %.2f: %d of %d", alpha, k, n)
		if f := float64(k) / n; f > limit {
			t.Errorf("null traces with bound <= %.2f: %.3f (limit %.3f)", alpha, f, limit)
		}
	}
}
