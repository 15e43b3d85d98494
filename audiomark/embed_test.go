package audiomark

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"backchannel/audio"
)

// TestEmbedderStreamsLikeMark: writing a stream in pieces of any size
// (as a live call does) gives exactly the samples Mark gives, and every
// output sample is final once returned.
func TestEmbedderStreamsLikeMark(t *testing.T) {
	key, note := testKey(3), speech(t)
	want, err := Mark(key, "n", "ana", note)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, maxPiece := range []int{1, 7, Hop, 3 * FrameSize, 20000} {
		e, err := NewEmbedder(key, "n", "ana")
		if err != nil {
			t.Fatal(err)
		}
		var got []float32
		for rest := note.Samples; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(maxPiece))
			got = append(got, e.Write(rest[:n])...)
			rest = rest[n:]
			// Latency: what is written is returned within a frame.
			if lag := len(note.Samples) - len(rest) - len(got); lag > FrameSize {
				t.Fatalf("pieces of up to %d: output lags input by %d samples", maxPiece, lag)
			}
		}
		got = append(got, e.Flush()...)
		if !slices.Equal(got, want.Samples) {
			t.Fatalf("pieces of up to %d: the stream differs from Mark", maxPiece)
		}
	}
}

// TestMarkLevel: the mark (copy minus original) is 25 dB under the speech
// in the marked bands, each recipient's differs, and silence stays silent.
func TestMarkLevel(t *testing.T) {
	key, note := testKey(3), speech(t)
	a, _ := Mark(key, "n", "ana", note)
	b, _ := Mark(key, "n", "ben", note)
	var es, ea, eab float64
	for i, v := range note.Samples {
		es += float64(v) * float64(v)
		d := float64(a.Samples[i] - v)
		ea += d * d
		dd := float64(a.Samples[i] - b.Samples[i])
		eab += dd * dd
	}
	level := 10 * math.Log10(ea/es)
	// The bands hold almost all of the speech's energy, and the mark is
	// −25 dB of what they hold.
	if level > -25.2 || level < -28 {
		t.Fatalf("mark at %.2f dB of the speech, want about -25 (a little under: speech below 150 Hz is unmarked)", level)
	}
	if 10*math.Log10(eab/es) < -25 {
		t.Fatalf("two recipients' copies differ by %.1f dB only", 10*math.Log10(eab/es))
	}
	silent, err := Mark(key, "n", "ana", &audio.Clip{Rate: Rate, Samples: make([]float32, 3*Rate)})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range silent.Samples {
		if v != 0 {
			t.Fatal("silence was marked")
		}
	}
}

func TestBadArguments(t *testing.T) {
	if _, err := Mark(make([]byte, 5), "n", "a", &audio.Clip{Rate: Rate, Samples: make([]float32, 100)}); !errors.Is(err, ErrKey) {
		t.Fatalf("short key: %v", err)
	}
	if _, err := Mark(testKey(1), "n", "a", &audio.Clip{Rate: 44100, Samples: make([]float32, 100)}); !errors.Is(err, ErrRate) {
		t.Fatalf("wrong rate: %v", err)
	}
	notes := []Note{{ID: "n", Original: speech(t), Recipients: []string{"a"}}}
	if _, err := Trace(t.Context(), testKey(1), notes, &audio.Clip{Rate: 8000, Samples: make([]float32, 80000)}, 1e-6); !errors.Is(err, ErrRate) {
		t.Fatalf("recording at 8 kHz: %v", err)
	}
	for _, eps := range []float64{0, 1, -1, math.NaN()} {
		if _, err := Trace(t.Context(), testKey(1), notes, speech(t), eps); err == nil {
			t.Fatalf("epsilon %v accepted", eps)
		}
	}
}
