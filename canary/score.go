package canary

import "math"

// term is one slot's contribution to an innocent member's score: a with
// probability p (the member's symbol equals the leak's), b otherwise. Given
// the biases and the leak, an innocent member's symbols are independent
// draws from the biases, so the score is a sum of independent terms.
type term struct{ a, b, p float64 }

// tardosTerm is the q-ary symmetric Tardos score (Škorić et al.) of a slot
// whose leaked symbol has bias p.
func tardosTerm(p float64) term {
	return term{a: math.Sqrt((1 - p) / p), b: -math.Sqrt(p / (1 - p)), p: p}
}

// copyTerm is the log-likelihood ratio of "the leak is this member's copy
// with symbol errors at rate copyNoise" against "independent".
func copyTerm(p float64) term {
	return term{a: math.Log((1-copyNoise)/p + copyNoise), b: math.Log(copyNoise), p: p}
}

// logMGF returns log E[exp(λ S)] for the sum S of the terms.
func logMGF(terms []term, lambda float64) float64 {
	s := 0.0
	for _, t := range terms {
		x, y := lambda*t.a, lambda*t.b
		// log(p e^x + (1-p) e^y), stably
		if x > y {
			s += x + math.Log(t.p+(1-t.p)*math.Exp(y-x))
		} else {
			s += y + math.Log(t.p*math.Exp(x-y)+(1-t.p))
		}
	}
	return s
}

// maxLambda bounds the search for the Chernoff parameter.
const maxLambda = 16

// scoreSet is the null model of one member's score: a sum over segments of
// the best, over the segment's alternatives, of a sum of independent terms.
// For E[exp(λ max_k X_k)] <= Σ_k E[exp(λ X_k)], the log moment-generating
// function of the score is at most Σ_seg log Σ_alt exp(Σ_terms log M(λ)).
type scoreSet [][][]term

func (ss scoreSet) logMGF(lambda float64) float64 {
	s := 0.0
	for _, seg := range ss {
		if len(seg) == 1 {
			s += logMGF(seg[0], lambda)
			continue
		}
		m := math.Inf(-1)
		vals := make([]float64, len(seg))
		for i, alt := range seg {
			vals[i] = logMGF(alt, lambda)
			m = math.Max(m, vals[i])
		}
		acc := 0.0
		for _, v := range vals {
			acc += math.Exp(v - m)
		}
		s += m + math.Log(acc)
	}
	return s
}

// logTail returns the natural log of a Chernoff bound on P(S >= z):
// min over λ in [0, maxLambda] of log E[exp(λS)] - λz, and at most 0. Any λ
// gives a valid bound; golden-section search on this convex function finds a
// near-optimal one.
func (ss scoreSet) logTail(z float64) float64 {
	if len(ss) == 0 || z <= 0 {
		return 0 // every term has mean 0 or less, so no λ > 0 helps
	}
	f := func(l float64) float64 { return ss.logMGF(l) - l*z }
	lo, hi := 0.0, float64(maxLambda)
	const phi = 0.6180339887498949
	x1, x2 := hi-phi*(hi-lo), lo+phi*(hi-lo)
	f1, f2 := f(x1), f(x2)
	for it := 0; it < 48; it++ {
		if f1 < f2 {
			hi, x2, f2 = x2, x1, f1
			x1 = hi - phi*(hi-lo)
			f1 = f(x1)
		} else {
			lo, x1, f1 = x1, x2, f2
			x2 = lo + phi*(hi-lo)
			f2 = f(x2)
		}
	}
	best := math.Min(math.Min(f1, f2), 0)
	if f1 := f(1); f1 < best { // λ = 1 is exact for the likelihood ratio
		best = f1
	}
	return best
}

// Exact tails on a lattice. When no segment has alternatives, the score is
// a plain sum of independent two-valued terms. Rounding each term's larger
// value up to a multiple of δ gives a score S' >= S everywhere, whose
// distribution is computed exactly by convolution; P(S >= z) <= P(S' >= z).
// For the few dozen slots of a short or retyped leak this is tighter than
// the Chernoff bound, whose slack grows with the spread of the terms.
const (
	latticeMaxTerms = 400
	latticeMaxBins  = 20000
)

// lattice is the exact distribution of a rounded-up score.
type lattice struct {
	lo, delta float64
	tail      []float64 // tail[k] = P(S' >= lo + kδ)
}

func newLattice(terms []term) *lattice {
	n := len(terms)
	if n == 0 || n > latticeMaxTerms {
		return nil
	}
	lo, span := 0.0, 0.0
	for _, t := range terms {
		lo += math.Min(t.a, t.b)
		span += math.Abs(t.a - t.b)
	}
	delta := math.Max(0.25/float64(n), span/latticeMaxBins)
	total := 0
	ks := make([]int, n)
	for i, t := range terms {
		ks[i] = int(math.Ceil(math.Abs(t.a-t.b)/delta - 1e-12))
		total += ks[i]
	}
	dist := make([]float64, total+1)
	dist[0] = 1
	cur := 0
	for i, t := range terms {
		pl := t.p // probability of the larger value
		if t.b > t.a {
			pl = 1 - t.p
		}
		k := ks[i]
		for s := cur; s >= 0; s-- {
			if d := dist[s]; d != 0 {
				dist[s+k] += d * pl
				dist[s] = d * (1 - pl)
			}
		}
		cur += k
	}
	tail := make([]float64, total+2)
	for s := total; s >= 0; s-- {
		tail[s] = tail[s+1] + dist[s]
	}
	return &lattice{lo: lo, delta: delta, tail: tail}
}

// logTail returns ln P(S' >= z), with a margin for rounding errors.
func (l *lattice) logTail(z float64) float64 {
	m := int(math.Ceil((z-l.lo)/l.delta - 1e-9))
	switch {
	case m <= 0:
		return 0
	case m >= len(l.tail)-1:
		return math.Inf(-1)
	}
	return math.Min(0, math.Log(l.tail[m]*(1+1e-6)+1e-300))
}

// tail returns a function bounding ln P(S >= z) for this score set: the
// better of the Chernoff bound and, without alternatives, the lattice.
func (ss scoreSet) tail() func(z float64) float64 {
	var flat []term
	for _, seg := range ss {
		if len(seg) != 1 {
			flat = nil
			break
		}
		flat = append(flat, seg[0]...)
		if len(flat) > latticeMaxTerms {
			break
		}
	}
	var lat *lattice
	once := false
	return func(z float64) float64 {
		b := ss.logTail(z)
		if !once {
			once = true
			if len(flat) > 0 && len(flat) <= latticeMaxTerms {
				lat = newLattice(flat)
			}
		}
		if lat != nil {
			b = math.Min(b, lat.logTail(z))
		}
		return b
	}
}
