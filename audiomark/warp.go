package audiomark

import "math"

// A warp refines a global alignment stretch by stretch: a recording whose
// timing drifts (a tape's wow, small cuts and repeats) is out of register
// under one offset, but in register second by second. Like the global
// alignment it is found from the two sounds alone, so it leaves the bound
// untouched; stretches that do not follow the original at all (drowned,
// replaced) are set aside instead of read.
type warp struct {
	centres []float64 // original sample at each segment's centre
	shift   []float64 // extra offset there, in original samples
	usable  []bool
	seg     float64 // segment length in original samples
}

// Warp parameters.
const (
	warpSegmentHops = 32   // about 0.5 s
	warpMaxShift    = 1280 // 80 ms either way
	warpStep        = 32
	// A segment keeps the global alignment unless a shift correlates
	// clearly better, and is set aside when even the best shift does not
	// follow the original.
	warpGain      = 0.05
	warpUnusable  = 0.3
	warpMinFrames = warpSegmentHops / 2
)

// segmentMatch is the correlation of one segment's frames [i0, i1) under
// offset o.
func segmentMatch(orig *origView, rec *recView, a Alignment, i0, i1 int, o float64) (float64, int) {
	var p pearson
	for i := i0; i < i1 && i < len(orig.hop); i++ {
		tau := int(math.Round((float64(i*Hop) - o) / a.Speed))
		if tau < 0 || tau >= len(rec.fine) {
			continue
		}
		p.add(orig.hop[i], rec.fine[tau])
	}
	return p.r(), int(p.n)
}

func newWarp(orig *origView, rec *recView, a Alignment) *warp {
	w := &warp{seg: warpSegmentHops * Hop}
	for i0 := 0; i0 < len(orig.hop); i0 += warpSegmentHops {
		i1 := i0 + warpSegmentHops
		base, n := segmentMatch(orig, rec, a, i0, i1, a.Offset)
		if n < warpMinFrames {
			continue
		}
		best, shift := base, 0.0
		for d := -float64(warpMaxShift); d <= warpMaxShift; d += warpStep {
			if r, m := segmentMatch(orig, rec, a, i0, i1, a.Offset+d); m >= warpMinFrames && r > best {
				best, shift = r, d
			}
		}
		if best < base+warpGain {
			best, shift = base, 0
		}
		w.centres = append(w.centres, float64(i0*Hop)+w.seg/2)
		w.shift = append(w.shift, shift)
		w.usable = append(w.usable, best >= warpUnusable)
	}
	// A lone shift between neighbours that agree is noise: take the
	// median of three.
	sm := make([]float64, len(w.shift))
	for k := range w.shift {
		if k == 0 || k == len(w.shift)-1 {
			sm[k] = w.shift[k]
			continue
		}
		a, b, c := w.shift[k-1], w.shift[k], w.shift[k+1]
		sm[k] = math.Max(math.Min(a, b), math.Min(math.Max(a, b), c))
	}
	w.shift = sm
	return w
}

// at returns the extra offset at original sample t, interpolated between
// segment centres, and whether t lies in a usable segment.
func (w *warp) at(t float64) (float64, bool) {
	if w == nil || len(w.centres) == 0 {
		return 0, w == nil
	}
	k := int(math.Floor((t - w.centres[0]) / w.seg))
	if k < 0 {
		return w.shift[0], w.usable[0] && t >= w.centres[0]-w.seg/2
	}
	if k >= len(w.centres)-1 {
		last := len(w.centres) - 1
		return w.shift[last], w.usable[last] && t < w.centres[last]+w.seg/2
	}
	// Segments are contiguous from the first usable one on only if no
	// segment was skipped; a gap in the centres is a stretch not read.
	if w.centres[k+1]-w.centres[k] > w.seg*1.5 {
		return 0, false
	}
	f := (t - w.centres[k]) / w.seg
	own := w.usable[k]
	if f >= 0.5 {
		own = w.usable[k+1]
	}
	return w.shift[k]*(1-f) + w.shift[k+1]*f, own
}

// match is the envelope correlation over the usable segments under the
// warp, and how many frames it covers.
func (w *warp) match(orig *origView, rec *recView, a Alignment) (float64, int) {
	var p pearson
	for i := range orig.hop {
		t := float64(i * Hop)
		d, ok := w.at(t)
		if !ok {
			continue
		}
		tau := int(math.Round((t - a.Offset - d) / a.Speed))
		if tau < 0 || tau >= len(rec.fine) {
			continue
		}
		p.add(orig.hop[i], rec.fine[tau])
	}
	return p.r(), int(p.n)
}
