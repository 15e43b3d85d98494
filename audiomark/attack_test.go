package audiomark

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"backchannel/audio"
)

func testKey(b byte) []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func addNoise(rng *rand.Rand, c *audio.Clip, snrDB float64) *audio.Clip {
	s := c.RMS() / math.Pow(10, snrDB/20)
	out := &audio.Clip{Rate: c.Rate, Samples: make([]float32, len(c.Samples))}
	for i, v := range c.Samples {
		out.Samples[i] = v + float32(rng.NormFloat64()*s)
	}
	return out
}

func excerpt(c *audio.Clip, from, secs float64) *audio.Clip {
	a, b := int(from*float64(c.Rate)), int((from+secs)*float64(c.Rate))
	return &audio.Clip{Rate: c.Rate, Samples: c.Samples[a:min(b, len(c.Samples))]}
}

// TestLeakedCopyNamesItsRecipient puts one recipient's copy through each
// single attack of the issue, keeps a 10 s excerpt from the middle of
// what came out, and traces it: the recipient must be named and every
// other recipient must stay under the threshold.
func TestLeakedCopyNamesItsRecipient(t *testing.T) {
	key := testKey(7)
	orig := speech(t)
	rcps := []string{"ana", "ben", "cy", "dee"}
	copies := map[string]*audio.Clip{}
	for _, r := range rcps {
		c, err := Mark(key, "note1", r, orig)
		if err != nil {
			t.Fatal(err)
		}
		copies[r] = c
	}
	rng := rand.New(rand.NewPCG(1, 2))
	opus16 := func(c *audio.Clip) *audio.Clip {
		return ffmpegThrough(t, c, "-c:a", "libopus", "-b:a", "16k", "-f", "ogg")
	}
	attacks := []struct {
		name string
		run  func(*audio.Clip) *audio.Clip
	}{
		{"none", func(c *audio.Clip) *audio.Clip { return c }},
		{"white noise 20 dB", func(c *audio.Clip) *audio.Clip { return addNoise(rng, c, 20) }},
		{"speed +5% (resampled)", func(c *audio.Clip) *audio.Clip {
			return &audio.Clip{Rate: Rate, Samples: audio.Stretch(c.Samples, 1.05)}
		}},
		{"speed -10% (resampled)", func(c *audio.Clip) *audio.Clip {
			return &audio.Clip{Rate: Rate, Samples: audio.Stretch(c.Samples, 0.9)}
		}},
		{"8 kHz", func(c *audio.Clip) *audio.Clip { return audio.Resample(audio.Resample(c, 8000), Rate) }},
		{"Opus 16 kbit/s", opus16},
		{"MP3 64 kbit/s", func(c *audio.Clip) *audio.Clip {
			return ffmpegThrough(t, c, "-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3")
		}},
		{"telephone band", func(c *audio.Clip) *audio.Clip {
			return ffmpegThrough(t, c, "-af", "highpass=f=300,lowpass=f=3400", "-f", "wav")
		}},
		{"tempo +10%", func(c *audio.Clip) *audio.Clip { return ffmpegThrough(t, c, "-af", "atempo=1.1", "-f", "wav") }},
		{"tempo -5%", func(c *audio.Clip) *audio.Clip { return ffmpegThrough(t, c, "-af", "atempo=0.95", "-f", "wav") }},
	}
	notes := []Note{{ID: "note1", Original: orig, Recipients: rcps}}
	for i, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			leaker := rcps[i%len(rcps)]
			rec := excerpt(a.run(copies[leaker]), 6.1, 10)
			r, err := Trace(context.Background(), key, notes, rec, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Matched || !slices.Equal(r.Named, []string{leaker}) {
				t.Fatalf("named %v, want [%s]; result %+v", r.Named, leaker, r)
			}
			t.Logf("%s z=%.1f (threshold %.1f), next %s z=%.1f, %.1f s, %d tiles, %d bands, alignment %+v",
				leaker, r.Scores[0].Z, r.Threshold, r.Scores[1].Recipient, r.Scores[1].Z, r.Seconds, r.Tiles, r.BandsRead, r.Align)
		})
	}
}

