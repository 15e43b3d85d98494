package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"backchannel/canary"
	"backchannel/server/api"
	"backchannel/session"
	"backchannel/vault"
)

// ErrNotDelivered: the message is in the local history and queued, but the
// server did not acknowledge it yet; the next send or sync delivers it.
var ErrNotDelivered = errors.New("message saved and queued, not yet delivered to the server (it goes out with the next send or sync)")

// sendBatch bounds envelopes per request.
const sendBatch = 64

// Send sends text to a room.
func (c *Client) Send(ctx context.Context, roomRef, text string) (*Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(text) > MaxTextBytes {
		return nil, fmt.Errorf("message is %d bytes; the limit is %d", len(text), MaxTextBytes)
	}
	// Marks a pasted copy carries would survive marking and point at this
	// sender: they go first, so a quote carries only this sender's own
	// marks (canary.Unmark; issue 10, item 9). What is stored and traced
	// is the unmarked text.
	text = unmarkOut(text)
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	if r.Removed || !r.State.has(c.prof.User) {
		return nil, fmt.Errorf("%w %q", ErrNotMember, r.State.Name)
	}
	if err := c.checkSendable(r); err != nil {
		return nil, err
	}
	if err := c.refuseUnverified(ctx, r.State.Mode, r.State.Members); err != nil {
		return nil, err
	}
	p := &payload{V: payloadVersion, Log: c.ourCheckpoint(ctx), Kind: KindText, ID: newID(), Room: r.State.ID, SentAt: c.opts.Now().UTC()}
	policy, err := canary.ParsePolicy(r.State.Marking)
	if err != nil {
		return nil, err
	}
	var recipients []string
	for _, u := range r.State.Members {
		if u != c.prof.User {
			recipients = append(recipients, u)
		}
	}
	// Each recipient's copy carries its own marks; the transcript entry
	// commits to all of them through the manifest.
	copies, err := canary.MarkEach(c.prof.MarkingKey, p.ID, text, policy, recipients)
	if err != nil {
		return nil, fmt.Errorf("mark copies: %w", err)
	}
	copyOf := map[string]string{c.prof.User: text}
	for i, u := range recipients {
		copyOf[u] = copies[i]
	}
	rec, salts, err := c.commitCopies(ctx, r, copyOf, p.SentAt)
	if err != nil {
		return nil, err
	}
	p.Record = rec
	c.stamp(ctx, c.v, r, p)
	m := Message{ID: p.ID, Room: p.Room, Sender: c.prof.User, SentAt: p.SentAt, Text: text, Kind: KindText, ReceivedAt: p.SentAt,
		Recipients: recipients, Marking: policy.String(), Entry: rec.hash(), CopySalt: salts[c.prof.User]}
	plain := func(u string) ([]byte, error) {
		q := *p
		q.Text, q.CopySalt = copyOf[u], salts[u]
		return json.Marshal(&q)
	}
	err = c.fanOut(ctx, plain, r.State.Members, r.State.Mode == ModeOnRecord, func(ctx context.Context, tx *vault.Tx) error {
		if err := storeRecord(ctx, tx, p.Room, rec); err != nil {
			return err
		}
		if err := c.touchSent(ctx, tx, p.Room); err != nil {
			return err
		}
		m.Outbox = lastQueued(ctx, tx) // queued while it is there (delivery.go)
		return appendMessage(ctx, tx, m)
	})
	if err != nil && !errors.Is(err, ErrNotDelivered) {
		delete(c.logs, r.State.ID) // the entry never reached the vault
	}
	if err != nil {
		return nil, err
	}
	m.Warnings = append(c.warnings, c.unverifiedWarnings(ctx, r)...)
	return &m, nil
}

// unverifiedWarnings names the members of an on-record room whose safety
// numbers were not compared: what they sign cannot be tied to a person.
func (c *Client) unverifiedWarnings(ctx context.Context, r *Room) []string {
	if r.State.Mode != ModeOnRecord {
		return nil
	}
	var out []string
	for m, ok := range c.verifiedMembers(ctx, c.v, r.State.Members) {
		if !ok {
			out = append(out, fmt.Sprintf("%s is not verified: compare safety numbers with 'backchannel keys verify %s' (this on-record room's record cannot prove who %s is)", m, m, m))
		}
	}
	slices.Sort(out)
	return out
}

