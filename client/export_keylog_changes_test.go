package client

import "context"

// ListingEvidence counts the evidence kept of change lists that showed
// something this account's devices did not do.
func (c *Client) ListingEvidence(ctx context.Context) int {
	raws, _ := c.v.Log(ctx, logListingEvidence)
	return len(raws)
}
