// Package contacts holds what one device believes about another account:
// the account key it pinned, whether its user verified that key, the newest
// device list it verified under that key, and the changes that wait for the
// user's acceptance.
//
// Contract:
//
//   - A Contact never trusts a device that is not in a device list it
//     verified (package devicelist) under the pinned account key. What the
//     server says about devices is input to check, never a source of trust.
//   - A new account key is never adopted silently: it is held as a pending
//     key change until the user accepts it (Accept) or verifies it (Verify),
//     and no device may be encrypted to meanwhile (Recipients fails).
//   - A device added to a verified contact's list, or one that an on-record
//     room would reach, waits for acceptance (Recipients with strict set).
//     A removed device is dropped at once: removal only ever narrows who reads.
//   - Every change is reported as an Event with a plain sentence for the user;
//     nothing changes without one.
//
// The package is pure: the client persists a Contact (it is JSON) and calls
// these methods with lists it fetched and verified.
package contacts

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"

	"backchannel/devicelist"
)

// Errors callers branch on.
var (
	// ErrKeyChanged: the account presents a new key that the user has not
	// accepted or verified; nothing may be sent to it.
	ErrKeyChanged = errors.New("the account key changed and was not accepted")
	// ErrDevicePending: a device was added that the user has not accepted.
	ErrDevicePending = errors.New("a new device waits for acceptance")
	// ErrNoList: no verified device list is known for the contact.
	ErrNoList = errors.New("no verified device list")
)

// EventKind classifies an Event.
type EventKind string

// Event kinds.
const (
	DeviceAdded   EventKind = "device-added"
	DeviceRemoved EventKind = "device-removed"
	KeyChanged    EventKind = "key-changed"
	Accepted      EventKind = "accepted"
	Verified      EventKind = "verified"
)

// Event is one change to a contact, with the sentence shown to the user.
type Event struct {
	Kind   EventKind `json:"kind"`
	User   string    `json:"user"`
	Device uint32    `json:"device,omitempty"`
	Name   string    `json:"device_name,omitempty"`
	Text   string    `json:"text"`
}

// Contact is the trust state of one other account. The zero value is an
// unknown contact; Pin starts it.
type Contact struct {
	Name      string    `json:"name"`
	Key       []byte    `json:"key"`
	FirstSeen time.Time `json:"first_seen"`
	// VerifiedKey is the account key whose safety number the user confirmed
	// (nil if never). The contact is verified only while it equals Key.
	VerifiedKey []byte    `json:"verified_key,omitempty"`
	VerifiedAt  time.Time `json:"verified_at,omitzero"`
	// List is the newest device list verified under Key (encoded).
	List []byte `json:"list,omitempty"`
	// Accepted are the device ids of List the user accepted (or that were
	// there at first contact). Devices of List not in Accepted are pending.
	Accepted []uint32 `json:"accepted,omitempty"`
	// NewKey and NewList hold a key change awaiting the user.
	NewKey  []byte `json:"new_key,omitempty"`
	NewList []byte `json:"new_list,omitempty"`
	// LogUpdates is how often the key log says the account's entry changed,
	// as last verified (it may only grow).
	LogUpdates uint64 `json:"log_updates,omitempty"`
}

// Pin starts a contact at first contact with the key and list the server
// presented (trust on first use: every device listed is accepted, and the
// contact is unverified until the user compares safety numbers).
func Pin(name string, key []byte, list *devicelist.List, now time.Time) (*Contact, error) {
	if err := checkList(name, key, list); err != nil {
		return nil, err
	}
	c := &Contact{Name: name, Key: bytes.Clone(key), FirstSeen: now.UTC(), List: list.Marshal()}
	for _, d := range list.Devices {
		c.Accepted = append(c.Accepted, d.ID)
	}
	return c, nil
}

func checkList(name string, key []byte, l *devicelist.List) error {
	if l == nil {
		return ErrNoList
	}
	if l.Account != name || !bytes.Equal(l.AccountKey, key) {
		return fmt.Errorf("the device list of %q is for another account", name)
	}
	return nil
}

// IsVerified reports whether the user confirmed the current account key
// (never while a changed key waits for a decision).
func (c *Contact) IsVerified() bool {
	return len(c.VerifiedKey) > 0 && bytes.Equal(c.VerifiedKey, c.Key) && !c.KeyPending()
}

// DeviceList decodes the current verified list.
func (c *Contact) DeviceList() (*devicelist.List, error) {
	if len(c.List) == 0 {
		return nil, ErrNoList
	}
	return devicelist.Parse(c.List)
}

// Version is the version of the current list (0 if none).
func (c *Contact) Version() uint64 {
	l, err := c.DeviceList()
	if err != nil {
		return 0
	}
	return l.Version
}

