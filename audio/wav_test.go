package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// WAV files are written by hand here, chunk by chunk, so that every field
// the decoder reads can be set to what a test needs.

// chunk is a RIFF chunk: its id, its size and its body, padded to an even
// length. A size of -1 is the body's length.
func chunk(id string, size int, body []byte) []byte {
	if size < 0 {
		size = len(body)
	}
	b := append([]byte(id), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(size))
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// riff is a RIFF WAVE file of the chunks.
func riff(chunks ...[]byte) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVE")
	for _, c := range chunks {
		b = append(b, c...)
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

type wavFmt struct {
	format, channels, rate, bits int
	extensible                   bool // WAVE_FORMAT_EXTENSIBLE with format as the sub-format
}

// body is the "fmt " chunk's body.
func (f wavFmt) body() []byte {
	b := make([]byte, 16, 40)
	tag := f.format
	if f.extensible {
		tag = wavExtensible
	}
	block := f.channels * f.bits / 8
	binary.LittleEndian.PutUint16(b[0:], uint16(tag))
	binary.LittleEndian.PutUint16(b[2:], uint16(f.channels))
	binary.LittleEndian.PutUint32(b[4:], uint32(f.rate))
	binary.LittleEndian.PutUint32(b[8:], uint32(f.rate*block))
	binary.LittleEndian.PutUint16(b[12:], uint16(block))
	binary.LittleEndian.PutUint16(b[14:], uint16(f.bits))
	if f.extensible {
		b = append(b, 22, 0) // cbSize
		b = binary.LittleEndian.AppendUint16(b, uint16(f.bits))
		b = binary.LittleEndian.AppendUint32(b, 1<<f.channels-1) // channel mask
		b = binary.LittleEndian.AppendUint16(b, uint16(f.format))
		b = append(b, "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71"...)
	}
	return b
}

func (f wavFmt) chunk() []byte { return chunk("fmt ", -1, f.body()) }

// wavCodes are integer sample codes that a WAV of each depth holds exactly,
// including both extremes.
func wavCodes(bits int, n int, rnd *rand.Rand) []int64 {
	lo, hi := -int64(1)<<(bits-1), int64(1)<<(bits-1)-1
	v := []int64{0, lo, hi, 1, -1, lo + 1, hi - 1}
	for len(v) < n {
		v = append(v, lo+rnd.Int64N(hi-lo+1))
	}
	return v[:n]
}

// encodeCode writes one sample code the way the format stores it, and
// returns the value the decoder should read from it.
func encodeCode(b []byte, f wavFmt, code int64, fl float64) ([]byte, float64) {
	switch {
	case f.format == wavFloat && f.bits == 32:
		v := float32(fl)
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(v)), float64(v)
	case f.format == wavFloat:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(fl)), fl
	case f.bits == 8:
		return append(b, byte(code+128)), float64(code) / 128
	case f.bits == 16:
		return binary.LittleEndian.AppendUint16(b, uint16(code)), float64(code) / 32768
	case f.bits == 24:
		return append(b, byte(code), byte(code>>8), byte(code>>16)), float64(code) / (1 << 23)
	default:
		return binary.LittleEndian.AppendUint32(b, uint32(code)), float64(code) / (1 << 31)
	}
}

// wavData is frames of f's encoding and the mono samples DecodeWAV should
// give for them (the channels' mean).
func wavData(f wavFmt, frames int, seed uint64) (data []byte, want []float32) {
	rnd := rand.New(rand.NewPCG(seed, uint64(f.bits)))
	bits := f.bits
	if f.format == wavFloat {
		bits = 16
	}
	codes := wavCodes(bits, frames*f.channels, rnd)
	for i := range frames {
		var sum float64
		for ch := range f.channels {
			code := codes[i*f.channels+ch]
			fl := float64(code) / float64(int64(1)<<(bits-1))
			if f.format == wavFloat && i%5 == 4 {
				fl = rnd.Float64()*2 - 1 // not on a 16-bit grid
			}
			var v float64
			data, v = encodeCode(data, f, code, fl)
			sum += v
		}
		want = append(want, float32(sum/float64(f.channels)))
	}
	return data, want
}

