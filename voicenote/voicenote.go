// Package voicenote prepares a voice note for sending: it turns whatever
// recording the user gives (anything audio.Decode reads: WAV, FLAC and MP3
// in pure Go, Ogg Opus, M4A and WebM through ffmpeg) into one channel at
// audiomark.Rate, refuses what cannot be a voice note, and makes one marked
// copy per recipient in the transport form, FLAC.
//
// The contract:
//   - Prepare returns a clip at audiomark.Rate of at most MaxDuration, or an
//     error in plain words: not a recording, longer than 5 minutes, empty,
//     or silent. Nothing else is refused.
//   - MarkCopies returns, for every recipient and only them, a FLAC copy of
//     the clip carrying that recipient's mark (audiomark.Mark under the
//     sender's marking key and the note's id). The copies decode
//     (audio.DecodeFLAC) to exactly the marked samples at 16 bits, so a
//     copy carries its mark as embedded.
//   - Duration formats a length as m:ss, the way read shows a voice note.
//
// Nothing here talks to a server or keeps state: the client package sends
// the copies and keeps the original for tracing.
package voicenote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"backchannel/audio"
	"backchannel/audiomark"
)

// MaxDuration is the longest voice note.
const MaxDuration = 5 * time.Minute

// MinRMS is the level below which a recording counts as silence: about
// −70 dBFS, under the noise floor of any microphone that picked up speech.
const MinRMS = 3e-4

// Errors, in plain words. Each wraps the audio package's error where there
// is one, so errors.Is(err, audio.ErrNotAudio) and the like still hold.
var (
	// ErrTooLong: the recording is longer than MaxDuration.
	ErrTooLong = errors.New("a voice note is at most 5 minutes long")
	// ErrSilent: the recording holds no sound, or only silence.
	ErrSilent = errors.New("there is no sound to send")
	// ErrNotAudio: the file is not a recording backchannel can read.
	ErrNotAudio = errors.New("the file is not a recording backchannel can read (WAV, FLAC, MP3, or Ogg Opus and M4A with ffmpeg installed)")
)

// Prepare decodes data into a mono clip at audiomark.Rate.
func Prepare(ctx context.Context, data []byte) (*audio.Clip, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("the file is empty: %w", ErrSilent)
	}
	c, err := audio.Decode(ctx, data)
	switch {
	case errors.Is(err, audio.ErrTooLong):
		return nil, fmt.Errorf("%w; this recording is longer", ErrTooLong)
	case errors.Is(err, audio.ErrEmpty):
		return nil, fmt.Errorf("the recording holds no samples: %w", ErrSilent)
	case errors.Is(err, audio.ErrNotAudio) && audio.Sniff(data) == audio.FormatUnknown:
		return nil, ErrNotAudio
	case errors.Is(err, audio.ErrNeedsFFmpeg):
		return nil, fmt.Errorf("%w: install ffmpeg, or send WAV, FLAC or MP3", err)
	case err != nil:
		return nil, fmt.Errorf("cannot read the recording: %w", err)
	}
	// audio.MaxDuration allows a few seconds of encoder padding; a note
	// itself is at most MaxDuration, rounded to the second as shown.
	if d := c.Duration(); d.Round(time.Second) > MaxDuration {
		return nil, fmt.Errorf("%w (this one is %s)", ErrTooLong, Duration(d))
	}
	if c.Rate != audiomark.Rate {
		c = audio.Resample(c, audiomark.Rate)
	}
	if len(c.Samples) == 0 || c.RMS() < MinRMS {
		return nil, fmt.Errorf("the recording is silent: %w", ErrSilent)
	}
	return c, nil
}

// MarkCopies marks the clip (at audiomark.Rate) once per recipient under
// the sender's marking key and the note's id, and encodes each copy as
// FLAC.
func MarkCopies(key []byte, noteID string, c *audio.Clip, recipients []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(recipients))
	for _, r := range recipients {
		if _, dup := out[r]; dup {
			return nil, fmt.Errorf("recipient %q listed twice", r)
		}
		m, err := audiomark.Mark(key, noteID, r, c)
		if err != nil {
			return nil, fmt.Errorf("mark %s's copy: %w", r, err)
		}
		b, err := audio.EncodeFLAC(m)
		if err != nil {
			return nil, fmt.Errorf("encode %s's copy: %w", r, err)
		}
		out[r] = b
	}
	return out, nil
}

// Duration writes a length as m:ss, rounded to the nearest second: 0:23,
// 4:59, 12:00.
func Duration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s < 0 {
		s = 0
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
