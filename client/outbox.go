package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"backchannel/server/api"
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

// queue adds a batch of envelopes to the end of the outbox.
func queue(ctx context.Context, tx *vault.Tx, envs []api.OutgoingEnvelope) error {
	if len(envs) == 0 {
		return nil
	}
	ids, err := outboxIDs(ctx, tx)
	if err != nil {
		return err
	}
	id := newID()
	raw, err := json.Marshal(envs)
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
		var envs []api.OutgoingEnvelope
		if err := json.Unmarshal(raw, &envs); err != nil {
			return fmt.Errorf("outbox: %w", vault.ErrCorrupt)
		}
		for len(envs) > 0 {
			batch := envs[:min(len(envs), sendBatch)]
			if err := retry(ctx, func() error { _, err := c.api.Send(ctx, 0, batch); return err }); err != nil {
				return fmt.Errorf("%w: %v", ErrNotDelivered, err)
			}
			envs = envs[len(batch):]
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
