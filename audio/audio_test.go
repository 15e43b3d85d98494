package audio

// The fixtures in testdata were made once with ffmpeg 5.1 (Debian 12):
//
//	ffmpeg -f lavfi -i "sine=frequency=440:sample_rate=44100:duration=1" -ac 1 -c:a libmp3lame -b:a 48k -bitexact testdata/tone.mp3
//	ffmpeg -f lavfi -i "sine=frequency=440:sample_rate=16000:duration=1" -ac 1 -c:a libmp3lame -b:a 32k -bitexact testdata/tone16k.mp3
//	ffmpeg -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=1" -ac 1 -c:a libopus -b:a 24k -bitexact testdata/tone.opus
//	ffmpeg -f lavfi -i "sine=frequency=440:sample_rate=8000:duration=0.5" -f lavfi -i "anoisesrc=sample_rate=8000:duration=0.5:amplitude=0.01:seed=1" -filter_complex "[0:a][1:a]amerge=inputs=2" -c:a pcm_s16le -bitexact testdata/stereo.wav
//	ffmpeg -i testdata/stereo.wav -c:a flac -bitexact testdata/stereo.flac
//	ffmpeg -i testdata/stereo.wav -t 0.06 -c:a flac -frame_size 192 -bitexact testdata/short.flac
//
// tone.mp3 is 1 s of a 440 Hz sine (amplitude 1/8) at 44.1 kHz, mono, behind
// an ID3v2 tag and a LAME Info frame; tone16k.mp3 the same at 16 kHz
// (MPEG-2 layer III, the rate voice notes are marked at); tone.opus the same tone in Ogg Opus;
// stereo.wav half a second at 8 kHz with the tone on the left and white
// noise on the right, and stereo.flac the same samples as ffmpeg's FLAC
// encoder writes them (LPC subframes, inter-channel decorrelation, a
// padding block), so that DecodeFLAC is checked on a stream it did not write;
// short.flac is its first 60 ms in three frames (a seed for FuzzDecodeFLAC).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sine is n samples of amp·sin(2πf·i/rate).
func sine(rate int, freq, amp float64, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return x
}

// amplitudeAt is the amplitude of the component of x at freq, from a
// Hann-windowed DFT at that one frequency.
func amplitudeAt(x []float32, rate int, freq float64) float64 {
	if len(x) == 0 {
		return 0
	}
	// The window's cosine and the probe's phasor advance by rotation, not
	// a cosine per sample.
	var re, im, wsum float64
	pc, ps := 1.0, 0.0 // the probe: e^(iωn)
	dc, ds := math.Cos(2*math.Pi*freq/float64(rate)), math.Sin(2*math.Pi*freq/float64(rate))
	wc, ws := 1.0, 0.0 // the window's phase: e^(i2πn/N)
	wdc, wds := math.Cos(2*math.Pi/float64(len(x))), math.Sin(2*math.Pi/float64(len(x)))
	for _, v := range x {
		w := 0.5 - 0.5*wc
		re += w * float64(v) * pc
		im += w * float64(v) * ps
		wsum += w
		pc, ps = pc*dc-ps*ds, pc*ds+ps*dc
		wc, ws = wc*wdc-ws*wds, wc*wds+ws*wdc
	}
	return 2 * math.Hypot(re, im) / wsum
}

// peakFreq is the frequency in [lo, hi] (in steps of step Hz) where x is
// loudest.
func peakFreq(x []float32, rate int, lo, hi, step float64) float64 {
	best, bestA := lo, -1.0
	for f := lo; f <= hi; f += step {
		if a := amplitudeAt(x, rate, f); a > bestA {
			best, bestA = f, a
		}
	}
	return best
}

// middle is x without its first and last tenth (encoder delay, filter
// edges).
func middle(x []float32) []float32 {
	return x[len(x)/10 : len(x)-len(x)/10]
}

