package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"backchannel/store"
)

func wantLists(t *testing.T, s store.Store, user string, after uint64, limit int, want []string, wantLatest uint64) {
	t.Helper()
	got, latest, err := s.DeviceLists(context.Background(), user, after, limit)
	must(t, err)
	if latest != wantLatest || len(got) != len(want) {
		t.Fatalf("DeviceLists(%s, after %d, limit %d) = %q latest %d; want %q latest %d", user, after, limit, got, latest, want, wantLatest)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Fatalf("DeviceLists(%s, after %d)[%d] = %q, want %q", user, after, i, got[i], want[i])
		}
	}
}

func testDeviceLists(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := store.Account{Name: "alice", IdentityKey: []byte("ik-alice"), CreatedAt: epoch}
	d1 := store.Device{User: "alice", ID: 1, SigningKey: []byte("k1"), Certificate: []byte("c1"), CreatedAt: epoch}
	must(t, s.CreateAccount(ctx, a, d1, []byte("list-v1"), nil, epoch))
	wantLists(t, s, "alice", 0, 10, []string{"list-v1"}, 1)
	wantLists(t, s, "alice", 0, 0, nil, 1)
	_, _, err := s.DeviceLists(ctx, "nobody", 0, 10)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.PutDeviceList(ctx, "nobody", 1, []byte("x"), nil, nil), store.ErrNotFound)

	// Version 2 lists a second device, which has no certificate yet.
	d2 := store.Device{User: "alice", ID: 2, SigningKey: []byte("k2"), CreatedAt: epoch}
	must(t, s.PutDeviceList(ctx, "alice", 2, []byte("list-v2"), []store.Device{d2}, nil))
	devs, err := s.Devices(ctx, "alice")
	must(t, err)
	if len(devs) != 2 || devs[1].ID != 2 || !bytes.Equal(devs[1].SigningKey, []byte("k2")) || len(devs[1].Certificate) != 0 {
		t.Fatalf("devices after v2 = %+v", devs)
	}
	// The compare-and-swap: only version latest+1 is stored.
	for _, v := range []uint64{1, 2, 4, 0} {
		wantErr(t, s.PutDeviceList(ctx, "alice", v, []byte(fmt.Sprint("bad-v", v)), nil, nil), store.ErrConflict)
	}
	wantLists(t, s, "alice", 0, 10, []string{"list-v1", "list-v2"}, 2)

	// A device without a certificate gets no bundle, and loses no prekey.
	two := store.Address{User: "alice", Device: 2}
	spk := pk(1, "spk")
	_, err = s.PutPrekeys(ctx, two, store.PrekeyUpload{SignedPrekey: &spk, OneTimePrekeys: []store.Prekey{pk(5, "otk")}})
	must(t, err)
	_, err = s.TakeBundle(ctx, two)
	wantErr(t, err, store.ErrNotFound)
	if c, _ := s.PrekeyCounts(ctx, two); c.OneTime != 1 {
		t.Fatalf("a refused bundle consumed a prekey: %+v", c)
	}
	// It uploads its certificate once; the same bytes again are fine,
	// others are refused.
	wantErr(t, s.SetCertificate(ctx, "alice", 9, []byte("c9")), store.ErrNotFound)
	must(t, s.SetCertificate(ctx, "alice", 2, []byte("c2")))
	must(t, s.SetCertificate(ctx, "alice", 2, []byte("c2")))
	wantErr(t, s.SetCertificate(ctx, "alice", 2, []byte("other")), store.ErrConflict)
	wantErr(t, s.SetCertificate(ctx, "alice", 1, []byte("other")), store.ErrConflict)
	b, err := s.TakeBundle(ctx, two)
	must(t, err)
	if string(b.Device.Certificate) != "c2" || b.OneTimePrekey == nil {
		t.Fatalf("bundle after certificate = %+v", b)
	}

	// A failing update (an added id is taken) applies nothing, not even its
	// removals or its list.
	bob := newUser(t, s, "bob")
	one := store.Address{User: "alice", Device: 1}
	_, err = s.EnqueueCounted(ctx, bob, 0, nil, []store.Envelope{{To: one, Data: []byte("for 1")}}, epoch, 0)
	must(t, err)
	_, err = s.EnqueueCounted(ctx, one, 7, digest("x"), []store.Envelope{{To: bob, Data: []byte("from 1")}}, epoch, 0)
	must(t, err)
	err = s.PutDeviceList(ctx, "alice", 3, []byte("list-v3"), []store.Device{{User: "alice", ID: 2, SigningKey: []byte("dup")}}, []uint32{1})
	wantErr(t, err, store.ErrExists)
	wantLists(t, s, "alice", 0, 10, []string{"list-v1", "list-v2"}, 2)
	if _, err := s.Device(ctx, "alice", 1); err != nil {
		t.Fatalf("a failed update removed device 1: %v", err)
	}
	if pendingCount(t, s, one) != 1 {
		t.Fatal("a failed update emptied a mailbox")
	}

	// Version 3 removes device 1: with its mailbox, prekeys and counter.
	_, err = s.PutPrekeys(ctx, one, store.PrekeyUpload{OneTimePrekeys: []store.Prekey{pk(1, "x")}})
	must(t, err)
	d3 := store.Device{User: "alice", ID: 3, SigningKey: []byte("k3"), CreatedAt: epoch}
	must(t, s.PutDeviceList(ctx, "alice", 3, []byte("list-v3"), []store.Device{d3}, []uint32{1, 77}))
	_, err = s.Device(ctx, "alice", 1)
	wantErr(t, err, store.ErrNotFound)
	if msgs, err := s.Pending(ctx, one, 0, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("removed device's mailbox: %d messages, %v", len(msgs), err)
	}
	_, err = s.SendCounter(ctx, one)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.PrekeyCounts(ctx, one)
	wantErr(t, err, store.ErrNotFound)
	_, err = s.Enqueue(ctx, bob, []store.Envelope{{To: one, Data: []byte("late")}}, epoch, 0)
	wantErr(t, err, store.ErrNotFound)
	devs, err = s.Devices(ctx, "alice")
	must(t, err)
	if len(devs) != 2 || devs[0].ID != 2 || devs[1].ID != 3 {
		t.Fatalf("devices after v3 = %+v", devs)
	}
	// Paging.
	wantLists(t, s, "alice", 1, 1, []string{"list-v2"}, 3)
	wantLists(t, s, "alice", 1, 10, []string{"list-v2", "list-v3"}, 3)
	wantLists(t, s, "alice", 3, 10, nil, 3)
	wantLists(t, s, "alice", 1<<63, 10, nil, 3)

	// An account registered without a list starts its chain at version 1.
	wantLists(t, s, "bob", 0, 10, nil, 0)
	wantErr(t, s.PutDeviceList(ctx, "bob", 2, []byte("bob-v2"), nil, nil), store.ErrConflict)
	must(t, s.PutDeviceList(ctx, "bob", 1, []byte("bob-v1"), nil, nil))
	wantLists(t, s, "bob", 0, 10, []string{"bob-v1"}, 1)
}

