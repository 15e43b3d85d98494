// Package storetest is the conformance suite every store.Store implementation
// must pass. An implementation's tests call Run with a constructor that
// returns a fresh, empty store (closed by the suite or by t.Cleanup).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"backchannel/store"
)

// Run runs the conformance suite against stores made by newStore. Each
// subtest gets its own store.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"Invites", testInvites},
		{"Devices", testDevices},
		{"DeviceLists", testDeviceLists},
		{"DeviceListsConcurrent", testDeviceListsConcurrent},
		{"Prekeys", testPrekeys},
		{"PrekeysConcurrent", testPrekeysConcurrent},
		{"PrekeyCap", testPrekeyCap},
		{"Mailbox", testMailbox},
		{"MailboxConcurrent", testMailboxConcurrent},
		{"MailboxFull", testMailboxFull},
		{"MailboxQuotas", testMailboxQuotas},
		{"SendCounter", testSendCounter},
		{"SendCounterConcurrent", testSendCounterConcurrent},
		{"Blobs", testBlobs},
		{"BlobQuota", testBlobQuota},
		{"BlobIdleUploads", testBlobIdleUploads},
		{"Nonces", testNonces},
		{"KeyLog", testKeyLog},
		{"KeyLogStates", testKeyLogStates},
		{"KeyLogChanges", testKeyLogChanges},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

// NewUser creates an account with device 1 and returns its address.
func newUser(t *testing.T, s store.Store, name string) store.Address {
	t.Helper()
	a := store.Account{Name: name, IdentityKey: []byte("ik-" + name), CreatedAt: epoch}
	d := store.Device{User: name, ID: 1, SigningKey: []byte("sk-" + name), Certificate: []byte("cert-" + name), CreatedAt: epoch}
	must(t, s.CreateAccount(context.Background(), a, d, nil, nil, epoch))
	return store.Address{User: name, Device: 1}
}

func testAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	must(t, s.Ping(ctx))
	newUser(t, s, "alice")
	a, err := s.Account(ctx, "alice")
	must(t, err)
	if a.Name != "alice" || !bytes.Equal(a.IdentityKey, []byte("ik-alice")) || !a.CreatedAt.Equal(epoch) {
		t.Fatalf("account = %+v", a)
	}
	err = s.CreateAccount(ctx, store.Account{Name: "alice", IdentityKey: []byte("x")},
		store.Device{User: "alice", ID: 2, SigningKey: []byte("y")}, nil, nil, epoch)
	wantErr(t, err, store.ErrExists)
	_, err = s.Account(ctx, "bob")
	wantErr(t, err, store.ErrNotFound)
}

func testInvites(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct := func(n string) (store.Account, store.Device) {
		return store.Account{Name: n, IdentityKey: []byte("ik")}, store.Device{User: n, ID: 1, SigningKey: []byte("k")}
	}
	must(t, s.CreateInvite(ctx, []byte("hash-1"), "", epoch.Add(time.Hour)))
	must(t, s.CreateInvite(ctx, []byte("hash-old"), "", epoch.Add(-time.Second)))
	wantErr(t, s.CreateInvite(ctx, []byte("hash-1"), "", epoch.Add(time.Hour)), store.ErrExists)
	a, d := acct("carol")
	wantErr(t, s.CreateAccount(ctx, a, d, nil, []byte("unknown"), epoch), store.ErrInvalidInvite)
	wantErr(t, s.CreateAccount(ctx, a, d, nil, []byte("hash-old"), epoch), store.ErrInvalidInvite)
	if _, err := s.Account(ctx, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("account created despite invalid invite: %v", err)
	}
	must(t, s.CreateAccount(ctx, a, d, nil, []byte("hash-1"), epoch))
	a, d = acct("dave")
	wantErr(t, s.CreateAccount(ctx, a, d, nil, []byte("hash-1"), epoch), store.ErrInvalidInvite)

	// An invite bound to a name registers only that name, and a refused
	// attempt under another name does not use it up.
	must(t, s.CreateInvite(ctx, []byte("hash-bob"), "bob", epoch.Add(time.Hour)))
	a, d = acct("mallory")
	err := s.CreateAccount(ctx, a, d, nil, []byte("hash-bob"), epoch)
	wantErr(t, err, store.ErrInviteName)
	wantErr(t, err, store.ErrInvalidInvite)
	if _, err := s.Account(ctx, "mallory"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("account created with another name's invite: %v", err)
	}
	a, d = acct("bob")
	must(t, s.CreateAccount(ctx, a, d, nil, []byte("hash-bob"), epoch))
	a, d = acct("bob2")
	err = s.CreateAccount(ctx, a, d, nil, []byte("hash-bob"), epoch)
	wantErr(t, err, store.ErrInvalidInvite)
	if errors.Is(err, store.ErrInviteName) {
		t.Fatalf("a used invite reported as bound to another name: %v", err)
	}
}

