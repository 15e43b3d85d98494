package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"backchannel/contacts"
	"backchannel/devicelist"
	"backchannel/identity"
	"backchannel/keylog/verify"
	"backchannel/server/apiclient"
	"backchannel/vault"
)

// Accounts and devices. Every account's devices are named by a device list
// signed with its account key (package devicelist); this device keeps, per
// contact, the account key it pinned and the newest list it verified under
// that key (package contacts), and never encrypts to a device outside it.
// Its own account's list is kept the same way under "self/list".

// keyChangedError: sending waits because a contact's account key changed;
// it is both ErrUnverifiedChange (accept or verify to resume) and
// ErrIdentityChanged (the key is not the one pinned).
type keyChangedError struct{ msg string }

func (e keyChangedError) Error() string { return e.msg }
func (e keyChangedError) Is(target error) bool {
	return target == ErrUnverifiedChange || target == ErrIdentityChanged
}

// Errors callers branch on.
var (
	// ErrUnverifiedChange: sending waits until the user accepts a changed
	// key or a new device (keys accept NAME, or keys verify NAME --confirm).
	ErrUnverifiedChange = errors.New("sending waits for you to accept a change")
	// ErrUnknownUser: no account (on the server) or no contact (here) of
	// that name.
	ErrUnknownUser = errors.New("unknown user")
	// ErrNotPrimary: the operation needs the account key, which only the
	// primary device holds.
	ErrNotPrimary = errors.New("only your primary device (the one that holds the account key) can do this")
	// ErrUnverifiedMembers: the profile refuses on-record rooms and sends
	// with members whose safety numbers were not compared.
	ErrUnverifiedMembers = errors.New("some members are not verified")
)

// maxListsFetched bounds one chain fetch (a list version a day for decades).
const maxListsFetched = 10000

const (
	contactPrefix = "pin/"    // contact/USER: contacts.Contact (JSON)
	chainPrefix   = "dlists/" // log of every verified device list of USER, oldest first
	selfList      = "self/list"
	noticeLog     = "notices" // account-level notices shown by status
)

// isPrimary reports whether this device holds the account key.
func (c *Client) isPrimary() bool { return c.user != nil }

// accountKey is this account's identity public key.
func (c *Client) accountKey() []byte { return c.prof.AccountKey }

// signer is the key that signs this device's transcript entries.
//
// Every device signs with its own device key, which the account's signed
// device list vouches for: two devices of one account number their entries
// independently, and a device that replaces an old copy starts afresh.
func (c *Client) signer() ed25519.PrivateKey { return c.dev.SigningKey() }

func loadContact(ctx context.Context, r reader, user string) (*contacts.Contact, error) {
	raw, err := r.Get(ctx, contactPrefix+user)
	if err != nil {
		return nil, err
	}
	var ct contacts.Contact
	if err := json.Unmarshal(raw, &ct); err != nil || len(ct.Key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("contact %s: %w", user, vault.ErrCorrupt)
	}
	return &ct, nil
}

type writer interface {
	Put(ctx context.Context, name string, value []byte) error
	Append(ctx context.Context, log string, value []byte) (int64, error)
}

func putContact(ctx context.Context, tx writer, ct *contacts.Contact) error {
	raw, err := json.Marshal(ct)
	if err != nil {
		return err
	}
	return tx.Put(ctx, contactPrefix+ct.Name, raw)
}

// pinnedKey returns the account key pinned for user (this account's own
// for c.prof.User), without asking the server.
func (c *Client) pinnedKey(ctx context.Context, r reader, user string) ([]byte, error) {
	if user == c.prof.User {
		return c.accountKey(), nil
	}
	ct, err := loadContact(ctx, r, user)
	if err != nil {
		return nil, fmt.Errorf("pinned key of %s: %w", user, err)
	}
	return ct.Key, nil
}

