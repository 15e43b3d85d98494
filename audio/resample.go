package audio

import "math"

// resampleTaps is the half-length of the interpolation filter, in input
// samples at the output's Nyquist rate: long enough that the stop band is
// about 80 dB down (Kaiser β = 8).
const (
	resampleTaps = 24
	kaiserBeta   = 8.0
)

// Resample converts the clip to rate with a Kaiser-windowed sinc filter,
// low-passed at the lower of the two Nyquist frequencies.
func Resample(c *Clip, rate int) *Clip {
	if c.Rate == rate {
		return &Clip{Rate: rate, Samples: append([]float32(nil), c.Samples...)}
	}
	return &Clip{Rate: rate, Samples: Stretch(c.Samples, float64(c.Rate)/float64(rate))}
}

// Stretch reads x at the fractional positions 0, step, 2·step, ... with
// band-limited interpolation: step > 1 shortens the sound (it plays faster
// and higher at the same rate), step < 1 lengthens it. The output has
// floor(len(x)/step) samples.
func Stretch(x []float32, step float64) []float32 {
	if !(step > 0) || len(x) == 0 { // NaN too: int(NaN) would size the output
		return nil
	}
	n := int(float64(len(x)) / step)
	if n == 0 { // an infinite step would size the filter table from +Inf
		return nil
	}
	out := make([]float32, n)
	cutoff := 1.0
	if step > 1 {
		cutoff = 1 / step
	}
	half := int(math.Ceil(resampleTaps / cutoff))
	i0 := besselI0(kaiserBeta)
	// The filter is evaluated at a fixed grid of fractional offsets and
	// interpolated linearly: exact enough (the table's step is 1/512 of a
	// sample) and far cheaper than a Bessel function per tap.
	const phases = 512
	table := make([]float64, (2*half+1)*phases+1)
	for k := range table {
		t := float64(k)/phases - float64(half)
		table[k] = kernel(t, cutoff, float64(half), i0)
	}
	for j := range out {
		pos := float64(j) * step
		base := int(math.Floor(pos))
		frac := pos - float64(base)
		var sum float64
		lo, hi := base-half+1, base+half
		for k := max(lo, 0); k <= hi && k < len(x); k++ {
			t := float64(k-base) - frac + float64(half) // in [0, 2·half]
			f := t * phases
			fi := int(f)
			if fi < 0 || fi+1 >= len(table) {
				continue
			}
			w := table[fi] + (table[fi+1]-table[fi])*(f-float64(fi))
			sum += float64(x[k]) * w
		}
		out[j] = clamp(sum)
	}
	return out
}

func kernel(t, cutoff, half, i0 float64) float64 {
	if math.Abs(t) >= half {
		return 0
	}
	r := t / half
	win := besselI0(kaiserBeta*math.Sqrt(1-r*r)) / i0
	x := math.Pi * t * cutoff
	if x == 0 {
		return cutoff * win
	}
	return cutoff * math.Sin(x) / x * win
}

// besselI0 is the modified Bessel function of the first kind, order zero.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / 2) / float64(k)
		sum += term * term
		if term*term < 1e-12*sum {
			break
		}
	}
	return sum
}
