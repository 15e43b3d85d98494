package client

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

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

// contribution computes this member's contribution to a pooled trace of
// leakText over its own messages in r (JSON), and the slots its messages
// read.
func (c *Client) contribution(ctx context.Context, r *Room, leakText string) (json.RawMessage, int, error) {
	t, err := c.senderTracer(ctx, r)
	if err != nil || t == nil {
		return nil, 0, err // no marked message of ours here: no slot read
	}
	part, err := t.Contribute(leakText, c.prof.User)
	if err != nil {
		return nil, 0, fmt.Errorf("compute your contribution: %w", err)
	}
	raw, err := json.Marshal(part)
	if err != nil {
		return nil, 0, err
	}
	if len(raw) > tracepool.MaxContributionBytes {
		return nil, 0, fmt.Errorf("your contribution is %d KiB, more than one room message carries (%d KiB)", len(raw)>>10, tracepool.MaxContributionBytes>>10)
	}
	return raw, part.SlotsRead, nil
}

// checkContribution checks a contribution an answer from sender carries:
// it decodes, names its sender, scores only members of the room asked, and
// holds at least the minimum of slots (an honest client sends no score
// below it).
func checkContribution(raw json.RawMessage, sender string, q *tracepool.Inquiry) (*canary.Contribution, error) {
	part, err := canary.DecodeContribution(raw)
	if err != nil {
		return nil, err
	}
	if part.Sender != sender {
		return nil, fmt.Errorf("the contribution says it is %s's, but %s sent it", part.Sender, sender)
	}
	for _, m := range part.Members {
		if !slices.Contains(q.Members, m.Member) || m.Member == sender {
			return nil, fmt.Errorf("the contribution scores %s, who is not another member of the room asked", m.Member)
		}
	}
	if part.SlotsRead < tracepool.MinSlots {
		return nil, fmt.Errorf("the contribution reads %d marks, fewer than the %d any score needs", part.SlotsRead, tracepool.MinSlots)
	}
	return part, nil
}

// PooledTrace combines this member's own contribution with the answers
// received so far to request id, into one verdict with one bound.
func (c *Client) PooledTrace(ctx context.Context, id string) (*PooledResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q, err := c.inquiry(ctx, id)
	if err != nil {
		return nil, err
	}
	r, err := roomFrom(ctx, c.v, q.Room)
	if err != nil {
		return nil, err
	}
	out := &PooledResult{Request: q.ID, Room: q.Room, RoomName: r.State.Name}
	var parts []*canary.Contribution
	self := PooledSender{Member: c.prof.User, You: true, Status: tracepool.TooLittle, Reason: "none of your marked messages in the room"}
	if t, err := c.senderTracer(ctx, r); err != nil {
		return nil, err
	} else if t != nil {
		part, err := t.Contribute(string(q.Leak), c.prof.User)
		if err != nil {
			return nil, fmt.Errorf("compute your own contribution: %w", err)
		}
		// The investigator's own part is never gated: it reveals nothing
		// to anyone else.
		parts = append(parts, part)
		self = PooledSender{Member: c.prof.User, You: true, Status: tracepool.Contributed, SlotsRead: part.SlotsRead, WordsMatched: part.WordsMatched}
	}
	out.Senders = append(out.Senders, self)
	for _, st := range q.Statuses() {
		ps := PooledSender{Member: st.Member, Status: st.Status, Reason: st.Reason}
		if a := q.Answers[st.Member]; a != nil && a.Status == tracepool.Contributed {
			part, err := checkContribution(a.Contribution, st.Member, q)
			if err != nil {
				return nil, fmt.Errorf("the stored answer of %s: %w", st.Member, err)
			}
			parts = append(parts, part)
			ps.SlotsRead, ps.WordsMatched = part.SlotsRead, part.WordsMatched
		}
		out.Senders = append(out.Senders, ps)
	}
	if len(parts) == 0 {
		// Nobody's evidence yet (no answer, and none of the requester's
		// own messages in the leak): inconclusive, not an error.
		out.Result = &canary.Result{Verdict: canary.Inconclusive, Epsilon: q.Epsilon, Suspects: []canary.Suspect{}, SlotsByChannel: map[string]int{}}
		return out, nil
	}
	if out.Result, err = canary.Combine(parts, q.Epsilon); err != nil {
		return nil, fmt.Errorf("combine the contributions: %w", err)
	}
	return out, nil
}
