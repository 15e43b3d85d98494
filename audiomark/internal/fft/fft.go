// Package fft is an in-place radix-2 fast Fourier transform of one
// power-of-two size, for the voice-note watermark and its evaluation.
package fft

import (
	"math"
	"math/bits"
	"math/cmplx"
)

// FFT transforms slices of one power-of-two length.
type FFT struct {
	n       int
	rev     []int
	twiddle []complex128
}

// New returns a transform of size n, a power of two.
func New(n int) *FFT {
	if n&(n-1) != 0 || n < 2 {
		panic("fft size must be a power of two")
	}
	f := &FFT{n: n, rev: make([]int, n), twiddle: make([]complex128, n/2)}
	shift := bits.UintSize - bits.Len(uint(n-1))
	for i := range f.rev {
		f.rev[i] = int(bits.Reverse(uint(i)) >> shift)
	}
	for i := range f.twiddle {
		f.twiddle[i] = cmplx.Exp(complex(0, -2*math.Pi*float64(i)/float64(n)))
	}
	return f
}

// Forward transforms x in place; Inverse undoes it (with the 1/n).
func (f *FFT) Forward(x []complex128) { f.run(x, false) }

// Inverse is the inverse transform, scaled by 1/n.
func (f *FFT) Inverse(x []complex128) {
	f.run(x, true)
	s := complex(1/float64(f.n), 0)
	for i := range x {
		x[i] *= s
	}
}

func (f *FFT) run(x []complex128, inv bool) {
	for i, j := range f.rev {
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= f.n; size <<= 1 {
		half, step := size/2, f.n/size
		for start := 0; start < f.n; start += size {
			for k := 0; k < half; k++ {
				w := f.twiddle[k*step]
				if inv {
					w = cmplx.Conj(w)
				}
				a, b := x[start+k], x[start+k+half]*w
				x[start+k], x[start+k+half] = a+b, a-b
			}
		}
	}
}
