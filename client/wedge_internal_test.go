package client

import (
	"bytes"
	"context"
	"testing"

	"backchannel/vault"
)

func TestParseControl(t *testing.T) {
	good := encodeControl(control{Kind: controlReset, Reason: blockedUndecryptable, Failed: 3, Resend: true, Sent: 2})
	for name, c := range map[string]struct {
		in      []byte
		isCtl   bool
		wantErr bool
	}{
		"a room payload":        {[]byte(`{"v":1,"kind":"text"}`), false, false},
		"a reset":               {good, true, false},
		"an answer":             {encodeControl(control{Kind: controlResent, Sent: 4, Lost: 1}), true, false},
		"unknown kind":          {encodeControl(control{Kind: "wipe"}), true, true},
		"reset without reason":  {encodeControl(control{Kind: controlReset}), true, true},
		"answer asking again":   {encodeControl(control{Kind: controlResent, Resend: true}), true, true},
		"negative count":        {encodeControl(control{Kind: controlResent, Sent: -1}), true, true},
		"too many resent":       {encodeControl(control{Kind: controlResent, Sent: MaxResend + 2}), true, true},
		"unknown field":         {append([]byte(ControlPrefix), `{"kind":"resent","sent":0,"x":1}`...), true, true},
		"trailing bytes":        {append(bytes.Clone(good), '}'), true, true},
		"oversized":             {append([]byte(ControlPrefix), bytes.Repeat([]byte(" "), maxControl)...), true, true},
		"prefix only":           {[]byte(ControlPrefix), true, true},
		"prefix, one byte less": {[]byte(ControlPrefix[:len(ControlPrefix)-1]), false, false},
	} {
		ctl, isCtl, err := parseControl(c.in)
		if isCtl != c.isCtl || (err != nil) != c.wantErr || (err == nil && isCtl && ctl == nil) {
			t.Errorf("%s: control %v, err %v", name, isCtl, err)
		}
	}
}

// FuzzParseControl: the session control decoder never panics, never
// claims a room payload (JSON) as control, and what it accepts re-encodes
// to a message it accepts the same way.
func FuzzParseControl(f *testing.F) {
	f.Add(encodeControl(control{Kind: controlReset, Reason: blockedUnacknowledged, Sent: 3}))
	f.Add(encodeControl(control{Kind: controlResent}))
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctl, isCtl, err := parseControl(b)
		if len(b) > 0 && b[0] == '{' && isCtl {
			t.Fatal("a JSON payload taken for a control message")
		}
		if err != nil || !isCtl {
			return
		}
		again, ok, err := parseControl(encodeControl(*ctl))
		if !ok || err != nil || *again != *ctl {
			t.Fatalf("accepted control %+v does not re-encode: %v", ctl, err)
		}
	})
}

// ForgetSession deletes this device's session with a peer device: what a
// profile restored from a copy older than the session, or a lost record,
// leaves behind.
func (c *Client) ForgetSession(ctx context.Context, user string, device uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v.Update(ctx, func(tx *vault.Tx) error { return tx.Delete(ctx, c.sessionName(user, device)) })
}
