package client

import (
	"context"
	"encoding/json"
	"errors"

	"backchannel/vault"
)

// PatchMarking makes every client in this test binary whose user is sender
// rewrite its marked copies after the honest marking step (nil restores):
// the patched client of an equivocating sender. The rest of the send path
// is the real one.
func PatchMarking(sender string, rewrite func(copyOf map[string]string)) {
	if rewrite == nil {
		tamperCopies = nil
		return
	}
	tamperCopies = func(user string, copyOf map[string]string) {
		if user == sender {
			rewrite(copyOf)
		}
	}
}

// ReportEquivocation sends the room an equivocation report about the entry
// of message id, carrying text as this member's copy (with the salt of the
// copy this member really received): what a member who tries to frame an
// honest sender can send.
func (c *Client) ReportEquivocation(ctx context.Context, roomRef, id, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return err
	}
	raws, err := c.v.Log(ctx, "msgs/"+r.State.ID)
	if err != nil {
		return err
	}
	var m Message
	for _, raw := range raws {
		var x Message
		if json.Unmarshal(raw, &x) == nil && x.ID == id {
			m = x
		}
	}
	rl, err := c.transcriptOf(ctx, c.v, r)
	if err != nil {
		return err
	}
	for _, rec := range rl.log.Records() {
		if rec.Hash.String() != m.Entry {
			continue
		}
		enc, err := rec.Entry.Encode()
		if err != nil {
			return err
		}
		p := &payload{V: payloadVersion, Kind: KindEquivocation, ID: newID(), Room: r.State.ID, SentAt: c.opts.Now().UTC(),
			Record: &record{Entry: enc, Salt: rec.Salt[:], Content: rec.Content}, CopySalt: m.CopySalt, Text: text}
		return c.fanOut(ctx, same(p), r.State.Members, false, func(context.Context, *vault.Tx) error { return nil })
	}
	return errors.New("no such message")
}
