package eval

import (
	"math"
	"slices"

	"backchannel/audio"
	"backchannel/audiomark/internal/fft"
)

// Quality is how loud the mark is against the speech that carries it.
type Quality struct {
	// Segmental SNR of the mark (speech over mark) over 32 ms frames that
	// hold speech, each clamped to [−10, 60] dB: the mean and the 5th
	// percentile.
	SegSNR   float64 `json:"seg_snr_db"`
	SegSNRP5 float64 `json:"seg_snr_p5_db"`
	// Masking margin per frame and critical band: how far the mark's
	// energy lies under the masking threshold of the speech (Johnston's
	// model, below); positive is inaudible by that model. The share of
	// cells with a positive margin, the median and the 5th percentile.
	MaskedShare float64 `json:"masked_share"`
	MarginMed   float64 `json:"margin_median_db"`
	MarginP5    float64 `json:"margin_p5_db"`
	Frames      int     `json:"frames"`
}

// qualityFrame is the frame the quality is measured over (32 ms at 16 kHz).
const qualityFrame = 512

// measureQuality compares marked copies with their original. The masking
// threshold follows Johnston (1988), "Transform coding of audio signals
// using perceptual noise criteria": energies per critical band (Bark,
// Zwicker's formula), spread with Schroeder's spreading function, lowered
// by an offset between 5.5 dB (noise-like) and 14.5 + z dB (tonal)
// according to the frame's spectral flatness. The spreading function's
// renormalisation and the absolute threshold of hearing are left out: the
// recording's playback level is unknown, so the margin is relative to the
// speech.
func measureQuality(orig *audio.Clip, copies []*audio.Clip) Quality {
	f := fft.New(qualityFrame)
	win := make([]float64, qualityFrame)
	for i := range win {
		win[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/qualityFrame)
	}
	binHz := float64(orig.Rate) / qualityFrame
	nb := qualityFrame/2 + 1
	bark := make([]int, nb)
	bands := 0
	for k := range bark {
		hz := float64(k) * binHz
		bark[k] = int(13*math.Atan(0.00076*hz) + 3.5*math.Atan(hz/7500*hz/7500))
		bands = max(bands, bark[k]+1)
	}
	// Loudest frame sets which frames hold speech (within 40 dB of it).
	var peak float64
	for s := 0; s+qualityFrame <= len(orig.Samples); s += qualityFrame {
		peak = math.Max(peak, energy(orig.Samples[s:s+qualityFrame]))
	}
	var snr, margins []float64
	bo, bm := make([]float64, bands), make([]float64, bands)
	so, sm := make([]complex128, qualityFrame), make([]complex128, qualityFrame)
	for _, c := range copies {
		for s := 0; s+qualityFrame <= len(orig.Samples) && s+qualityFrame <= len(c.Samples); s += qualityFrame {
			o := orig.Samples[s : s+qualityFrame]
			eo := energy(o)
			if eo < peak*1e-4 {
				continue
			}
			var em float64
			for i := range o {
				d := float64(c.Samples[s+i]) - float64(o[i])
				em += d * d
				so[i] = complex(float64(o[i])*win[i], 0)
				sm[i] = complex(d*win[i], 0)
			}
			snr = append(snr, math.Max(-10, math.Min(60, 10*math.Log10(eo/math.Max(em, 1e-20)))))
			f.Forward(so)
			f.Forward(sm)
			clear(bo)
			clear(bm)
			var logSum, sum float64
			for k := 0; k < nb; k++ {
				po, pm := power(so[k]), power(sm[k])
				bo[bark[k]] += po
				bm[bark[k]] += pm
				logSum += math.Log(po + 1e-20)
				sum += po
			}
			sfm := 10 * math.Log10(math.Exp(logSum/float64(nb))/(sum/float64(nb)))
			alpha := math.Min(sfm/-60, 1)
			for z := 0; z < bands; z++ {
				if bo[z] < sum*1e-6 {
					continue // a band without speech masks nothing and carries no mark
				}
				var spread float64
				for y := 0; y < bands; y++ {
					dz := float64(z-y) + 0.474
					spread += bo[y] * math.Pow(10, (15.81+7.5*dz-17.5*math.Sqrt(1+dz*dz))/10)
				}
				offset := alpha*(14.5+float64(z)) + (1-alpha)*5.5
				threshold := spread * math.Pow(10, -offset/10)
				margins = append(margins, 10*math.Log10(threshold/math.Max(bm[z], 1e-20)))
			}
		}
	}
	q := Quality{Frames: len(snr)}
	if len(snr) == 0 {
		return q
	}
	slices.Sort(snr)
	slices.Sort(margins)
	var total float64
	for _, v := range snr {
		total += v
	}
	q.SegSNR, q.SegSNRP5 = total/float64(len(snr)), snr[len(snr)/20]
	if len(margins) > 0 {
		i, _ := slices.BinarySearch(margins, 0)
		q.MaskedShare = 1 - float64(i)/float64(len(margins))
		q.MarginMed, q.MarginP5 = margins[len(margins)/2], margins[len(margins)/20]
	}
	return q
}

func energy(x []float32) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return e
}

func power(c complex128) float64 { return real(c)*real(c) + imag(c)*imag(c) }