// checkTone asserts that c holds about dur seconds at rate with a dominant
// tone near freq.
func checkTone(t *testing.T, c *Clip, rate int, dur, freq float64) {
	t.Helper()
	if c.Rate != rate {
		t.Errorf("rate %d, want %d", c.Rate, rate)
	}
	// Lossy decoders may add up to 150 ms: go-mp3 keeps the encoder's delay
	// and padding, and the LAME Info frame as a frame of silence (about
	// 0.07 s at 44.1 kHz, 0.12 s at 16 kHz).
	if s := c.Seconds(); s < dur-0.05 || s > dur+0.15 {
		t.Errorf("%.3f s, want about %.3f s", s, dur)
	}
	checkSamples(t, c)
	if len(c.Samples) < rate/10 {
		t.Fatalf("only %d samples", len(c.Samples))
	}
	m := middle(c.Samples)
	if f := peakFreq(m, c.Rate, freq-20, freq+20, 1); math.Abs(f-freq) > 3 {
		t.Errorf("loudest near %.0f Hz at %.0f Hz", freq, f)
	}
	at := amplitudeAt(m, c.Rate, freq)
	for _, f := range []float64{freq / 2, freq * 0.75, freq * 1.25, freq * 1.5, freq * 2} {
		if a := amplitudeAt(m, c.Rate, f); a > at/10 {
			t.Errorf("%.0f Hz at amplitude %.4f, %.0f Hz only at %.4f", f, a, freq, at)
		}
	}
}

// checkSamples asserts what every decoder promises of its output.
func checkSamples(t testing.TB, c *Clip) {
	t.Helper()
	if c == nil {
		t.Fatal("nil clip without an error")
		return // t is a testing.TB: staticcheck cannot see that Fatal stops
	}
	if c.Rate < MinRate || c.Rate > MaxRate {
		t.Fatalf("rate %d outside [%d, %d]", c.Rate, MinRate, MaxRate)
	}
	if len(c.Samples) > maxFrames(c.Rate) {
		t.Fatalf("%d samples at %d Hz: longer than %s", len(c.Samples), c.Rate, MaxDuration)
	}
	for i, v := range c.Samples {
		if v != v || v < -1 || v > 1 {
			t.Fatalf("sample %d is %v", i, v)
		}
	}
}

