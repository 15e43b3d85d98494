package audiomark

import (
	"math"

	"backchannel/audiomark/internal/fft"
)

// Alignment maps the original's timeline onto a recording's: original
// sample t is heard at recording sample (t − Offset)/Speed. Pitch says
// whether a speed change also moved the pitch (a resampled recording
// played at the wrong rate) or kept it (a tempo change).
type Alignment struct {
	Offset float64 `json:"offset"` // in original samples
	Speed  float64 `json:"speed"`
	Pitch  bool    `json:"pitch_shifted"`
	// Match is the Pearson correlation of the two log-energy envelopes
	// over the stretch they share, and Frames that stretch's length.
	Match  float64 `json:"match"`
	Frames int     `json:"frames"`
	// warp refines the offset stretch by stretch (warp.go).
	warp *warp
}

// Search ranges: speeds from MinSpeed to MaxSpeed are searched.
const (
	MinSpeed = 0.85
	MaxSpeed = 1.15
	// coarseSpeedStep, at the coarse envelope's hop, keeps a 20 s
	// recording's drift under one coarse hop.
	coarseSpeedStep = 0.006
	coarseHop       = 2 * Hop
	fineSpeedStep   = 0.0005
	fineOffsetStep  = 16
	// minOverlapSeconds is the shortest stretch a match is accepted on.
	minOverlapFrames = 5 * Rate / Hop // 5 s
)

// envelope holds prefix sums of a band-passed signal's energy, so that the
// energy of any window is two lookups.
type envelope struct {
	prefix []float64
	floor  float64
}

func newEnvelope(x []float32) *envelope {
	y := speechBand(x)
	p := make([]float64, len(y)+1)
	var peak float64
	for i, v := range y {
		p[i+1] = p[i] + v*v
	}
	// The floor keeps silence from dominating the log: 60 dB below the
	// loudest frame.
	for i := 0; i+FrameSize <= len(y); i += Hop {
		peak = math.Max(peak, p[i+FrameSize]-p[i])
	}
	return &envelope{prefix: p, floor: peak*1e-4 + 1e-12}
}

// at is the log energy of [start, start+width), or false outside.
func (e *envelope) at(start float64, width float64) (float64, bool) {
	s, w := int(math.Round(start)), int(math.Round(width))
	if s < 0 || s+w >= len(e.prefix) {
		return 0, false
	}
	return math.Log(e.prefix[s+w] - e.prefix[s] + e.floor), true
}

// speechBand filters to 300–3,400 Hz with two second-order sections, the
// band every channel a leak goes through keeps.
func speechBand(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	biquad(y, highpass(300))
	biquad(y, lowpass(3400))
	return y
}

type coefs struct{ b0, b1, b2, a1, a2 float64 }

// highpass and lowpass are Butterworth (Q = 1/√2) sections from the Audio
// EQ Cookbook.
func highpass(hz float64) coefs {
	w := 2 * math.Pi * hz / Rate
	alpha := math.Sin(w) / (2 * math.Sqrt2 / 2)
	c := math.Cos(w)
	a0 := 1 + alpha
	return coefs{(1 + c) / 2 / a0, -(1 + c) / a0, (1 + c) / 2 / a0, -2 * c / a0, (1 - alpha) / a0}
}

func lowpass(hz float64) coefs {
	w := 2 * math.Pi * hz / Rate
	alpha := math.Sin(w) / (2 * math.Sqrt2 / 2)
	c := math.Cos(w)
	a0 := 1 + alpha
	return coefs{(1 - c) / 2 / a0, (1 - c) / a0, (1 - c) / 2 / a0, -2 * c / a0, (1 - alpha) / a0}
}

func biquad(y []float64, k coefs) {
	var x1, x2, y1, y2 float64
	for i, x := range y {
		v := k.b0*x + k.b1*x1 + k.b2*x2 - k.a1*y1 - k.a2*y2
		x2, x1, y2, y1 = x1, x, y1, v
		y[i] = v
	}
}

// pearson accumulates a correlation.
type pearson struct{ n, sx, sy, sxx, syy, sxy float64 }

func (p *pearson) add(x, y float64) {
	p.n++
	p.sx += x
	p.sy += y
	p.sxx += x * x
	p.syy += y * y
	p.sxy += x * y
}

