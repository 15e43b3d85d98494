package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"backchannel/contacts"
	"backchannel/devicelist"
	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/ratchet"
	"backchannel/server/api"
	"backchannel/server/apiclient"
	"backchannel/session"
	"backchannel/transcript"
	"backchannel/vault"
)

// SafetyNumber returns the safety number between this user and user, for
// comparison out of band (in person, or over a call). While a key change is
// pending, it is the number of the new key, and old is the number that was
// pinned before; otherwise old is empty.
func (c *Client) SafetyNumber(ctx context.Context, user string) (number, old string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, err := c.contactOf(ctx, user, true)
	if err != nil {
		return "", "", err
	}
	if ct.KeyPending() {
		return identity.SafetyNumber(c.prof.User, c.accountKey(), user, ct.NewKey),
			identity.SafetyNumber(c.prof.User, c.accountKey(), user, ct.Key), nil
	}
	return identity.SafetyNumber(c.prof.User, c.accountKey(), user, ct.Key), "", nil
}

// MarkVerified records that the user compared the safety number with user:
// against the exact account key the number was computed from (the pending
// new key, if any, which it then adopts).
func (c *Client) MarkVerified(ctx context.Context, user string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, err := c.contactOf(ctx, user, true)
	if err != nil {
		return err
	}
	key := ct.Key
	if ct.KeyPending() {
		key = ct.NewKey
	}
	_, err = c.resolveChange(ctx, ct, func() ([]contacts.Event, error) { return ct.Verify(key, c.opts.Now()) })
	return err
}

// Fingerprint returns the fingerprint of user's account key (this user's
// own when user is empty) in the form transcript exports use.
func (c *Client) Fingerprint(ctx context.Context, user string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if user == "" || user == c.prof.User {
		return transcript.Fingerprint(c.accountKey()), nil
	}
	ct, err := c.contactOf(ctx, user, true)
	if err != nil {
		return "", err
	}
	return transcript.Fingerprint(ct.Key), nil
}

// replenish keeps this device's prekeys fresh on the server. It rotates
// the signed and last-resort prekeys on their schedule (handshake.Rotate),
// deletes expired one-time private keys, and uploads: after a rotation (or
// at first) the current prekeys with a fresh one-time batch that replaces
// the server's pools; otherwise a batch whenever the server runs low. The
// local pools are capped (handshake.MaxOneTime), so draining the server's
// one-time keys can delay refills until old keys expire, never stop them.
func (c *Client) replenish(ctx context.Context, first bool) error {
	now := c.opts.Now()
	gens := c.pk.Generations()
	rotated, err := c.pk.Rotate(c.src, c.dev, now)
	if err != nil {
		return err
	}
	if expired := c.pk.Expire(now); rotated || expired > 0 || gens != c.pk.Generations() {
		if err := c.v.Put(ctx, "prekeys", c.pk.Marshal()); err != nil {
			return err
		}
	}
	if _, err := c.v.Get(ctx, "prekeys/published"); errors.Is(err, vault.ErrNotFound) {
		first = true // the upload at init failed, or this device was renewed
	}
	full := first || c.pk.NeedsUpload()
	if !full {
		counts, err := c.api.PrekeyCounts(ctx)
		if err != nil {
			return fmt.Errorf("prekey counts: %w", err)
		}
		if counts.OneTime >= PrekeyLow && counts.OneTimeKEM >= PrekeyLow {
			return nil
		}
	}
	ots, kems, err := c.pk.GenerateOneTimeAt(c.src, c.dev, PrekeyBatch, now)
	if err != nil {
		return err
	}
	var up api.PrekeyUpload
	if full {
		spk, lr := c.pk.Signed(), c.pk.LastResort()
		up = apiclient.PrekeyUpload(&spk, &lr, ots, kems)
		up.ReplaceOneTime = true
	} else {
		if len(ots) == 0 && len(kems) == 0 {
			return nil // pools full until old keys expire; the last-resort keys serve meanwhile
		}
		up = apiclient.PrekeyUpload(nil, nil, ots, kems)
	}
	// Persist the private halves first: an uploaded prekey we cannot use
	// would break the handshakes that pick it.
	if err := c.v.Put(ctx, "prekeys", c.pk.Marshal()); err != nil {
		return err
	}
	if _, err := c.api.UploadPrekeys(ctx, up); err != nil {
		return fmt.Errorf("upload prekeys: %w", err)
	}
	if full {
		c.pk.MarkUploaded()
		return c.v.Update(ctx, func(tx *vault.Tx) error {
			if err := tx.Put(ctx, "prekeys", c.pk.Marshal()); err != nil {
				return err
			}
			return tx.Put(ctx, "prekeys/published", []byte{1})
		})
	}
	return nil
}