func TestSniff(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want Format
	}{
		{"empty", nil, FormatUnknown},
		{"wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), FormatWAV},
		{"wav header only", []byte("RIFF\x00\x00\x00\x00WAVE"), FormatWAV},
		{"riff avi", []byte("RIFF\x24\x00\x00\x00AVI LIST"), FormatUnknown},
		{"riff short", []byte("RIFF\x24\x00\x00\x00WAV"), FormatUnknown},
		{"flac", []byte("fLaC\x00\x00\x00\x22"), FormatFLAC},
		{"flac short", []byte("fLa"), FormatUnknown},
		{"ogg", []byte("OggS\x00\x02"), FormatOgg},
		{"id3", []byte("ID3\x04\x00\x00"), FormatMP3},
		{"mpeg1 layer3", []byte{0xFF, 0xFB, 0x90, 0x64}, FormatMP3},
		{"mpeg2 layer3", []byte{0xFF, 0xF3, 0x48, 0xC4}, FormatMP3},
		{"mpeg2.5 layer3", []byte{0xFF, 0xE3, 0x18, 0xC4}, FormatMP3},
		{"mpeg1 layer2", []byte{0xFF, 0xFD, 0x90, 0x64}, FormatMP3},
		{"adts aac (layer 0)", []byte{0xFF, 0xF1, 0x50, 0x80}, FormatUnknown},
		{"one 0xFF", []byte{0xFF}, FormatUnknown},
		{"mp4", []byte("\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00"), FormatOther},
		{"mp4 short", []byte("\x00\x00\x00\x20ftyp"), FormatUnknown},
		{"webm", []byte{0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42}, FormatOther},
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0}, FormatUnknown},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), FormatUnknown},
		{"text", []byte("hello, this is not a recording"), FormatUnknown},
		{"fixture tone.mp3", readFixture(t, "tone.mp3"), FormatMP3},
		{"fixture tone16k.mp3 frames", stripID3(t, readFixture(t, "tone16k.mp3")), FormatMP3},
		{"fixture tone.opus", readFixture(t, "tone.opus"), FormatOgg},
		{"fixture stereo.wav", readFixture(t, "stereo.wav"), FormatWAV},
		{"fixture stereo.flac", readFixture(t, "stereo.flac"), FormatFLAC},
		{"EncodeWAV", EncodeWAV(&Clip{Rate: 16000, Samples: make([]float32, 10)}), FormatWAV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sniff(tt.b); got != tt.want {
				t.Errorf("Sniff = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestClipLength(t *testing.T) {
	tests := []struct {
		name string
		c    *Clip
		secs float64
		rms  float64
	}{
		{"nil", nil, 0, -1},
		{"no rate", &Clip{Samples: make([]float32, 100)}, 0, 0},
		{"empty", &Clip{Rate: 16000}, 0, 0},
		{"one second", &Clip{Rate: 16000, Samples: make([]float32, 16000)}, 1, 0},
		{"half a second", &Clip{Rate: 44100, Samples: make([]float32, 22050)}, 0.5, 0},
		{"full scale", &Clip{Rate: 8000, Samples: []float32{1, -1, 1, -1}}, 0.0005, 1},
		{"sine", &Clip{Rate: 8000, Samples: sine(8000, 1000, 0.5, 8000)}, 1, 0.5 / math.Sqrt2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Seconds(); math.Abs(got-tt.secs) > 1e-9 {
				t.Errorf("Seconds = %v, want %v", got, tt.secs)
			}
			want := time.Duration(tt.secs * float64(time.Second))
			if got := tt.c.Duration(); got != want {
				t.Errorf("Duration = %v, want %v", got, want)
			}
			if tt.rms >= 0 {
				if got := tt.c.RMS(); math.Abs(got-tt.rms) > 1e-6 {
					t.Errorf("RMS = %v, want %v", got, tt.rms)
				}
			}
		})
	}
}

// TestDecodeBad: whatever Decode is given, it answers with one of the
// package's errors (or a clip) and never panics.
func TestDecodeBad(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	random[0] = 0x00 // not an MPEG frame sync by chance
	noFFmpeg := []error{ErrBadFile, ErrNeedsFFmpeg}
	tests := []struct {
		name string
		b    []byte
		want []error // any of
	}{
		{"empty", nil, []error{ErrNotAudio}},
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}, []error{ErrNotAudio}},
		{"random", random, []error{ErrNotAudio}},
		{"text", []byte("#!/bin/sh\necho hello\n"), []error{ErrNotAudio}},
		{"riff avi", []byte("RIFF\x04\x00\x00\x00AVI "), []error{ErrNotAudio}},
		{"wav header only", []byte("RIFF\x04\x00\x00\x00WAVE"), []error{ErrBadFile}},
		{"flac magic only", []byte("fLaC"), []error{ErrBadFile}},
		{"flac magic and junk", append([]byte("fLaC"), random...), []error{ErrBadFile}},
		{"id3 only", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), []error{ErrBadFile}},
		{"mpeg sync and junk", append([]byte{0xFF, 0xFB}, random[:512]...), []error{ErrBadFile}},
		{"ogg magic and junk", append([]byte("OggS"), random[:512]...), noFFmpeg},
		{"mp4 junk", append([]byte("\x00\x00\x00\x20ftypM4A "), random[:512]...), noFFmpeg},
		{"webm junk", append([]byte{0x1A, 0x45, 0xDF, 0xA3}, random[:512]...), noFFmpeg},
		{"wav without samples", EncodeWAV(&Clip{Rate: 16000}), []error{ErrEmpty}},
		{"wav with half a sample", append(EncodeWAV(&Clip{Rate: 16000}), 0), []error{ErrEmpty}},
		{"flac without samples", mustFLAC(t, &Clip{Rate: 16000}), []error{ErrEmpty}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Decode(context.Background(), tt.b)
			if err == nil {
				t.Fatalf("Decode = %d samples at %d Hz, want an error", len(c.Samples), c.Rate)
			}
			if c != nil {
				t.Errorf("a clip with the error %v", err)
			}
			for _, w := range tt.want {
				if errors.Is(err, w) {
					return
				}
			}
			t.Errorf("Decode: %v, want one of %v", err, tt.want)
		})
	}
}

