package client

import (
	"fmt"
	"io"
	"sync/atomic"

	"backchannel/canary"
	"backchannel/pad"
)

// Padding (docs/protocol.md section 13, "Padding"; issue 10, item 8): every
// room payload is sent in a padded frame, and every recipient of one
// fan-out gets a frame of the same length, the Padmé length of the longest
// plaintext of the fan-out. The copies of a marked message differ in length
// (invisible marks, typographic styles and wording), so without this the
// server could tell from envelope sizes alone whose copy a leaked text is.
// Marked document blobs are padded the same way (ShareText, GetDoc).

// noPadding is set only by tests that measure the attack padding prevents
// (export_padding_test.go): then payloads and blobs go unpadded and
// unpadded payloads are accepted, as before padding.
var noPadding atomic.Bool

// keepMarks is set only by tests that measure the quoting attack
// (export_padding_test.go), playing a client from before unmarking.
var keepMarks atomic.Bool

// unmarkOut returns outgoing text without the marks it may carry (a pasted
// copy's): canary.Unmark (issue 10, item 9).
func unmarkOut(text string) string {
	if keepMarks.Load() {
		return text
	}
	return canary.Unmark(text)
}

// padEach wraps a fan-out's encoder: it encodes every user's plaintext at
// once and frames each to the one length pad.Target gives for all of them,
// so that the length depends on the set of copies and never on whose copy
// it is.
func padEach(encode func(user string) ([]byte, error), users []string) func(user string) ([]byte, error) {
	if noPadding.Load() {
		return encode
	}
	plain := make(map[string][]byte, len(users))
	lens := make([]int, 0, len(users))
	for _, u := range users {
		b, err := encode(u)
		if err != nil {
			return func(string) ([]byte, error) { return nil, err }
		}
		plain[u] = b
		lens = append(lens, len(b))
	}
	size := pad.Target(lens...)
	return func(u string) ([]byte, error) {
		b, ok := plain[u]
		if !ok {
			return nil, fmt.Errorf("%s is not a recipient of this message", u)
		}
		return pad.Frame(b, size)
	}
}

// openPayload removes a decrypted plaintext's padded frame (strictly: any
// other frame is refused) and decodes the payload.
func openPayload(pt []byte) (*payload, error) {
	if noPadding.Load() && len(pt) > 0 && pt[0] == '{' {
		return decodePayload(pt)
	}
	b, err := pad.Unframe(pt)
	if err != nil {
		if len(pt) > 0 && pt[0] == '{' {
			return nil, fmt.Errorf("%w: sent by an older version of backchannel that does not pad messages (ask the sender to upgrade)", ErrBadPayload)
		}
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	return decodePayload(b)
}

// zeroReader yields n zero bytes.
type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := int64(len(p))
	if k > z.n {
		k = z.n
	}
	clear(p[:k])
	z.n -= k
	return int(k), nil
}