// fetchLists returns every device list of user newer than version after.
func (c *Client) fetchLists(ctx context.Context, user string, after uint64) ([][]byte, error) {
	var out [][]byte
	for {
		resp, err := c.api.DeviceLists(ctx, user, after)
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Lists...)
		if !resp.More || len(resp.Lists) == 0 {
			return out, nil
		}
		l, err := devicelist.Parse(resp.Lists[len(resp.Lists)-1])
		if err != nil {
			return nil, fmt.Errorf("device list of %s: %w", user, err)
		}
		if l.Version <= after || len(out) > maxListsFetched {
			return nil, fmt.Errorf("the server's device lists of %s do not advance (refusing to page on): it may be attacking", user)
		}
		after = l.Version
	}
}

// contactOf returns the contact user, pinning the server's key and list on
// first contact. With refresh, it also asks the server for a newer list or
// a changed key and records the change (with notices) before returning.
// Offline, the stored contact is returned as it is.
func (c *Client) contactOf(ctx context.Context, user string, refresh bool) (*contacts.Contact, error) {
	ct, err := loadContact(ctx, c.v, user)
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		return nil, err
	}
	if ct == nil {
		return c.firstContact(ctx, user)
	}
	if !refresh {
		return ct, nil
	}
	seen := ct.LogUpdates
	evs, chain, err := c.refreshContact(ctx, ct)
	if err != nil {
		if transient(err) {
			return ct, nil
		}
		return nil, err
	}
	if len(evs) == 0 && len(chain) == 0 && ct.LogUpdates == seen {
		return ct, nil
	}
	err = c.v.Update(ctx, func(tx *vault.Tx) error {
		if err := putContact(ctx, tx, ct); err != nil {
			return err
		}
		for _, l := range chain {
			if _, err := tx.Append(ctx, chainPrefix+user, l); err != nil {
				return err
			}
		}
		return c.notify(ctx, tx, user, evs)
	})
	if err != nil {
		return nil, err
	}
	c.logs = map[string]*roomLog{} // new device keys for the transcripts
	return ct, nil
}

func (c *Client) firstContact(ctx context.Context, user string) (*contacts.Contact, error) {
	var key []byte
	var logged *verify.Result
	if c.prof.Log != nil {
		res, err := c.lookup(ctx, user)
		if err != nil {
			return nil, err
		}
		logged, key = res, res.List.AccountKey
	} else {
		acct, err := c.api.Account(ctx, user)
		if errors.Is(err, apiclient.ErrNotFound) {
			return nil, fmt.Errorf("%w: the server has no account named %q", ErrUnknownUser, user)
		}
		if err != nil {
			return nil, fmt.Errorf("look up %s: %w", user, err)
		}
		key = acct.IdentityKey
	}
	lists, err := c.fetchLists(ctx, user, 0)
	if err != nil {
		return nil, fmt.Errorf("device list of %s: %w", user, err)
	}
	l, err := devicelist.VerifyChain(user, key, nil, lists)
	if err != nil {
		return nil, fmt.Errorf("the server's device list for %s does not verify (refusing to talk to %s): %w", user, user, err)
	}
	if logged != nil {
		if err := loggedList(user, logged, l); err != nil {
			return nil, err
		}
	}
	ct, err := contacts.Pin(user, key, l, c.opts.Now())
	if err != nil {
		return nil, err
	}
	if logged != nil {
		ct.LogUpdates = logged.Updates
	}
	err = c.v.Update(ctx, func(tx *vault.Tx) error {
		if err := putContact(ctx, tx, ct); err != nil {
			return err
		}
		for _, raw := range lists {
			if _, err := tx.Append(ctx, chainPrefix+user, raw); err != nil {
				return err
			}
		}
		return nil
	})
	return ct, err
}

