package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"backchannel/room"
	"backchannel/vault"
)

// What this device has shown of each room and which rooms the user put
// away: room.Seen holds the rules; this file stores it per room.

// localRecord names the vault record of this device's view of a room.
func localRecord(id string) string { return "roomview/" + id }

func loadView(ctx context.Context, rd reader, id string) (room.Seen, error) {
	var v room.Seen
	raw, err := rd.Get(ctx, localRecord(id))
	if errors.Is(err, vault.ErrNotFound) {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("what this device has read of a room: %w", vault.ErrCorrupt)
	}
	return v, nil
}

// arrivals decodes a room's history in arrival order.
func arrivals(ctx context.Context, rd reader, r *Room) ([]Message, error) {
	entries, err := rd.Log(ctx, "msgs/"+r.State.ID)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(entries))
	for _, e := range entries {
		var m Message
		if err := json.Unmarshal(e, &m); err != nil {
			return nil, fmt.Errorf("history of %s: %w", quoteName(r.State.Name), vault.ErrCorrupt)
		}
		out = append(out, m)
	}
	return out, nil
}

// showState sets r.Unread and r.Archived from this device's view.
func (c *Client) showState(ctx context.Context, r *Room) error {
	msgs, err := arrivals(ctx, c.v, r)
	if err != nil {
		return err
	}
	return c.showStateOf(ctx, r, msgs)
}

// showStateOf is showState given the room's history in arrival order.
func (c *Client) showStateOf(ctx context.Context, r *Room, msgs []Message) error {
	v, err := loadView(ctx, c.v, r.State.ID)
	if err != nil {
		return err
	}
	senders := make([]string, len(msgs))
	for i, m := range msgs {
		senders[i] = m.Sender
	}
	r.Unread, r.Archived = v.Show(c.prof.User, senders)
	return nil
}

// MarkRead records that this device has shown a room's history up to the
// message with id upTo and everything that arrived before it ("": the
// whole history), so that Rooms counts only what arrived later as unread.
// It never moves the mark back.
func (c *Client) MarkRead(ctx context.Context, roomRef, upTo string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return err
	}
	return c.v.Update(ctx, func(tx *vault.Tx) error {
		msgs, err := arrivals(ctx, tx, r)
		if err != nil {
			return err
		}
		n := len(msgs)
		if upTo != "" {
			n = -1
			for i, m := range msgs {
				if m.ID == upTo {
					n = i + 1
				}
			}
			if n < 0 {
				return fmt.Errorf("%w: no message %s in %s", ErrUnknownMessage, upTo, quoteName(r.State.Name))
			}
		}
		v, err := loadView(ctx, tx, r.State.ID)
		if err != nil {
			return err
		}
		if !v.MarkRead(n) {
			return nil
		}
		return putView(ctx, tx, r.State.ID, v)
	})
}

// Archive archives a room (on) or brings it back (off) on this device and
// returns it. See room.Seen for what a new
// message does to an archived room.
func (c *Client) Archive(ctx context.Context, roomRef string, on bool) (*Room, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	err = c.v.Update(ctx, func(tx *vault.Tx) error {
		msgs, err := arrivals(ctx, tx, r)
		if err != nil {
			return err
		}
		v, err := loadView(ctx, tx, r.State.ID)
		if err != nil {
			return err
		}
		v.Archive(on, len(msgs))
		return putView(ctx, tx, r.State.ID, v)
	})
	if err != nil {
		return nil, err
	}
	return r, c.showState(ctx, r)
}

func putView(ctx context.Context, tx *vault.Tx, id string, v room.Seen) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(ctx, localRecord(id), raw)
}
