package audio

import (
	"slices"
	"testing"
)

// The fuzz targets feed each pure-Go decoder arbitrary bytes: it must not
// panic, and what it returns must keep the package's promises (checkSamples:
// a rate in [MinRate, MaxRate], at most MaxDuration of samples, every
// sample in [-1, 1] and not NaN). Seeds are small valid files of each kind;
// inputs the fuzzers found are kept in testdata/fuzz/<target>.
//
//	go test ./audio -run XXX -fuzz FuzzDecodeWAV -fuzztime 60s

func fuzzDecoder(f *testing.F, decode func([]byte) (*Clip, error)) {
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decode(b)
		if err != nil {
			if c != nil {
				t.Fatalf("a clip with the error %v", err)
			}
			return
		}
		checkSamples(t, c)
	})
}

func FuzzDecodeWAV(f *testing.F) {
	short := sine(8000, 440, 0.9, 64)
	f.Add(EncodeWAV(&Clip{Rate: 8000, Samples: short}))
	for _, fm := range []wavFmt{
		{wavPCM, 1, 8000, 8, false},
		{wavPCM, 2, 16000, 24, false},
		{wavPCM, 3, 44100, 32, true},
		{wavFloat, 2, 48000, 32, false},
		{wavFloat, 1, 192000, 64, true},
	} {
		data, _ := wavData(fm, 16, 1)
		f.Add(riff(fm.chunk(), chunk("LIST", -1, []byte("INFOx")), chunk("data", -1, data)))
	}
	// A float WAV with NaN, infinities and values far out of range.
	fl := wavFmt{wavFloat, 2, 16000, 32, false}
	f.Add(riff(fl.chunk(), chunk("data", -1, []byte{
		0, 0, 0xC0, 0x7F, 0, 0, 0x80, 0x7F, // NaN, +Inf
		0, 0, 0x80, 0xFF, 0, 0, 0x80, 0x7F, // -Inf, +Inf
		0, 0, 0x20, 0x41, 0, 0, 0x20, 0xC1, // 10, -10
	})))
	f.Add(readFixture(f, "stereo.wav")[:400])
	fuzzDecoder(f, DecodeWAV)
}

func FuzzDecodeFLAC(f *testing.F) {
	f.Add(mustFLAC(f, &Clip{Rate: 16000, Samples: sine(16000, 440, 0.5, 300)}))
	f.Add(mustFLAC(f, &Clip{Rate: 8000, Samples: make([]float32, 40)}))
	f.Add(mustFLAC(f, &Clip{Rate: 44100, Samples: sine(44100, 440, 1, 17)}))
	f.Add(mustFLAC(f, &Clip{Rate: 12345, Samples: nil}))
	// ffmpeg's stereo FLAC (LPC, side channels), without its 8 KB of
	// padding, which would only slow the fuzzer down; once with its
	// VORBIS_COMMENT block and once with STREAMINFO alone.
	short := readFixture(f, "short.flac")
	f.Add(stripFLACMeta(f, short, 4))
	f.Add(stripFLACMeta(f, short))
	fuzzDecoder(f, DecodeFLAC)
}

func FuzzDecodeMP3(f *testing.F) {
	mp3 := readFixture(f, "tone.mp3")
	raw := stripID3(f, mp3)
	f.Add(raw[:1200]) // the Info frame and a few of the tone's
	f.Add(mp3[:2000]) // the same behind the ID3 tag
	f.Add(raw[len(raw)-700:])
	f.Add(stripID3(f, readFixture(f, "tone16k.mp3"))[:1000]) // MPEG-2
	fuzzDecoder(f, DecodeMP3)
}

// stripFLACMeta is the FLAC stream b with only its STREAMINFO block and
// the metadata blocks of the given types.
func stripFLACMeta(t testing.TB, b []byte, keep ...byte) []byte {
	t.Helper()
	if string(b[:4]) != "fLaC" {
		t.Fatal("not FLAC")
	}
	out := []byte("fLaC")
	last := 0 // the offset in out of the last kept block's header
	p := b[4:]
	for {
		if len(p) < 4 {
			t.Fatal("FLAC metadata cut short")
		}
		typ, n := p[0]&0x7F, int(p[1])<<16|int(p[2])<<8|int(p[3])
		if typ == 0 || slices.Contains(keep, typ) {
			last = len(out)
			out = append(out, p[0]&0x7F)
			out = append(out, p[1:4+n]...)
		}
		isLast := p[0]&0x80 != 0
		p = p[4+n:]
		if isLast {
			break
		}
	}
	out[last] |= 0x80
	return append(out, p...)
}
