package sessionrepair

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"backchannel/server/api"
)

// The session control message (docs/protocol.md section 8, "Starting
// again"): ControlPrefix || JSON, at most MaxControl bytes.
const (
	// ControlPrefix starts a session control message. A room payload is
	// JSON and never starts with 0xFF.
	ControlPrefix = "\xffbackchannel session control v1\n"
	// MaxControl is the largest session control message accepted, prefix
	// included.
	MaxControl = 4096
)

// Kind is what a session control message is.
type Kind string

const (
	// KindReset is the first message of a session started again.
	KindReset Kind = "reset"
	// KindResent is the answer to a reset that asked for a resend.
	KindResent Kind = "resent"
)

// Control is a session control message.
type Control struct {
	Kind   Kind   `json:"kind"`
	Reason Reason `json:"reason,omitempty"` // reset: why the session was started again
	Failed int    `json:"failed,omitempty"` // reset: envelopes that did not decrypt
	Resend bool   `json:"resend,omitempty"` // reset: send your unacknowledged messages again
	Sent   int    `json:"sent"`             // messages sent again after this one
	Lost   int    `json:"lost,omitempty"`   // unacknowledged messages no longer kept
}

// ErrMalformed is matched (errors.Is) by every error of Parse: the message
// starts with ControlPrefix but is not a valid session control message.
var ErrMalformed = errors.New("malformed session control message")

// malformed is Parse's error: its text names the defect only, so that a
// caller can put its own category in front.
type malformed struct{ text string }

func (e *malformed) Error() string        { return e.text }
func (e *malformed) Is(target error) bool { return target == ErrMalformed }

func malformedf(format string, args ...any) error {
	return &malformed{fmt.Sprintf(format, args...)}
}

// Encode returns ctl as a session control message.
func Encode(ctl Control) []byte {
	raw, _ := json.Marshal(ctl) // a struct of strings, ints and a bool: never fails
	return append([]byte(ControlPrefix), raw...)
}

// Parse decodes a session control message. ok is false, with no error, for
// anything that does not start with ControlPrefix (a room payload). One that
// does but is oversized, not strict JSON (unknown fields, trailing bytes),
// of an unknown kind or reason, or with impossible counts is an error
// matching ErrMalformed.
func Parse(pt []byte) (ctl *Control, ok bool, err error) {
	if !bytes.HasPrefix(pt, []byte(ControlPrefix)) {
		return nil, false, nil
	}
	if len(pt) > MaxControl {
		return nil, true, malformedf("session control message of %d bytes", len(pt))
	}
	var c Control
	if err := api.Decode(pt[len(ControlPrefix):], &c); err != nil {
		return nil, true, malformedf("session control message: %v", err)
	}
	switch {
	case c.Kind == KindReset && (c.Reason == Undecryptable || c.Reason == Unacknowledged):
	case c.Kind == KindResent && c.Reason == "" && !c.Resend:
	default:
		return nil, true, malformedf("session control message %q (%q)", c.Kind, c.Reason)
	}
	if c.Failed < 0 || c.Sent < 0 || c.Lost < 0 || c.Sent > MaxResend+1 {
		return nil, true, malformedf("session control message counts")
	}
	return &c, true, nil
}

// IsReset reports whether pt is a valid session control message that starts
// a session because the old one was blocked.
func IsReset(pt []byte) bool {
	ctl, ok, err := Parse(pt)
	return ok && err == nil && ctl.Kind == KindReset
}
