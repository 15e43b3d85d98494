package audio

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/mewkiz/flac"
	"github.com/mewkiz/flac/frame"
	"github.com/mewkiz/flac/meta"
)

// DecodeFLAC reads a FLAC stream.
func DecodeFLAC(b []byte) (c *Clip, err error) {
	// The decoder library panics on some damaged streams; a damaged
	// recording is an error, never a crash.
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("%w: damaged FLAC stream", ErrBadFile)
		}
	}()
	s, err := flac.New(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: FLAC: %v", ErrBadFile, err)
	}
	info := s.Info
	if err := checkHeader(int(info.SampleRate), int(info.NChannels), int64(info.NSamples)); err != nil {
		return nil, err
	}
	if info.BitsPerSample < 4 || info.BitsPerSample > 32 {
		return nil, fmt.Errorf("%w: FLAC with %d bits per sample", ErrBadFile, info.BitsPerSample)
	}
	scale := float64(int64(1) << (info.BitsPerSample - 1))
	limit := maxFrames(int(info.SampleRate))
	var out []float32
	for {
		f, err := s.ParseNext()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: FLAC frame: %v", ErrBadFile, err)
		}
		if len(f.Subframes) == 0 {
			continue
		}
		n := f.Subframes[0].NSamples
		if len(out)+n > limit {
			return nil, fmt.Errorf("%w: a voice note is at most 5 minutes", ErrTooLong)
		}
		for i := 0; i < n; i++ {
			var sum float64
			for _, sf := range f.Subframes {
				if i < len(sf.Samples) {
					sum += float64(sf.Samples[i])
				}
			}
			out = append(out, clamp(sum/float64(len(f.Subframes))/scale))
		}
	}
	// A stream cut short between frames, or inside the metadata before
	// them, ends without an error from the library: the total the header
	// states (0 when unknown) tells.
	if uint64(len(out)) < info.NSamples {
		return nil, fmt.Errorf("%w: FLAC stream cut short (%d of %d samples)", ErrBadFile, len(out), info.NSamples)
	}
	return &Clip{Rate: int(info.SampleRate), Samples: out}, nil
}

// flacBlock is the number of samples per FLAC frame written.
const flacBlock = 4096

// EncodeFLAC writes the clip as 16-bit mono FLAC with fixed prediction.
func EncodeFLAC(c *Clip) ([]byte, error) {
	var out bytes.Buffer
	info := &meta.StreamInfo{
		BlockSizeMin: flacBlock, BlockSizeMax: flacBlock,
		SampleRate: uint32(c.Rate), NChannels: 1, BitsPerSample: 16,
		NSamples: uint64(len(c.Samples)),
	}
	enc, err := flac.NewEncoder(&out, info)
	if err != nil {
		return nil, fmt.Errorf("flac: %w", err)
	}
	enc.EnablePredictionAnalysis(true)
	for start := 0; start < len(c.Samples); start += flacBlock {
		end := min(start+flacBlock, len(c.Samples))
		samples := make([]int32, end-start)
		for i, v := range c.Samples[start:end] {
			samples[i] = int32(ToInt16(v))
		}
		f := &frame.Frame{
			Header: frame.Header{
				HasFixedBlockSize: true, BlockSize: uint16(len(samples)),
				SampleRate: flacFrameRate(c.Rate), Channels: frame.ChannelsMono, BitsPerSample: 16,
			},
			Subframes: []*frame.Subframe{{
				SubHeader: frame.SubHeader{Pred: frame.PredVerbatim},
				Samples:   samples, NSamples: len(samples),
			}},
		}
		if err := enc.WriteFrame(f); err != nil {
			return nil, fmt.Errorf("flac: %w", err)
		}
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("flac: %w", err)
	}
	return out.Bytes(), nil
}

// flacFrameRate is the sample rate a frame header states: a rate above
// 65535 Hz that is not a multiple of 10 Hz has no code there, and is left
// to STREAMINFO (0).
func flacFrameRate(rate int) uint32 {
	if rate > 65535 && rate%10 != 0 {
		return 0
	}
	return uint32(rate)
}
