package audio

import (
	"math"
	"math/rand/v2"
	"testing"
)

// edge is how much of each end a check of resampled sound leaves out: the
// filter sees zeros past the ends.
const edge = 0.05 // seconds

func trim(x []float32, rate int) []float32 {
	n := int(edge * float64(rate))
	return x[n : len(x)-n]
}

func rms(x []float32) float64 {
	return (&Clip{Samples: x}).RMS()
}

func dB(ratio float64) float64 { return 20 * math.Log10(ratio) }

// TestResampleTones: a tone below both Nyquist frequencies keeps its
// frequency and its level within 0.5 dB; a tone above the output's Nyquist
// frequency is filtered out (attenuated by more than 40 dB) instead of
// folding back as an alias.
func TestResampleTones(t *testing.T) {
	tests := []struct {
		from, to int
		freq     float64
		pass     bool
	}{
		{48000, 16000, 1000, true},
		{48000, 16000, 100, true},
		{48000, 16000, 6000, true},
		{48000, 8000, 3000, true},
		{44100, 16000, 3000, true},
		{16000, 44100, 1000, true},
		{16000, 48000, 7000, true},
		{8000, 16000, 440, true},
		{22050, 16000, 5000, true},
		{16000, 8000, 1000, true},
		{48000, 8000, 7000, false}, // would alias to 1 kHz
		{48000, 8000, 5000, false}, // to 3 kHz
		{48000, 8000, 4600, false}, // to 3.4 kHz: just past the transition band
		{48000, 8000, 20000, false},
		{48000, 16000, 12000, false},
		{48000, 16000, 9000, false},
		{44100, 8000, 6000, false},
		{44100, 16000, 15000, false},
		{16000, 8000, 5000, false},
		{22050, 16000, 10000, false},
	}
	for _, tt := range tests {
		const amp = 0.5
		in := &Clip{Rate: tt.from, Samples: sine(tt.from, tt.freq, amp, tt.from)} // 1 s
		out := Resample(in, tt.to)
		if out.Rate != tt.to {
			t.Errorf("%d→%d: rate %d", tt.from, tt.to, out.Rate)
		}
		if want := int(float64(len(in.Samples)) * float64(tt.to) / float64(tt.from)); abs(len(out.Samples)-want) > 1 {
			t.Errorf("%d→%d: %d samples, want %d", tt.from, tt.to, len(out.Samples), want)
		}
		checkSamples(t, out)
		m := trim(out.Samples, tt.to)
		level := dB(rms(m) * math.Sqrt2 / amp)
		if tt.pass {
			if math.Abs(level) > 0.5 {
				t.Errorf("%d→%d: %.0f Hz changed level by %.2f dB", tt.from, tt.to, tt.freq, level)
			}
			if f := peakFreq(m, tt.to, tt.freq*0.98, tt.freq*1.02, tt.freq/1000); math.Abs(f-tt.freq) > tt.freq/500 {
				t.Errorf("%d→%d: %.0f Hz became %.1f Hz", tt.from, tt.to, tt.freq, f)
			}
		} else if level > -40 {
			t.Errorf("%d→%d: %.0f Hz (above %d Hz) only %.1f dB down", tt.from, tt.to, tt.freq, tt.to/2, -level)
		}
		t.Logf("%d→%d: %5.0f Hz %+7.2f dB", tt.from, tt.to, tt.freq, level)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// bandNoise is n samples at rate of noise below maxFreq: a sum of many
// sinusoids at random frequencies and phases, at about amp RMS.
func bandNoise(rate, n int, maxFreq, amp float64, seed uint64) []float32 {
	rnd := rand.New(rand.NewPCG(seed, 1))
	const k = 200
	x := make([]float64, n)
	for range k {
		f := 20 + rnd.Float64()*(maxFreq-20)
		w := 2 * math.Pi * f / float64(rate)
		ph := rnd.Float64() * 2 * math.Pi
		a := amp * math.Sqrt(2.0/k)
		// A rotation instead of a sine per sample.
		c, s := math.Cos(w), math.Sin(w)
		re, im := math.Cos(ph), math.Sin(ph)
		for i := range x {
			x[i] += a * im
			re, im = re*c-im*s, re*s+im*c
		}
	}
	out := make([]float32, n)
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// TestResampleRoundTrip: band-limited noise taken to another rate and back
// comes back with an SNR over 40 dB, away from the ends.
func TestResampleRoundTrip(t *testing.T) {
	tests := []struct {
		rate, via int
		maxFreq   float64
	}{
		{16000, 44100, 6500},
		{16000, 48000, 6500},
		{16000, 22050, 6500},
		{44100, 16000, 6500},
		{48000, 16000, 6500},
		{8000, 11025, 3200},
	}
	for _, tt := range tests {
		x := bandNoise(tt.rate, tt.rate, tt.maxFreq, 0.2, uint64(tt.via))
		there := Resample(&Clip{Rate: tt.rate, Samples: x}, tt.via)
		back := Resample(there, tt.rate)
		if abs(len(back.Samples)-len(x)) > 2 {
			t.Errorf("%d→%d→%d: %d samples from %d", tt.rate, tt.via, tt.rate, len(back.Samples), len(x))
		}
		n := int(edge * float64(tt.rate))
		var sig, noise float64
		for i := n; i < min(len(x), len(back.Samples))-n; i++ {
			d := float64(back.Samples[i]) - float64(x[i])
			sig += float64(x[i]) * float64(x[i])
			noise += d * d
		}
		snr := 10 * math.Log10(sig/noise)
		if snr < 40 {
			t.Errorf("%d→%d→%d: SNR %.1f dB", tt.rate, tt.via, tt.rate, snr)
		}
		t.Logf("%d→%d→%d: SNR %.1f dB", tt.rate, tt.via, tt.rate, snr)
	}
}

// TestStretch: step > 1 shortens the sound and raises its pitch by the
// same factor; step < 1 lengthens and lowers it; step 1 is the identity.
func TestStretch(t *testing.T) {
	const rate = 16000
	x := sine(rate, 1000, 0.5, rate)
	for _, step := range []float64{1.05, 0.95, 1.1, 0.9, 1.5, 2, 0.5, 1.0001} {
		y := Stretch(x, step)
		if want := int(float64(len(x)) / step); len(y) != want {
			t.Errorf("Stretch(%v): %d samples, want %d", step, len(y), want)
		}
		m := trim(y, rate)
		want := 1000 * step
		if f := peakFreq(m, rate, want-10, want+10, 0.5); math.Abs(f-want) > 1 {
			t.Errorf("Stretch(%v): 1000 Hz became %.1f Hz, want %.1f", step, f, want)
		}
		if level := dB(rms(m) * math.Sqrt2 / 0.5); math.Abs(level) > 0.5 {
			t.Errorf("Stretch(%v): level changed by %.2f dB", step, level)
		}
	}

	// Step 1 reads every sample where it is.
	y := Stretch(x, 1)
	if len(y) != len(x) {
		t.Fatalf("Stretch(1): %d samples from %d", len(y), len(x))
	}
	for i := range x {
		if math.Abs(float64(y[i]-x[i])) > 1e-5 {
			t.Fatalf("Stretch(1): sample %d is %v, was %v", i, y[i], x[i])
		}
	}

	// 5% faster is 5% shorter, within a sample.
	y = Stretch(x, 1.05)
	if got, want := float64(len(y))/float64(len(x)), 1/1.05; math.Abs(got-want) > 1.0/float64(len(x)) {
		t.Errorf("Stretch(1.05) kept %.4f of the length, want %.4f", got, want)
	}
}

func TestStretchEdges(t *testing.T) {
	x := sine(16000, 1000, 0.5, 1000)
	tests := []struct {
		name string
		x    []float32
		step float64
		want int // samples; -1: nil
	}{
		{"empty", nil, 1, -1},
		{"zero step", x, 0, -1},
		{"negative step", x, -1, -1},
		{"NaN step", x, math.NaN(), -1},
		{"infinite step", x, math.Inf(1), -1},
		{"-infinite step", x, math.Inf(-1), -1},
		{"one sample", []float32{0.5}, 1, 1},
		{"one sample, slower", []float32{0.5}, 0.5, 2},
		{"one sample, faster", []float32{0.5}, 2, 0},
		{"longer step than the input", x, 5000, 0},
		{"huge step", x, 1e300, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := Stretch(tt.x, tt.step)
			if tt.want < 0 {
				if y != nil {
					t.Errorf("Stretch = %d samples, want nil", len(y))
				}
				return
			}
			if len(y) != tt.want {
				t.Errorf("Stretch = %d samples, want %d", len(y), tt.want)
			}
		})
	}
}

// TestResampleBounds: the output stays in [-1, 1] even where the filter
// rings (a full-scale square wave), and a constant comes through as itself.
func TestResampleBounds(t *testing.T) {
	sq := make([]float32, 48000)
	for i := range sq {
		if i/60%2 == 0 {
			sq[i] = 1
		} else {
			sq[i] = -1
		}
	}
	for _, to := range []int{8000, 16000, 44100, 96000} {
		c := Resample(&Clip{Rate: 48000, Samples: sq}, to)
		checkSamples(t, c)
	}
	dc := make([]float32, 16000)
	for i := range dc {
		dc[i] = 0.5
	}
	for _, to := range []int{8000, 11025, 44100, 48000} {
		c := Resample(&Clip{Rate: 16000, Samples: dc}, to)
		for i, v := range trim(c.Samples, to) {
			if math.Abs(float64(v)-0.5) > 1e-3 {
				t.Fatalf("16000→%d: a constant 0.5 is %v at %d", to, v, i)
			}
		}
	}
}

// TestResampleSameRate: resampling to the clip's own rate copies it.
func TestResampleSameRate(t *testing.T) {
	in := &Clip{Rate: 16000, Samples: []float32{0.1, 0.2, 0.3}}
	out := Resample(in, 16000)
	if out == in || !equalSamples(out.Samples, in.Samples) || out.Rate != 16000 {
		t.Fatalf("Resample to the same rate = %+v", out)
	}
	out.Samples[0] = 1
	if in.Samples[0] != 0.1 {
		t.Error("the copy shares the input's samples")
	}
	if c := Resample(&Clip{Rate: 48000}, 16000); len(c.Samples) != 0 || c.Rate != 16000 {
		t.Errorf("an empty clip resampled to %+v", c)
	}
}

func BenchmarkResample48kTo16k(b *testing.B) {
	in := &Clip{Rate: 48000, Samples: bandNoise(48000, 10*48000, 20000, 0.2, 1)}
	b.SetBytes(int64(4 * len(in.Samples)))
	for b.Loop() {
		Resample(in, 16000)
	}
}
