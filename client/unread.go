package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"backchannel/vault"
)

// What this device has shown of each room, and which rooms the user put
// away. Both are this device's own business: never sent, never synced to
// the account's other devices.
//
// Unread: a room's history is stored in arrival order; the device
// remembers how many entries of it were shown (MarkRead), and counts as
// unread every later entry from someone else.
//
// Archive: an archived room is left out of `room list` (unless --all) and
// stays readable and writable. It comes back by itself as soon as someone
// else writes in it (a message, a notice or a membership change from
// another member), so nothing new can hide in the archive; Unarchive brings
// it back at once.

// localRecord names the vault record of this device's view of a room.
func localRecord(id string) string { return "roomview/" + id }

// roomView is this device's view of one room.
type roomView struct {
	// Read counts the history entries (in arrival order) shown.
	Read int `json:"read"`
	// Archived is set while the room is archived; ArchivedAt is the
	// history's length when it was archived.
	Archived   bool `json:"archived,omitempty"`
	ArchivedAt int  `json:"archived_at,omitempty"`
}

func loadView(ctx context.Context, rd reader, id string) (roomView, error) {
	var v roomView
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
	r.Unread, r.Archived = 0, v.Archived
	for i, m := range msgs {
		if m.Sender == c.prof.User {
			continue
		}
		if i >= v.Read {
			r.Unread++
		}
		if i >= v.ArchivedAt {
			r.Archived = false // someone wrote since: back in the list
		}
	}
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
		if n <= v.Read {
			return nil
		}
		v.Read = n
		return putView(ctx, tx, r.State.ID, v)
	})
}

// Archive archives a room (on) or brings it back (off) on this device and
// returns it. See the comment at the top of this file for what a new
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
		v.Archived, v.ArchivedAt = on, 0
		if on {
			v.ArchivedAt = len(msgs)
		}
		return putView(ctx, tx, r.State.ID, v)
	})
	if err != nil {
		return nil, err
	}
	return r, c.showState(ctx, r)
}

func putView(ctx context.Context, tx *vault.Tx, id string, v roomView) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(ctx, localRecord(id), raw)
}