// testDeviceListsConcurrent: writers racing for the same version never fork
// the stored chain.
func testDeviceListsConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := store.Account{Name: "alice", IdentityKey: []byte("ik"), CreatedAt: epoch}
	must(t, s.CreateAccount(ctx, a, store.Device{User: "alice", ID: 1, SigningKey: []byte("k1"), CreatedAt: epoch}, []byte("v1"), nil, epoch))
	want := []string{"v1"}
	for v := uint64(2); v <= 4; v++ {
		const racers = 6
		var wg sync.WaitGroup
		errs := make([]error, racers)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := store.Device{User: "alice", ID: uint32(100*v) + uint32(i), SigningKey: []byte("k"), CreatedAt: epoch}
				errs[i] = s.PutDeviceList(ctx, "alice", v, []byte(fmt.Sprint("v", v, "-", i)), []store.Device{d}, nil)
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("version %d stored twice", v)
			case err == nil:
				winner = i
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("version %d: %v", v, err)
			}
		}
		if winner < 0 {
			t.Fatalf("version %d: no writer won", v)
		}
		want = append(want, fmt.Sprint("v", v, "-", winner))
		devs, err := s.Devices(ctx, "alice")
		must(t, err)
		if len(devs) != int(v) {
			t.Fatalf("version %d: %d devices, want %d (only the winner's device added)", v, len(devs), v)
		}
	}
	wantLists(t, s, "alice", 0, 10, want, 4)
}