func testDevices(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := newUser(t, s, "alice")
	must(t, s.AddDevice(ctx, store.Device{User: "alice", ID: 7, SigningKey: []byte("k7"), Certificate: []byte("c7"), CreatedAt: epoch}))
	wantErr(t, s.AddDevice(ctx, store.Device{User: "alice", ID: 7, SigningKey: []byte("k")}), store.ErrExists)
	wantErr(t, s.AddDevice(ctx, store.Device{User: "nobody", ID: 1, SigningKey: []byte("k")}), store.ErrNotFound)
	devs, err := s.Devices(ctx, "alice")
	must(t, err)
	if len(devs) != 2 || devs[0].ID != 1 || devs[1].ID != 7 || !bytes.Equal(devs[1].Certificate, []byte("c7")) {
		t.Fatalf("devices = %+v", devs)
	}
	d, err := s.Device(ctx, "alice", 1)
	must(t, err)
	if !bytes.Equal(d.SigningKey, []byte("sk-alice")) {
		t.Fatalf("device = %+v", d)
	}
	_, err = s.Device(ctx, "alice", 3)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.Devices(ctx, "nobody")
	wantErr(t, err, store.ErrNotFound)

	// Removing a device removes its mailbox.
	bob := newUser(t, s, "bob")
	_, err = s.Enqueue(ctx, bob, []store.Envelope{{To: store.Address{User: "alice", Device: 7}, Data: []byte("x")}}, epoch, 0)
	must(t, err)
	must(t, s.RemoveDevice(ctx, "alice", 7))
	wantErr(t, s.RemoveDevice(ctx, "alice", 7), store.ErrNotFound)
	msgs, err := s.Pending(ctx, store.Address{User: "alice", Device: 7}, 0, 10)
	must(t, err)
	if len(msgs) != 0 {
		t.Fatalf("mailbox of removed device still has %d messages", len(msgs))
	}
	_ = alice
}

func pk(id uint32, s string) store.Prekey { return store.Prekey{ID: id, Data: []byte(s)} }

func testPrekeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := newUser(t, s, "alice")
	_, err := s.TakeBundle(ctx, alice)
	wantErr(t, err, store.ErrNotFound) // no signed prekey yet
	_, err = s.PutPrekeys(ctx, store.Address{User: "nobody", Device: 1}, store.PrekeyUpload{})
	wantErr(t, err, store.ErrNotFound)

	spk, lr := pk(1, "spk"), pk(2, "lastresort")
	c, err := s.PutPrekeys(ctx, alice, store.PrekeyUpload{
		SignedPrekey: &spk, LastResortKEM: &lr,
		OneTimePrekeys:    []store.Prekey{pk(10, "otk10"), pk(11, "otk11")},
		OneTimeKEMPrekeys: []store.Prekey{pk(20, "kem20")},
	})
	must(t, err)
	if c != (store.PrekeyCounts{OneTime: 2, OneTimeKEM: 1}) {
		t.Fatalf("counts = %+v", c)
	}
	b, err := s.TakeBundle(ctx, alice)
	must(t, err)
	if b.SignedPrekey == nil || string(b.SignedPrekey.Data) != "spk" || b.OneTimePrekey == nil || b.KEMPrekey == nil ||
		b.KEMLastResort || !bytes.Equal(b.IdentityKey, []byte("ik-alice")) || !bytes.Equal(b.Device.Certificate, []byte("cert-alice")) {
		t.Fatalf("bundle = %+v", b)
	}
	if b.Remaining != (store.PrekeyCounts{OneTime: 1, OneTimeKEM: 0}) {
		t.Fatalf("remaining = %+v", b.Remaining)
	}
	b2, err := s.TakeBundle(ctx, alice)
	must(t, err)
	if b2.OneTimePrekey == nil || b2.OneTimePrekey.ID == b.OneTimePrekey.ID {
		t.Fatalf("one-time prekey handed out twice or missing: %+v %+v", b.OneTimePrekey, b2.OneTimePrekey)
	}
	if b2.KEMPrekey == nil || !b2.KEMLastResort || string(b2.KEMPrekey.Data) != "lastresort" {
		t.Fatalf("want last-resort KEM prekey, got %+v", b2)
	}
	b3, err := s.TakeBundle(ctx, alice)
	must(t, err)
	if b3.OneTimePrekey != nil {
		t.Fatalf("one-time prekey from an empty pool: %+v", b3.OneTimePrekey)
	}
	// Replenish and replace the signed prekey.
	spk2 := pk(3, "spk2")
	c, err = s.PutPrekeys(ctx, alice, store.PrekeyUpload{SignedPrekey: &spk2, OneTimePrekeys: []store.Prekey{pk(12, "otk12")}})
	must(t, err)
	if c.OneTime != 1 {
		t.Fatalf("counts after replenish = %+v", c)
	}
	c, err = s.PrekeyCounts(ctx, alice)
	must(t, err)
	if c.OneTime != 1 || c.OneTimeKEM != 0 {
		t.Fatalf("PrekeyCounts = %+v", c)
	}
	b4, err := s.TakeBundle(ctx, alice)
	must(t, err)
	if b4.SignedPrekey.ID != 3 || b4.OneTimePrekey == nil || b4.OneTimePrekey.ID != 12 {
		t.Fatalf("bundle after replenish = %+v", b4)
	}
}

func testPrekeysConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := newUser(t, s, "alice")
	spk := pk(1, "spk")
	var otks []store.Prekey
	for i := range 100 {
		otks = append(otks, pk(uint32(1000+i), fmt.Sprint("otk", i)))
	}
	_, err := s.PutPrekeys(ctx, alice, store.PrekeyUpload{SignedPrekey: &spk, OneTimePrekeys: otks})
	must(t, err)
	var mu sync.Mutex
	seen := map[uint32]int{}
	empty := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				b, err := s.TakeBundle(ctx, alice)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if b.OneTimePrekey == nil {
					empty++
				} else {
					seen[b.OneTimePrekey.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 100 || empty != 60 {
		t.Fatalf("handed out %d distinct prekeys and %d empty bundles, want 100 and 60", len(seen), empty)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("prekey %d handed out %d times", id, n)
		}
	}
}