func TestWAVEncodings(t *testing.T) {
	var tests []wavFmt
	for _, ch := range []int{1, 2, 3, 8} {
		for _, rate := range []int{8000, 16000, 44100, 192000} {
			for _, enc := range []struct{ format, bits int }{
				{wavPCM, 8}, {wavPCM, 16}, {wavPCM, 24}, {wavPCM, 32}, {wavFloat, 32}, {wavFloat, 64},
			} {
				for _, ext := range []bool{false, true} {
					tests = append(tests, wavFmt{enc.format, ch, rate, enc.bits, ext})
				}
			}
		}
	}
	for i, f := range tests {
		data, want := wavData(f, 300, uint64(i))
		b := riff(f.chunk(), chunk("data", -1, data))
		c, err := DecodeWAV(b)
		if err != nil {
			t.Errorf("%+v: %v", f, err)
			continue
		}
		checkSamples(t, c)
		if c.Rate != f.rate {
			t.Errorf("%+v: rate %d", f, c.Rate)
		}
		if len(c.Samples) != len(want) {
			t.Errorf("%+v: %d samples, want %d", f, len(c.Samples), len(want))
			continue
		}
		for j := range want {
			if c.Samples[j] != want[j] {
				t.Errorf("%+v: sample %d is %v, want %v", f, j, c.Samples[j], want[j])
				break
			}
		}
	}
}

// TestWAVStereoMix: channels are averaged, sample by sample.
func TestWAVStereoMix(t *testing.T) {
	f := wavFmt{wavPCM, 2, 16000, 16, false}
	pairs := [][2]int16{{16384, -16384}, {16384, 8192}, {-32768, -32768}, {32767, 32767}, {-32768, 32767}, {0, 1}, {100, 0}}
	want := []float32{0, 0.375, -1, 32767.0 / 32768, -0.5 / 32768, 0.5 / 32768, 50.0 / 32768}
	var data []byte
	for _, p := range pairs {
		data = binary.LittleEndian.AppendUint16(data, uint16(p[0]))
		data = binary.LittleEndian.AppendUint16(data, uint16(p[1]))
	}
	c, err := DecodeWAV(riff(f.chunk(), chunk("data", -1, data)))
	if err != nil {
		t.Fatal(err)
	}
	if !equalSamples(c.Samples, want) {
		t.Errorf("mixed to %v, want %v", c.Samples, want)
	}
}

