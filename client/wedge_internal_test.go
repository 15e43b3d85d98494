package client

import (
	"context"
	"errors"
	"testing"

	"backchannel/sessionrepair"
	"backchannel/vault"
)

// TestParseControlIsABadPayload: a malformed session control message is
// refused as a malformed payload (sessionrepair's tests cover the rules).
func TestParseControlIsABadPayload(t *testing.T) {
	for name, c := range map[string]struct {
		in      []byte
		isCtl   bool
		wantErr bool
	}{
		"a room payload": {[]byte(`{"v":1,"kind":"text"}`), false, false},
		"a reset":        {sessionrepair.Encode(sessionrepair.Control{Kind: sessionrepair.KindReset, Reason: sessionrepair.Unacknowledged}), true, false},
		"unknown kind":   {sessionrepair.Encode(sessionrepair.Control{Kind: "wipe"}), true, true},
	} {
		ctl, isCtl, err := parseControl(c.in)
		if isCtl != c.isCtl || (err != nil) != c.wantErr || (err == nil && isCtl && ctl == nil) {
			t.Errorf("%s: control %v, err %v", name, isCtl, err)
		}
		if err != nil && (!errors.Is(err, ErrBadPayload) || !errors.Is(err, sessionrepair.ErrMalformed)) {
			t.Errorf("%s: %v is not a malformed payload", name, err)
		}
	}
}

// ForgetSession deletes this device's session with a peer device: what a
// profile restored from a copy older than the session, or a lost record,
// leaves behind.
func (c *Client) ForgetSession(ctx context.Context, user string, device uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v.Update(ctx, func(tx *vault.Tx) error { return tx.Delete(ctx, c.sessionName(user, device)) })
}
