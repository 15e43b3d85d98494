package audiomark

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"backchannel/audio"
)

// BenchmarkMark marks one recipient's copy of the 23.7 s note; the
// real-time factor is reported.
func BenchmarkMark(b *testing.B) {
	key, note := testKey(1), speech(b)
	b.SetBytes(int64(4 * len(note.Samples)))
	for b.Loop() {
		if _, err := Mark(key, "n", "ben", note); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(note.Seconds()*float64(b.N)/b.Elapsed().Seconds(), "x-realtime")
}

// BenchmarkTrace100Notes traces a 10 s excerpt of one note among 100
// notes of 30 s each: the read speech followed by other speech, and 99
// notes of noise with a random syllable-rate envelope (there are not 100
// different recordings of real speech to hand; the others cost what any
// non-matching note costs).
func BenchmarkTrace100Notes(b *testing.B) {
	key, base := testKey(1), speech(b)
	other := slices.Concat(rawSpeech(b, "numbers.raw").Samples, rawSpeech(b, "something.raw").Samples)
	rng := rand.New(rand.NewPCG(9, 9))
	notes := make([]Note, 100)
	for i := range notes {
		s := slices.Concat(base.Samples, other[:30*Rate-len(base.Samples)])
		if i != 37 {
			s = make([]float32, 30*Rate)
			level := 0.0
			for k := range s {
				if k%(Rate/8) == 0 {
					level = rng.Float64() * rng.Float64() * 0.3
				}
				s[k] = float32(rng.NormFloat64() * level)
			}
		}
		notes[i] = Note{ID: fmt.Sprintf("note%03d", i), Original: &audio.Clip{Rate: Rate, Samples: s}, Recipients: []string{"ana", "ben", "cy", "dee"}}
	}
	copyOf, err := Mark(key, notes[37].ID, "ben", notes[37].Original)
	if err != nil {
		b.Fatal(err)
	}
	rec := excerpt(copyOf, 12, 10)
	for b.Loop() {
		r, err := Trace(context.Background(), key, notes, rec, 1e-6)
		if err != nil {
			b.Fatal(err)
		}
		if r.Note != notes[37].ID || !slices.Equal(r.Named, []string{"ben"}) {
			b.Fatalf("traced to %s, named %v", r.Note, r.Named)
		}
	}
}
