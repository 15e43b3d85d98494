package client

import (
	"context"

	"backchannel/identity"
	"backchannel/keylog/verify"
)

// AccountUser exposes the account key to attack tests that play a thief who
// copied it.
func (c *Client) AccountUser() *identity.User { return c.user }

// LocalPrekeyCounts reports the one-time private keys held locally.
func (c *Client) LocalPrekeyCounts() (int, int) { return c.pk.Counts() }

// SetCheckpoint overwrites the key log checkpoint this device holds: what
// a server that shows this device a forked log achieves.
func (c *Client) SetCheckpoint(ctx context.Context, note []byte) error {
	return c.v.Put(ctx, logCheckpointRecord, note)
}

// LogCheckpoint returns the key log checkpoint this device holds.
func (c *Client) LogCheckpoint(ctx context.Context) *verify.Checkpoint {
	cp, _ := c.lastCheckpoint(ctx, c.v)
	return cp
}

// LogEvidence counts the contradictions kept as evidence.
func (c *Client) LogEvidence(ctx context.Context) int {
	raws, _ := c.v.Log(ctx, logEvidenceLog)
	return len(raws)
}

// ReceiveGossip runs the receiver's check of a key log checkpoint carried by
// a message from `from` in room, as Sync does, and returns the warnings.
func (c *Client) ReceiveGossip(ctx context.Context, from, room string, note []byte) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, room)
	if err != nil {
		return []string{err.Error()}
	}
	rep := &SyncReport{}
	c.gossip = append(c.gossip, gossipItem{From: from, Room: r.State.ID, Note: note})
	c.checkGossip(ctx, rep)
	return rep.Warnings
}