// TestNobodyNamedWithoutTheirCopy: the unmarked original, unrelated
// speech and silence name nobody.
func TestNobodyNamedWithoutTheirCopy(t *testing.T) {
	key := testKey(7)
	orig := speech(t)
	notes := []Note{{ID: "note1", Original: orig, Recipients: []string{"ana", "ben", "cy", "dee"}}}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		name    string
		rec     *audio.Clip
		matched bool
	}{
		{"the original", excerpt(orig, 2, 12), true},
		{"the original with noise", addNoise(rng, excerpt(orig, 2, 12), 20), true},
		{"other speech, longer", &audio.Clip{Rate: Rate, Samples: slices.Concat(rawSpeech(t, "numbers.raw").Samples, rawSpeech(t, "something.raw").Samples, rawSpeech(t, "goforward.raw").Samples)}, false},
		{"white noise", addNoise(rng, &audio.Clip{Rate: Rate, Samples: make([]float32, 10*Rate)}, 0), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "white noise" {
				for i := range c.rec.Samples {
					c.rec.Samples[i] = float32(rng.NormFloat64() * 0.1)
				}
			}
			r, err := Trace(context.Background(), key, notes, c.rec, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Named) != 0 {
				t.Fatalf("named %v", r.Named)
			}
			if r.Matched != c.matched {
				t.Fatalf("matched = %v, want %v (alignment %+v)", r.Matched, c.matched, r.Align)
			}
		})
	}
}

func TestShortRecordingIsAnError(t *testing.T) {
	notes := []Note{{ID: "note1", Original: speech(t), Recipients: []string{"ana"}}}
	_, err := Trace(context.Background(), testKey(7), notes, rawSpeech(t, "numbers.raw"), 1e-6)
	if !errors.Is(err, ErrTooShort) {
		t.Fatalf("a 4 s recording: err = %v, want ErrTooShort", err)
	}
}

// TestCollusionAndRemarking: members who average their copies, or who
// mark their copy again with a key of their own (the same kind of mark,
// at the same strength, to drown theirs), are still named from 15 s, and
// no one outside the coalition is.
func TestCollusionAndRemarking(t *testing.T) {
	key := testKey(9)
	orig := speech(t)
	rcps := []string{"ana", "ben", "cy", "dee", "eve", "fay"}
	copies := map[string]*audio.Clip{}
	for _, r := range rcps {
		c, err := Mark(key, "n", r, orig)
		if err != nil {
			t.Fatal(err)
		}
		copies[r] = c
	}
	average := func(names ...string) *audio.Clip {
		out := &audio.Clip{Rate: Rate, Samples: make([]float32, len(orig.Samples))}
		for _, n := range names {
			for i, v := range copies[n].Samples {
				out.Samples[i] += v / float32(len(names))
			}
		}
		return out
	}
	remarked := func(name string, times int) *audio.Clip {
		c := copies[name]
		for k := range times {
			var err error
			if c, err = Mark(testKey(byte(100+k)), "attacker", "x", c); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	notes := []Note{{ID: "n", Original: orig, Recipients: rcps}}
	for _, c := range []struct {
		name      string
		rec       *audio.Clip
		coalition []string
	}{
		{"two copies averaged", average("ana", "ben"), []string{"ana", "ben"}},
		{"three copies averaged", average("cy", "dee", "eve"), []string{"cy", "dee", "eve"}},
		{"re-marked once", remarked("fay", 1), []string{"fay"}},
		{"re-marked three times", remarked("ben", 3), []string{"ben"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Trace(context.Background(), key, notes, excerpt(c.rec, 4, 15), 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Named) == 0 {
				t.Fatalf("nobody named; scores %+v", r.Scores)
			}
			for _, n := range r.Named {
				if !slices.Contains(c.coalition, n) {
					t.Fatalf("%s named, not in the coalition %v; scores %+v", n, c.coalition, r.Scores)
				}
			}
			t.Logf("named %v; scores %+v", r.Named, r.Scores)
		})
	}
}

// TestStrangeRecordingsAreReadSafely: recordings a hostile or broken
// source produces (silence in some bands or stretches, clipping, DC,
// impulses, polarity flips, blocks scaled by zero or huge gains) are
// traced without a panic, and name nobody when they hold no copy.
func TestStrangeRecordingsAreReadSafely(t *testing.T) {
	key := testKey(7)
	orig := speech(t)
	notes := []Note{{ID: "n", Original: orig, Recipients: []string{"ana", "ben"}}}
	base := excerpt(orig, 3, 12).Samples
	rng := rand.New(rand.NewPCG(5, 5))
	mod := func(f func(i int, v float32) float32) *audio.Clip {
		out := make([]float32, len(base))
		for i, v := range base {
			out[i] = f(i, v)
		}
		return &audio.Clip{Rate: Rate, Samples: out}
	}
	gains := make([]float32, len(base)/FrameSize+1)
	for i := range gains {
		gains[i] = []float32{0, 0, 1e-30, 1, 1e4, -1}[rng.IntN(6)]
	}
	cases := map[string]*audio.Clip{
		"blocks scaled by 0, tiny, huge and -1": mod(func(i int, v float32) float32 { return max(-1, min(1, v*gains[i/FrameSize])) }),
		"clipped hard":                          mod(func(i int, v float32) float32 { return max(-0.001, min(0.001, v)) }),
		"DC":                                    mod(func(i int, v float32) float32 { return 0.5 }),
		"impulses":                              mod(func(i int, v float32) float32 { return float32(max(0, 1-i%4000)) }),
		"polarity flipped":                      mod(func(i int, v float32) float32 { return -v }),
		"every other silent":                    mod(func(i int, v float32) float32 { return v * float32((i/3000)%2) }),
		"8-bit":                                 mod(func(i int, v float32) float32 { return float32(math.Round(float64(v)*8)) / 8 }),
		"tiny":                                  mod(func(i int, v float32) float32 { return v * 1e-20 }),
		"alternating extremes":                  mod(func(i int, v float32) float32 { return float32(1 - 2*(i%2)) }),
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := Trace(context.Background(), key, notes, rec, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Named) != 0 {
				t.Fatalf("named %v from the unmarked original", r.Named)
			}
		})
	}
}

