package audio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ffmpegRate is the rate ffmpeg is asked to decode to: the rate voice notes
// are marked at (package audiomark), so no second resampling is needed.
const ffmpegRate = 16000

// haveFFmpeg reports whether ffmpeg is on the PATH.
func haveFFmpeg() bool {
	_, err := exec.LookPath("ffmpeg")
	return err == nil
}

// DecodeFFmpeg decodes any format ffmpeg knows (Ogg Opus, Ogg Vorbis, M4A,
// WebM) by piping the file through it; without ffmpeg it fails with
// ErrNeedsFFmpeg.
func DecodeFFmpeg(ctx context.Context, b []byte) (*Clip, error) {
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, fmt.Errorf("%w (install it, or convert the recording to WAV, FLAC or MP3)", ErrNeedsFFmpeg)
	}
	cmd := exec.CommandContext(ctx, path, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-i", "pipe:0", "-t", fmt.Sprint(int(MaxDuration.Seconds())+1),
		"-ac", "1", "-ar", fmt.Sprint(ffmpegRate), "-f", "s16le", "pipe:1")
	cmd.Stdin = bytes.NewReader(b)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i > 0 {
			msg = msg[:i]
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%w: ffmpeg could not decode it (%s)", ErrBadFile, msg)
		}
		return nil, fmt.Errorf("run ffmpeg: %w", err)
	}
	raw := out.Bytes()
	if len(raw)/2 > maxFrames(ffmpegRate) {
		return nil, fmt.Errorf("%w: a voice note is at most 5 minutes", ErrTooLong)
	}
	samples := make([]float32, len(raw)/2)
	for i := range samples {
		samples[i] = float32(int16(binary.LittleEndian.Uint16(raw[2*i:]))) / 32768
	}
	return &Clip{Rate: ffmpegRate, Samples: samples}, nil
}

// Through passes a clip through ffmpeg: written as WAV, read back with
// ffmpeg's output arguments outArgs (a codec, a filter, a format), and
// the result decoded. It is how the evaluation and the tests apply a real
// encoder's or filter's damage to a recording.
func Through(ctx context.Context, c *Clip, outArgs []string) (*Clip, error) {
	path, err := exec.LookPath("ffmpeg")
	if err != nil {
		return nil, fmt.Errorf("%w (install it)", ErrNeedsFFmpeg)
	}
	dir, err := os.MkdirTemp("", "backchannel-ffmpeg")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in.wav"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, EncodeWAV(c), 0o600); err != nil {
		return nil, err
	}
	args := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", in}, outArgs...)
	if b, err := exec.CommandContext(ctx, path, append(args, out)...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ffmpeg %v: %v: %s", outArgs, err, bytes.TrimSpace(b))
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	return Decode(ctx, b)
}
