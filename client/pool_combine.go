package client

import (
	"context"
	"encoding/json"
	"errors"

	"backchannel/canary"
	"backchannel/tracepool"
)

// PooledResult is the combined verdict of a pooled trace, with what each
// sender did.
type PooledResult struct {
	Request  string         `json:"request"`
	Room     string         `json:"room"`
	RoomName string         `json:"room_name"`
	Result   *canary.Result `json:"result"`
	Senders  []PooledSender `json:"senders"`
}

// PooledSender is one sender's part: its status and, for a contribution,
// how much of the leak its messages read.
type PooledSender struct {
	Member       string           `json:"member"`
	You          bool             `json:"you,omitempty"`
	Status       tracepool.Status `json:"status"`
	Reason       string           `json:"reason,omitempty"`
	SlotsRead    int              `json:"slots_read,omitempty"`
	WordsMatched int              `json:"words_matched,omitempty"`
}

// PooledTrace combines this member's own contribution with the answers
// received so far to request id.
func (c *Client) PooledTrace(ctx context.Context, id string) (*PooledResult, error) {
	return nil, errNoPoolMath
}

// errNoPoolMath: the pooling math (canary.Contribute, canary.Combine) is
// not in this build yet.
var errNoPoolMath = errors.New("pooled traces need canary.Contribute, not in this build yet")

// contribution computes this member's contribution to a pooled trace of
// leakText over its own messages in r, and the slots its messages read.
func (c *Client) contribution(ctx context.Context, r *Room, leakText string) (json.RawMessage, int, error) {
	t, err := c.senderTracer(ctx, r)
	if err != nil || t == nil {
		return nil, 0, err // no marked message of ours here: no slot read
	}
	return nil, 0, errNoPoolMath
}

// checkContribution checks a contribution an answer carries.
func checkContribution(raw json.RawMessage, q *tracepool.Inquiry) error {
	return errNoPoolMath
}
