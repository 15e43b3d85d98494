package client

import "backchannel/identity"

// AccountUser exposes the account key to attack tests that play a thief who
// copied it.
func (c *Client) AccountUser() *identity.User { return c.user }

// LocalPrekeyCounts reports the one-time private keys held locally.
func (c *Client) LocalPrekeyCounts() (int, int) { return c.pk.Counts() }
