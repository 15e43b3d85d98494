package audiomark

import (
	"math"
	"math/bits"
	"math/cmplx"
)

// fft is an in-place radix-2 transform of one power-of-two size.
type fft struct {
	n       int
	rev     []int
	twiddle []complex128
}

func newFFT(n int) *fft {
	if n&(n-1) != 0 || n < 2 {
		panic("fft size must be a power of two")
	}
	f := &fft{n: n, rev: make([]int, n), twiddle: make([]complex128, n/2)}
	shift := bits.UintSize - bits.Len(uint(n-1))
	for i := range f.rev {
		f.rev[i] = int(bits.Reverse(uint(i)) >> shift)
	}
	for i := range f.twiddle {
		f.twiddle[i] = cmplx.Exp(complex(0, -2*math.Pi*float64(i)/float64(n)))
	}
	return f
}

// forward transforms x in place; inverse undoes it (with the 1/n).
func (f *fft) forward(x []complex128) { f.run(x, false) }

func (f *fft) inverse(x []complex128) {
	f.run(x, true)
	s := complex(1/float64(f.n), 0)
	for i := range x {
		x[i] *= s
	}
}

func (f *fft) run(x []complex128, inv bool) {
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

// sqrtHann is the analysis and synthesis window: the square root of a
// periodic Hann window, so that analysis × synthesis sums to one at a hop
// of half the frame.
func sqrtHann(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = math.Sqrt(0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n)))
	}
	return w
}
