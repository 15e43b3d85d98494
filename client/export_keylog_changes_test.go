package client

import "context"

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