// bundleFrom converts a server bundle and checks it against the device
// entry of the verified list: the same account key, id and keys.
func bundleFrom(b api.Bundle, accountKey []byte, d devicelist.Entry) (*handshake.Bundle, error) {
	hb, err := apiclient.AssembleBundle(b)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(hb.Cert.UserKey, accountKey) {
		return nil, fmt.Errorf("bundle of %s: %w", b.User, ErrIdentityChanged)
	}
	if hb.Cert.DeviceID != d.ID || !bytes.Equal(hb.Cert.SigningKey, d.SigningKey) || !bytes.Equal(hb.Cert.DHKey, d.DHKey) {
		return nil, fmt.Errorf("the server's prekey bundle for %s's device %q has keys that %s's signed device list does not have: refused", b.User, d.Name, b.User)
	}
	return hb, nil
}

// sessionName names the session with a device. Sessions live in an epoch:
// after a rollback (recoverRollback) the epoch moves on, and every session
// of the old one is abandoned.
func (c *Client) sessionName(user string, device uint32) string {
	if c.prof.SessionEpoch == 0 {
		return fmt.Sprintf("session/%s/%d", user, device)
	}
	return fmt.Sprintf("session/%d/%s/%d", c.prof.SessionEpoch, user, device)
}

// loadSession returns the session with user's device: the one the vault
// kept in memory when it was last saved (saveSession), or else the stored
// one, decoded. The caller owns it; it is kept again only when saved.
func (c *Client) loadSession(ctx context.Context, user string, device uint32) (*session.Session, error) {
	name := c.sessionName(user, device)
	if obj, ok := c.v.Take(name); ok {
		if s, ok := obj.(*session.Session); ok {
			if checkKeptSessions != nil {
				checkKeptSessions(ctx, c.v, name, s)
			}
			return s, nil
		}
	}
	raw, err := c.v.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return session.Unmarshal(raw)
}

// saveSession stores s as the session with user's device and, once tx
// commits, keeps it in memory for the next loadSession. s must not change
// after this call unless it is saved again in the same transaction.
func (c *Client) saveSession(ctx context.Context, tx *vault.Tx, user string, device uint32, s *session.Session) error {
	if c.lock == nil {
		// No profile lock on this platform (lock_other.go): another process
		// may advance the session, so none is kept past this transaction.
		return tx.Put(ctx, c.sessionName(user, device), s.Marshal())
	}
	return tx.PutObject(ctx, c.sessionName(user, device), s)
}

// checkKeptSessions, set by tests, checks every session handed back from
// memory against the stored one.
var checkKeptSessions func(ctx context.Context, v *vault.Vault, name string, s *session.Session)

