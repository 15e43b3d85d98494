package voicenote

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"backchannel/audio"
	"backchannel/audiomark"
)

// speechDir holds the read speech of Debian's pocketsphinx-testdata,
// which .ci/run installs.
const speechDir = "/usr/share/pocketsphinx/test/data"

// speechWAV is the first LibriVox excerpt of pocketsphinx-testdata.
func speechWAV(t *testing.T) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(speechDir, "librivox", "*.wav"))
	if len(files) == 0 {
		t.Fatalf("no read speech in %s: install Debian's pocketsphinx-testdata", speechDir)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noise is rate·seconds of white noise at amplitude a.
func noise(rate int, seconds, a float64) *audio.Clip {
	rng := rand.New(rand.NewPCG(1, 2))
	c := &audio.Clip{Rate: rate, Samples: make([]float32, int(float64(rate)*seconds))}
	for i := range c.Samples {
		c.Samples[i] = float32(a * (2*rng.Float64() - 1))
	}
	return c
}

func TestPrepareResamples(t *testing.T) {
	c, err := Prepare(context.Background(), audio.EncodeWAV(noise(44100, 3, 0.3)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Rate != audiomark.Rate || math.Abs(c.Seconds()-3) > 0.01 {
		t.Fatalf("prepared %d Hz, %.3f s; want %d Hz, 3 s", c.Rate, c.Seconds(), audiomark.Rate)
	}
	sp, err := Prepare(context.Background(), speechWAV(t))
	if err != nil || sp.Rate != audiomark.Rate || sp.Seconds() < 1 {
		t.Fatalf("speech: %v", err)
	}
}

func TestPrepareRefuses(t *testing.T) {
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0}, make([]byte, 200)...)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"jpeg", jpeg, ErrNotAudio},
		{"text", []byte("minutes of the meeting\n"), ErrNotAudio},
		{"empty file", nil, ErrSilent},
		{"no samples", audio.EncodeWAV(&audio.Clip{Rate: 16000}), ErrSilent},
		{"silence", audio.EncodeWAV(&audio.Clip{Rate: 16000, Samples: make([]float32, 16000*2)}), ErrSilent},
		{"6 minutes", audio.EncodeWAV(noise(8000, 360, 0.1)), ErrTooLong},
		{"5 min 3 s", audio.EncodeWAV(noise(8000, 303, 0.1)), ErrTooLong},
	} {
		_, err := Prepare(context.Background(), tc.data)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Exactly 5 minutes is a voice note.
	if _, err := Prepare(context.Background(), audio.EncodeWAV(noise(8000, 300, 0.1))); err != nil {
		t.Errorf("5 minutes: %v", err)
	}
}

func TestMarkCopies(t *testing.T) {
	clip, err := Prepare(context.Background(), speechWAV(t))
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, audiomark.KeySize)
	key[0] = 7
	recipients := []string{"ben", "cleo", "dan"}
	copies, err := MarkCopies(key, "note-1", clip, recipients)
	if err != nil {
		t.Fatal(err)
	}
	if len(copies) != len(recipients) {
		t.Fatalf("%d copies for %d recipients", len(copies), len(recipients))
	}
	seen := map[string]string{}
	for _, r := range recipients {
		b := copies[r]
		if who, dup := seen[string(b)]; dup {
			t.Fatalf("%s's copy is %s's", r, who)
		}
		seen[string(b)] = r
		got, err := audio.DecodeFLAC(b)
		if err != nil {
			t.Fatalf("%s's copy does not decode: %v", r, err)
		}
		want, err := audiomark.Mark(key, "note-1", r, clip)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rate != audiomark.Rate || len(got.Samples) != len(want.Samples) {
			t.Fatalf("%s's copy: %d Hz, %d samples; want %d, %d", r, got.Rate, len(got.Samples), audiomark.Rate, len(want.Samples))
		}
		for i := range got.Samples {
			if d := math.Abs(float64(got.Samples[i] - want.Samples[i])); d > 1.0/32768 {
				t.Fatalf("%s's copy differs from its marked samples at %d by %g", r, i, d)
			}
		}
	}
	if _, err := MarkCopies(key, "n", clip, []string{"ben", "ben"}); err == nil {
		t.Fatal("a recipient listed twice was marked twice")
	}
	if _, err := MarkCopies(key, "n", audio.Resample(clip, 8000), recipients); err == nil {
		t.Fatal("a clip not at audiomark.Rate was marked")
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0:00",
		400 * time.Millisecond:                "0:00",
		23*time.Second + 600*time.Millisecond: "0:24",
		59 * time.Second:                      "0:59",
		60 * time.Second:                      "1:00",
		4*time.Minute + 59*time.Second:        "4:59",
		12 * time.Minute:                      "12:00",
		-time.Second:                          "0:00",
	} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}
