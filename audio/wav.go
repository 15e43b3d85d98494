package audio

import (
	"encoding/binary"
	"fmt"
	"math"
)

const (
	wavPCM        = 1
	wavFloat      = 3
	wavExtensible = 0xFFFE
)

// DecodeWAV reads a RIFF WAVE file: integer PCM of 8 to 32 bits or IEEE
// float of 32 or 64 bits, in any number of channels up to MaxChannels.
// A data chunk whose size runs past the end of the file (as a recorder
// that was stopped leaves it) is read up to the end.
func DecodeWAV(b []byte) (*Clip, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: not a WAV file", ErrNotAudio)
	}
	var (
		format, channels, bits int
		rate                   int
		haveFmt                bool
	)
	p := b[12:]
	for len(p) >= 8 {
		id := string(p[:4])
		size := int64(binary.LittleEndian.Uint32(p[4:8]))
		p = p[8:]
		body := p
		if size < int64(len(p)) {
			body = p[:size]
		}
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return nil, fmt.Errorf("%w: WAV format chunk of %d bytes", ErrBadFile, len(body))
			}
			format = int(binary.LittleEndian.Uint16(body[0:2]))
			channels = int(binary.LittleEndian.Uint16(body[2:4]))
			rate = int(binary.LittleEndian.Uint32(body[4:8]))
			bits = int(binary.LittleEndian.Uint16(body[14:16]))
			if format == wavExtensible {
				if len(body) < 26 {
					return nil, fmt.Errorf("%w: WAV extensible format chunk of %d bytes", ErrBadFile, len(body))
				}
				format = int(binary.LittleEndian.Uint16(body[24:26])) // the sub-format GUID's first two bytes
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: WAV data before its format", ErrBadFile)
			}
			return wavSamples(body, format, channels, bits, rate)
		}
		// Chunks are padded to an even length.
		skip := size + size&1
		if skip >= int64(len(p)) {
			break
		}
		p = p[skip:]
	}
	return nil, fmt.Errorf("%w: WAV file without audio data", ErrBadFile)
}

func wavSamples(data []byte, format, channels, bits, rate int) (*Clip, error) {
	switch {
	case format == wavPCM && (bits == 8 || bits == 16 || bits == 24 || bits == 32):
	case format == wavFloat && (bits == 32 || bits == 64):
	default:
		return nil, fmt.Errorf("%w: WAV encoding %d with %d bits per sample (PCM 8-32 bits and float 32/64 are read)", ErrBadFile, format, bits)
	}
	width := bits / 8
	if channels < 1 || channels > MaxChannels {
		return nil, fmt.Errorf("%w: %d channels", ErrBadFile, channels)
	}
	frame := width * channels
	frames := int64(len(data) / frame)
	if err := checkHeader(rate, channels, frames); err != nil {
		return nil, err
	}
	out := make([]float32, frames)
	for i := range out {
		var sum float64
		for ch := 0; ch < channels; ch++ {
			s := data[int(i)*frame+ch*width:]
			sum += wavSample(s, format, bits)
		}
		out[i] = clamp(sum / float64(channels))
	}
	return &Clip{Rate: rate, Samples: out}, nil
}

func wavSample(s []byte, format, bits int) float64 {
	switch {
	case format == wavFloat && bits == 32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(s)))
	case format == wavFloat:
		return math.Float64frombits(binary.LittleEndian.Uint64(s))
	case bits == 8:
		return (float64(s[0]) - 128) / 128 // 8-bit WAV is unsigned
	case bits == 16:
		return float64(int16(binary.LittleEndian.Uint16(s))) / 32768
	case bits == 24:
		v := int32(uint32(s[0])<<8|uint32(s[1])<<16|uint32(s[2])<<24) >> 8
		return float64(v) / (1 << 23)
	default:
		return float64(int32(binary.LittleEndian.Uint32(s))) / (1 << 31)
	}
}

// EncodeWAV writes the clip as 16-bit PCM WAV.
func EncodeWAV(c *Clip) []byte {
	n := len(c.Samples)
	b := make([]byte, 44+2*n)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+2*n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], wavPCM)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], uint32(c.Rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(2*c.Rate))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(2*n))
	for i, v := range c.Samples {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(ToInt16(v)))
	}
	return b
}

// ToInt16 rounds a sample to 16 bits, saturating.
func ToInt16(v float32) int16 {
	x := math.Round(float64(v) * 32768)
	switch {
	case x != x:
		return 0
	case x > 32767:
		return 32767
	case x < -32768:
		return -32768
	}
	return int16(x)
}