// refreshContact asks the server for a changed key and newer lists and
// applies them to ct in memory. It returns the events and the newly
// verified lists to append to the stored chain.
func (c *Client) refreshContact(ctx context.Context, ct *contacts.Contact) ([]contacts.Event, [][]byte, error) {
	if c.prof.Log != nil {
		return c.refreshFromLog(ctx, ct)
	}
	acct, err := c.api.Account(ctx, ct.Name)
	if err != nil {
		return nil, nil, err
	}
	if ct.KeyPending() && bytes.Equal(acct.IdentityKey, ct.Key) {
		ct.NewKey, ct.NewList = nil, nil
		return []contacts.Event{{Kind: contacts.KeyChanged, User: ct.Name,
			Text: fmt.Sprintf("the server presents %s's original account key again: the key change it showed before was withdrawn (a server that swaps keys and back is attacking; tell %s)", ct.Name, ct.Name)}}, nil, nil
	}
	if !bytes.Equal(acct.IdentityKey, ct.Key) {
		lists, err := c.fetchLists(ctx, ct.Name, 0)
		if err != nil {
			return nil, nil, err
		}
		l, err := devicelist.VerifyChain(ct.Name, acct.IdentityKey, nil, lists)
		if err != nil {
			return nil, nil, fmt.Errorf("the server presents a new key for %s whose device list does not verify: %w", ct.Name, err)
		}
		evs, err := ct.ObserveKey(acct.IdentityKey, l)
		return evs, nil, err
	}
	cur, err := ct.DeviceList()
	if err != nil {
		return nil, nil, err
	}
	lists, err := c.fetchLists(ctx, ct.Name, cur.Version)
	if err != nil || len(lists) == 0 {
		return nil, nil, err
	}
	next, err := devicelist.VerifyChain(ct.Name, ct.Key, cur, lists)
	if err != nil {
		return nil, nil, fmt.Errorf("the server's newer device list for %s does not extend the one you have (refusing it; the server may be attacking): %w", ct.Name, err)
	}
	evs, err := ct.Observe(next)
	return evs, lists, err
}

// Notice is an account-level event kept for status.
type Notice struct {
	At    time.Time `json:"at"`
	User  string    `json:"user"`
	Kind  string    `json:"kind"`
	Text  string    `json:"text"`
	Alarm bool      `json:"alarm,omitempty"`
}

