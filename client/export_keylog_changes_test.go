package client

import (
	"context"
	"encoding/json"
)

// ListingEvidence counts the evidence kept of change lists that showed
// something this account's devices did not do.
func (c *Client) ListingEvidence(ctx context.Context) int {
	raws, _ := c.v.Log(ctx, logListingEvidence)
	return len(raws)
}

// SelfCheck runs the periodic self-check now (as open and sync do, subject
// to MonitorInterval).
func (c *Client) SelfCheck(ctx context.Context) (*Audit, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.monitorSelf(ctx, false)
}

// ListingEvidenceRecords returns the kept evidence as stored (JSON).
func (c *Client) ListingEvidenceRecords(ctx context.Context) [][]byte {
	raws, _ := c.v.Log(ctx, logListingEvidence)
	return raws
}

// DropAnchorEntry rewrites the anchor as one from before the entries were
// read (no entry, no range).
func (c *Client) DropAnchorEntry(ctx context.Context) error {
	a, err := loadAnchor(ctx, c.v)
	if err != nil || a == nil {
		return err
	}
	a.Entry, a.Range = nil, nil
	raw, _ := json.Marshal(a)
	return c.v.Put(ctx, logAnchorRecord, raw)
}
