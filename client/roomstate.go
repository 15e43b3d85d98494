package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"backchannel/room"
	"backchannel/transcript"
	"backchannel/vault"
)

// Applying a room's signed state (creation, membership changes, renames)
// and what waited for it: the orphans of a room this device did not know.

type orphan struct {
	Sender     string    `json:"sender"`
	Payload    *payload  `json:"payload"`
	ReceivedAt time.Time `json:"received_at"`
}

// applyState applies a signed room state from its creator.
func (c *Client) applyState(ctx context.Context, tx *vault.Tx, ids []string, sender string, p *payload, receivedAt time.Time, rep *SyncReport) ([]func() error, error) {
	st := p.State
	if st.Creator != sender {
		c.warn(rep, "ignored a room state for %q sent by %s, who is not its creator", st.Name, sender)
		return nil, nil
	}
	// On-record states are signed by the creator's account key; deniable
	// ones are authenticated by the ratchet alone (the sender is the
	// creator), so that nobody can show a third party who was in the room.
	if st.Mode == ModeOnRecord {
		key, err := c.pinnedKey(ctx, tx, sender)
		if err != nil {
			return nil, err
		}
		if !ed25519.Verify(key, st.signedBytes(), p.Sig) {
			c.warn(rep, "ignored a room state for %q with a bad signature from %s", st.Name, sender)
			return nil, nil
		}
	}
	r, err := roomFrom(ctx, tx, st.ID)
	if err != nil && !errors.Is(err, ErrUnknownRoom) {
		return nil, err
	}
	first := r == nil
	if !first && st.Version <= r.State.Version {
		// An old or repeated state: nothing to apply, but its transcript
		// entry may be the one a gap warning waits for.
		if bytes.Equal(p.Record.Content, st.signedBytes()) {
			_ = c.accept(ctx, tx, r, sender, p.Record)
		}
		return nil, nil
	}
	if !first && (st.Creator != r.State.Creator || st.Mode != r.State.Mode || st.Marking != r.State.Marking ||
		!st.CreatedAt.Equal(r.State.CreatedAt)) {
		// Only the name and the members may change; mode and marking are
		// fixed at creation.
		c.warn(rep, "ignored a room state for %q from %s that changes more than its name and members", r.State.Name, sender)
		return nil, nil
	}
	var note string
	switch {
	case first:
		note = fmt.Sprintf("%s added you to %s (%s) with %s", sender, quoteName(st.Name), st.Mode, strings.Join(st.Members, ", "))
	case st.Name != r.State.Name && slices.Equal(st.Members, r.State.Members):
		note = renameNote(sender, st.Name)
	case st.Name != r.State.Name:
		note = renameNote(sender, st.Name) + "; " + describeChange(sender, r.State.Members, st.Members)
	default:
		note = describeChange(sender, r.State.Members, st.Members)
	}
	if !bytes.Equal(p.Record.Content, st.signedBytes()) {
		c.warn(rep, "ignored a room state for %q whose transcript entry commits to other content", st.Name)
		return nil, nil
	}
	now := c.opts.Now().UTC()
	nr := &Room{}
	if !first {
		*nr = *r
	}
	wasRemoved := nr.Removed
	nr.State, nr.Removed = *st, !st.has(c.prof.User)
	if first {
		// What the state that added this member cites predates the join:
		// never delivered to it, never reported missing.
		nr.Joined, nr.WatchFrom, nr.LastSent = st.Version, now, now // first heartbeat one interval after joining
		if e, err := transcript.DecodeEntry(p.Record.Entry); err == nil {
			for _, h := range e.Parents {
				nr.Base = append(nr.Base, slices.Clone(h[:]))
			}
		}
		nr.PreJoin = mergeHeads(nil, room.PreJoin(p.Heads, st.Version))
	}
	if nr.Heard == nil {
		nr.Heard = map[string]time.Time{}
	}
	nr.Heard[sender] = now
	if !first {
		for _, m := range st.Members {
			if !slices.Contains(r.State.Members, m) {
				nr.Heard[m] = now // silence counts from the addition
			}
		}
	}
	notePast(nr)
	p.Record.Version = st.Version
	if first {
		if rl, err := c.transcriptOf(ctx, tx, nr); err == nil {
			predate(rl, nr.Base, nr.PreJoin)
		}
	}
	if err := c.accept(ctx, tx, nr, sender, p.Record); err != nil {
		c.warn(rep, "ignored a room state for %q: its transcript entry does not verify: %v", st.Name, err)
		return nil, nil
	}
	if nr.Removed && !wasRemoved {
		// Only what the removal follows is shown from now on.
		nr.RemovalWants = nil
		if e, err := transcript.DecodeEntry(p.Record.Entry); err == nil {
			for _, h := range e.Parents {
				nr.RemovalWants = append(nr.RemovalWants, slices.Clone(h[:]))
			}
		}
	}
	if err := putRoom(ctx, tx, nr, ids); err != nil {
		return nil, err
	}
	sys := Message{ID: p.ID, Room: st.ID, Sender: sender, SentAt: p.SentAt, Text: note, Kind: "system", ReceivedAt: receivedAt, Entry: p.Record.hash()}
	if err := appendMessage(ctx, tx, sys); err != nil {
		return nil, err
	}
	rep.stored(sys)
	var follows []func() error
	if first {
		f, err := c.drainOrphans(ctx, tx, st.ID, rep)
		if err != nil {
			return nil, err
		}
		follows = f
	}
	f, err := c.drainHeld(ctx, tx, st.ID, st.Version, rep)
	return append(follows, f...), err
}