// Observe applies a newer list verified under the pinned key (the caller
// checked the chain with devicelist.VerifyChain). Removed devices are
// dropped from Accepted at once; added ones wait as pending.
func (c *Contact) Observe(next *devicelist.List) ([]Event, error) {
	if err := checkList(c.Name, c.Key, next); err != nil {
		return nil, err
	}
	cur, err := c.DeviceList()
	if err != nil {
		return nil, err
	}
	if next.Version <= cur.Version {
		return nil, nil
	}
	ch := devicelist.Diff(cur, next)
	var evs []Event
	for _, d := range ch.Added {
		evs = append(evs, Event{Kind: DeviceAdded, User: c.Name, Device: d.ID, Name: d.Name,
			Text: fmt.Sprintf("%s linked a new device %q", c.Name, d.Name)})
	}
	for _, d := range ch.Removed {
		evs = append(evs, Event{Kind: DeviceRemoved, User: c.Name, Device: d.ID, Name: d.Name,
			Text: fmt.Sprintf("%s removed the device %q", c.Name, d.Name)})
		c.Accepted = slices.DeleteFunc(c.Accepted, func(id uint32) bool { return id == d.ID })
	}
	c.List = next.Marshal()
	return evs, nil
}

// ObserveKey records that the account now presents a different key, with
// its newest list verified under that key. Sending stops until Accept or
// Verify.
func (c *Contact) ObserveKey(key []byte, list *devicelist.List) ([]Event, error) {
	if bytes.Equal(key, c.Key) {
		return nil, nil
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("the new key of %q is not an Ed25519 key", c.Name)
	}
	if err := checkList(c.Name, key, list); err != nil {
		return nil, err
	}
	if bytes.Equal(key, c.NewKey) && bytes.Equal(list.Marshal(), c.NewList) {
		return nil, nil
	}
	first := !bytes.Equal(key, c.NewKey)
	c.NewKey, c.NewList = bytes.Clone(key), list.Marshal()
	if !first {
		return nil, nil
	}
	text := fmt.Sprintf("%s's account key changed (a reinstall, or someone else); nothing is sent to %s until you compare the new safety number, or accept it with 'backchannel keys accept %s'", c.Name, c.Name, c.Name)
	return []Event{{Kind: KeyChanged, User: c.Name, Text: text}}, nil
}

// Pending lists the devices of the current list not yet accepted.
func (c *Contact) Pending() []devicelist.Entry {
	l, err := c.DeviceList()
	if err != nil {
		return nil
	}
	var out []devicelist.Entry
	for _, d := range l.Devices {
		if !slices.Contains(c.Accepted, d.ID) {
			out = append(out, d)
		}
	}
	return out
}

// KeyPending reports a key change awaiting the user.
func (c *Contact) KeyPending() bool { return len(c.NewKey) > 0 }

// Recipients returns the devices to encrypt to. A pending key change always
// refuses. A pending device refuses when strict (the contact is verified
// or the room is on-record, unless the caller relaxed it); otherwise the
// pending device is included, and the event that announced it stands.
func (c *Contact) Recipients(strict bool) ([]devicelist.Entry, error) {
	if c.KeyPending() {
		return nil, fmt.Errorf("%w: %s", ErrKeyChanged, c.Name)
	}
	l, err := c.DeviceList()
	if err != nil {
		return nil, err
	}
	var out []devicelist.Entry
	for _, d := range l.Devices {
		if !slices.Contains(c.Accepted, d.ID) && strict {
			return nil, fmt.Errorf("%w: %s's device %q", ErrDevicePending, c.Name, d.Name)
		}
		out = append(out, d)
	}
	return out, nil
}

// Accept adopts a pending key change (unverified: the new key has not been
// compared) and accepts every pending device.
func (c *Contact) Accept() []Event {
	var evs []Event
	if c.KeyPending() {
		c.Key, c.List, c.NewKey, c.NewList, c.Accepted = c.NewKey, c.NewList, nil, nil, nil
		evs = append(evs, Event{Kind: Accepted, User: c.Name, Text: fmt.Sprintf("you accepted %s's new account key (not verified)", c.Name)})
	}
	l, err := c.DeviceList()
	if err != nil {
		return evs
	}
	for _, d := range l.Devices {
		if !slices.Contains(c.Accepted, d.ID) {
			c.Accepted = append(c.Accepted, d.ID)
			evs = append(evs, Event{Kind: Accepted, User: c.Name, Device: d.ID, Name: d.Name,
				Text: fmt.Sprintf("you accepted %s's device %q", c.Name, d.Name)})
		}
	}
	return evs
}

// Verify records that the user compared the safety number of key. key must
// be the current key or the pending new one (which it then adopts); every
// device in the key's list is accepted with it.
func (c *Contact) Verify(key []byte, now time.Time) ([]Event, error) {
	switch {
	case c.KeyPending() && bytes.Equal(key, c.NewKey):
		c.Accept()
	case !c.KeyPending() && bytes.Equal(key, c.Key):
	default:
		return nil, fmt.Errorf("%s's key changed while you compared; compare the new number", c.Name)
	}
	c.Accept()
	c.VerifiedKey, c.VerifiedAt = bytes.Clone(key), now.UTC()
	return []Event{{Kind: Verified, User: c.Name, Text: fmt.Sprintf("you verified %s", c.Name)}}, nil
}

// Unverify forgets the verification.
func (c *Contact) Unverify() { c.VerifiedKey, c.VerifiedAt = nil, time.Time{} }
