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
