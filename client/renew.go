package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"backchannel/devicelist"
	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/server/apiclient"
	"backchannel/vault"
)

// An old copy of a profile (restored from a backup, or copied) holds
// ratchet states and transcript positions that the device it copies may
// already have used. Using them again would make AES-GCM reuse a key, and
// number a transcript entry like one already sent. So an old copy never
// sends as the device it copies: the primary makes itself a new device of
// the account (new keys, a new id, a new signed device list, fresh sessions
// with everyone — contacts see the change); a copy of a linked device stops
// sending until it is linked again.
//
// The copy is recognised by the send counter the server keeps per device
// (it has accepted a higher counter than the copy's), by the server no
// longer knowing the device, or by a restore.

// ErrStaleCopy: this profile is an old copy of a linked device.
var ErrStaleCopy = errors.New("this profile is an older copy of a linked device (restored or copied), so it must not send as that device: link this computer again with 'backchannel devices link' on your primary device")

const (
	counterRecord  = "sendcounter"
	restoredRecord = "restored" // set by Restore: renew at the next open
	renewalRecord  = "renewal"  // keys of a new device being published
)

// detectOldCopy compares this profile with what the server knows of the
// device, and renews the device if the profile is an old copy. Offline it
// does nothing (the send path refuses a rolled-back counter anyway).
func (c *Client) detectOldCopy(ctx context.Context) error {
	if c.prof.Disabled != "" {
		return nil
	}
	if _, err := c.v.Get(ctx, renewalRecord); err == nil {
		return c.renewDevice(ctx, "finishing the renewal of this device", false)
	}
	if _, err := c.v.Get(ctx, restoredRecord); err == nil {
		return c.renewDevice(ctx, "this profile was restored from a backup", true)
	}
	self, err := c.api.Self(ctx)
	switch {
	case errors.Is(err, apiclient.ErrUnauthorized) || errors.Is(err, apiclient.ErrNotFound):
		// The server no longer knows this device: removed from the list.
		if rerr := c.refreshSelf(ctx); rerr != nil {
			return nil
		}
		l, lerr := c.ownList(ctx, c.v)
		if lerr != nil {
			return lerr
		}
		if _, listed := l.Device(c.prof.DeviceID); listed {
			return nil
		}
		return c.renewDevice(ctx, "this device is no longer in your account's device list", false)
	case err != nil:
		return nil
	}
	local, err := localCounter(ctx, c.v)
	if err != nil {
		return err
	}
	if self.Counter > local {
		return c.renewDevice(ctx, fmt.Sprintf("the server has accepted %d sends from this device, this profile only knows of %d: it is an older copy", self.Counter, local), false)
	}
	return nil
}

func localCounter(ctx context.Context, r reader) (uint64, error) {
	var n uint64
	raw, err := r.Get(ctx, counterRecord)
	if errors.Is(err, vault.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("send counter: %w", vault.ErrCorrupt)
	}
	return n, nil
}

// renewal is the vault record of a new device being published: written
// before the list goes to the server, so a crash in between never leaves
// the account with a device whose keys nobody holds.
type renewal struct {
	ID          uint32 `json:"id"`
	SigningSeed []byte `json:"signing_seed"`
	DHPrivate   []byte `json:"dh_private"`
	List        []byte `json:"list"`
	Reason      string `json:"reason"`
}

