package audiomark

import "math"

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
