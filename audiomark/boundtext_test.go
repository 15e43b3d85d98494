package audiomark

import "testing"

// The bound on an innocent member's score is printed even where
// exp(−z²/2) underflows a float64.
func TestBoundText(t *testing.T) {
	for _, tc := range []struct {
		z, bound float64
		want     string
	}{
		{14.2, 1.9e-44, "2e-44"},
		{76.6, 0, "1e-1274"},
	} {
		if got := (Score{Z: tc.z, Bound: tc.bound}).BoundText(); got != tc.want {
			t.Errorf("BoundText(%g, %g) = %q, want %q", tc.z, tc.bound, got, tc.want)
		}
	}
}