func testMailbox(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	_, err := s.Enqueue(ctx, alice, []store.Envelope{{To: bob, Data: []byte("a")}, {To: store.Address{User: "bob", Device: 9}, Data: []byte("b")}}, epoch, 0)
	wantErr(t, err, store.ErrNotFound)
	if msgs, _ := s.Pending(ctx, bob, 0, 10); len(msgs) != 0 {
		t.Fatalf("partial batch stored: %d messages", len(msgs))
	}
	sent, err := s.Enqueue(ctx, alice, []store.Envelope{{To: bob, Data: []byte("m1")}, {To: bob, Data: []byte("m2")}, {To: alice, Data: []byte("self")}}, epoch, 0)
	must(t, err)
	if len(sent) != 3 || !(sent[0].ID < sent[1].ID) || sent[0].From != alice || !sent[0].ReceivedAt.Equal(epoch) {
		t.Fatalf("sent = %+v", sent)
	}
	msgs, err := s.Pending(ctx, bob, 0, 10)
	must(t, err)
	if len(msgs) != 2 || string(msgs[0].Data) != "m1" || string(msgs[1].Data) != "m2" || msgs[0].From != alice || msgs[0].To != bob {
		t.Fatalf("pending = %+v", msgs)
	}
	after, err := s.Pending(ctx, bob, msgs[0].ID, 10)
	must(t, err)
	if len(after) != 1 || after[0].ID != msgs[1].ID {
		t.Fatalf("pending after cursor = %+v", after)
	}
	limited, err := s.Pending(ctx, bob, 0, 1)
	must(t, err)
	if len(limited) != 1 {
		t.Fatalf("limit ignored: %d", len(limited))
	}
	// Acks only delete the recipient's own messages.
	n, err := s.Ack(ctx, alice, []int64{msgs[0].ID})
	must(t, err)
	if n != 0 {
		t.Fatalf("acked another device's message")
	}
	n, err = s.Ack(ctx, bob, []int64{msgs[0].ID, 999999})
	must(t, err)
	if n != 1 {
		t.Fatalf("ack deleted %d", n)
	}
	msgs, err = s.Pending(ctx, bob, 0, 10)
	must(t, err)
	if len(msgs) != 1 || string(msgs[0].Data) != "m2" {
		t.Fatalf("pending after ack = %+v", msgs)
	}
	// Ids are never reused, even after everything is acknowledged.
	last := msgs[0].ID
	_, err = s.Ack(ctx, bob, []int64{last})
	must(t, err)
	again, err := s.Enqueue(ctx, alice, []store.Envelope{{To: bob, Data: []byte("m3")}}, epoch, 0)
	must(t, err)
	if again[0].ID <= last {
		t.Fatalf("id %d reused (last %d)", again[0].ID, last)
	}
}

func testMailboxConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	bob := newUser(t, s, "bob")
	const senders, each = 8, 25
	var wg sync.WaitGroup
	for i := range senders {
		from := newUser(t, s, fmt.Sprint("sender", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if _, err := s.Enqueue(ctx, from, []store.Envelope{{To: bob, Data: []byte(fmt.Sprint(i, "/", j))}}, epoch, 0); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	msgs, err := s.Pending(ctx, bob, 0, 1000)
	must(t, err)
	if len(msgs) != senders*each {
		t.Fatalf("got %d messages, want %d", len(msgs), senders*each)
	}
	seen := map[string]bool{}
	for i, m := range msgs {
		if i > 0 && m.ID <= msgs[i-1].ID {
			t.Fatalf("ids not increasing")
		}
		seen[string(m.Data)] = true
	}
	if len(seen) != senders*each {
		t.Fatalf("duplicates: %d distinct", len(seen))
	}
}

func testMailboxFull(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	env := func(to store.Address, d string) store.Envelope { return store.Envelope{To: to, Data: []byte(d)} }
	sent, err := s.Enqueue(ctx, alice, []store.Envelope{env(bob, "1"), env(bob, "2")}, epoch, 2)
	must(t, err)
	_, err = s.Enqueue(ctx, alice, []store.Envelope{env(bob, "3")}, epoch, 2)
	wantErr(t, err, store.ErrMailboxFull)
	// All or nothing: the message to alice is not stored either.
	_, err = s.Enqueue(ctx, bob, []store.Envelope{env(alice, "a"), env(bob, "4")}, epoch, 2)
	wantErr(t, err, store.ErrMailboxFull)
	if msgs, _ := s.Pending(ctx, alice, 0, 10); len(msgs) != 0 {
		t.Fatalf("partial batch stored: %d messages", len(msgs))
	}
	// No limit, or room made by an ack.
	_, err = s.Enqueue(ctx, alice, []store.Envelope{env(bob, "3")}, epoch, 0)
	must(t, err)
	_, err = s.Ack(ctx, bob, []int64{sent[0].ID, sent[1].ID})
	must(t, err)
	_, err = s.Enqueue(ctx, alice, []store.Envelope{env(bob, "4")}, epoch, 2)
	must(t, err)
	_, err = s.Enqueue(ctx, alice, []store.Envelope{env(bob, "5")}, epoch, 2)
	wantErr(t, err, store.ErrMailboxFull)
}
