package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hajimehoshi/go-mp3"
)

// DecodeMP3 reads an MPEG-1/2 layer III stream (go-mp3 always yields
// 16-bit stereo).
func DecodeMP3(b []byte) (c *Clip, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("%w: damaged MP3 stream", ErrBadFile)
		}
	}()
	d, err := mp3.NewDecoder(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: MP3: %v", ErrBadFile, err)
	}
	rate := d.SampleRate()
	if err := checkHeader(rate, 2, 0); err != nil {
		return nil, err
	}
	limit := maxFrames(rate)
	var out []float32
	buf := make([]byte, 4*1152)
	for {
		n, err := d.Read(buf)
		for i := 0; i+4 <= n; i += 4 {
			l := int16(binary.LittleEndian.Uint16(buf[i:]))
			r := int16(binary.LittleEndian.Uint16(buf[i+2:]))
			out = append(out, float32((float64(l)+float64(r))/65536))
		}
		if len(out) > limit {
			return nil, fmt.Errorf("%w: a voice note is at most 5 minutes", ErrTooLong)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if len(out) > 0 {
				break // a stream cut short: keep what decoded
			}
			return nil, fmt.Errorf("%w: MP3: %v", ErrBadFile, err)
		}
		if n == 0 {
			break
		}
	}
	return &Clip{Rate: rate, Samples: out}, nil
}
