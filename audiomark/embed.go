package audiomark

import (
	"fmt"

	"backchannel/audio"
	"backchannel/audiomark/internal/fft"
)

// Embedder marks one recipient's copy of a stream, one frame at a time.
// Output lags input by Hop samples; Flush returns the rest.
type Embedder struct {
	sym       *symbols
	note, rcp string
	win       []float64
	edges     [Bands][2]int
	tf        *fft.FFT
	buf       []complex128
	in        []float32 // input not yet consumed, from the next frame's start
	ola       []float64 // overlap-add tail: the next frame's first half
	frame     int       // index of the next frame
	bits      uint32    // symbols of the current block
	block     int       // the block bits belongs to
	written   int64     // input samples taken
	emitted   int64     // output samples returned
	gain      float64
}

// NewEmbedder starts marking a note for a recipient under the sender's
// marking key.
func NewEmbedder(key []byte, note, recipient string) (*Embedder, error) {
	s, err := newSymbols(key)
	if err != nil {
		return nil, err
	}
	return &Embedder{
		sym: s, note: note, rcp: recipient, win: sqrtHann(FrameSize), edges: bandEdges(1),
		tf: fft.New(FrameSize), buf: make([]complex128, FrameSize),
		// Frame 0 starts Hop samples before the first sample, so that every
		// sample is covered by two frames.
		in: make([]float32, Hop), ola: make([]float64, Hop), block: -1, gain: Strength,
	}, nil
}

// Write marks p and returns the marked samples that are final.
func (e *Embedder) Write(p []float32) []float32 {
	e.in = append(e.in, p...)
	e.written += int64(len(p))
	var out []float32
	for len(e.in) >= FrameSize {
		out = e.step(out)
	}
	e.emitted += int64(len(out))
	return out
}

// Flush marks what is left and returns it; the total returned equals the
// total written.
func (e *Embedder) Flush() []float32 {
	var out []float32
	for e.emitted+int64(len(out)) < e.written {
		if len(e.in) < FrameSize {
			e.in = append(e.in, make([]float32, FrameSize-len(e.in))...)
		}
		out = e.step(out)
	}
	extra := e.emitted + int64(len(out)) - e.written
	out = out[:int64(len(out))-extra]
	e.emitted += int64(len(out))
	return out
}

// step processes one frame, emits its first Hop samples (now final) and
// drops them from the input.
func (e *Embedder) step(out []float32) []float32 {
	for i := 0; i < FrameSize; i++ {
		e.buf[i] = complex(float64(e.in[i])*e.win[i], 0)
	}
	e.tf.Forward(e.buf)
	if j := e.frame / BlockFrames; j != e.block {
		e.block, e.bits = j, e.sym.block(e.note, e.rcp, j)
	}
	for b, ed := range e.edges {
		g := complex(1+e.gain*sign(e.bits, b), 0)
		for k := ed[0]; k < ed[1]; k++ {
			e.buf[k] *= g
			if k > 0 {
				e.buf[FrameSize-k] *= g // keep the spectrum Hermitian
			}
		}
	}
	e.tf.Inverse(e.buf)
	// Frame 0's first half lies before the stream: it is not emitted.
	first := e.frame > 0
	for i := 0; i < Hop; i++ {
		v := e.ola[i] + real(e.buf[i])*e.win[i]
		if first {
			out = append(out, clampSample(v))
		}
		e.ola[i] = real(e.buf[Hop+i]) * e.win[Hop+i]
	}
	e.in = e.in[Hop:]
	e.frame++
	return out
}

func clampSample(v float64) float32 {
	switch {
	case v != v:
		return 0
	case v > 1:
		return 1
	case v < -1:
		return -1
	}
	return float32(v)
}

// Mark returns the recipient's marked copy of a whole clip at Rate.
func Mark(key []byte, note, recipient string, c *audio.Clip) (*audio.Clip, error) {
	if c.Rate != Rate {
		return nil, ErrRate
	}
	e, err := NewEmbedder(key, note, recipient)
	if err != nil {
		return nil, err
	}
	out := e.Write(c.Samples)
	out = append(out, e.Flush()...)
	if len(out) != len(c.Samples) {
		return nil, fmt.Errorf("the marked copy has %d samples where the note has %d", len(out), len(c.Samples))
	}
	return &audio.Clip{Rate: Rate, Samples: out}, nil
}
