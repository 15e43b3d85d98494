package audiomark

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"backchannel/audio"
)

// wow reads x at t + depth·sin(2πt/period): the timing drifts back and
// forth as a worn tape's does (cubic interpolation).
func wow(x []float32, depthMs, periodS float64) []float32 {
	out := make([]float32, len(x))
	for i := range out {
		t := float64(i) + depthMs/1000*Rate*math.Sin(2*math.Pi*float64(i)/(periodS*Rate))
		k := int(math.Floor(t))
		f := t - float64(k)
		at := func(j int) float64 {
			j = min(max(j, 0), len(x)-1)
			return float64(x[j])
		}
		p0, p1, p2, p3 := at(k-1), at(k), at(k+1), at(k+2)
		out[i] = float32(p1 + 0.5*f*(p2-p0+f*(2*p0-5*p1+4*p2-p3+f*(3*(p1-p2)+p3-p0))))
	}
	return out
}

// splice cuts or repeats a stretch of lo–hi ms about every second, with a
// 5 ms crossfade, as an editor hiding a mark by small edits would.
func splice(rng *rand.Rand, x []float32, loMs, hiMs float64) []float32 {
	var out []float32
	fade := Rate / 200
	for pos := 0; pos < len(x); {
		next := min(len(x), pos+int((0.6+0.8*rng.Float64())*Rate))
		out = append(out, x[pos:next]...)
		n := int((loMs + (hiMs-loMs)*rng.Float64()) / 1000 * Rate)
		if rng.IntN(2) == 0 {
			pos = next + n // cut
		} else {
			pos = max(0, next-n) // repeat
		}
		for k := 0; k < fade && pos+k < len(x) && len(out)-fade+k >= 0; k++ {
			w := float32(k) / float32(fade)
			j := len(out) - fade + k
			out[j] = out[j]*(1-w) + x[pos+k]*w
		}
		pos += fade
	}
	return out
}

// TestDriftingTimingIsFollowed: a copy whose timing drifts (wow) or that
// is cut and repeated by tens of milliseconds every second is aligned
// second by second and still names its recipient from 10 s.
func TestDriftingTimingIsFollowed(t *testing.T) {
	key := testKey(13)
	orig := speech(t)
	rcps := []string{"ana", "ben", "cy", "dee"}
	cp, err := Mark(key, "n", "ben", orig)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	notes := []Note{{ID: "n", Original: orig, Recipients: rcps}}
	for _, c := range []struct {
		name string
		rec  []float32
	}{
		{"wow ±10 ms every 3 s", wow(cp.Samples, 10, 3)},
		{"wow ±20 ms every 4 s", wow(cp.Samples, 20, 4)},
		{"10-30 ms cut or repeated every second", splice(rng, cp.Samples, 10, 30)},
		{"20-60 ms cut or repeated every second", splice(rng, cp.Samples, 20, 60)},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := excerpt(&audio.Clip{Rate: Rate, Samples: c.rec}, 6, 10)
			r, err := Trace(context.Background(), key, notes, rec, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			z := math.NaN()
			if len(r.Scores) > 0 {
				z = r.Scores[0].Z
			}
			t.Logf("matched %v (%.3f), named %v, best z %.1f, %.1f s read", r.Matched, r.Align.Match, r.Named, z, r.Seconds)
			if !slices.Equal(r.Named, []string{"ben"}) {
				t.Errorf("named %v, want [ben]", r.Named)
			}
		})
	}
}

// TestPartlySpoiledRecordingIsRead: a leak with seconds of loud noise
// over part of it, or with short dropouts every second, is matched on the
// stretches that follow the original and names its recipient; the
// spoiled stretches are set aside, not read.
func TestPartlySpoiledRecordingIsRead(t *testing.T) {
	key := testKey(13)
	orig := speech(t)
	cp, err := Mark(key, "n", "ben", orig)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	noisy := slices.Clone(cp.Samples)
	for i := 8 * Rate; i < 11*Rate; i++ {
		noisy[i] = float32(rng.NormFloat64() * 0.1) // 3 s of noise louder than the speech
	}
	gaps := slices.Clone(cp.Samples)
	for i := range gaps {
		if i%Rate < Rate*120/1000 {
			gaps[i] = 0 // 120 ms of every second lost
		}
	}
	notes := []Note{{ID: "n", Original: orig, Recipients: []string{"ana", "ben", "cy"}}}
	for name, rec := range map[string][]float32{"3 s of loud noise": noisy, "120 ms dropouts every second": gaps} {
		t.Run(name, func(t *testing.T) {
			r, err := Trace(context.Background(), key, notes, &audio.Clip{Rate: Rate, Samples: rec}, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Matched || !slices.Equal(r.Named, []string{"ben"}) {
				t.Fatalf("matched %v (%.3f), named %v", r.Matched, r.Align.Match, r.Named)
			}
		})
	}
}
