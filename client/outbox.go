package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"backchannel/server/api"
	"backchannel/server/apiclient"
	"backchannel/vault"
)

// The outbox holds envelopes whose sessions have advanced but which the
// server has not acknowledged yet. They are queued in the same vault
// transaction that advances the sessions, and delivered in order: a failed
// send, or a crash between saving and sending, delays a message but never
// loses it. (What the server acknowledges and then withholds is another
// matter: the resend log in wedge.go keeps every plaintext until the peer
// acknowledges its chain.) Redelivering a batch that
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

// batch is one queued fan-out.
type batch struct {
	// Counter is the send counter of the first request; request i of the
	// batch (sendBatch envelopes each) carries Counter+i. The server refuses
	// a counter it has seen with other envelopes: see renew.go.
	Counter uint64                 `json:"counter"`
	Envs    []api.OutgoingEnvelope `json:"envelopes"`
}

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

// ErrCopyRenewed: the message was not sent, because this profile turned
// out to be an older copy; it is now a new device of the account.
var ErrCopyRenewed = errors.New("not sent: this profile is an older copy of this device (restored or copied), so it became a new device of your account with new keys; send the message again")

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
			if errors.Is(err, apiclient.ErrRollback) {
				// An old copy: nothing it encrypted may go out.
				if rerr := c.renewDevice(ctx, "the server refused this profile's send counter: it is an older copy", false); rerr != nil {
					return fmt.Errorf("%w: this profile is an older copy and could not become a new device: %v", ErrNotDelivered, rerr)
				}
				return ErrCopyRenewed
			}
			if errors.Is(err, apiclient.ErrNotFound) {
				// A recipient device is gone (removed from its account a moment
				// ago). Drop what was meant for devices the server no longer
				// has — it could drop them anyway — and send the rest.
				pruned, perr := c.pruneGone(ctx, envs)
				if perr != nil || len(pruned) == len(envs) {
					return fmt.Errorf("%w: %v", ErrNotDelivered, err)
				}
				envs = pruned
				if err := c.saveBatchRest(ctx, id, counter, envs); err != nil {
					return err
				}
				if len(envs) == 0 {
					break
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("%w: %v", ErrNotDelivered, err)
			}
			envs, counter = envs[len(part):], counter+1
			if len(envs) > 0 {
				// Record the progress: after a crash, resending a part the
				// server already took under a lower counter would look like
				// a rollback.
				if err := c.saveBatchRest(ctx, id, counter, envs); err != nil {
					return err
				}
			}
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

// saveBatchRest records what is left of an outbox batch, from counter on.
func (c *Client) saveBatchRest(ctx context.Context, id string, counter uint64, envs []api.OutgoingEnvelope) error {
	raw, err := json.Marshal(batch{Counter: counter, Envs: envs})
	if err != nil {
		return err
	}
	return c.v.Put(ctx, outboxIndex+"/"+id, raw)
}

// pruneGone removes the envelopes addressed to devices the server no
// longer has.
func (c *Client) pruneGone(ctx context.Context, envs []api.OutgoingEnvelope) ([]api.OutgoingEnvelope, error) {
	have := map[string]map[uint32]bool{}
	out := envs[:0:0]
	for _, e := range envs {
		if have[e.To] == nil {
			devs, err := c.api.Devices(ctx, e.To)
			if err != nil && !errors.Is(err, apiclient.ErrNotFound) {
				return nil, err
			}
			have[e.To] = map[uint32]bool{}
			for _, d := range devs {
				have[e.To][d.ID] = true
			}
		}
		if have[e.To][e.Device] {
			out = append(out, e)
		} else {
			c.opts.Logger.Info("dropped a copy for a removed device", "user", e.To, "device", e.Device)
		}
	}
	return out, nil
}
