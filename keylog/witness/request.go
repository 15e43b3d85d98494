package witness

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// Protocol sizes and names (c2sp.org/tlog-witness, c2sp.org/tlog-checkpoint).
const (
	// AddCheckpointPath is the endpoint under the witness's submission prefix.
	AddCheckpointPath = "/add-checkpoint"
	// MaxProofLines is the most consistency-proof hashes a request may carry.
	MaxProofLines = 63
	// MaxRequestBytes bounds a request body: the proof, the checkpoint and
	// its signatures fit in a few kilobytes.
	MaxRequestBytes = 64 << 10
	// SizeContentType is the Content-Type of a 409 reply that carries the
	// witness's latest cosigned size.
	SizeContentType = "text/x.tlog.size"
)

// ErrMalformed marks a request or checkpoint that does not parse.
var ErrMalformed = errors.New("malformed request")

// Request is one add-checkpoint request.
type Request struct {
	OldSize    uint64
	Proof      tlog.TreeProof
	Checkpoint []byte // the signed note, text and signature lines
}

// Marshal encodes r as an add-checkpoint request body.
func (r *Request) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", r.OldSize)
	for _, h := range r.Proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(r.Checkpoint)
	return b.Bytes()
}

// ParseRequest decodes an add-checkpoint request body strictly: an old size
// line (decimal, no leading zeroes), at most MaxProofLines base64 hashes, an
// empty line, then the checkpoint note (not yet verified).
func ParseRequest(body []byte) (*Request, error) {
	if len(body) > MaxRequestBytes {
		return nil, fmt.Errorf("%w: body of %d bytes", ErrMalformed, len(body))
	}
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return nil, fmt.Errorf("%w: no old size line", ErrMalformed)
	}
	num, ok := strings.CutPrefix(string(line), "old ")
	if !ok {
		return nil, fmt.Errorf("%w: the first line is not \"old <size>\"", ErrMalformed)
	}
	old, err := parseDecimal(num)
	if err != nil {
		return nil, fmt.Errorf("%w: old size: %v", ErrMalformed, err)
	}
	r := &Request{OldSize: old}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, fmt.Errorf("%w: no empty line before the checkpoint", ErrMalformed)
		}
		if len(line) == 0 {
			break
		}
		if len(r.Proof) == MaxProofLines {
			return nil, fmt.Errorf("%w: more than %d proof lines", ErrMalformed, MaxProofLines)
		}
		h, err := decodeHash(string(line))
		if err != nil {
			return nil, fmt.Errorf("%w: proof line %d: %v", ErrMalformed, len(r.Proof)+1, err)
		}
		r.Proof = append(r.Proof, h)
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("%w: no checkpoint", ErrMalformed)
	}
	r.Checkpoint = rest
	return r, nil
}

// Checkpoint is the body of a C2SP tlog-checkpoint note.
type Checkpoint struct {
	Origin     string
	Size       uint64
	Root       tlog.Hash
	Extensions []string // extra lines after the root hash, if any
}

// ParseCheckpoint decodes the text of a checkpoint note (without its
// signatures): the origin, the decimal size and the base64 root hash, each on
// its own line, then optional non-empty extension lines.
func ParseCheckpoint(text string) (Checkpoint, error) {
	var c Checkpoint
	body, ok := strings.CutSuffix(text, "\n")
	if !ok {
		return c, fmt.Errorf("%w: checkpoint text does not end in a newline", ErrMalformed)
	}
	lines := strings.Split(body, "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("%w: checkpoint has %d lines, want at least 3", ErrMalformed, len(lines))
	}
	if lines[0] == "" {
		return c, fmt.Errorf("%w: empty origin", ErrMalformed)
	}
	size, err := parseDecimal(lines[1])
	if err != nil {
		return c, fmt.Errorf("%w: checkpoint size: %v", ErrMalformed, err)
	}
	root, err := decodeHash(lines[2])
	if err != nil {
		return c, fmt.Errorf("%w: checkpoint root: %v", ErrMalformed, err)
	}
	for _, e := range lines[3:] {
		if e == "" {
			return c, fmt.Errorf("%w: empty extension line", ErrMalformed)
		}
	}
	c.Origin, c.Size, c.Root = lines[0], size, root
	if len(lines) > 3 {
		c.Extensions = lines[3:]
	}
	return c, nil
}

// parseDecimal accepts the canonical decimal form of a uint64 only.
func parseDecimal(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || s[0] == '+' {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	return n, nil
}

// decodeHash decodes one standard-base64 32-byte hash, canonically encoded.
func decodeHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	// Go's base64 decoders skip \r and \n even in strict mode (found by
	// FuzzParseRequest): only the canonical encoding is accepted.
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != tlog.HashSize || base64.StdEncoding.EncodeToString(b) != s {
		return h, fmt.Errorf("%q is not a base64 %d-byte hash", s, tlog.HashSize)
	}
	copy(h[:], b)
	return h, nil
}
