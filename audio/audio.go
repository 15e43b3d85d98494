// Package audio reads and writes the sound that voice notes carry, as one
// channel of float samples at a known rate.
//
// Decode recognises a recording by its content, not its name: WAV (PCM 8,
// 16, 24 or 32 bits, or 32- or 64-bit float), FLAC and MP3 are decoded in
// pure Go; anything else (Ogg Opus, M4A, WebM) goes through ffmpeg when it
// is installed, and fails with ErrNeedsFFmpeg when it is not. Every decoder
// bounds its output before it allocates: at most MaxDuration of sound, at
// any rate up to MaxRate, whatever the file's header claims. Channels are
// mixed down to one, since the marks (package audiomark) live in the sound
// all channels share.
//
// EncodeFLAC writes the transport form of a voice note: lossless, so that a
// recipient's copy carries its mark exactly as embedded.
package audio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Clip is a mono recording.
type Clip struct {
	Rate    int       // samples per second
	Samples []float32 // in [-1, 1]
}

// Duration is the clip's length.
func (c *Clip) Duration() time.Duration {
	if c == nil || c.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(len(c.Samples)) / float64(c.Rate) * float64(time.Second))
}

// Seconds is the clip's length in seconds.
func (c *Clip) Seconds() float64 {
	if c == nil || c.Rate <= 0 {
		return 0
	}
	return float64(len(c.Samples)) / float64(c.Rate)
}

// Limits on what a decoder accepts.
const (
	MaxDuration = 5*time.Minute + 5*time.Second // a voice note is at most 5 minutes; the slack absorbs encoder padding
	MinRate     = 8000
	MaxRate     = 192000
	MaxChannels = 8
	// MaxFileBytes bounds an encoded recording read into memory: 5 minutes
	// of 8-channel 32-bit audio at 48 kHz.
	MaxFileBytes = 400 << 20
)

var (
	// ErrNotAudio: the data is not a recording in any known format.
	ErrNotAudio = errors.New("not a recording backchannel can read")
	// ErrTooLong: longer than MaxDuration.
	ErrTooLong = errors.New("recording too long")
	// ErrEmpty: a recording with no sound in it.
	ErrEmpty = errors.New("recording holds no sound")
	// ErrNeedsFFmpeg: the format needs ffmpeg, which is not installed.
	ErrNeedsFFmpeg = errors.New("this recording's format needs ffmpeg, which is not installed")
	// ErrBadFile: a known format, damaged or unsupported in its details.
	ErrBadFile = errors.New("damaged or unsupported recording")
)

// Format names a recording's container as Sniff sees it.
type Format string

const (
	FormatWAV     Format = "wav"
	FormatFLAC    Format = "flac"
	FormatMP3     Format = "mp3"
	FormatOgg     Format = "ogg"
	FormatOther   Format = "other" // something ffmpeg may know (mp4, webm, ...)
	FormatUnknown Format = ""
)

// Sniff names the format of an encoded recording from its first bytes.
func Sniff(b []byte) Format {
	switch {
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return FormatWAV
	case len(b) >= 4 && string(b[:4]) == "fLaC":
		return FormatFLAC
	case len(b) >= 4 && string(b[:4]) == "OggS":
		return FormatOgg
	case len(b) >= 3 && string(b[:3]) == "ID3":
		return FormatMP3
	case len(b) >= 2 && b[0] == 0xFF && b[1]&0xE0 == 0xE0 && b[1]&0x06 != 0:
		return FormatMP3 // an MPEG audio frame sync with a layer set
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		return FormatOther // MP4/M4A
	case len(b) >= 4 && bytes.Equal(b[:4], []byte{0x1A, 0x45, 0xDF, 0xA3}):
		return FormatOther // Matroska/WebM
	}
	return FormatUnknown
}

// Decode reads an encoded recording, whatever its format, into a mono clip
// at its own rate.
func Decode(ctx context.Context, b []byte) (*Clip, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: the file is empty", ErrNotAudio)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrTooLong, len(b), MaxFileBytes)
	}
	var (
		c   *Clip
		err error
	)
	switch Sniff(b) {
	case FormatWAV:
		c, err = DecodeWAV(b)
	case FormatFLAC:
		c, err = DecodeFLAC(b)
	case FormatMP3:
		c, err = DecodeMP3(b)
		// go-mp3 garbles some low-rate (MPEG-2) streams and cannot read
		// MPEG-2.5 at all: below 32 kHz, ffmpeg decodes when it is there.
		if (err != nil || c.Rate < 32000) && haveFFmpeg() {
			if fc, ferr := DecodeFFmpeg(ctx, b); ferr == nil {
				c, err = fc, nil
			}
		}
	case FormatOgg, FormatOther:
		c, err = DecodeFFmpeg(ctx, b)
	default:
		return nil, ErrNotAudio
	}
	if err != nil {
		return nil, err
	}
	if len(c.Samples) == 0 {
		return nil, ErrEmpty
	}
	return c, nil
}

// checkHeader bounds what a header claims before anything is allocated.
func checkHeader(rate, channels int, frames int64) error {
	if rate < MinRate || rate > MaxRate {
		return fmt.Errorf("%w: sample rate %d Hz (%d to %d are read)", ErrBadFile, rate, MinRate, MaxRate)
	}
	if channels < 1 || channels > MaxChannels {
		return fmt.Errorf("%w: %d channels", ErrBadFile, channels)
	}
	if frames > int64(MaxDuration.Seconds()*float64(rate)) {
		return fmt.Errorf("%w: %s (a voice note is at most 5 minutes)", ErrTooLong, time.Duration(float64(frames)/float64(rate)*float64(time.Second)).Round(time.Second))
	}
	return nil
}

// maxFrames is how many frames at rate fit in MaxDuration.
func maxFrames(rate int) int { return int(MaxDuration.Seconds() * float64(rate)) }

// clamp keeps a sample in [-1, 1] and turns NaN into silence.
func clamp(v float64) float32 {
	switch {
	case v != v:
		return 0
	case v > 1:
		return 1
	case v < -1:
		return -1
	}
	return float32(v)
}

// RMS is the clip's root-mean-square level.
func (c *Clip) RMS() float64 {
	if len(c.Samples) == 0 {
		return 0
	}
	var s float64
	for _, v := range c.Samples {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(c.Samples)))
}