func describeChange(by string, before, after []string) string {
	var added, removed []string
	for _, m := range after {
		if !slices.Contains(before, m) {
			added = append(added, m)
		}
	}
	for _, m := range before {
		if !slices.Contains(after, m) {
			removed = append(removed, m)
		}
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ", "))
	}
	if len(removed) > 0 {
		parts = append(parts, "removed "+strings.Join(removed, ", "))
	}
	if len(parts) == 0 {
		return by + " sent the room's membership again, unchanged"
	}
	return by + " " + strings.Join(parts, "; ")
}

// drainOrphans applies payloads that arrived before their room's state
// (kept by keepOrphan; older profiles kept them in a log per room).
func (c *Client) drainOrphans(ctx context.Context, tx *vault.Tx, id string, rep *SyncReport) ([]func() error, error) {
	entries, err := tx.Log(ctx, "orphans/"+id)
	if err != nil {
		return nil, err
	}
	var all []orphan
	for _, e := range entries {
		var o orphan
		if err := json.Unmarshal(e, &o); err == nil && o.Payload != nil {
			all = append(all, o)
		}
	}
	kept, err := takeOrphans(ctx, tx, id, c.opts.Now().UTC())
	if err != nil {
		return nil, err
	}
	for _, w := range kept {
		all = append(all, orphan{Sender: w.Sender, Payload: w.Payload, ReceivedAt: w.ReceivedAt})
	}
	return c.applyAll(ctx, tx, all, rep)
}

// applyAll applies messages that waited (held for a room state, or
// orphans of an unknown room), in order, and returns what to do after the
// transaction.
func (c *Client) applyAll(ctx context.Context, tx *vault.Tx, msgs []orphan, rep *SyncReport) ([]func() error, error) {
	var follows []func() error
	for _, o := range msgs {
		f, err := c.apply(ctx, tx, o.Sender, o.Payload, o.ReceivedAt, rep)
		if err != nil {
			return nil, err
		}
		if f != nil {
			follows = append(follows, f)
		}
	}
	return follows, nil
}

// chain runs follow-ups in order, returning the first error (nil if none).
func chain(fs []func() error) func() error {
	if len(fs) == 0 {
		return nil
	}
	return func() error {
		var first error
		for _, f := range fs {
			if err := f(); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}