// TestDecodeTooBig: a file over MaxFileBytes is refused before it is read.
func TestDecodeTooBig(t *testing.T) {
	b := make([]byte, MaxFileBytes+1) // not touched: the pages stay unmapped
	copy(b, EncodeWAV(&Clip{Rate: 8000, Samples: make([]float32, 8)}))
	if _, err := Decode(context.Background(), b); !errors.Is(err, ErrTooLong) {
		t.Errorf("Decode of %d bytes: %v, want ErrTooLong", len(b), err)
	}
}

// TestDecodeDispatch: Decode reads each pure-Go format the way its own
// decoder does.
func TestDecodeDispatch(t *testing.T) {
	clip := &Clip{Rate: 16000, Samples: sine(16000, 440, 0.5, 4000)}
	fl := mustFLAC(t, clip)
	tests := []struct {
		name string
		b    []byte
		dec  func([]byte) (*Clip, error)
	}{
		{"wav", EncodeWAV(clip), DecodeWAV},
		{"wav fixture", readFixture(t, "stereo.wav"), DecodeWAV},
		{"flac", fl, DecodeFLAC},
		{"flac fixture", readFixture(t, "stereo.flac"), DecodeFLAC},
		{"mp3", readFixture(t, "tone.mp3"), DecodeMP3},
		{"mp3 without ID3", stripID3(t, readFixture(t, "tone.mp3")), DecodeMP3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := tt.dec(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(context.Background(), tt.b)
			if err != nil {
				t.Fatal(err)
			}
			checkSamples(t, got)
			if got.Rate != want.Rate || !equalSamples(got.Samples, want.Samples) {
				t.Errorf("Decode: %d samples at %d Hz, the format's decoder %d at %d Hz", len(got.Samples), got.Rate, len(want.Samples), want.Rate)
			}
		})
	}
}

