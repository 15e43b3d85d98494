package fft

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// TestMatchesDFT compares the transform with the direct sum and checks
// that Inverse undoes Forward, for every size the watermark uses and a
// few others.
func TestMatchesDFT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{2, 8, 64, 512, 2048} {
		f := New(n)
		x := make([]complex128, n)
		for i := range x {
			x[i] = complex(rng.NormFloat64(), rng.NormFloat64())
		}
		y := append([]complex128(nil), x...)
		f.Forward(y)
		for k := 0; k < n; k += max(1, n/16) {
			var want complex128
			for j, v := range x {
				want += v * cmplx.Exp(complex(0, -2*math.Pi*float64(j*k)/float64(n)))
			}
			if cmplx.Abs(y[k]-want) > 1e-9*float64(n) {
				t.Fatalf("n=%d bin %d: %v, want %v", n, k, y[k], want)
			}
		}
		f.Inverse(y)
		for i := range x {
			if cmplx.Abs(y[i]-x[i]) > 1e-12*float64(n) {
				t.Fatalf("n=%d: inverse differs at %d", n, i)
			}
		}
	}
}

func TestSizeMustBePowerOfTwo(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New(12) did not panic")
		}
	}()
	New(12)
}
