package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"backchannel/server/api"
	"backchannel/server/apiclient"
	"backchannel/session"
	"backchannel/vault"
)

// The outbox holds envelopes whose sessions have advanced but which the
// server has not acknowledged yet. They are queued in the same vault
// transaction that advances the sessions, and delivered in order: a failed
// send, or a crash between saving and sending, delays a message but never
// loses it. (Losing a chain's first messages would leave the peer waiting
// forever for the KEM fields only they carry.) Redelivering a batch that
// did reach the server is harmless: the receiving ratchet refuses the
// duplicate and the receiver acknowledges it.

const outboxIndex = "outbox"

func outboxIDs(ctx context.Context, r reader) ([]string, error) {
	raw, err := r.Get(ctx, outboxIndex)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, fmt.Errorf("outbox: %w", vault.ErrCorrupt)
	}
	return ids, nil
}

// batch is one queued fan-out: its envelopes, and what is needed to encrypt
// it again under fresh sessions if the server reveals that this profile was
// rolled back (restored or copied) — the payload per recipient user.
type batch struct {
	// Counter is the send counter of the first request; request i of the
	// batch (sendBatch envelopes each) carries Counter+i.
	Counter uint64                 `json:"counter"`
	Envs    []api.OutgoingEnvelope `json:"envelopes"`
	Plain   map[string][]byte      `json:"plain,omitempty"`
	Strict  bool                   `json:"strict,omitempty"`
}

const counterRecord = "sendcounter"

// nextCounters reserves n send counters and returns the first.
func nextCounters(ctx context.Context, tx *vault.Tx, n int) (uint64, error) {
	var cur uint64
	raw, err := tx.Get(ctx, counterRecord)
	if err == nil {
		if err := json.Unmarshal(raw, &cur); err != nil {
			return 0, fmt.Errorf("send counter: %w", vault.ErrCorrupt)
		}
	} else if !errors.Is(err, vault.ErrNotFound) {
		return 0, err
	}
	raw, _ = json.Marshal(cur + uint64(n))
	return cur + 1, tx.Put(ctx, counterRecord, raw)
}

// queue adds a batch of envelopes to the end of the outbox.
func queue(ctx context.Context, tx *vault.Tx, b batch) error {
	if len(b.Envs) == 0 {
		return nil
	}
	ids, err := outboxIDs(ctx, tx)
	if err != nil {
		return err
	}
	if b.Counter, err = nextCounters(ctx, tx, (len(b.Envs)+sendBatch-1)/sendBatch); err != nil {
		return err
	}
	id := newID()
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	if err := tx.Put(ctx, outboxIndex+"/"+id, raw); err != nil {
		return err
	}
	raw, _ = json.Marshal(append(ids, id))
	return tx.Put(ctx, outboxIndex, raw)
}

