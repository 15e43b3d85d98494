package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/server/api"
	"backchannel/server/apiclient"
	"backchannel/session"
	"backchannel/vault"
)

// pin is the vault record "pin/USER": the identity key first seen for a user.
type pin struct {
	Key       []byte    `json:"key"`
	Verified  bool      `json:"verified"`
	FirstSeen time.Time `json:"first_seen"`
}

// pinnedKey returns the identity key pinned for user, without asking the
// server: every sender of a decrypted message has one.
func pinnedKey(ctx context.Context, r reader, user string) ([]byte, error) {
	raw, err := r.Get(ctx, "pin/"+user)
	if err != nil {
		return nil, fmt.Errorf("pinned key of %s: %w", user, err)
	}
	var p pin
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("pinned key of %s: %w", user, vault.ErrCorrupt)
	}
	return p.Key, nil
}

// identityOf returns the pinned identity key of user, pinning the server's
// answer on first contact. A different key later is ErrIdentityChanged.
func (c *Client) identityOf(ctx context.Context, user string) ([]byte, error) {
	raw, err := c.v.Get(ctx, "pin/"+user)
	if err == nil {
		var p pin
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("pinned key of %s: %w", user, vault.ErrCorrupt)
		}
		return p.Key, nil
	}
	if !errors.Is(err, vault.ErrNotFound) {
		return nil, err
	}
	acct, err := c.api.Account(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", user, err)
	}
	p := pin{Key: acct.IdentityKey, FirstSeen: c.opts.Now().UTC()}
	raw, _ = json.Marshal(p)
	if err := c.v.Put(ctx, "pin/"+user, raw); err != nil {
		return nil, err
	}
	return p.Key, nil
}

// SafetyNumber returns the safety number between this user and user, for
// comparison out of band (in person, or over a call).
func (c *Client) SafetyNumber(ctx context.Context, user string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key, err := c.identityOf(ctx, user)
	if err != nil {
		return "", err
	}
	return identity.SafetyNumber(c.prof.User, c.user.Public(), user, key), nil
}

// MarkVerified records that the user compared the safety number with user.
func (c *Client) MarkVerified(ctx context.Context, user string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	key, err := c.identityOf(ctx, user)
	if err != nil {
		return err
	}
	raw, _ := c.v.Get(ctx, "pin/"+user)
	var p pin
	json.Unmarshal(raw, &p)
	p.Key, p.Verified = key, true
	raw, _ = json.Marshal(p)
	return c.v.Put(ctx, "pin/"+user, raw)
}

// replenish uploads one-time prekeys when the server runs low; first also
// uploads the signed and last-resort prekeys.
func (c *Client) replenish(ctx context.Context, first bool) error {
	var signed *handshake.SignedPrekey
	var lastResort *handshake.KEMPrekey
	if first {
		spk, lr := c.pk.Signed(), c.pk.LastResort()
		signed, lastResort = &spk, &lr
	} else {
		if _, err := c.v.Get(ctx, "prekeys/published"); errors.Is(err, vault.ErrNotFound) {
			return c.replenish(ctx, true) // the upload at init failed
		}
		counts, err := c.api.PrekeyCounts(ctx)
		if err != nil {
			return fmt.Errorf("prekey counts: %w", err)
		}
		if counts.OneTime >= PrekeyLow && counts.OneTimeKEM >= PrekeyLow {
			return nil
		}
	}
	ots, kems, err := c.pk.GenerateOneTime(c.src, c.dev, PrekeyBatch)
	if err != nil {
		return err
	}
	up := apiclient.PrekeyUpload(signed, lastResort, ots, kems)
	// Persist the private halves first: an uploaded prekey we cannot use
	// would break the handshakes that pick it.
	if err := c.v.Put(ctx, "prekeys", c.pk.Marshal()); err != nil {
		return err
	}
	if _, err := c.api.UploadPrekeys(ctx, up); err != nil {
		return fmt.Errorf("upload prekeys: %w", err)
	}
	if first {
		return c.v.Put(ctx, "prekeys/published", []byte{1})
	}
	return nil
}

// bundleFrom converts a server bundle and checks it against the pinned key.
func bundleFrom(b api.Bundle, pinned []byte) (*handshake.Bundle, error) {
	hb, err := apiclient.AssembleBundle(b)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(hb.Cert.UserKey, pinned) {
		return nil, fmt.Errorf("bundle of %s: %w", b.User, ErrIdentityChanged)
	}
	return hb, nil
}

func (c *Client) rememberDevices(ctx context.Context, user string, devs []api.DeviceInfo) error {
	ids := make([]uint32, 0, len(devs))
	for _, d := range devs {
		ids = append(ids, d.ID)
	}
	raw, _ := json.Marshal(ids)
	if old, err := c.v.Get(ctx, "devices/"+user); err == nil && bytes.Equal(old, raw) {
		return nil
	}
	return c.v.Put(ctx, "devices/"+user, raw)
}

// knownDevices lists the devices of user last seen on the server.
func (c *Client) knownDevices(ctx context.Context, user string) ([]api.DeviceInfo, error) {
	raw, err := c.v.Get(ctx, "devices/"+user)
	if err != nil {
		return nil, err
	}
	var ids []uint32
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, fmt.Errorf("devices of %s: %w", user, vault.ErrCorrupt)
	}
	out := make([]api.DeviceInfo, len(ids))
	for i, id := range ids {
		out[i].ID = id
	}
	return out, nil
}

func sessionName(user string, device uint32) string {
	return fmt.Sprintf("session/%s/%d", user, device)
}

func (c *Client) loadSession(ctx context.Context, user string, device uint32) (*session.Session, error) {
	raw, err := c.v.Get(ctx, sessionName(user, device))
	if err != nil {
		return nil, err
	}
	return session.Unmarshal(raw)
}

// deviceSessions returns a session with every device of user, starting new
// ones from bundles where none exists.
func (c *Client) deviceSessions(ctx context.Context, user string) (map[uint32]*session.Session, error) {
	pinned, err := c.identityOf(ctx, user)
	if err != nil {
		return nil, err
	}
	devs, err := c.api.Devices(ctx, user)
	if err != nil {
		// While the server is unreachable, the devices we already have
		// sessions with are enough to encrypt and queue the message.
		known, kerr := c.knownDevices(ctx, user)
		if !transient(err) || kerr != nil || len(known) == 0 {
			return nil, fmt.Errorf("devices of %s: %w", user, err)
		}
		devs = known
	} else if err := c.rememberDevices(ctx, user, devs); err != nil {
		return nil, err
	}
	out := map[uint32]*session.Session{}
	for _, d := range devs {
		s, err := c.loadSession(ctx, user, d.ID)
		if err == nil {
			if !bytes.Equal(s.Peer.UserKey, pinned) {
				return nil, fmt.Errorf("session with %s: %w", user, ErrIdentityChanged)
			}
			out[d.ID] = s
			continue
		}
		if !errors.Is(err, vault.ErrNotFound) {
			return nil, fmt.Errorf("session with %s/%d: %w", user, d.ID, err)
		}
		b, err := c.api.Bundle(ctx, user, d.ID)
		if err != nil {
			return nil, fmt.Errorf("prekey bundle of %s/%d: %w", user, d.ID, err)
		}
		hb, err := bundleFrom(b, pinned)
		if err != nil {
			return nil, err
		}
		s, err = session.Initiate(c.src, c.dev, hb)
		if err != nil {
			return nil, fmt.Errorf("start session with %s/%d: %w", user, d.ID, err)
		}
		out[d.ID] = s
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no devices", user)
	}
	return out, nil
}