func equalSamples(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// --- FLAC ---

func mustFLAC(t testing.TB, c *Clip) []byte {
	t.Helper()
	b, err := EncodeFLAC(c)
	if err != nil {
		t.Fatalf("EncodeFLAC: %v", err)
	}
	return b
}

// toneAndNoise is 1 s at 16 kHz: a 440 Hz tone at half scale plus a little
// white noise, with a few samples out of range to exercise saturation.
func toneAndNoise() *Clip {
	rnd := rand.New(rand.NewPCG(3, 4))
	x := sine(16000, 440, 0.5, 16000)
	for i := range x {
		x[i] += float32(rnd.NormFloat64() * 0.01)
	}
	x[100], x[200], x[300] = 1, -1, 1.5
	return &Clip{Rate: 16000, Samples: x}
}

// quantized is what a 16-bit format gives back for x.
func quantized(x []float32) []float32 {
	q := make([]float32, len(x))
	for i, v := range x {
		q[i] = float32(ToInt16(v)) / 32768
	}
	return q
}

func TestFLACRoundTrip(t *testing.T) {
	tn := toneAndNoise()
	tests := []struct {
		name string
		c    *Clip
	}{
		{"tone and noise", tn},
		{"pure tone", &Clip{Rate: 16000, Samples: sine(16000, 440, 0.5, 16000)}},
		{"silence", &Clip{Rate: 8000, Samples: make([]float32, 5000)}},
		{"one sample", &Clip{Rate: 16000, Samples: []float32{0.25}}},
		{"one block", &Clip{Rate: 16000, Samples: tn.Samples[:flacBlock]}},
		{"one block and one sample", &Clip{Rate: 16000, Samples: tn.Samples[:flacBlock+1]}},
		{"44.1 kHz", &Clip{Rate: 44100, Samples: tn.Samples[:9000]}},
		{"11.025 kHz", &Clip{Rate: 11025, Samples: tn.Samples[:9000]}},
		{"12.345 kHz", &Clip{Rate: 12345, Samples: tn.Samples[:9000]}},
		{"96 kHz", &Clip{Rate: 96000, Samples: tn.Samples[:9000]}},
		{"100.001 kHz", &Clip{Rate: 100001, Samples: tn.Samples[:9000]}},
		{"192 kHz", &Clip{Rate: 192000, Samples: tn.Samples[:9000]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustFLAC(t, tt.c)
			if Sniff(b) != FormatFLAC {
				t.Errorf("Sniff = %q", Sniff(b))
			}
			got, err := DecodeFLAC(b)
			if err != nil {
				t.Fatalf("DecodeFLAC: %v", err)
			}
			checkSamples(t, got)
			if got.Rate != tt.c.Rate {
				t.Errorf("rate %d, want %d", got.Rate, tt.c.Rate)
			}
			want := quantized(tt.c.Samples)
			if len(got.Samples) != len(want) {
				t.Fatalf("%d samples, want %d", len(got.Samples), len(want))
			}
			for i := range want {
				if got.Samples[i] != want[i] {
					t.Fatalf("sample %d is %v, want %v", i, got.Samples[i], want[i])
				}
			}
			if n := len(tt.c.Samples); n >= 1000 {
				t.Logf("%d samples: %d bytes of FLAC, %.1f%% of 16-bit PCM", n, len(b), 100*float64(len(b))/float64(2*n))
			}
		})
	}
}

// TestFLACFixture: ffmpeg's FLAC (LPC, stereo decorrelation, a padding
// block) decodes to exactly the samples of the WAV it was made from.
func TestFLACFixture(t *testing.T) {
	w, err := DecodeWAV(readFixture(t, "stereo.wav"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := DecodeFLAC(readFixture(t, "stereo.flac"))
	if err != nil {
		t.Fatal(err)
	}
	checkSamples(t, f)
	if f.Rate != 8000 || w.Rate != 8000 || len(f.Samples) != 4000 {
		t.Fatalf("FLAC %d samples at %d Hz, WAV at %d Hz; want 4000 at 8000", len(f.Samples), f.Rate, w.Rate)
	}
	if !equalSamples(f.Samples, w.Samples) {
		t.Error("FLAC and WAV decode to different samples")
	}
	checkTone(t, f, 8000, 0.5, 440)

	// The first 60 ms in frames of 192 samples, the last one short.
	s, err := DecodeFLAC(readFixture(t, "short.flac"))
	if err != nil {
		t.Fatal(err)
	}
	if !equalSamples(s.Samples, w.Samples[:480]) {
		t.Errorf("short.flac: %d samples, not the WAV's first 480", len(s.Samples))
	}
	for _, keep := range [][]byte{nil, {4}, {1, 4}} {
		b := stripFLACMeta(t, readFixture(t, "short.flac"), keep...)
		if s, err := DecodeFLAC(b); err != nil || !equalSamples(s.Samples, w.Samples[:480]) {
			t.Errorf("short.flac with metadata blocks %v only: %v", keep, err)
		}
	}
}

func TestFLACDamaged(t *testing.T) {
	const header = 4 + 4 + 34 // magic, block header, STREAMINFO
	tn := toneAndNoise()
	good := mustFLAC(t, tn)
	// The same stream's header and first frame alone: a stream cut
	// between frames.
	firstBlock := mustFLAC(t, &Clip{Rate: tn.Rate, Samples: tn.Samples[:flacBlock]})
	if !bytes.Equal(good[header:len(firstBlock)], firstBlock[header:]) {
		t.Fatal("the first frame differs")
	}
	fixture := readFixture(t, "stereo.flac")
	corrupt := func(b []byte, at ...int) []byte {
		b = bytes.Clone(b)
		for _, i := range at {
			b[i] ^= 0x5A
		}
		return b
	}
	// The STREAMINFO with a total of 2 hours of samples at 16 kHz.
	long := bytes.Clone(good)
	n := uint64(2 * 3600 * 16000)
	// Bytes 8+13..8+17 hold 4 bits of bits-per-sample and 36 bits of total samples.
	long[8+13] = long[8+13]&0xF0 | byte(n>>32)&0x0F
	binary.BigEndian.PutUint32(long[8+14:], uint32(n))
	// The STREAMINFO with a sample rate of 7 kHz (20 bits at byte 8+10).
	slow := bytes.Clone(good)
	r := uint32(7000)
	slow[8+10], slow[8+11] = byte(r>>12), byte(r>>4)
	slow[8+12] = slow[8+12]&0x0F | byte(r<<4)

	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"magic only", good[:4], ErrBadFile},
		{"cut in STREAMINFO", good[:20], ErrBadFile},
		{"header only", good[:header], ErrBadFile}, // cut before its frames
		{"cut in first frame", good[:header+100], ErrBadFile},
		{"cut in half", good[:len(good)/2], ErrBadFile},
		{"last byte missing", good[:len(good)-1], ErrBadFile},
		{"cut after the first frame", good[:len(firstBlock)], ErrBadFile},
		{"fixture cut in half", fixture[:len(fixture)/2], ErrBadFile},
		{"fixture cut in padding", fixture[:100], ErrBadFile},
		{"corrupt first frame", corrupt(good, header+50), ErrBadFile},
		{"corrupt middle", corrupt(good, len(good)/2, len(good)/2+1), ErrBadFile},
		{"corrupt last byte", corrupt(good, len(good)-1), ErrBadFile},
		{"corrupt frame header", corrupt(good, header+2), ErrBadFile},
		{"corrupt fixture frames", corrupt(fixture, len(fixture)-3000, len(fixture)-2000, len(fixture)-1000), ErrBadFile},
		{"2 hours", long, ErrTooLong},
		{"7 kHz", slow, ErrBadFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeFLAC(tt.b)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("DecodeFLAC: %v", err)
				}
				checkSamples(t, c)
				return
			}
			if !errors.Is(err, tt.want) {
				n := -1
				if c != nil {
					n = len(c.Samples)
				}
				t.Fatalf("DecodeFLAC = %d samples, %v; want %v", n, err, tt.want)
			}
			if c != nil {
				t.Error("a clip with the error")
			}
		})
	}
}

