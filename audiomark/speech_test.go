package audiomark

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"backchannel/audio"
)

// speechDir holds the read speech of Debian's pocketsphinx-testdata,
// which .ci/run installs.
const speechDir = "/usr/share/pocketsphinx/test/data"

var (
	speechOnce sync.Once
	speechClip *audio.Clip
	speechErr  error
)

// speech is the five LibriVox excerpts of pocketsphinx-testdata, one
// after the other: 23.7 s of one woman reading.
func speech(t testing.TB) *audio.Clip {
	t.Helper()
	speechOnce.Do(func() {
		files, err := filepath.Glob(filepath.Join(speechDir, "librivox", "*.wav"))
		if err != nil || len(files) == 0 {
			speechErr = err
			if err == nil {
				speechErr = os.ErrNotExist
			}
			return
		}
		c := &audio.Clip{Rate: Rate}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				speechErr = err
				return
			}
			part, err := audio.DecodeWAV(b)
			if err != nil {
				speechErr = err
				return
			}
			c.Samples = append(c.Samples, audio.Resample(part, Rate).Samples...)
		}
		speechClip = c
	})
	if speechErr != nil {
		t.Fatalf("read speech from %s (install Debian's pocketsphinx-testdata): %v", speechDir, speechErr)
	}
	return speechClip
}

// rawSpeech reads one of the corpus's headerless 16-bit 16 kHz files.
func rawSpeech(t testing.TB, name string) *audio.Clip {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(speechDir, name))
	if err != nil {
		t.Fatalf("read %s (install Debian's pocketsphinx-testdata): %v", name, err)
	}
	c := &audio.Clip{Rate: Rate, Samples: make([]float32, len(b)/2)}
	for i := range c.Samples {
		c.Samples[i] = float32(int16(uint16(b[2*i])|uint16(b[2*i+1])<<8)) / 32768
	}
	return c
}

// ffmpegThrough passes a clip through an ffmpeg filter or codec chain
// (audio.Through) and brings the result back to Rate.
func ffmpegThrough(t testing.TB, c *audio.Clip, encodeArgs ...string) *audio.Clip {
	t.Helper()
	d, err := audio.Through(context.Background(), c, encodeArgs)
	if err != nil {
		t.Fatalf("%v (.ci/run installs ffmpeg)", err)
	}
	return audio.Resample(d, Rate)
}