func (p *pearson) r() float64 {
	num := p.n*p.sxy - p.sx*p.sy
	den := (p.n*p.sxx - p.sx*p.sx) * (p.n*p.syy - p.sy*p.sy)
	if den <= 0 || p.n < 3 {
		return 0
	}
	return num / math.Sqrt(den)
}

// origView is a note's original as alignment reads it: its log energy
// at every hop, and at every coarse hop.
type origView struct {
	hop, coarse []float64
	n           int // samples
}

func newOrigView(x []float32) *origView {
	e := newEnvelope(x)
	v := &origView{n: len(x)}
	for i := 0; i*Hop+FrameSize <= len(x); i++ {
		l, _ := e.at(float64(i*Hop), FrameSize)
		v.hop = append(v.hop, l)
	}
	for i := 0; i*coarseHop+FrameSize <= len(x); i++ {
		v.coarse = append(v.coarse, v.hop[i*coarseHop/Hop])
	}
	return v
}

// recView is the recording as alignment reads it, computed once for all
// notes: its log energy in a window of FrameSize at every sample, and for
// every coarse speed its coarse envelope.
type recView struct {
	fine   []float64
	coarse map[int][]float64 // by speed step index
	n      int
}

func newRecView(x []float32) *recView {
	e := newEnvelope(x)
	v := &recView{n: len(x), coarse: map[int][]float64{}}
	if len(x) > FrameSize {
		v.fine = make([]float64, len(x)-FrameSize)
		for s := range v.fine {
			v.fine[s], _ = e.at(float64(s), FrameSize)
		}
	}
	for k := 0; ; k++ {
		sp := MinSpeed + float64(k)*coarseSpeedStep
		if sp > MaxSpeed+1e-9 {
			break
		}
		n := int((float64(len(x))-FrameSize/sp)*sp/coarseHop) + 1
		if n < 1 {
			continue
		}
		el := make([]float64, n)
		for i := range el {
			el[i], _ = e.at(float64(i*coarseHop)/sp, FrameSize/sp)
		}
		v.coarse[k] = el
	}
	return v
}

// minCoarseMatch is the coarse correlation under which a candidate is
// not refined: a real match, even through noise and codecs, correlates
// far better, and refining is most of alignment's cost.
const minCoarseMatch = 0.6

// align finds how the recording lies on the original: a coarse search of
// speed and offset by FFT cross-correlation of decimated envelopes, then
// a fine search around the best candidates. It looks at the two sounds
// only, never at any recipient's symbols.
func align(orig *origView, rec *recView) (Alignment, bool) {
	minFrames := minOverlapFrames
	eo := orig.coarse
	if len(eo) < 1 {
		return Alignment{}, false
	}
	type cand struct {
		score float64
		a     Alignment
	}
	var best []cand
	keep := func(c cand) {
		best = append(best, c)
		for i := len(best) - 1; i > 0 && best[i].score > best[i-1].score; i-- {
			best[i], best[i-1] = best[i-1], best[i]
		}
		if len(best) > 3 {
			best = best[:3]
		}
	}
	minCoarse := max(minFrames*Hop/coarseHop, 8)
	for k := 0; ; k++ {
		v := MinSpeed + float64(k)*coarseSpeedStep
		if v > MaxSpeed+1e-9 {
			break
		}
		el := rec.coarse[k]
		if len(el) < minCoarse {
			continue
		}
		lag, r, n := xcorrPearson(eo, el, minCoarse)
		if n == 0 || r < minCoarseMatch {
			continue
		}
		keep(cand{r * math.Sqrt(float64(n)), Alignment{Offset: float64(lag * coarseHop), Speed: v, Match: r, Frames: n}})
	}
	if len(best) == 0 {
		return Alignment{}, false
	}
	var out Alignment
	top := math.Inf(-1)
	for _, c := range best {
		a := refine(orig, rec, c.a, minFrames)
		if s := a.Match * math.Sqrt(float64(a.Frames)); a.Frames >= minFrames && s > top {
			top, out = s, a
		}
	}
	return out, !math.IsInf(top, -1)
}