// TestWAVChunks: the chunks around "fmt " and "data", their padding, and a
// data chunk whose size is not what is there.
func TestWAVChunks(t *testing.T) {
	f := wavFmt{wavPCM, 1, 16000, 16, false}
	data, want := wavData(f, 100, 7)
	fm := f.chunk()
	list := chunk("LIST", -1, []byte("INFOISFT\x05\x00\x00\x00ffmp\x00")) // odd: padded
	odd := chunk("junk", -1, []byte{1, 2, 3})                             // odd: padded
	even := chunk("fact", -1, []byte{100, 0, 0, 0})
	empty := chunk("junk", -1, nil)
	tail := chunk("LIST", -1, []byte("INFOICMT\x04\x00\x00\x00abcd"))
	// An fmt chunk longer than 16 bytes (cbSize and two bytes of extra).
	fmt18 := chunk("fmt ", -1, append(f.body(), 2, 0, 0xAB, 0xCD))
	// An odd-sized fmt chunk (cbSize cut to one byte), padded.
	fmt17 := chunk("fmt ", -1, append(f.body(), 0))

	tests := []struct {
		name string
		b    []byte
		want []float32
	}{
		{"plain", riff(fm, chunk("data", -1, data)), want},
		{"odd chunk before fmt", riff(odd, fm, chunk("data", -1, data)), want},
		{"odd chunk before data", riff(fm, odd, chunk("data", -1, data)), want},
		{"odd LIST before data", riff(fm, list, chunk("data", -1, data)), want},
		{"several chunks", riff(list, fm, even, odd, empty, odd, chunk("data", -1, data)), want},
		{"fmt of 18 bytes", riff(fmt18, chunk("data", -1, data)), want},
		{"odd fmt of 17 bytes", riff(fmt17, odd, chunk("data", -1, data)), want},
		{"chunk after data", riff(fm, chunk("data", -1, data), tail), want},
		{"data size shorter than data", riff(fm, chunk("data", 100, data)), want[:50]},
		{"data size past the end", riff(fm, chunk("data", 10000, data)), want},
		{"data size 0xFFFFFFFF", riff(fm, chunk("data", 0xFFFFFFFF, data)), want},
		{"data size 2 hours", riff(fm, chunk("data", 2*3600*16000*2, data)), want},
		{"half a sample at the end", riff(fm, chunk("data", -1, append(bytes.Clone(data), 0x7F))), want},
		{"cut in the last sample", func() []byte {
			b := riff(fm, chunk("data", -1, data))
			return b[:len(b)-1]
		}(), want[:99]},
		{"RIFF size wrong", func() []byte {
			b := riff(fm, chunk("data", -1, data))
			binary.LittleEndian.PutUint32(b[4:], 12)
			return b
		}(), want},
		{"empty data", riff(fm, chunk("data", -1, nil)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeWAV(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if c.Rate != 16000 {
				t.Errorf("rate %d", c.Rate)
			}
			if !equalSamples(c.Samples, tt.want) {
				t.Errorf("%d samples, want %d (or different values)", len(c.Samples), len(tt.want))
			}
		})
	}
}

func TestWAVBad(t *testing.T) {
	pcm16 := wavFmt{wavPCM, 1, 16000, 16, false}
	data := make([]byte, 3200)
	with := func(f wavFmt) []byte { return riff(f.chunk(), chunk("data", -1, data)) }
	rnd := rand.New(rand.NewPCG(5, 6))
	random := make([]byte, 1000)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	fmtBody := pcm16.body()
	ext := wavFmt{wavPCM, 2, 16000, 16, true}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrNotAudio},
		{"one byte", []byte{'R'}, ErrNotAudio},
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0}, ErrNotAudio},
		{"random", random, ErrNotAudio},
		{"RIFF without WAVE", append([]byte("RIFF\x00\x10\x00\x00AVI "), with(pcm16)[12:]...), ErrNotAudio},
		{"RIFF and nothing", []byte("RIFF\x00\x00\x00\x00"), ErrNotAudio},
		{"RIFX (big-endian)", append([]byte("RIFX"), with(pcm16)[4:]...), ErrNotAudio},
		{"WAVE and nothing", riff(), ErrBadFile},
		{"WAVE and a broken chunk header", append(riff(), "fmt \x10\x00"...), ErrBadFile},
		{"no data chunk", riff(pcm16.chunk()), ErrBadFile},
		{"no fmt chunk", riff(chunk("data", -1, data)), ErrBadFile},
		{"data before fmt", riff(chunk("data", -1, data), pcm16.chunk()), ErrBadFile},
		{"fmt too short", riff(chunk("fmt ", -1, fmtBody[:14]), chunk("data", -1, data)), ErrBadFile},
		{"fmt claims 16 bytes, 14 there", append(riff(), chunk("fmt ", 16, fmtBody[:14])...), ErrBadFile},
		{"fmt size past the end", riff(chunk("fmt ", 0x7FFFFFFF, fmtBody), chunk("data", -1, data)), ErrBadFile},
		{"extensible fmt too short", riff(chunk("fmt ", -1, ext.body()[:24]), chunk("data", -1, data)), ErrBadFile},
		{"rate 0", with(wavFmt{wavPCM, 1, 0, 16, false}), ErrBadFile},
		{"rate 7999", with(wavFmt{wavPCM, 1, 7999, 16, false}), ErrBadFile},
		{"rate 192001", with(wavFmt{wavPCM, 1, 192001, 16, false}), ErrBadFile},
		{"rate 200000", with(wavFmt{wavPCM, 1, 200000, 16, false}), ErrBadFile},
		{"rate 4294967295", with(wavFmt{wavPCM, 1, 1<<32 - 1, 16, false}), ErrBadFile},
		{"0 channels", with(wavFmt{wavPCM, 0, 16000, 16, false}), ErrBadFile},
		{"9 channels", with(wavFmt{wavPCM, 9, 16000, 16, false}), ErrBadFile},
		{"65535 channels", with(wavFmt{wavPCM, 65535, 16000, 16, false}), ErrBadFile},
		{"0 channels extensible", with(wavFmt{wavPCM, 0, 16000, 16, true}), ErrBadFile},
		{"12-bit PCM", with(wavFmt{wavPCM, 1, 16000, 12, false}), ErrBadFile},
		{"0-bit PCM", with(wavFmt{wavPCM, 1, 16000, 0, false}), ErrBadFile},
		{"4-bit PCM", with(wavFmt{wavPCM, 1, 16000, 4, false}), ErrBadFile},
		{"40-bit PCM", with(wavFmt{wavPCM, 1, 16000, 40, false}), ErrBadFile},
		{"64-bit PCM", with(wavFmt{wavPCM, 1, 16000, 64, false}), ErrBadFile},
		{"16-bit float", with(wavFmt{wavFloat, 1, 16000, 16, false}), ErrBadFile},
		{"ADPCM", with(wavFmt{2, 1, 16000, 4, false}), ErrBadFile},
		{"mu-law", with(wavFmt{7, 1, 16000, 8, false}), ErrBadFile},
		{"extensible ADPCM", with(wavFmt{2, 1, 16000, 16, true}), ErrBadFile},
		{"extensible 12-bit", with(wavFmt{wavPCM, 1, 16000, 12, true}), ErrBadFile},
		{"format 0", with(wavFmt{0, 1, 16000, 16, false}), ErrBadFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeWAV(tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeWAV: %v, want %v", err, tt.want)
			}
			if c != nil {
				t.Error("a clip with the error")
			}
			// Decode agrees, or (for what is not a WAV) says it is not audio.
			if _, err := Decode(context.Background(), tt.b); !errors.Is(err, tt.want) && !errors.Is(err, ErrNotAudio) {
				t.Errorf("Decode: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestWAVTooLong: a WAV is bounded by the bytes it holds, and refused when
// those are more than MaxDuration — before a sample is allocated.
func TestWAVTooLong(t *testing.T) {
	const rate = 8000
	f := wavFmt{wavPCM, 1, rate, 8, false}
	limit := maxFrames(rate)
	twoHours := 2 * 3600 * rate
	body := bytes.Repeat([]byte{0x80}, limit+1) // 8-bit silence, one frame too many

	tests := []struct {
		name    string
		size    int // in the header
		present int // bytes of samples in the file
		want    error
	}{
		{"claims 2 hours, holds 1 s", twoHours, rate, nil},
		{"claims 2 hours, holds MaxDuration", twoHours, limit, nil},
		{"claims 2 hours, holds a frame more", twoHours, limit + 1, ErrTooLong},
		{"claims and holds a frame more", limit + 1, limit + 1, ErrTooLong},
		{"claims 0xFFFFFFFF, holds a frame more", 0xFFFFFFFF, limit + 1, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := riff(f.chunk(), chunk("data", tt.size, body[:tt.present]))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c, err := DecodeWAV(b)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeWAV: %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				if len(c.Samples) != tt.present {
					t.Errorf("%d samples, want %d", len(c.Samples), tt.present)
				}
				return
			}
			// Decoding would allocate 4 bytes a sample, about 10 MB.
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("%d bytes allocated before the length was refused", n)
			}
		})
	}
}