func storeRecord(ctx context.Context, tx *vault.Tx, room string, rec *record) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = tx.Append(ctx, "tx/"+room, raw)
	return err
}

// same returns a payload encoder that gives every recipient the same bytes.
func same(p *payload) func(string) ([]byte, error) {
	b, err := json.Marshal(p)
	return func(string) ([]byte, error) { return b, err }
}

// fanOut encrypts p for every device of every recipient except this user,
// persists the advanced sessions together with whatever persist writes,
// and only then hands the envelopes to the server. Persisting first means a
// crash can waste message numbers (the peer skips them) but never reuse one.
//
// Recipients include this user: the account's other devices get a copy of
// everything this device sends. strict (on-record rooms) makes a device
// change that the user has not accepted stop the send; c.warnings collects
// what the user must be told (devices refused).
func (c *Client) fanOut(ctx context.Context, encode func(user string) ([]byte, error), recipients []string, strict bool, persist func(context.Context, *vault.Tx) error) error {
	return c.fanOutLeaving(ctx, encode, recipients, nil, strict, persist)
}

// refusesSend says whether a recipient's error is a decision the user must
// take (a changed key, an unaccepted device, a forked key log): the send
// stops. Other errors (no prekeys, a bad bundle, no reachable device) skip
// that member with a warning, so one member can never block a room.
func refusesSend(err error) bool {
	return errors.Is(err, ErrUnverifiedChange) || errors.Is(err, ErrIdentityChanged) || errors.Is(err, ErrLogSplit) ||
		errors.Is(err, ErrLogMismatch) || errors.Is(err, ErrUnverifiedMembers) || errors.Is(err, ErrStaleCopy) || transient(err)
}

// fanOutLeaving is fanOut where leaving lists recipients being removed: a
// failure to reach one of them never stops the send (a removal must not
// depend on the removed member).
func (c *Client) fanOutLeaving(ctx context.Context, encode func(user string) ([]byte, error), recipients, leaving []string, strict bool, persist func(context.Context, *vault.Tx) error) error {
	c.warnings = nil
	if c.prof.Disabled != "" {
		return fmt.Errorf("%w (%s)", ErrStaleCopy, c.prof.Disabled)
	}
	type sent struct {
		user   string
		device uint32
		s      *session.Session
		plain  []byte
	}
	var sessions []sent
	var envs []api.OutgoingEnvelope
	if !slices.Contains(recipients, c.prof.User) {
		recipients = append(slices.Clone(recipients), c.prof.User)
	}
	// One padded length for every copy (padding.go).
	encode = padEach(encode, recipients)
	var skipped error // the first member skipped, unless another was reached
	reached := false
	for _, u := range recipients {
		devs, err := c.deviceSessions(ctx, u, strict, &c.warnings)
		if err != nil && u != c.prof.User && (slices.Contains(leaving, u) || !refusesSend(err)) {
			c.warnings = append(c.warnings, warnSkipped(u, err))
			c.opts.Logger.Warn("a recipient was skipped: no reachable device")
			if skipped == nil && !slices.Contains(leaving, u) {
				skipped = err
			}
			continue
		}
		if err == nil && u != c.prof.User && len(devs) > 0 {
			reached = true
		}
		if err != nil {
			return err
		}
		plain, err := encode(u)
		if err != nil {
			return err
		}
		for id, s := range devs {
			env, err := s.Encrypt(plain)
			if err != nil {
				return fmt.Errorf("encrypt for %s/%d: %w", u, id, err)
			}
			sessions = append(sessions, sent{u, id, s, plain})
			envs = append(envs, api.OutgoingEnvelope{To: u, Device: id, Data: env})
		}
	}
	if skipped != nil && !reached {
		// Nobody but this account would get it: a failure, not a warning.
		return skipped
	}
	err := c.v.Update(ctx, func(tx *vault.Tx) error {
		for _, s := range sessions {
			if err := c.saveSession(ctx, tx, s.user, s.device, s.s); err != nil {
				return err
			}
			if err := c.keepForResend(ctx, tx, s.user, s.device, s.s, s.plain); err != nil {
				return err // kept until the peer acknowledges the chain (wedge.go)
			}
		}
		if err := queue(ctx, tx, batch{Envs: envs}); err != nil {
			return err
		}
		return persist(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("save before sending: %w", err)
	}
	return c.flushOutbox(ctx)
}