// refine searches speed and offset finely around a coarse alignment on
// the envelope at the full hop. The recording's window stays FrameSize
// samples whatever the speed: at ±15% that changes the log energies of
// speech far less than the alignment it is searching for.
func refine(orig *origView, rec *recView, a Alignment, minFrames int) Alignment {
	bestScore := math.Inf(-1)
	out := a
	try := func(v, o float64) {
		var p pearson
		// Only frames whose place in the recording lies inside it.
		i0 := max(0, int(math.Floor(o/Hop)))
		i1 := min(len(orig.hop)-1, int(math.Ceil((o+v*float64(rec.n))/Hop)))
		for i := i0; i <= i1; i++ {
			tau := int(math.Round((float64(i*Hop) - o) / v))
			if tau < 0 || tau >= len(rec.fine) {
				continue
			}
			p.add(orig.hop[i], rec.fine[tau])
		}
		if int(p.n) < minFrames {
			return
		}
		r := p.r()
		if s := r * math.Sqrt(p.n); s > bestScore {
			bestScore = s
			out = Alignment{Offset: o, Speed: v, Match: r, Frames: int(p.n)}
		}
	}
	// Speed and offset coarsely, then finely, then offset alone at the
	// finest step, then speed alone.
	for v := a.Speed - coarseSpeedStep; v <= a.Speed+coarseSpeedStep+1e-12; v += 4 * fineSpeedStep {
		for o := a.Offset - coarseHop; o <= a.Offset+coarseHop; o += Hop / 2 {
			try(v, o)
		}
	}
	c := out
	for v := c.Speed - 4*fineSpeedStep; v <= c.Speed+4*fineSpeedStep+1e-12; v += fineSpeedStep {
		for o := c.Offset - Hop/2; o <= c.Offset+Hop/2; o += Hop / 8 {
			try(v, o)
		}
	}
	c = out
	for o := c.Offset - Hop/8; o <= c.Offset+Hop/8; o += fineOffsetStep {
		try(c.Speed, o)
	}
	c = out
	for v := c.Speed - 2*fineSpeedStep; v <= c.Speed+2*fineSpeedStep+1e-12; v += fineSpeedStep / 4 {
		try(v, c.Offset)
	}
	return out
}

// xcorrPearson finds the lag of y against x (y[k] ↔ x[lag+k]) with the
// best Pearson correlation times the square root of the overlap, among
// overlaps of at least minN, using FFT cross-correlation and prefix sums.
func xcorrPearson(x, y []float64, minN int) (lag int, r float64, n int) {
	m, k := len(x), len(y)
	size := 1
	for size < m+k {
		size <<= 1
	}
	f := fft.New(size)
	a := make([]complex128, size)
	b := make([]complex128, size)
	for i, v := range x {
		a[i] = complex(v, 0)
	}
	for i, v := range y {
		b[i] = complex(v, 0)
	}
	f.Forward(a)
	f.Forward(b)
	for i := range a {
		a[i] *= complex(real(b[i]), -imag(b[i]))
	}
	f.Inverse(a)
	// a[lag mod size] = Σ_k x[lag+k]·y[k].
	px, pxx := prefix(x)
	py, pyy := prefix(y)
	best := math.Inf(-1)
	for l := -(k - minN); l <= m-minN; l++ {
		k0, k1 := max(0, -l), min(k, m-l) // overlapping k
		nn := k1 - k0
		if nn < minN {
			continue
		}
		sxy := real(a[(l%size+size)%size])
		sx := px[l+k1] - px[l+k0]
		sxx := pxx[l+k1] - pxx[l+k0]
		sy := py[k1] - py[k0]
		syy := pyy[k1] - pyy[k0]
		p := pearson{n: float64(nn), sx: sx, sy: sy, sxx: sxx, syy: syy, sxy: sxy}
		rr := p.r()
		if s := rr * math.Sqrt(float64(nn)); s > best {
			best, lag, r, n = s, l, rr, nn
		}
	}
	return lag, r, n
}

func prefix(x []float64) (s, ss []float64) {
	s, ss = make([]float64, len(x)+1), make([]float64, len(x)+1)
	for i, v := range x {
		s[i+1], ss[i+1] = s[i]+v, ss[i]+v*v
	}
	return s, ss
}
