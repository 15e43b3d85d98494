package audiomark

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"backchannel/audio"
	"backchannel/audiomark/internal/fft"
)

// Note is one voice note as its sender keeps it: the unmarked original
// and the recipients who were sent a marked copy.
type Note struct {
	ID         string
	Original   *audio.Clip
	Recipients []string
}

// Score is one recipient's evidence.
type Score struct {
	Recipient string  `json:"recipient"`
	Z         float64 `json:"z"`
	// Bound is the probability that an innocent recipient scores Z or
	// more: exp(−Z²/2), at most 1.
	Bound float64 `json:"bound"`
}

// BoundText writes Bound for people; where it underflows a float64, by its
// power of ten (exp(−Z²/2) = 10^(−Z²/(2 ln 10))).
func (s Score) BoundText() string {
	if s.Bound > 0 {
		return fmt.Sprintf("%.0e", s.Bound)
	}
	return fmt.Sprintf("1e-%d", int(math.Floor(s.Z*s.Z/2/math.Ln10)))
}

// Result is what a trace of one recording found.
type Result struct {
	// Matched is false when the recording matches none of the notes.
	Matched bool      `json:"matched"`
	Note    string    `json:"note,omitempty"`
	Align   Alignment `json:"alignment"`
	// Seconds of the note the recording covers, and how many tiles and
	// bands were read and discarded.
	Seconds        float64 `json:"seconds"`
	Tiles          int     `json:"tiles"`
	BandsRead      int     `json:"bands_read"`
	BandsDiscarded int     `json:"bands_discarded"`
	Scores         []Score `json:"scores,omitempty"`
	// Threshold is the score that names a recipient: sqrt(2 ln(n/ε)) for
	// n recipients of the notes matched, so that P(any innocent named) ≤ ε.
	Threshold float64 `json:"threshold"`
	// NotesMatched is how many of the notes the recording matched; the
	// threshold is a union over all their recipients.
	NotesMatched int      `json:"notes_matched,omitempty"`
	Epsilon      float64  `json:"epsilon"`
	Named        []string `json:"named,omitempty"`
	// MoreSeconds estimates how much longer a recording of the same
	// quality would have to be to name the best-scoring recipient; −1 when
	// there is no sign of any mark.
	MoreSeconds float64 `json:"more_seconds"`
}

// ErrTooShort: the recording is shorter than a trace can use.
var ErrTooShort = errors.New("recording too short to trace (at least 5 seconds)")

// Minimum match between the recording's envelope and a note's for the
// recording to count as (part of) that note. Unrelated speech stays well
// under it (docs/audio.md, "Matching").
const minMatch = 0.85

// Trace looks for the recording in the notes and, in the best match, for
// each recipient's mark. The rec clip must be at Rate.
func Trace(ctx context.Context, key []byte, notes []Note, rec *audio.Clip, epsilon float64) (*Result, error) {
	if rec.Rate != Rate {
		return nil, ErrRate
	}
	if !(epsilon > 0 && epsilon < 1) {
		return nil, fmt.Errorf("epsilon %g: must be between 0 and 1", epsilon)
	}
	if len(rec.Samples) < minOverlapFrames*Hop+FrameSize {
		return nil, ErrTooShort
	}
	sym, err := newSymbols(key)
	if err != nil {
		return nil, err
	}
	rec = sanitized(rec)
	rview := newRecView(rec.Samples)
	type match struct {
		note *Note
		a    Alignment
	}
	var matches []match
	for i := range notes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := &notes[i]
		if n.Original == nil || n.Original.Rate != Rate {
			return nil, fmt.Errorf("note %s: %w", n.ID, ErrRate)
		}
		n = &Note{ID: n.ID, Original: sanitized(n.Original), Recipients: n.Recipients}
		ov := newOrigView(n.Original.Samples)
		a, ok := align(ov, rview)
		if !ok {
			continue
		}
		a.warp = newWarp(ov, rview, a)
		if r, frames := a.warp.match(ov, rview, a); frames >= minOverlapFrames && r > a.Match {
			a.Match, a.Frames = r, frames
		}
		if a.Match >= minMatch {
			matches = append(matches, match{n, a})
		}
	}
	if len(matches) == 0 {
		return &Result{Epsilon: epsilon, MoreSeconds: -1}, nil
	}
	// The same recording may be in several notes (a note sent again to
	// another room): every matching note is scored, and the threshold
	// is a union over all their recipients, so choosing the note with the
	// best score afterwards costs nothing in the bound.
	total := 0
	for _, m := range matches {
		total += len(m.note.Recipients)
	}
	threshold := math.Sqrt(2 * math.Log(float64(max(1, total))/epsilon))
	var best *Result
	for _, m := range matches {
		r := traceNote(sym, m.note, rec, m.a)
		r.Epsilon, r.Threshold, r.NotesMatched = epsilon, threshold, len(matches)
		for _, s := range r.Scores {
			if s.Z >= threshold {
				r.Named = append(r.Named, s.Recipient)
			}
		}
		if len(r.Named) == 0 && len(r.Scores) > 0 && r.Scores[0].Z > 1 {
			// z grows with the square root of the length read.
			z := r.Scores[0].Z
			r.MoreSeconds = math.Ceil(r.Seconds * ((threshold/z)*(threshold/z) - 1))
		}
		if best == nil || topZ(r) > topZ(best) {
			best = r
		}
	}
	return best, nil
}

