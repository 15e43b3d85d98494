// Package audiomark embeds a per-recipient watermark in a voice note and
// names, from a recording that surfaces, the recipient whose copy it was,
// with a proven bound on the probability of accusing an innocent one.
//
// The mark is multiplicative in the short-time spectrum: every tile of the
// time-frequency plane (BlockFrames frames of FrameSize samples at Rate,
// by one of the Bands bands) has its magnitude scaled by 1 + Strength·x,
// where x = ±1 is the recipient's symbol for that tile. The mark is
// therefore the speech itself, Strength (25 dB) below it, in the same
// bands and at the same moments: it is shaped by the speech and present
// only where the speech is. Symbols come from HMAC-SHA-256 under a key
// derived from the sender's marking key, per note, recipient and block, so
// that no recipient can compute another's mark or their own, and two
// recipients' marks are independent. Embedding is causal, one frame at a
// time, with a latency of one frame (32 ms): Embedder is usable on a live
// call.
//
// Detection is informed: only the sender can trace, and the sender holds
// the unmarked original. Trace aligns a recording with the original by the
// speech they share (time offset, speed, and whether a speed change moved
// the pitch), measures per tile the log ratio of the recording's energy to
// the original's, and correlates it with each recipient's symbols. Every
// choice before the correlation (which note, the alignment, which bands
// and tiles are read, their weights) is made from the recording and the
// original alone, never from any recipient's symbols; given those choices,
// an innocent recipient's symbols are independent fair signs, and the
// normalised score of a Rademacher sum obeys P(z ≥ τ) ≤ exp(−τ²/2)
// (Hoeffding). A union over the note's recipients gives the bound; no
// union over offsets or speeds is needed. docs/audio.md has the model, the
// parameters and the proof.
package audiomark

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math"
)

// Parameters, as docs/audio.md names them.
const (
	// Rate is the sample rate voice notes are marked at.
	Rate = 16000
	// FrameSize is the analysis frame (32 ms); Hop is half of it.
	FrameSize = 512
	Hop       = FrameSize / 2
	// BlockFrames is a tile's length in frames (64 ms).
	BlockFrames = 4
	// Bands is the number of marked bands, mel-spaced from LowHz to HighHz.
	Bands  = 20
	LowHz  = 150.0
	HighHz = 7000.0
	// StrengthDB is the mark's level relative to the speech it rides on.
	StrengthDB = -25.0
	// KeySize is the size of a sender's marking key.
	KeySize = 32

	// symbolLabel derives the symbol key from the marking key.
	symbolLabel = "backchannel audio mark v1 symbol"
)

// Strength is the tile gain's amplitude: 10^(StrengthDB/20).
var Strength = math.Pow(10, StrengthDB/20)

// ErrKey reports a marking key of the wrong size.
var ErrKey = errors.New("marking key must be 32 bytes")

// ErrRate reports a clip not at Rate.
var ErrRate = fmt.Errorf("audio must be at %d Hz (resample it first)", Rate)

// symbols derives recipients' tile symbols.
type symbols struct {
	mac hash.Hash
	buf []byte
}

func newSymbols(key []byte) (*symbols, error) {
	if len(key) != KeySize {
		return nil, ErrKey
	}
	k, err := hkdf.Key(sha256.New, key, nil, symbolLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("derive audio symbol key: %w", err)
	}
	return &symbols{mac: hmac.New(sha256.New, k)}, nil
}

// block returns the recipient's symbols of one block, one bit per band
// (bit b set means +1).
func (s *symbols) block(note, recipient string, j int) uint32 {
	s.buf = s.buf[:0]
	s.buf = binary.BigEndian.AppendUint32(s.buf, uint32(len(note)))
	s.buf = append(s.buf, note...)
	s.buf = binary.BigEndian.AppendUint32(s.buf, uint32(len(recipient)))
	s.buf = append(s.buf, recipient...)
	s.buf = binary.BigEndian.AppendUint64(s.buf, uint64(j))
	s.mac.Reset()
	s.mac.Write(s.buf)
	var sum [32]byte
	s.mac.Sum(sum[:0])
	return binary.BigEndian.Uint32(sum[:4])
}

// sign is the symbol of band b in a block's bits.
func sign(bits uint32, b int) float64 {
	if bits>>b&1 == 1 {
		return 1
	}
	return -1
}

// bandEdges returns the FFT bins [lo, hi) of each band for a spectrum
// whose frequencies are scaled by f (1 when the pitch is unchanged).
func bandEdges(f float64) [Bands][2]int {
	var e [Bands][2]int
	mel := func(hz float64) float64 { return 2595 * math.Log10(1+hz/700) }
	hz := func(m float64) float64 { return 700 * (math.Pow(10, m/2595) - 1) }
	lo, hi := mel(LowHz), mel(HighHz)
	binHz := float64(Rate) / FrameSize
	edge := func(i int) int {
		b := int(math.Round(hz(lo+(hi-lo)*float64(i)/Bands) * f / binHz))
		return min(max(b, 1), FrameSize/2)
	}
	for b := 0; b < Bands; b++ {
		e[b] = [2]int{edge(b), edge(b + 1)}
	}
	return e
}
