package devicelist

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"backchannel/entropy/entropytest"
	"backchannel/identity"
)

// Fixed inputs shared by the tests, the vectors and the benchmarks.
var (
	t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(26 * time.Hour)
	t2 = t1.Add(7 * 24 * time.Hour)
)

func mustUser(t testing.TB, label string) *identity.User {
	t.Helper()
	u, err := identity.NewUser(entropytest.New(label))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustKeys(t testing.TB, label string) *identity.DeviceKeys {
	t.Helper()
	k, err := identity.NewDeviceKeys(entropytest.New(label))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustEntry(t testing.TB, account string, user *identity.User, id uint32, k *identity.DeviceKeys, name string, at time.Time) Entry {
	t.Helper()
	e, err := NewEntry(account, user.Public(), id, k.SigningKey(), k.DHPublic(), name, at)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// chain is alice's account: v1 {1 laptop}, v2 adds {2 phone, 3 tablet}, v3 removes 2.
type chain struct {
	user    *identity.User
	keys    []*identity.DeviceKeys // keys[i] is device i+1
	entries []Entry                // entries[i] is device i+1
	v1, v2  *List
	v3      *List
	raw     [][]byte // v1, v2, v3 encoded
}

func newChain(t testing.TB) *chain {
	t.Helper()
	c := &chain{user: mustUser(t, "devicelist alice")}
	names := []string{"laptop", "Anna’s phone", "tablet (büro)"}
	at := []time.Time{t0, t1.Add(-5 * time.Minute), t1.Add(-2 * time.Minute)}
	for i, name := range names {
		k := mustKeys(t, fmt.Sprintf("devicelist alice device %d", i+1))
		c.keys = append(c.keys, k)
		c.entries = append(c.entries, mustEntry(t, "alice", c.user, uint32(i+1), k, name, at[i]))
	}
	var err error
	if c.v1, err = Genesis("alice", c.user, c.entries[:1], t0); err != nil {
		t.Fatal(err)
	}
	// Added in reverse order on purpose: Next sorts.
	if c.v2, err = Next(c.v1, c.user, []Entry{c.entries[2], c.entries[1]}, nil, t1); err != nil {
		t.Fatal(err)
	}
	if c.v3, err = Next(c.v2, c.user, nil, []uint32{2}, t2); err != nil {
		t.Fatal(err)
	}
	c.raw = [][]byte{c.v1.Marshal(), c.v2.Marshal(), c.v3.Marshal()}
	return c
}

// clone deep-copies a list through its encoding (it must be well formed).
func clone(t testing.TB, l *List) *List {
	t.Helper()
	c, err := decode(l.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// resign signs l with u after a test changed it, so that only the change
// itself is wrong, and returns its bytes.
func resign(l *List, u *identity.User) []byte {
	l.sign(u)
	return l.Marshal()
}

// reentry re-counter-signs e (after a test changed it) for account/key.
func reentry(e Entry, k *identity.DeviceKeys, account string, accountKey []byte) Entry {
	e.SigningKey = bytes.Clone(k.SigningPublic())
	e.DeviceSig = ed25519.Sign(k.SigningKey(), e.signedBytes(account, accountKey))
	return e
}