// flushOutbox sends the queued envelopes in order and removes each batch
// once the server has acknowledged it. c.mu is held.
func (c *Client) flushOutbox(ctx context.Context) error {
	ids, err := outboxIDs(ctx, c.v)
	if err != nil {
		return err
	}
	for _, id := range ids {
		raw, err := c.v.Get(ctx, outboxIndex+"/"+id)
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		var b batch
		if err := json.Unmarshal(raw, &b); err != nil {
			return fmt.Errorf("outbox: %w", vault.ErrCorrupt)
		}
		envs, counter := b.Envs, b.Counter
		for len(envs) > 0 {
			part := envs[:min(len(envs), sendBatch)]
			err := retry(ctx, func() error { _, err := c.api.Send(ctx, counter, part); return err })
			var rb *apiclient.RollbackError
			if errors.As(err, &rb) {
				return c.recoverRollback(ctx, rb.Counter)
			}
			if err != nil {
				return fmt.Errorf("%w: %v", ErrNotDelivered, err)
			}
			envs, counter = envs[len(part):], counter+1
		}
		err = c.v.Update(ctx, func(tx *vault.Tx) error {
			left, err := outboxIDs(ctx, tx)
			if err != nil {
				return err
			}
			if err := tx.Delete(ctx, outboxIndex+"/"+id); err != nil {
				return err
			}
			rest := left[:0:0]
			for _, l := range left {
				if l != id {
					rest = append(rest, l)
				}
			}
			raw, _ := json.Marshal(rest)
			return tx.Put(ctx, outboxIndex, raw)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Queued reports how many batches wait in the outbox.
func (c *Client) Queued(ctx context.Context) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, err := outboxIDs(ctx, c.v)
	return len(ids), err
}

// recoverRollback runs when the server has already accepted a higher send
// counter from this device than the one this profile is at: the profile is
// an older copy (restored from a backup, or copied), so its ratchet states
// may already have been used. None of them is used again: every session is
// abandoned (a new session epoch makes PQXDH start afresh with every
// device, and peers are told), the counter jumps past the server's, and the
// queued messages are encrypted again under the new sessions. Nothing
// encrypted under the old states ever reaches the server.
func (c *Client) recoverRollback(ctx context.Context, serverCounter uint64) error {
	c.opts.Logger.Warn("profile rolled back: starting fresh sessions", "server_counter", serverCounter)
	ids, err := outboxIDs(ctx, c.v)
	if err != nil {
		return err
	}
	var queued []batch
	for _, id := range ids {
		raw, err := c.v.Get(ctx, outboxIndex+"/"+id)
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		var b batch
		if err := json.Unmarshal(raw, &b); err != nil {
			return fmt.Errorf("outbox: %w", vault.ErrCorrupt)
		}
		queued = append(queued, b)
	}
	c.prof.SessionEpoch++
	err = c.v.Update(ctx, func(tx *vault.Tx) error {
		raw, _ := json.Marshal(serverCounter)
		if err := tx.Put(ctx, counterRecord, raw); err != nil {
			return err
		}
		for _, id := range ids {
			if err := tx.Delete(ctx, outboxIndex+"/"+id); err != nil {
				return err
			}
		}
		if err := tx.Put(ctx, outboxIndex, []byte("[]")); err != nil {
			return err
		}
		n, _ := json.Marshal(Notice{At: c.opts.Now().UTC(), User: c.prof.User, Kind: "rollback",
			Text: "this profile is an older copy of this device (restored from a backup, or copied): it started new sessions with everyone and re-encrypted its queued messages; no key was used twice"})
		if _, err := tx.Append(ctx, noticeLog, n); err != nil {
			return err
		}
		return c.putProfile(ctx, tx)
	})
	if err != nil {
		c.prof.SessionEpoch--
		return err
	}
	for _, b := range queued {
		if err := c.reencrypt(ctx, b); err != nil {
			return fmt.Errorf("re-encrypt queued messages after a rollback: %w", err)
		}
	}
	return c.flushOutbox(ctx)
}

// reencrypt queues a batch's payloads again, for the same recipient devices,
// under the current (fresh) sessions.
func (c *Client) reencrypt(ctx context.Context, b batch) error {
	type sent struct {
		user   string
		device uint32
		s      *session.Session
	}
	var sessions []sent
	nb := batch{Plain: b.Plain, Strict: b.Strict}
	done := map[string]map[uint32]*session.Session{}
	for _, env := range b.Envs {
		plain, ok := b.Plain[env.To]
		if !ok {
			continue // queued before payloads were kept: cannot be re-encrypted
		}
		if done[env.To] == nil {
			devs, err := c.deviceSessions(ctx, env.To, b.Strict, &c.warnings)
			if err != nil {
				return err
			}
			done[env.To] = devs
		}
		s, ok := done[env.To][env.Device]
		if !ok {
			continue
		}
		data, err := s.Encrypt(plain)
		if err != nil {
			return err
		}
		sessions = append(sessions, sent{env.To, env.Device, s})
		nb.Envs = append(nb.Envs, api.OutgoingEnvelope{To: env.To, Device: env.Device, Data: data})
	}
	return c.v.Update(ctx, func(tx *vault.Tx) error {
		for _, s := range sessions {
			if err := tx.Put(ctx, c.sessionName(s.user, s.device), s.s.Marshal()); err != nil {
				return err
			}
		}
		return queue(ctx, tx, nb)
	})
}
