// Package tracepool is the room protocol by which the senders of a leaked
// conversation pool their canary evidence: the investigating member asks
// the room (a Request, seen by every member), each sender who consents
// answers the investigator alone (an Answer carrying a canary.Contribution:
// per-member scores and the terms of the bound, never codewords or the
// marking key), and the investigator combines the contributions into one
// verdict with one bound (canary.Combine).
//
// The package holds what both sides decide without a network: the payload
// types and their strict decoders, the consent and rate rules a member's
// client applies before any answer leaves it (Ledger), and the
// investigator's record of who was asked and who answered (Inquiry). The
// client package carries the payloads end to end and stores these records
// in the encrypted vault; docs/protocol.md ("Pooled traces") gives the
// exact fields.
package tracepool

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the version of the request and answer formats.
const Version = 1

// Bounds. A request carries the leak to every member, so it is bounded like
// one message (the envelope limit of the server is 128 KiB; the leak
// travels as base64, 4/3 of its size). MinSlots is the least number of
// marking slots a sender's own messages must have read in the leak before
// the sender returns any score: below it the answer is "too little of my
// text" (see Ledger and docs/threat-model.md, "Pooled traces", for why).
const (
	MaxLeakBytes = 64 << 10
	// MaxContributionBytes bounds one sender's contribution as it travels
	// (one room message; a room of 5 members needs about 15 KiB).
	MaxContributionBytes = 96 << 10
	// MaxAnswerBytes and MaxRequestBytes bound the encoded payloads.
	MaxAnswerBytes  = MaxContributionBytes + 1024
	MaxRequestBytes = MaxLeakBytes*4/3 + 1024
	MaxReasonBytes  = 200
	MinSlots        = 8
	// RateLimit requests from one requester in one room per RateWindow can
	// be answered; later ones are refused on arrival.
	RateLimit  = 3
	RateWindow = 24 * time.Hour
	// DefaultWait is how long `trace --pool` waits for answers.
	DefaultWait = 60 * time.Second
	// MaxKept bounds the requests a member keeps per room (oldest dropped)
	// and the inquiries an investigator keeps.
	MaxKept = 32
)

// ErrBad reports a request or answer that does not parse or breaks a bound.
var ErrBad = errors.New("malformed pooled-trace payload")

// Request asks the room to help trace a leak. ID is the id of the room
// payload that carries it (32 lowercase hex digits); the room, the
// requester and the time are those of that payload.
type Request struct {
	V       int     `json:"v"`
	ID      string  `json:"id"`
	Leak    []byte  `json:"leak"` // UTF-8 text, base64 on the wire
	Epsilon float64 `json:"epsilon"`
}

// Status is what a sender did with a request.
type Status string

// Statuses of an answer on the wire (Contributed, Declined, TooLittle) and,
// for the investigator, of a sender who sent none (NoAnswer).
const (
	Contributed Status = "contributed"
	Declined    Status = "declined"
	TooLittle   Status = "too-little"
	NoAnswer    Status = "no-answer"
)

// Answer is one sender's reply to a request, sent to the requester only.
// LeakSHA256 binds it to the exact leak asked about; Contribution is the
// canary.Contribution (JSON) when Status is Contributed, and absent
// otherwise.
type Answer struct {
	V            int             `json:"v"`
	Request      string          `json:"request"`
	LeakSHA256   []byte          `json:"leak_sha256"`
	Status       Status          `json:"status"`
	Reason       string          `json:"reason,omitempty"`
	Contribution json.RawMessage `json:"contribution,omitempty"`
}

// LeakHash is the SHA-256 of a leak, as an answer names it.
func LeakHash(leak []byte) []byte {
	h := sha256.Sum256(leak)
	return h[:]
}

// ValidID reports whether s is a payload id: 32 lowercase hex digits.
func ValidID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && s == strings.ToLower(s)
}

// strict decodes exactly one JSON value with no unknown fields.
func strict(data []byte, v any, limit int, what string) error {
	if len(data) > limit {
		return fmt.Errorf("%w: the %s is %d bytes; the limit is %d", ErrBad, what, len(data), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: the %s does not parse: %v", ErrBad, what, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: the %s has trailing data", ErrBad, what)
	}
	return nil
}

// Validate checks a request's bounds.
func (r *Request) Validate() error {
	switch {
	case r.V != Version:
		return fmt.Errorf("%w: request version %d (upgrade backchannel)", ErrBad, r.V)
	case !ValidID(r.ID):
		return fmt.Errorf("%w: request id", ErrBad)
	case len(r.Leak) == 0:
		return fmt.Errorf("%w: the request carries no leaked text", ErrBad)
	case len(r.Leak) > MaxLeakBytes:
		return fmt.Errorf("%w: the leaked text is %d bytes; a pooled trace takes at most %d KiB", ErrBad, len(r.Leak), MaxLeakBytes>>10)
	case !utf8.Valid(r.Leak):
		return fmt.Errorf("%w: the leaked text is not UTF-8 text", ErrBad)
	case !(r.Epsilon > 0 && r.Epsilon < 1) || math.IsNaN(r.Epsilon):
		return fmt.Errorf("%w: epsilon %g is not a probability between 0 and 1", ErrBad, r.Epsilon)
	}
	return nil
}

// DecodeRequest parses and validates a request.
func DecodeRequest(data []byte) (*Request, error) {
	var r Request
	if err := strict(data, &r, MaxRequestBytes, "request"); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks an answer's own bounds (not whether it answers a request
// of ours: Inquiry.Accept does that).
func (a *Answer) Validate() error {
	switch {
	case a.V != Version:
		return fmt.Errorf("%w: answer version %d (upgrade backchannel)", ErrBad, a.V)
	case !ValidID(a.Request):
		return fmt.Errorf("%w: the answer names no request id", ErrBad)
	case len(a.LeakSHA256) != sha256.Size:
		return fmt.Errorf("%w: the answer does not name the leak it is about", ErrBad)
	case len(a.Reason) > MaxReasonBytes || !utf8.ValidString(a.Reason):
		return fmt.Errorf("%w: the answer's reason is longer than %d bytes or not text", ErrBad, MaxReasonBytes)
	case len(a.Contribution) > MaxContributionBytes:
		return fmt.Errorf("%w: the contribution is %d bytes; the limit is %d", ErrBad, len(a.Contribution), MaxContributionBytes)
	}
	switch a.Status {
	case Contributed:
		if len(a.Contribution) == 0 {
			return fmt.Errorf("%w: a contributed answer without its contribution", ErrBad)
		}
	case Declined, TooLittle:
		if len(a.Contribution) != 0 {
			return fmt.Errorf("%w: a %s answer carries a contribution", ErrBad, a.Status)
		}
	default:
		return fmt.Errorf("%w: answer status %q", ErrBad, a.Status)
	}
	return nil
}

// DecodeAnswer parses and validates an answer.
func DecodeAnswer(data []byte) (*Answer, error) {
	var a Answer
	if err := strict(data, &a, MaxAnswerBytes, "answer"); err != nil {
		return nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}

// Short is the form of a request id people type: its first 8 digits.
func Short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