// notify records events: in every room this device shares with user (as a
// "notice" message), and in the account's notice log that status shows.
func (c *Client) notify(ctx context.Context, tx *vault.Tx, user string, evs []contacts.Event) error {
	if len(evs) == 0 {
		return nil
	}
	ids, err := roomIDs(ctx, tx)
	if err != nil {
		return err
	}
	now := c.opts.Now().UTC()
	for _, ev := range evs {
		alarm := user == c.prof.User && ev.Kind == contacts.DeviceAdded && c.isPrimary()
		raw, _ := json.Marshal(Notice{At: now, User: user, Kind: string(ev.Kind), Text: ev.Text, Alarm: alarm})
		if _, err := tx.Append(ctx, noticeLog, raw); err != nil {
			return err
		}
		for _, id := range ids {
			r, err := roomFrom(ctx, tx, id)
			if err != nil {
				return err
			}
			if r.Removed || !r.State.has(user) {
				continue
			}
			m := Message{ID: newID(), Room: id, Sender: user, SentAt: now, ReceivedAt: now, Kind: KindNotice, Text: ev.Text}
			if err := appendMessage(ctx, tx, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// KindNotice marks a history entry that reports a key or device change.
const KindNotice = "notice"

// Notices returns the account-level notices, oldest first.
func (c *Client) Notices(ctx context.Context) ([]Notice, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	raws, err := c.v.Log(ctx, noticeLog)
	if err != nil {
		return nil, err
	}
	out := make([]Notice, 0, len(raws))
	for _, raw := range raws {
		var n Notice
		if json.Unmarshal(raw, &n) == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// ownList returns this account's newest verified device list.
func (c *Client) ownList(ctx context.Context, r reader) (*devicelist.List, error) {
	raw, err := r.Get(ctx, selfList)
	if err != nil {
		return nil, fmt.Errorf("your device list: %w", err)
	}
	return devicelist.Parse(raw)
}

// refreshSelf fetches newer lists of this account. A device this device did
// not add raises an alarm; this device missing from the list means it was
// removed.
func (c *Client) refreshSelf(ctx context.Context) error {
	cur, err := c.ownList(ctx, c.v)
	if err != nil {
		return err
	}
	lists, err := c.fetchLists(ctx, c.prof.User, cur.Version)
	if err != nil || len(lists) == 0 {
		return err
	}
	next, err := devicelist.VerifyChain(c.prof.User, c.accountKey(), cur, lists)
	if err != nil {
		return fmt.Errorf("the server's newer device list for your own account does not extend yours (refusing it; the server may be attacking): %w", err)
	}
	return c.adoptOwnList(ctx, cur, next, lists)
}

// adoptOwnList stores a newer own list and reports what changed.
func (c *Client) adoptOwnList(ctx context.Context, cur, next *devicelist.List, chain [][]byte) error {
	ch := devicelist.Diff(cur, next)
	var evs []contacts.Event
	for _, d := range ch.Added {
		if c.ownAccepted(ctx, c.v, d.ID) {
			continue // this device linked it
		}
		text := fmt.Sprintf("ALARM: a device %q was added to your account and this device did not add it. If you did not link it, your account key is in someone else's hands: remove it with 'backchannel devices remove %d' and tell your contacts. This device sends it nothing", d.Name, d.ID)
		if !c.isPrimary() {
			text = fmt.Sprintf("your account has a new device %q. If you did not link it from your primary device, your account key is in someone else's hands. In on-record rooms this device sends it nothing until you run 'backchannel keys accept %s'", d.Name, c.prof.User)
		}
		evs = append(evs, contacts.Event{Kind: contacts.DeviceAdded, User: c.prof.User, Device: d.ID, Name: d.Name, Text: text})
	}
	for _, d := range ch.Removed {
		text := fmt.Sprintf("the device %q was removed from your account", d.Name)
		if d.ID == c.prof.DeviceID {
			text = "this device was removed from your account: it receives nothing new"
		}
		evs = append(evs, contacts.Event{Kind: contacts.DeviceRemoved, User: c.prof.User, Device: d.ID, Name: d.Name, Text: text})
	}
	err := c.v.Update(ctx, func(tx *vault.Tx) error {
		if err := tx.Put(ctx, selfList, next.Marshal()); err != nil {
			return err
		}
		for _, l := range chain {
			if _, err := tx.Append(ctx, chainPrefix+c.prof.User, l); err != nil {
				return err
			}
		}
		return c.notify(ctx, tx, c.prof.User, evs)
	})
	if err == nil {
		c.logs = map[string]*roomLog{}
	}
	return err
}

// deviceKeys returns every device signing key ever listed for user (their
// old entries stay verifiable after a device is removed).
func (c *Client) deviceKeys(ctx context.Context, r reader, user string) ([]ed25519.PublicKey, error) {
	raws, err := r.Log(ctx, chainPrefix+user)
	if err != nil {
		return nil, err
	}
	var out []ed25519.PublicKey
	for _, raw := range raws {
		l, err := devicelist.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("device lists of %s: %w", user, vault.ErrCorrupt)
		}
		for _, d := range l.Devices {
			if !slices.ContainsFunc(out, func(k ed25519.PublicKey) bool { return bytes.Equal(k, d.SigningKey) }) {
				out = append(out, ed25519.PublicKey(d.SigningKey))
			}
		}
	}
	return out, nil
}

// deviceLists returns the stored chain of user's lists (for exports).
func (c *Client) deviceLists(ctx context.Context, r reader, user string) ([][]byte, error) {
	return r.Log(ctx, chainPrefix+user)
}

// listedDevice reports whether cert is exactly a device of user's current
// verified list (this account's own for c.prof.User), refreshing the list
// once from the server when the device is not known yet.
func (c *Client) listedDevice(ctx context.Context, user string, cert identity.Certificate) (bool, error) {
	check := func() (bool, error) {
		var l *devicelist.List
		var key []byte
		if user == c.prof.User {
			own, err := c.ownList(ctx, c.v)
			if err != nil {
				return false, err
			}
			l, key = own, c.accountKey()
		} else {
			ct, err := loadContact(ctx, c.v, user)
			if err != nil {
				return false, err
			}
			if ct.KeyPending() && bytes.Equal(cert.UserKey, ct.NewKey) {
				return false, nil
			}
			if l, err = ct.DeviceList(); err != nil {
				return false, err
			}
			key = ct.Key
		}
		return bytes.Equal(cert.UserKey, key) && l.Has(cert.DeviceID, cert.SigningKey, cert.DHKey), nil
	}
	ok, err := check()
	if ok || (err != nil && !errors.Is(err, vault.ErrNotFound)) {
		return ok, err
	}
	refresh := func() error {
		if user == c.prof.User {
			return c.refreshSelf(ctx)
		}
		_, err := c.contactOf(ctx, user, true)
		return err
	}
	if err := refresh(); err != nil {
		return false, err
	}
	ok, err = check()
	if ok || err != nil || c.prof.Log == nil {
		return ok, err
	}
	// The server may already serve a newer list that its key log publishes
	// with the next epoch (a device linked a moment ago): wait for it.
	deadline := time.Now().Add(LogVisibleWithin)
	for time.Now().Before(deadline) && c.newerListServed(ctx, user) {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if err := refresh(); err != nil {
			return false, err
		}
		if ok, err = check(); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}

// newerListServed reports whether the server serves a device list of user
// newer than the one this device verified.
func (c *Client) newerListServed(ctx context.Context, user string) bool {
	var cur uint64
	if user == c.prof.User {
		l, err := c.ownList(ctx, c.v)
		if err != nil {
			return false
		}
		cur = l.Version
	} else {
		ct, err := loadContact(ctx, c.v, user)
		if err != nil {
			return false
		}
		cur = ct.Version()
	}
	resp, err := c.api.DeviceLists(ctx, user, cur)
	return err == nil && resp.Latest > cur
}

// recipientDevices returns the devices of user to encrypt to, by the rules
// of package contacts; for this account, its other devices.
func (c *Client) recipientDevices(ctx context.Context, user string, strict bool) ([]devicelist.Entry, error) {
	if user == c.prof.User {
		// The newest own list: a removed device must get nothing, a new one
		// its user's messages.
		if err := c.refreshSelf(ctx); err != nil && !transient(err) {
			// A newer own list that does not verify is refused; the list
			// this device holds is verified, so it still serves (status
			// and keys audit show the refusal).
			c.opts.Logger.Warn("own device list refresh refused", "err", err)
		}
		l, err := c.ownList(ctx, c.v)
		if err != nil {
			return nil, err
		}
		var out []devicelist.Entry
		for _, d := range l.Devices {
			switch {
			case d.ID == c.prof.DeviceID:
			case c.ownAccepted(ctx, c.v, d.ID):
				out = append(out, d)
			case !c.isPrimary() && !strict:
				out = append(out, d) // announced by the notice; deniable room
			}
		}
		return out, nil
	}
	ct, err := c.contactOf(ctx, user, true)
	if err != nil {
		return nil, err
	}
	devs, err := ct.Recipients((strict || ct.IsVerified()) && c.prof.DeviceChanges != DeviceChangesAuto)
	switch {
	case errors.Is(err, contacts.ErrKeyChanged):
		return nil, keyChangedError{fmt.Sprintf("%v: %s's account key changed. Compare the new safety number with 'backchannel keys verify %s', then 'backchannel keys verify %s --confirm' or 'backchannel keys accept %s'",
			ErrUnverifiedChange, user, user, user, user)}
	case errors.Is(err, contacts.ErrDevicePending):
		var names []string
		for _, d := range ct.Pending() {
			names = append(names, fmt.Sprintf("%q", d.Name))
		}
		return nil, fmt.Errorf("%w: %s linked a new device %s that you have not accepted; nothing was sent. Check with %s, then run 'backchannel keys accept %s'",
			ErrUnverifiedChange, user, strings.Join(names, ", "), user, user)
	}
	return devs, err
}

// ContactInfo is what `keys`, `room list` and `--json` show about a person.
type ContactInfo struct {
	Name       string           `json:"name"`
	Verified   bool             `json:"verified"`
	KeyChanged bool             `json:"key_changed,omitempty"`
	Pending    []string         `json:"pending_devices,omitempty"`
	Devices    []DeviceInfo     `json:"devices"`
	Events     []contacts.Event `json:"-"`
}

// DeviceInfo is one device of an account's verified list.
type DeviceInfo struct {
	ID       uint32    `json:"id"`
	Name     string    `json:"name"`
	AddedAt  time.Time `json:"added_at"`
	Accepted bool      `json:"accepted"`
	This     bool      `json:"this_device,omitempty"`
}

func contactInfo(ct *contacts.Contact) ContactInfo {
	ci := ContactInfo{Name: ct.Name, Verified: ct.IsVerified(), KeyChanged: ct.KeyPending(), Devices: []DeviceInfo{}}
	if l, err := ct.DeviceList(); err == nil {
		for _, d := range l.Devices {
			ci.Devices = append(ci.Devices, DeviceInfo{ID: d.ID, Name: d.Name, AddedAt: d.AddedAt, Accepted: slices.Contains(ct.Accepted, d.ID)})
		}
	}
	for _, d := range ct.Pending() {
		ci.Pending = append(ci.Pending, d.Name)
	}
	return ci
}

// Contact returns what this device knows about user, refreshed from the
// server when it answers.
func (c *Client) Contact(ctx context.Context, user string) (*ContactInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, err := c.contactOf(ctx, user, true)
	if err != nil {
		return nil, err
	}
	ci := contactInfo(ct)
	return &ci, nil
}

// verifiedMembers returns member → verified for a room's members (this
// user counts as verified), from the stored contacts only.
func (c *Client) verifiedMembers(ctx context.Context, r reader, members []string) map[string]bool {
	out := map[string]bool{}
	for _, m := range members {
		if m == c.prof.User {
			out[m] = true
			continue
		}
		ct, err := loadContact(ctx, r, m)
		out[m] = err == nil && ct.IsVerified()
	}
	return out
}

// Verified reports, for each of members, whether its key is verified.
func (c *Client) Verified(ctx context.Context, members []string) map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.verifiedMembers(ctx, c.v, members)
}

// ownAccepted reports whether this device linked, or the user accepted, the
// account's own device id.
func (c *Client) ownAccepted(ctx context.Context, r reader, id uint32) bool {
	_, err := r.Get(ctx, fmt.Sprintf("linked/%d", id))
	return err == nil
}

// ownPending lists the account's own devices this device has not accepted.
func (c *Client) ownPending(ctx context.Context) []devicelist.Entry {
	l, err := c.ownList(ctx, c.v)
	if err != nil {
		return nil
	}
	var out []devicelist.Entry
	for _, d := range l.Devices {
		if d.ID != c.prof.DeviceID && !c.ownAccepted(ctx, c.v, d.ID) {
			out = append(out, d)
		}
	}
	return out
}

// AcceptChange accepts user's pending key change and new devices: exactly
// those this device has already shown (it does not ask the server first,
// so a device published meanwhile is not accepted unseen). For this
// account's own name it accepts the own devices this device did not link.
func (c *Client) AcceptChange(ctx context.Context, user string) ([]contacts.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if user == c.prof.User {
		var evs []contacts.Event
		err := c.v.Update(ctx, func(tx *vault.Tx) error {
			for _, d := range c.ownPending(ctx) {
				if err := tx.Put(ctx, fmt.Sprintf("linked/%d", d.ID), []byte{1}); err != nil {
					return err
				}
				evs = append(evs, contacts.Event{Kind: contacts.Accepted, User: user, Device: d.ID, Name: d.Name,
					Text: fmt.Sprintf("you accepted your own device %q", d.Name)})
			}
			return c.notify(ctx, tx, user, evs)
		})
		return evs, err
	}
	ct, err := loadContact(ctx, c.v, user)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, fmt.Errorf("%w: you have no contact named %q (people become contacts when you share a room)", ErrUnknownUser, user)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", user, err)
	}
	return c.resolveChange(ctx, ct, func() ([]contacts.Event, error) { return ct.Accept(), nil })
}

// resolveChange applies the user's decision (accept or verify) to ct and
// stores it. A key change brings the new key's whole chain of lists, so that
// exports can prove the new devices.
func (c *Client) resolveChange(ctx context.Context, ct *contacts.Contact, decide func() ([]contacts.Event, error)) ([]contacts.Event, error) {
	var chain [][]byte
	if ct.KeyPending() {
		lists, err := c.fetchLists(ctx, ct.Name, 0)
		if err != nil {
			return nil, fmt.Errorf("device lists of %s: %w", ct.Name, err)
		}
		l, err := devicelist.VerifyChain(ct.Name, ct.NewKey, nil, lists)
		if err != nil {
			return nil, fmt.Errorf("the device lists of %s's new key do not verify: %w", ct.Name, err)
		}
		if !bytes.Equal(l.Marshal(), ct.NewList) {
			return nil, fmt.Errorf("%s's devices under the new key changed again since you were shown them; check with 'backchannel keys verify %s' and decide again", ct.Name, ct.Name)
		}
		chain = lists
	}
	evs, err := decide()
	if err != nil || len(evs) == 0 {
		return evs, err
	}
	err = c.v.Update(ctx, func(tx *vault.Tx) error {
		if err := putContact(ctx, tx, ct); err != nil {
			return err
		}
		for _, l := range chain {
			if _, err := tx.Append(ctx, chainPrefix+ct.Name, l); err != nil {
				return err
			}
		}
		return c.notify(ctx, tx, ct.Name, evs)
	})
	c.logs = map[string]*roomLog{}
	return evs, err
}

// pendingChanges describes every contact that waits for 'keys accept'.
func (c *Client) pendingChanges(ctx context.Context) []string {
	var out []string
	ids, err := roomIDs(ctx, c.v)
	if err != nil {
		return nil
	}
	for _, d := range c.ownPending(ctx) {
		out = append(out, fmt.Sprintf("your account has a device %q that this device did not link: 'backchannel keys accept %s' if it is yours, else 'backchannel devices remove %d' on your primary", d.Name, c.prof.User, d.ID))
	}
	seen := map[string]bool{c.prof.User: true}
	for _, id := range ids {
		r, err := roomFrom(ctx, c.v, id)
		if err != nil {
			continue
		}
		for _, m := range r.State.Members {
			if seen[m] {
				continue
			}
			seen[m] = true
			ct, err := loadContact(ctx, c.v, m)
			if err != nil {
				continue
			}
			if ct.KeyPending() {
				out = append(out, fmt.Sprintf("%s's account key changed: compare the new safety number ('backchannel keys verify %s'), then confirm or 'backchannel keys accept %s'", m, m, m))
			}
			for _, d := range ct.Pending() {
				out = append(out, fmt.Sprintf("%s linked a new device %q: 'backchannel keys accept %s' once you have checked with them", m, d.Name, m))
			}
		}
	}
	return out
}

// Devices lists this account's devices from its newest verified list.
func (c *Client) Devices(ctx context.Context) ([]DeviceInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refreshSelf(ctx); err != nil && !transient(err) {
		return nil, err
	}
	l, err := c.ownList(ctx, c.v)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceInfo, 0, len(l.Devices))
	for _, d := range l.Devices {
		out = append(out, DeviceInfo{ID: d.ID, Name: d.Name, AddedAt: d.AddedAt, Accepted: true, This: d.ID == c.prof.DeviceID})
	}
	return out, nil
}

// RemoveDevice publishes the next device list without device id. The
// removed device receives nothing new: peers stop encrypting to it as soon
// as they see the list, and the server deletes its mailbox.
func (c *Client) RemoveDevice(ctx context.Context, id uint32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.isPrimary() {
		return ErrNotPrimary
	}
	if id == c.prof.DeviceID {
		return errors.New("this is the primary device, which holds the account key; it cannot remove itself")
	}
	if err := c.refreshSelf(ctx); err != nil {
		return err
	}
	cur, err := c.ownList(ctx, c.v)
	if err != nil {
		return err
	}
	if _, ok := cur.Device(id); !ok {
		return fmt.Errorf("%w: your account has no device %d (see: backchannel devices)", ErrUnknownDevice, id)
	}
	next, err := devicelist.Next(cur, c.user, nil, []uint32{id}, c.opts.Now())
	if err != nil {
		return err
	}
	if _, err := c.api.PutDeviceList(ctx, next.Marshal()); err != nil {
		return fmt.Errorf("publish the device list: %w", err)
	}
	return c.adoptOwnList(ctx, cur, next, [][]byte{next.Marshal()})
}

// ErrUnknownDevice: no such device in the account's list.
var ErrUnknownDevice = errors.New("unknown device")

// Profile settings.
const (
	SettingRequireVerified = "require-verified" // on | off
	SettingDeviceChanges   = "device-changes"   // ask | auto
	SettingWitnesses       = "witnesses"        // space-separated witness verifier keys
	SettingWitnessQuorum   = "witness-quorum"   // how many of them must cosign each checkpoint
	DeviceChangesAsk       = "ask"
	DeviceChangesAuto      = "auto"
)

// Settings returns the profile's settings as shown to the user.
func (c *Client) Settings() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	rv := "off"
	if c.prof.RequireVerified {
		rv = "on"
	}
	dc := c.prof.DeviceChanges
	if dc == "" {
		dc = DeviceChangesAsk
	}
	out := map[string]string{SettingRequireVerified: rv, SettingDeviceChanges: dc}
	if c.prof.Log != nil {
		out[SettingWitnesses] = strings.Join(c.prof.Log.Witnesses, " ")
		out[SettingWitnessQuorum] = strconv.Itoa(c.prof.Log.WitnessQuorum)
	}
	return out
}

// ErrBadSetting: an unknown setting or value.
var ErrBadSetting = errors.New("unknown setting or value")

// SetSetting changes one profile setting.
func (c *Client) SetSetting(ctx context.Context, key, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	prof := c.prof
	switch {
	case key == SettingRequireVerified && (value == "on" || value == "off"):
		prof.RequireVerified = value == "on"
	case key == SettingDeviceChanges && (value == DeviceChangesAsk || value == DeviceChangesAuto):
		prof.DeviceChanges = value
	case (key == SettingWitnesses || key == SettingWitnessQuorum) && prof.Log != nil:
		lp := *prof.Log
		if key == SettingWitnesses {
			lp.Witnesses = strings.Fields(value)
			for _, w := range lp.Witnesses {
				if strings.Count(w, "+") < 2 {
					return fmt.Errorf("%w: %q is not a witness verifier key ('backchannel witness key' prints one)", ErrBadSetting, w)
				}
			}
		} else {
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 || n > len(lp.Witnesses) {
				return fmt.Errorf("%w: witness-quorum must be 0 to %d (the number of witnesses)", ErrBadSetting, len(lp.Witnesses))
			}
			lp.WitnessQuorum = n
		}
		if lp.WitnessQuorum > len(lp.Witnesses) {
			lp.WitnessQuorum = len(lp.Witnesses)
		}
		prof.Log = &lp
	default:
		return fmt.Errorf("%w: %s %s (settings: require-verified on|off, device-changes ask|auto, witnesses \"VKEY ...\", witness-quorum N)", ErrBadSetting, key, value)
	}
	old := c.prof
	c.prof = prof
	if err := c.v.Update(ctx, func(tx *vault.Tx) error { return c.putProfile(ctx, tx) }); err != nil {
		c.prof = old
		return err
	}
	return nil
}

// refuseUnverified enforces require-verified for an on-record room.
func (c *Client) refuseUnverified(ctx context.Context, mode string, members []string) error {
	if !c.prof.RequireVerified || mode != ModeOnRecord {
		return nil
	}
	var names []string
	for m, ok := range c.verifiedMembers(ctx, c.v, members) {
		if !ok {
			names = append(names, m)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return fmt.Errorf("%w: %s (this profile requires verified members in on-record rooms: compare safety numbers with 'backchannel keys verify NAME')", ErrUnverifiedMembers, strings.Join(names, ", "))
}

// Unverify forgets that the user compared user's safety number.
func (c *Client) Unverify(ctx context.Context, user string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ct, err := loadContact(ctx, c.v, user)
	if errors.Is(err, vault.ErrNotFound) {
		return fmt.Errorf("%w: you have no contact named %q", ErrUnknownUser, user)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", user, err)
	}
	ct.Unverify()
	return c.v.Update(ctx, func(tx *vault.Tx) error { return putContact(ctx, tx, ct) })
}