// TestSameRecordingInTwoNotes: a recording sent again to another room is
// two notes with the same sound; a leak of the second note's copy names
// its recipient, under a threshold that covers both notes' recipients.
func TestSameRecordingInTwoNotes(t *testing.T) {
	key := testKey(11)
	orig := speech(t)
	notes := []Note{
		{ID: "room1-msg", Original: orig, Recipients: []string{"ana", "ben"}},
		{ID: "room2-msg", Original: orig, Recipients: []string{"cy", "dee"}},
	}
	cp, err := Mark(key, "room2-msg", "cy", orig)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Trace(context.Background(), key, notes, excerpt(cp, 5, 10), 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if r.Note != "room2-msg" || !slices.Equal(r.Named, []string{"cy"}) || r.NotesMatched != 2 {
		t.Fatalf("note %s, named %v, %d notes matched", r.Note, r.Named, r.NotesMatched)
	}
	if want := math.Sqrt(2 * math.Log(4/1e-6)); math.Abs(r.Threshold-want) > 1e-9 {
		t.Fatalf("threshold %.3f, want %.3f (a union over the 4 recipients of both notes)", r.Threshold, want)
	}
}

// TestNaNSamplesAreSilence: a recording or note with NaN or infinite
// samples (only a direct API caller can pass one; the decoders never
// produce them) is read as if those samples were silent or clipped.
func TestNaNSamplesAreSilence(t *testing.T) {
	key := testKey(12)
	orig := speech(t)
	cp, err := Mark(key, "n", "ana", orig)
	if err != nil {
		t.Fatal(err)
	}
	rec := &audio.Clip{Rate: Rate, Samples: slices.Clone(excerpt(cp, 3, 10).Samples)}
	for i := 0; i < len(rec.Samples); i += 997 {
		rec.Samples[i] = float32(math.NaN())
	}
	rec.Samples[5000], rec.Samples[90000] = float32(math.Inf(1)), float32(math.Inf(-1))
	r, err := Trace(context.Background(), key, []Note{{ID: "n", Original: orig, Recipients: []string{"ana", "ben"}}}, rec, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Named, []string{"ana"}) {
		t.Fatalf("named %v; %+v", r.Named, r)
	}
	bad := &audio.Clip{Rate: Rate, Samples: []float32{float32(math.NaN()), 2, -3}}
	m, err := Mark(key, "n", "ana", bad)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Samples {
		if !(v >= -1 && v <= 1) {
			t.Fatalf("marked sample %v", v)
		}
	}
}
