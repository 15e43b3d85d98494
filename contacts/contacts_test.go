package contacts

import (
	"errors"
	"testing"
	"time"

	"backchannel/devicelist"
	"backchannel/entropy"
	"backchannel/identity"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type account struct {
	user  *identity.User
	lists []*devicelist.List
}

func newAccount(t *testing.T, name string) *account {
	t.Helper()
	u, err := identity.NewUser(entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	a := &account{user: u}
	l, err := devicelist.Genesis(name, u, []devicelist.Entry{a.entry(t, name, 1, "phone")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	a.lists = append(a.lists, l)
	return a
}

func (a *account) entry(t *testing.T, name string, id uint32, dev string) devicelist.Entry {
	t.Helper()
	k, err := identity.NewDeviceKeys(entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := devicelist.NewEntry(name, a.user.Public(), id, k.SigningKey(), k.DHPublic(), dev, t0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (a *account) next(t *testing.T, add []devicelist.Entry, remove []uint32) *devicelist.List {
	t.Helper()
	l, err := devicelist.Next(a.lists[len(a.lists)-1], a.user, add, remove, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a.lists = append(a.lists, l)
	return l
}

func TestDeviceChanges(t *testing.T) {
	cases := []struct {
		name     string
		verified bool
		strict   bool
		wantErr  error
		wantN    int
	}{
		{"unverified, deniable room: the new device is included", false, false, nil, 2},
		{"unverified, on-record room: waits", false, true, ErrDevicePending, 0},
		{"verified: waits even when not strict", true, true, ErrDevicePending, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bob := newAccount(t, "bob")
			c, err := Pin("bob", bob.user.Public(), bob.lists[0], t0)
			if err != nil {
				t.Fatal(err)
			}
			if tc.verified {
				if _, err := c.Verify(bob.user.Public(), t0); err != nil {
					t.Fatal(err)
				}
			}
			evs, err := c.Observe(bob.next(t, []devicelist.Entry{bob.entry(t, "bob", 2, "laptop")}, nil))
			if err != nil || len(evs) != 1 || evs[0].Kind != DeviceAdded || evs[0].Text != `bob linked a new device "laptop"` {
				t.Fatalf("events %+v, %v", evs, err)
			}
			devs, err := c.Recipients(tc.strict)
			if !errors.Is(err, tc.wantErr) || len(devs) != tc.wantN {
				t.Fatalf("Recipients = %d devices, %v; want %d, %v", len(devs), err, tc.wantN, tc.wantErr)
			}
			if evs := c.Accept(); len(evs) != 1 {
				t.Fatalf("accept events %+v", evs)
			}
			if devs, err := c.Recipients(true); err != nil || len(devs) != 2 {
				t.Fatalf("after accept: %d, %v", len(devs), err)
			}
			if c.IsVerified() != tc.verified {
				t.Fatal("accepting a device changed the verified state")
			}
			// Removal needs no acceptance and narrows at once.
			evs, err = c.Observe(bob.next(t, nil, []uint32{1}))
			if err != nil || len(evs) != 1 || evs[0].Kind != DeviceRemoved {
				t.Fatalf("removal events %+v, %v", evs, err)
			}
			if devs, err := c.Recipients(true); err != nil || len(devs) != 1 || devs[0].ID != 2 {
				t.Fatalf("after removal: %+v, %v", devs, err)
			}
		})
	}
}

func TestKeyChange(t *testing.T) {
	bob := newAccount(t, "bob")
	c, _ := Pin("bob", bob.user.Public(), bob.lists[0], t0)
	if _, err := c.Verify(bob.user.Public(), t0); err != nil {
		t.Fatal(err)
	}
	impostor := newAccount(t, "bob")
	evs, err := c.ObserveKey(impostor.user.Public(), impostor.lists[0])
	if err != nil || len(evs) != 1 || evs[0].Kind != KeyChanged {
		t.Fatalf("events %+v, %v", evs, err)
	}
	if again, _ := c.ObserveKey(impostor.user.Public(), impostor.lists[0]); len(again) != 0 {
		t.Fatal("the same change was announced twice")
	}
	if c.IsVerified() {
		t.Fatal("still verified while a changed key waits")
	}
	for _, strict := range []bool{false, true} {
		if _, err := c.Recipients(strict); !errors.Is(err, ErrKeyChanged) {
			t.Fatalf("strict=%v: sending to a changed key: %v", strict, err)
		}
	}
	// Verifying the old key while a new one is pending is refused.
	if _, err := c.Verify(bob.user.Public(), t0); err == nil {
		t.Fatal("verified the old key over a pending change")
	}
	if _, err := c.Verify(impostor.user.Public(), t0); err != nil {
		t.Fatal(err)
	}
	if !c.IsVerified() || c.KeyPending() || string(c.Key) != string(impostor.user.Public()) {
		t.Fatal("verify did not adopt the new key")
	}
	if _, err := c.Recipients(true); err != nil {
		t.Fatal(err)
	}
	// Accepting (without verifying) leaves the contact unverified.
	other := newAccount(t, "bob")
	c.ObserveKey(other.user.Public(), other.lists[0])
	c.Accept()
	if c.IsVerified() {
		t.Fatal("an accepted new key counts as verified")
	}
}

func TestListForAnotherAccount(t *testing.T) {
	bob, carol := newAccount(t, "bob"), newAccount(t, "carol")
	if _, err := Pin("bob", bob.user.Public(), carol.lists[0], t0); err == nil {
		t.Fatal("pinned bob with carol's list")
	}
	c, _ := Pin("bob", bob.user.Public(), bob.lists[0], t0)
	if _, err := c.Observe(carol.next(t, nil, nil)); err == nil {
		t.Fatal("observed carol's list for bob")
	}
}