func topZ(r *Result) float64 {
	if len(r.Scores) == 0 {
		return math.Inf(-1)
	}
	return r.Scores[0].Z
}

// sanitized returns the clip with NaN and infinite samples silenced and
// every sample clamped to [-1, 1] (a copy only when one needed it).
func sanitized(c *audio.Clip) *audio.Clip {
	for i, v := range c.Samples {
		if !(v >= -1 && v <= 1) {
			out := &audio.Clip{Rate: c.Rate, Samples: slices.Clone(c.Samples)}
			for k := i; k < len(out.Samples); k++ {
				switch x := out.Samples[k]; {
				case x != x:
					out.Samples[k] = 0
				case x > 1:
					out.Samples[k] = 1
				case x < -1:
					out.Samples[k] = -1
				}
			}
			return out
		}
	}
	return c
}

// traceNote reads every recipient's score of one note on its alignment.
func traceNote(sym *symbols, note *Note, rec *audio.Clip, a Alignment) *Result {
	res := &Result{Matched: true, Note: note.ID, Align: a, MoreSeconds: -1}
	orig := note.Original.Samples // sanitized by Trace
	// Whether the pitch moved with the speed is decided, like everything
	// else, from the two sounds: the reading whose tile energies follow
	// the original's better.
	f := features(orig, rec.Samples, a, false)
	if math.Abs(a.Speed-1) > 0.001 {
		if g := features(orig, rec.Samples, Alignment{Offset: a.Offset, Speed: a.Speed, Pitch: true, warp: a.warp}, true); g.match > f.match {
			f = g
			res.Align.Pitch = true
		}
	}
	res.Tiles, res.BandsRead, res.BandsDiscarded = len(f.tiles), f.bandsRead, Bands-f.bandsRead
	res.Seconds = float64(f.blocks*BlockFrames*Hop) / Rate
	if len(f.tiles) == 0 {
		return res
	}
	var norm float64
	for _, t := range f.tiles {
		norm += t.c * t.c
	}
	norm = math.Sqrt(norm)
	for _, r := range note.Recipients {
		var s float64
		bits, blk := uint32(0), -1
		for _, t := range f.tiles {
			if t.block != blk {
				blk, bits = t.block, sym.block(note.ID, r, t.block)
			}
			s += sign(bits, t.band) * t.c
		}
		z := 0.0
		if norm > 0 {
			z = s / norm
		}
		res.Scores = append(res.Scores, Score{Recipient: r, Z: z, Bound: math.Min(1, math.Exp(-z*z/2))})
	}
	sort.Slice(res.Scores, func(i, j int) bool { return res.Scores[i].Z > res.Scores[j].Z })
	return res
}

type tile struct {
	block, band int
	c           float64
}

type featureSet struct {
	tiles     []tile
	blocks    int
	bandsRead int
	match     float64
}