// --- MP3 ---

// stripID3 is b without its leading ID3v2 tag.
func stripID3(t testing.TB, b []byte) []byte {
	t.Helper()
	if len(b) < 10 || string(b[:3]) != "ID3" {
		t.Fatal("no ID3v2 tag")
	}
	n := int(b[6])<<21 | int(b[7])<<14 | int(b[8])<<7 | int(b[9]) // syncsafe
	b = b[10+n:]
	if Sniff(b) != FormatMP3 || b[0] != 0xFF {
		t.Fatalf("no frame sync after the ID3 tag: % x", b[:4])
	}
	return b
}

func TestMP3(t *testing.T) {
	mp3 := readFixture(t, "tone.mp3")
	mp3lsf := readFixture(t, "tone16k.mp3")
	decode := func(b []byte) (*Clip, error) { return Decode(context.Background(), b) }
	tests := []struct {
		name string
		dec  func([]byte) (*Clip, error)
		b    []byte
		rate int
	}{
		{"DecodeMP3", DecodeMP3, mp3, 44100},
		{"DecodeMP3 without ID3", DecodeMP3, stripID3(t, mp3), 44100},
		{"Decode", decode, mp3, 44100},
		{"Decode without ID3", decode, stripID3(t, mp3), 44100},
		{"DecodeMP3 16 kHz", DecodeMP3, mp3lsf, 16000},
		{"Decode 16 kHz without ID3", decode, stripID3(t, mp3lsf), 16000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.dec(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			checkTone(t, c, tt.rate, 1, 440)
			// The sine is at 1/8 of full scale; MP3 at 48 kbit/s keeps it
			// within a dB.
			if a := amplitudeAt(middle(c.Samples), c.Rate, 440); math.Abs(20*math.Log10(a*8)) > 1 {
				t.Errorf("440 Hz at amplitude %.4f, want about 0.125", a)
			}
		})
	}
}