// renewDevice makes this profile a new device of its account. replace
// removes the device it copied from the list (a restore: that device is
// gone or replaced); otherwise the old device stays listed and the user is
// told how to remove it.
func (c *Client) renewDevice(ctx context.Context, reason string, replace bool) error {
	if !c.isPrimary() {
		c.prof.Disabled = reason
		return c.v.Update(ctx, func(tx *vault.Tx) error {
			if err := c.putProfile(ctx, tx); err != nil {
				return err
			}
			return tx.Delete(ctx, restoredRecord)
		})
	}
	rn, err := c.pendingRenewal(ctx, reason, replace)
	if err != nil {
		return err
	}
	next, err := devicelist.Parse(rn.List)
	if err != nil {
		return fmt.Errorf("renewal: %w", vault.ErrCorrupt)
	}
	cur, err := c.ownList(ctx, c.v)
	if err != nil {
		return err
	}
	if next.Version > cur.Version {
		if _, err := c.api.PutDeviceList(ctx, rn.List); err != nil && !errors.Is(err, apiclient.ErrConflict) {
			return fmt.Errorf("publish this device's new identity: %w", err)
		}
	}
	keys, err := identity.RestoreDeviceKeys(rn.SigningSeed, rn.DHPrivate)
	if err != nil {
		return err
	}
	cert, err := identity.Certify(c.user, rn.ID, keys.SigningPublic(), keys.DHPublic())
	if err != nil {
		return err
	}
	dev, err := keys.Device(cert)
	if err != nil {
		return err
	}
	pk, err := handshake.NewPrekeysAt(c.src, dev, c.opts.Now())
	if err != nil {
		return err
	}
	old := c.prof.DeviceID
	c.prof.DeviceID, c.prof.SigningSeed, c.prof.DHPrivate, c.prof.Certificate = rn.ID, rn.SigningSeed, rn.DHPrivate, cert.Marshal()
	c.prof.SessionEpoch++
	c.v.Forget() // the old epoch's sessions are never loaded again
	c.dev, c.pk = dev, pk
	if err := c.connect(); err != nil {
		return err
	}
	text := fmt.Sprintf("%s: this profile is now device %d of your account (it was device %d), with new keys and new sessions; no key of the old device is used again", rn.Reason, rn.ID, old)
	if !replace {
		text += fmt.Sprintf(". If device %d is gone, remove it: backchannel devices remove %d", old, old)
	}
	err = c.v.Update(ctx, func(tx *vault.Tx) error {
		if err := c.putProfile(ctx, tx); err != nil {
			return err
		}
		if err := tx.Put(ctx, "prekeys", c.pk.Marshal()); err != nil {
			return err
		}
		for _, name := range []string{renewalRecord, restoredRecord, counterRecord, "prekeys/published"} {
			if err := tx.Delete(ctx, name); err != nil {
				return err
			}
		}
		// The queued envelopes belong to the old device: the device this
		// profile copies delivers its own.
		if err := dropOutbox(ctx, tx); err != nil {
			return err
		}
		if err := tx.Put(ctx, fmt.Sprintf("linked/%d", rn.ID), []byte{1}); err != nil {
			return err
		}
		n, _ := json.Marshal(Notice{At: c.opts.Now().UTC(), User: c.prof.User, Kind: "renewed", Text: text})
		_, err := tx.Append(ctx, noticeLog, n)
		return err
	})
	if err != nil {
		return err
	}
	if err := c.api.PutCertificate(ctx, cert.Marshal()); err != nil {
		return fmt.Errorf("upload the new device certificate: %w", err)
	}
	if err := c.replenish(ctx, true); err != nil {
		return err
	}
	if err := c.refreshSelf(ctx); err != nil {
		return err
	}
	c.logs = map[string]*roomLog{}
	return nil
}

// pendingRenewal returns the renewal in progress, or makes and saves one.
func (c *Client) pendingRenewal(ctx context.Context, reason string, replace bool) (*renewal, error) {
	if raw, err := c.v.Get(ctx, renewalRecord); err == nil {
		var rn renewal
		if err := json.Unmarshal(raw, &rn); err != nil {
			return nil, fmt.Errorf("renewal: %w", vault.ErrCorrupt)
		}
		return &rn, nil
	}
	if err := c.refreshSelf(ctx); err != nil {
		return nil, fmt.Errorf("this profile is an older copy and must become a new device, which needs the server: %w", err)
	}
	cur, err := c.ownList(ctx, c.v)
	if err != nil {
		return nil, err
	}
	keys, err := identity.NewDeviceKeys(c.src)
	if err != nil {
		return nil, err
	}
	id := cur.MaxID + 1
	entry, err := devicelist.NewEntry(c.prof.User, c.accountKey(), id, keys.SigningKey(), keys.DHPublic(), c.prof.DeviceName, c.opts.Now())
	if err != nil {
		return nil, err
	}
	var remove []uint32
	if _, ok := cur.Device(c.prof.DeviceID); ok && replace {
		remove = []uint32{c.prof.DeviceID}
	}
	next, err := devicelist.Next(cur, c.user, []devicelist.Entry{entry}, remove, c.opts.Now())
	if err != nil {
		return nil, err
	}
	rn := &renewal{ID: id, SigningSeed: keys.SigningSeed(), DHPrivate: keys.DHPrivate().Bytes(), List: next.Marshal(), Reason: reason}
	raw, _ := json.Marshal(rn)
	if err := c.v.Put(ctx, renewalRecord, raw); err != nil {
		return nil, err
	}
	return rn, nil
}

// dropOutbox empties the outbox.
func dropOutbox(ctx context.Context, tx *vault.Tx) error {
	ids, err := outboxIDs(ctx, tx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.Delete(ctx, outboxIndex+"/"+id); err != nil {
			return err
		}
	}
	return tx.Put(ctx, outboxIndex, []byte("[]"))
}