// features measures, for every tile of the note the recording covers, the
// log ratio of the recording's energy to the original's, centred and
// weighted; a.Pitch scales the recording's band edges by the speed.
func features(orig, rec []float32, a Alignment, pitch bool) featureSet {
	win := sqrtHann(FrameSize)
	f := fft.New(FrameSize)
	buf := make([]complex128, FrameSize)
	oe, re := bandEdges(1), bandEdges(1)
	if pitch {
		re = bandEdges(a.Speed)
	}
	energies := func(x []float32, start int, edges [Bands][2]int, out *[Bands]float64) {
		for i := range buf {
			v := 0.0
			if k := start + i; k >= 0 && k < len(x) {
				v = float64(x[k])
			}
			buf[i] = complex(v*win[i], 0)
		}
		f.Forward(buf)
		for b, e := range edges {
			for k := e[0]; k < e[1]; k++ {
				out[b] += real(buf[k])*real(buf[k]) + imag(buf[k])*imag(buf[k])
			}
		}
	}
	nFrames := (len(orig) + Hop) / Hop
	nBlocks := nFrames / BlockFrames
	type blockE struct {
		j    int
		o, r [Bands]float64
	}
	var blocks []blockE
	for j := 0; j < nBlocks; j++ {
		var be blockE
		be.j = j
		ok := true
		for fi := j * BlockFrames; fi < (j+1)*BlockFrames; fi++ {
			start := fi*Hop - Hop
			shift, usable := a.warp.at(float64(start))
			tau := (float64(start) - a.Offset - shift) / a.Speed
			if !usable || tau < 0 || int(tau)+FrameSize > len(rec) {
				ok = false
				break
			}
			energies(orig, start, oe, &be.o)
			energies(rec, int(math.Round(tau)), re, &be.r)
		}
		if ok {
			blocks = append(blocks, be)
		}
	}
	fs := featureSet{blocks: len(blocks)}
	if len(blocks) < 4 {
		return fs
	}
	// Per band: the loudest original tile sets the level under which a
	// tile is silence; a band whose recorded energies do not follow the
	// original's was filtered out or drowned on the way, and is discarded.
	var all pearson
	d := make([][Bands]float64, len(blocks))
	valid := make([][Bands]bool, len(blocks))
	var bandOK [Bands]bool
	for b := 0; b < Bands; b++ {
		peak := 0.0
		for _, be := range blocks {
			peak = math.Max(peak, be.o[b])
		}
		var p pearson
		for i, be := range blocks {
			if be.o[b] > peak*1e-5 && be.o[b] > 0 && be.r[b] > 0 {
				lo, lr := math.Log(be.o[b]), math.Log(be.r[b])
				d[i][b], valid[i][b] = lr-lo, true
				p.add(lo, lr)
				all.add(lo, lr)
			}
		}
		if p.n >= 8 && p.r() >= 0.5 {
			bandOK[b] = true
			fs.bandsRead++
		}
	}
	fs.match = all.r()
	for i := range valid {
		for b := range valid[i] {
			valid[i][b] = valid[i][b] && bandOK[b]
		}
	}
	// Predict. What the recording's tile should hold without any mark is
	// gain·E_O + echo + N: the channel's gain in the band, read off the
	// loudest third of the tiles; what reflections carry over from the
	// two tiles before (a room, a speakerphone), fitted by least squares
	// on what the gain leaves; and the floor the channel added (noise, a
	// codec's hiss), read off the tiles where the original is quietest.
	// The mark moves the log ratio of the recording to that prediction by
	// about 2·Strength·q, where q = gain·E_O / prediction is the share of
	// the tile that is the note heard directly.
	q := make([][Bands]float64, len(blocks))
	prev := func(i, lag int, b int) float64 {
		if k := i - lag; k >= 0 && blocks[k].j == blocks[i].j-lag {
			return blocks[k].o[b]
		}
		return 0
	}
	for b := 0; b < Bands; b++ {
		if !bandOK[b] {
			continue
		}
		var idx []int
		for i := range blocks {
			if valid[i][b] {
				idx = append(idx, i)
			}
		}
		slices.SortFunc(idx, func(x, y int) int { return cmpFloat(blocks[x].o[b], blocks[y].o[b]) })
		// fit reads gain and floor given the echo coefficients.
		fit := func(h1, h2 float64) (gain, floor float64) {
			echo := func(i int) float64 { return h1*prev(i, 1, b) + h2*prev(i, 2, b) }
			var ratios []float64
			for _, i := range idx[2*len(idx)/3:] {
				ratios = append(ratios, math.Max(0, blocks[i].r[b]-echo(i))/blocks[i].o[b])
			}
			gain = median(ratios)
			var rest []float64
			for _, i := range idx[:max(1, len(idx)/10)] {
				rest = append(rest, math.Max(0, blocks[i].r[b]-gain*blocks[i].o[b]-echo(i)))
			}
			return gain, median(rest)
		}
		// spread is the robust spread of the log ratios a model leaves.
		spread := func(gain, h1, h2, floor float64) float64 {
			var dev []float64
			for _, i := range idx {
				pred := gain*blocks[i].o[b] + h1*prev(i, 1, b) + h2*prev(i, 2, b) + floor
				if pred > 0 {
					dev = append(dev, math.Log(blocks[i].r[b]/pred))
				}
			}
			m := median(dev)
			for k := range dev {
				dev[k] = math.Abs(dev[k] - m)
			}
			return median(dev)
		}
		var h1, h2 float64
		gain, floor := fit(0, 0)
		// Least squares of what the direct sound leaves on the two tiles
		// before; kept only when it explains the recording clearly better
		// (a tenth less spread), since fitting an echo that is not there
		// mixes the neighbouring tiles' speech into the prediction.
		var a11, a12, a22, c1, c2 float64
		for _, i := range idx {
			e := blocks[i].r[b] - gain*blocks[i].o[b] - floor
			x1, x2 := prev(i, 1, b), prev(i, 2, b)
			a11 += x1 * x1
			a12 += x1 * x2
			a22 += x2 * x2
			c1 += x1 * e
			c2 += x2 * e
		}
		if det := a11*a22 - a12*a12; det > 1e-12*a11*a22 && det > 0 {
			h1, h2 = (c1*a22-c2*a12)/det, (c2*a11-c1*a12)/det
		}
		if h1 < 0 || h2 < 0 { // one lag alone, or none
			h1, h2 = 0, 0
			if a11 > 0 && c1 > 0 {
				h1 = c1 / a11
			}
		}
		if h1 > 0 || h2 > 0 {
			g2, f2 := fit(h1, h2)
			if g2 > 0 && spread(g2, h1, h2, f2) < 0.9*spread(gain, 0, 0, floor) {
				gain, floor = g2, f2
			} else {
				h1, h2 = 0, 0
			}
		}
		if !(gain > 0) || math.IsInf(gain, 0) {
			// No direct sound in the band: nothing of the mark is heard.
			bandOK[b] = false
			fs.bandsRead--
			for _, i := range idx {
				valid[i][b] = false
			}
			continue
		}
		for _, i := range idx {
			s := gain * blocks[i].o[b]
			pred := s + h1*prev(i, 1, b) + h2*prev(i, 2, b) + floor
			d[i][b] = math.Log(blocks[i].r[b]) - math.Log(pred)
			q[i][b] = s / pred
			if !(pred > 0) || math.IsInf(d[i][b], 0) || math.IsNaN(d[i][b]) || !(q[i][b] >= 0 && q[i][b] <= 1) {
				valid[i][b] = false // a prediction that cannot be read
			}
		}
	}
	// Centre: what the prediction missed per block (a gain that changes
	// over time) and per band.
	for range 2 {
		for i := range d {
			var s, n float64
			for b := 0; b < Bands; b++ {
				if valid[i][b] {
					s += d[i][b]
					n++
				}
			}
			for b := 0; b < Bands; b++ {
				if valid[i][b] {
					d[i][b] -= s / math.Max(n, 1)
				}
			}
		}
		for b := 0; b < Bands; b++ {
			var s, n float64
			for i := range d {
				if valid[i][b] {
					s += d[i][b]
					n++
				}
			}
			for i := range d {
				if valid[i][b] {
					d[i][b] -= s / math.Max(n, 1)
				}
			}
		}
	}
	// Weight: tiles are grouped per band by q, and each group's robust
	// spread σ sets its weight q/σ², clipped at three spreads so that one
	// wild tile cannot dominate.
	const groups = 4
	for b := 0; b < Bands; b++ {
		if !bandOK[b] {
			continue
		}
		var members [groups][]int
		for i := range d {
			if valid[i][b] {
				g := min(groups-1, int(q[i][b]*groups))
				members[g] = append(members[g], i)
			}
		}
		for _, group := range members {
			if len(group) < 8 {
				continue
			}
			dev := make([]float64, len(group))
			for k, i := range group {
				dev[k] = math.Abs(d[i][b])
			}
			slices.Sort(dev)
			sigma := math.Max(1.4826*dev[len(dev)/2], 1e-4)
			for _, i := range group {
				v := math.Max(-3*sigma, math.Min(3*sigma, d[i][b]))
				fs.tiles = append(fs.tiles, tile{block: blocks[i].j, band: b, c: q[i][b] * v / (sigma * sigma)})
			}
		}
	}
	slices.SortFunc(fs.tiles, func(x, y tile) int { return x.block - y.block })
	return fs
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	y := slices.Clone(x)
	slices.Sort(y)
	return y[len(y)/2]
}