func TestMP3Damaged(t *testing.T) {
	mp3 := readFixture(t, "tone.mp3")
	full, err := DecodeMP3(mp3)
	if err != nil {
		t.Fatal(err)
	}
	raw := stripID3(t, mp3)
	corrupt := bytes.Clone(mp3)
	for i := len(corrupt) / 3; i < len(corrupt); i += 97 {
		corrupt[i] ^= 0xA5
	}
	zeroed := bytes.Clone(mp3)
	clear(zeroed[len(zeroed)/2:])
	tests := []struct {
		name string
		b    []byte
	}{
		{"ID3 only", mp3[:10]},
		{"cut in ID3", mp3[:5]},
		{"cut in first frame header", raw[:3]},
		{"cut in first frame", raw[:50]},
		{"cut after a few frames", raw[:1000]},
		{"cut in half", mp3[:len(mp3)/2]},
		{"last byte missing", mp3[:len(mp3)-1]},
		{"corrupt frames", corrupt},
		{"second half zeroed", zeroed},
		{"sync only", []byte{0xFF, 0xFB}},
		{"header only", raw[:4]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeMP3(tt.b)
			if err != nil {
				if !errors.Is(err, ErrBadFile) {
					t.Errorf("DecodeMP3: %v, want ErrBadFile", err)
				}
				if c != nil {
					t.Error("a clip with the error")
				}
				return
			}
			checkSamples(t, c)
			if len(c.Samples) > len(full.Samples) {
				t.Errorf("%d samples from a damaged file, %d from the whole", len(c.Samples), len(full.Samples))
			}
			t.Logf("%d of %d samples", len(c.Samples), len(full.Samples))
		})
	}
}

// --- ffmpeg ---

func TestOpusThroughFFmpeg(t *testing.T) {
	opus := readFixture(t, "tone.opus")
	ctx := context.Background()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Log("ffmpeg is not installed: only its absence is tested")
		if _, err := Decode(ctx, opus); !errors.Is(err, ErrNeedsFFmpeg) {
			t.Errorf("Decode without ffmpeg: %v, want ErrNeedsFFmpeg", err)
		}
		return
	}
	c, err := Decode(ctx, opus)
	if err != nil {
		t.Fatal(err)
	}
	checkTone(t, c, ffmpegRate, 1, 440)

	t.Run("damaged", func(t *testing.T) {
		bad := bytes.Clone(opus[:200])
		for i := 60; i < len(bad); i++ {
			bad[i] = 0
		}
		c, err := Decode(ctx, bad)
		if err == nil {
			checkSamples(t, c) // ffmpeg may salvage something; it must still be in bounds
		} else if !errors.Is(err, ErrBadFile) && !errors.Is(err, ErrEmpty) {
			t.Errorf("Decode: %v, want ErrBadFile or ErrEmpty", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Decode(ctx, opus); !errors.Is(err, context.Canceled) {
			t.Errorf("Decode with a canceled context: %v, want context.Canceled", err)
		}
	})
}

// TestFFmpegMissing: with no ffmpeg on PATH, what needs it fails with
// ErrNeedsFFmpeg, and the pure-Go formats still decode.
func TestFFmpegMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	ctx := context.Background()
	for _, name := range []string{"tone.opus"} {
		if _, err := Decode(ctx, readFixture(t, name)); !errors.Is(err, ErrNeedsFFmpeg) {
			t.Errorf("%s: %v, want ErrNeedsFFmpeg", name, err)
		}
	}
	if _, err := Decode(ctx, []byte("\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00")); !errors.Is(err, ErrNeedsFFmpeg) {
		t.Errorf("mp4: %v, want ErrNeedsFFmpeg", err)
	}
	for _, name := range []string{"tone.mp3", "stereo.wav", "stereo.flac"} {
		if _, err := Decode(ctx, readFixture(t, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestLowRateMP3ThroughFFmpeg: go-mp3 garbles this 22.05 kHz, 24 kbit/s
// stream (the tone is almost gone); Decode hands MP3 below 32 kHz to
// ffmpeg, which reads it. Made with:
//
//	ffmpeg -f lavfi -i "sine=frequency=440:sample_rate=22050:duration=1" -ac 1 -c:a libmp3lame -b:a 24k tone22k24.mp3
func TestLowRateMP3ThroughFFmpeg(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatalf("this test needs ffmpeg (.ci/run installs it): %v", err)
	}
	c, err := Decode(context.Background(), readFixture(t, "tone22k24.mp3"))
	if err != nil {
		t.Fatal(err)
	}
	checkTone(t, c, ffmpegRate, 1, 440)
}
