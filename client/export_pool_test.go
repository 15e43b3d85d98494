package client

import (
	"context"
	"encoding/json"

	"backchannel/vault"
)

// SendPoolPayload sends a raw pooled-trace payload (kind, body) in room to
// the users listed: what a patched or lying client could send.
func (c *Client) SendPoolPayload(ctx context.Context, room, kind string, body []byte, to []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, room)
	if err != nil {
		return err
	}
	id := newID()
	if kind == KindTraceRequest {
		var req map[string]any
		if json.Unmarshal(body, &req) == nil {
			if s, ok := req["id"].(string); ok {
				id = s
			}
		}
	}
	p := &payload{V: payloadVersion, Kind: kind, ID: id, Room: r.State.ID, SentAt: c.opts.Now().UTC(), Pool: body}
	return c.fanOut(ctx, same(p), to, false, func(context.Context, *vault.Tx) error { return nil })
}