// TestWAVRoundTrip: EncodeWAV then DecodeWAV gives the samples rounded to
// 16 bits, saturating at full scale; NaN is silence.
func TestWAVRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(8, 9))
	x := []float32{0, 1, -1, 0.5, -0.5, 1.5, -1.5, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		0.4 / 32768, 0.5 / 32768, 0.6 / 32768, -0.5 / 32768, 32766.5 / 32768, math.SmallestNonzeroFloat32}
	for range 5000 {
		x = append(x, float32(rnd.Float64()*2.2-1.1))
	}
	for _, rate := range []int{8000, 16000, 44100, 48000, 192000} {
		b := EncodeWAV(&Clip{Rate: rate, Samples: x})
		if len(b) != 44+2*len(x) {
			t.Errorf("%d bytes for %d samples", len(b), len(x))
		}
		c, err := DecodeWAV(b)
		if err != nil {
			t.Fatal(err)
		}
		checkSamples(t, c)
		if c.Rate != rate {
			t.Errorf("rate %d, want %d", c.Rate, rate)
		}
		if !equalSamples(c.Samples, quantized(x)) {
			t.Errorf("at %d Hz: the samples are not x rounded to 16 bits", rate)
		}
		// Encoding again changes nothing.
		if !bytes.Equal(EncodeWAV(c), b) {
			t.Errorf("at %d Hz: a second round trip changed the file", rate)
		}
	}
}

func TestToInt16(t *testing.T) {
	tests := []struct {
		v    float32
		want int16
	}{
		{0, 0},
		{1, 32767},
		{-1, -32768},
		{0.5, 16384},
		{-0.5, -16384},
		{2, 32767},
		{-2, -32768},
		{0.4 / 32768, 0},
		{0.5 / 32768, 1}, // half away from zero
		{-0.5 / 32768, -1},
		{32766.5 / 32768, 32767},
		{-32767.5 / 32768, -32768},
		{float32(math.NaN()), 0},
		{float32(math.Inf(1)), 32767},
		{float32(math.Inf(-1)), -32768},
	}
	for _, tt := range tests {
		if got := ToInt16(tt.v); got != tt.want {
			t.Errorf("ToInt16(%v) = %d, want %d", tt.v, got, tt.want)
		}
	}
}