// deviceSessions returns a session with every device of user that the
// verified device list names (this account's other devices for c.prof.User),
// starting new ones from bundles where none exists. A device the server
// lists but the signed list does not is never encrypted to; it is reported
// in warnings. strict makes a device change that waits for acceptance fail
// the send (on-record rooms).
func (c *Client) deviceSessions(ctx context.Context, user string, strict bool, warnings *[]string) (map[uint32]*session.Session, error) {
	devs, err := c.recipientDevices(ctx, user, strict)
	if err != nil {
		return nil, err
	}
	key, err := c.pinnedKey(ctx, c.v, user)
	if err != nil {
		return nil, err
	}
	if served, err := c.api.Devices(ctx, user); err == nil {
		for _, s := range served {
			if !slices.ContainsFunc(devs, func(d devicelist.Entry) bool { return d.ID == s.ID }) && !(user == c.prof.User && s.ID == c.prof.DeviceID) {
				msg := fmt.Sprintf("the server lists a device %d for %s that is not in %s's signed device list: nothing was encrypted to it", s.ID, user, user)
				c.opts.Logger.Warn("unlisted device refused", "user", user, "device", s.ID)
				if warnings != nil && !slices.Contains(*warnings, msg) {
					*warnings = append(*warnings, msg)
				}
			}
		}
	}
	out := map[uint32]*session.Session{}
	var lastErr error // the last device skipped
	for _, d := range devs {
		s, err := c.loadSession(ctx, user, d.ID)
		if err == nil {
			if !bytes.Equal(s.Peer.UserKey, key) || !bytes.Equal(s.Peer.SigningKey, d.SigningKey) {
				return nil, fmt.Errorf("session with %s: %w", user, ErrIdentityChanged)
			}
			out[d.ID] = s
			continue
		}
		if errors.Is(err, ratchet.ErrStaleState) {
			// Saved by an earlier release mid-chain: it cannot go on, so a
			// new session replaces it (protocol section 8, blocked sessions).
			c.opts.Logger.Warn("session from an earlier release replaced")
		} else if !errors.Is(err, vault.ErrNotFound) {
			return nil, fmt.Errorf("session with %s/%d: %w", user, d.ID, err)
		}
		s, err = c.newSession(ctx, user, key, d)
		if errors.Is(err, apiclient.ErrNotFound) {
			// A listed device that has not published prekeys yet (being linked).
			continue
		}
		if err != nil && warnings != nil && !refusesSend(err) {
			// One device that cannot be reached (a bad bundle, stale
			// prekeys) must not cut its owner's other devices off.
			*warnings = append(*warnings, fmt.Sprintf("%s's device %q was skipped: %v", user, d.Name, err))
			lastErr = err
			continue
		}
		if err != nil {
			return nil, err
		}
		out[d.ID] = s
	}
	if len(out) == 0 && user != c.prof.User {
		if lastErr != nil {
			return nil, lastErr
		}
		return nil, fmt.Errorf("%s has no device that can receive messages yet", user)
	}
	return out, nil
}

// newSession starts a session with one listed device of user from the
// server's prekey bundle.
func (c *Client) newSession(ctx context.Context, user string, key []byte, d devicelist.Entry) (*session.Session, error) {
	b, err := c.api.Bundle(ctx, user, d.ID)
	if err != nil {
		if errors.Is(err, apiclient.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("prekey bundle of %s/%d: %w", user, d.ID, err)
	}
	hb, err := bundleFrom(b, key, d)
	if err != nil {
		return nil, err
	}
	if err := handshake.CheckFresh(hb, c.opts.Now()); err != nil {
		return nil, fmt.Errorf("%s's device %q offers prekeys outside their lifetime (a device offline for weeks, or a server replaying old keys); not starting a session: %w", user, d.Name, err)
	}
	s, err := session.Initiate(c.src, c.dev, hb)
	if err != nil {
		return nil, fmt.Errorf("start session with %s/%d: %w", user, d.ID, err)
	}
	return s, nil
}

// CheckPassphrase reports whether passphrase is the profile's (nil) or
// not (an error matching vault.ErrWrongPassphrase). The desktop app asks
// for it again before linking or removing a device: whoever holds the
// window's session must not be able to add a device of their own.
func (c *Client) CheckPassphrase(ctx context.Context, passphrase []byte) error {
	return c.v.CheckPassphrase(ctx, passphrase)
}
