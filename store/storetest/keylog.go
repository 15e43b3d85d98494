package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"backchannel/store"
)

func h32(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// testKeyLog checks the key log leaf state: first leaf, newer versions
// counted, older and equal versions refused without change, paging, and
// the stale scan that finds device lists the log has not recorded.
func testKeyLog(t *testing.T, s store.Store) {
	kl, ok := s.(store.KeyLog)
	if !ok {
		t.Skip("store does not implement store.KeyLog")
	}
	ctx := context.Background()
	put := func(acct string, version uint64, nonce byte) (store.KeyLogLeaf, bool) {
		t.Helper()
		l, changed, err := kl.PutKeyLogLeaf(ctx, store.KeyLogLeaf{Account: acct, Index: h32(1), Version: version, Nonce: h32(nonce), ListHash: h32(byte(version)), Updates: 999})
		must(t, err)
		return l, changed
	}
	tests := []struct {
		name        string
		version     uint64
		nonce       byte
		wantChanged bool
		wantUpdates uint64
		wantVersion uint64
		wantNonce   byte
	}{
		{"first leaf", 1, 10, true, 1, 1, 10},
		{"same version again", 1, 11, false, 1, 1, 10},
		{"next version", 2, 12, true, 2, 2, 12},
		{"older version", 1, 13, false, 2, 2, 12},
		{"skips a version: both count", 4, 14, true, 4, 4, 14},
	}
	for _, tc := range tests {
		l, changed := put("alice", tc.version, tc.nonce)
		if changed != tc.wantChanged || l.Updates != tc.wantUpdates || l.Version != tc.wantVersion || !bytes.Equal(l.Nonce, h32(tc.wantNonce)) ||
			l.Account != "alice" || !bytes.Equal(l.Index, h32(1)) || !bytes.Equal(l.ListHash, h32(byte(tc.wantVersion))) {
			t.Fatalf("%s: got %+v changed %v; want updates %d version %d nonce %d changed %v", tc.name, l, changed, tc.wantUpdates, tc.wantVersion, tc.wantNonce, tc.wantChanged)
		}
	}
	if _, _, err := kl.PutKeyLogLeaf(ctx, store.KeyLogLeaf{Account: "bob", Index: h32(1), Version: 0, Nonce: h32(1), ListHash: h32(1)}); err == nil {
		t.Fatal("version 0 accepted")
	}
	if _, _, err := kl.PutKeyLogLeaf(ctx, store.KeyLogLeaf{Account: "bob", Index: h32(1)[:31], Version: 1, Nonce: h32(1), ListHash: h32(1)}); err == nil {
		t.Fatal("31-byte index accepted")
	}

	// Paging through every leaf in account order.
	for i := range 25 {
		put(fmt.Sprintf("user%02d", i), 1, 1)
	}
	var all []string
	after := ""
	for {
		page, err := kl.KeyLogLeaves(ctx, after, 10)
		must(t, err)
		if len(page) == 0 {
			break
		}
		for _, l := range page {
			all = append(all, l.Account)
		}
		after = page[len(page)-1].Account
	}
	if len(all) != 26 || all[0] != "alice" || all[25] != "user24" {
		t.Fatalf("paged leaves = %v", all)
	}

	// Stale: an account with device lists the log has not caught up with.
	for _, name := range []string{"carol", "dave", "erin"} {
		a := store.Account{Name: name, IdentityKey: []byte("ik-" + name), CreatedAt: epoch}
		d := store.Device{User: name, ID: 1, SigningKey: []byte("sk-" + name), CreatedAt: epoch}
		must(t, s.CreateAccount(ctx, a, d, []byte(name+"-v1"), nil, epoch))
	}
	newUser(t, s, "frank") // no device list: never stale
	must(t, s.PutDeviceList(ctx, "dave", 2, []byte("dave-v2"), nil, nil))
	put("carol", 1, 1) // up to date
	put("dave", 1, 1)  // one behind
	stale, err := kl.KeyLogStale(ctx, 10)
	must(t, err)
	want := []store.KeyLogStale{{Account: "dave", Version: 2, List: []byte("dave-v2")}, {Account: "erin", Version: 1, List: []byte("erin-v1")}}
	if len(stale) != len(want) {
		t.Fatalf("stale = %+v, want %+v", stale, want)
	}
	for i := range want {
		if stale[i].Account != want[i].Account || stale[i].Version != want[i].Version || !bytes.Equal(stale[i].List, want[i].List) {
			t.Fatalf("stale[%d] = %+v, want %+v", i, stale[i], want[i])
		}
	}
	if one, err := kl.KeyLogStale(ctx, 1); err != nil || len(one) != 1 || one[0].Account != "dave" {
		t.Fatalf("KeyLogStale(limit 1) = %+v, %v", one, err)
	}
	put("dave", 2, 2)
	put("erin", 1, 1)
	if stale, err := kl.KeyLogStale(ctx, 10); err != nil || len(stale) != 0 {
		t.Fatalf("stale after catching up = %+v, %v", stale, err)
	}
}

// testKeyLogStates checks that every leaf state PutKeyLogLeaf stores is kept,
// ascending by updates, and that refused (older or equal) versions add none.
func testKeyLogStates(t *testing.T, s store.Store) {
	kl, ok := s.(store.KeyLog)
	if !ok {
		t.Skip("store does not implement store.KeyLog")
	}
	ctx := context.Background()
	for _, v := range []struct {
		version uint64
		nonce   byte
	}{{1, 10}, {2, 20}, {2, 21}, {1, 11}, {5, 50}} {
		_, _, err := kl.PutKeyLogLeaf(ctx, store.KeyLogLeaf{Account: "alice", Index: h32(1), Version: v.version, Nonce: h32(v.nonce), ListHash: h32(byte(v.version))})
		must(t, err)
	}
	_, _, err := kl.PutKeyLogLeaf(ctx, store.KeyLogLeaf{Account: "bob", Index: h32(2), Version: 1, Nonce: h32(99), ListHash: h32(1)})
	must(t, err)
	states, err := kl.KeyLogStates(ctx, "alice")
	must(t, err)
	want := []struct {
		updates, version uint64
		nonce            byte
	}{{1, 1, 10}, {2, 2, 20}, {5, 5, 50}}
	if len(states) != len(want) {
		t.Fatalf("states = %+v", states)
	}
	for i, w := range want {
		st := states[i]
		if st.Account != "alice" || st.Updates != w.updates || st.Version != w.version || !bytes.Equal(st.Nonce, h32(w.nonce)) ||
			!bytes.Equal(st.Index, h32(1)) || !bytes.Equal(st.ListHash, h32(byte(w.version))) {
			t.Fatalf("state %d = %+v, want %+v", i, st, w)
		}
	}
	if none, err := kl.KeyLogStates(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Fatalf("states of an unknown account = %+v, %v", none, err)
	}
	// The states returned are copies: changing them changes nothing stored.
	states[0].Nonce[0] ^= 1
	again, err := kl.KeyLogStates(ctx, "alice")
	must(t, err)
	if !bytes.Equal(again[0].Nonce, h32(10)) {
		t.Fatal("a returned state aliases the store")
	}
}

// testKeyLogChanges checks change lists: stored per epoch, a retry overwrites,
// ranges are inclusive and ascending, the page limit never splits a record,
// and malformed lists are refused.
func testKeyLogChanges(t *testing.T, s store.Store) {
	kl, ok := s.(store.KeyLog)
	if !ok {
		t.Skip("store does not implement store.KeyLog")
	}
	ctx := context.Background()
	list := func(tag byte, k int) []byte {
		return bytes.Repeat([]byte{tag}, k*store.KeyLogChangeSize)
	}
	// Epochs 0, 2, 3, 7 have changes (k = 1, 3, 2, 1); 1 and 4..6 have none.
	must(t, kl.PutKeyLogChanges(ctx, 0, list(0xa0, 1)))
	must(t, kl.PutKeyLogChanges(ctx, 2, list(0xa1, 1)))
	must(t, kl.PutKeyLogChanges(ctx, 2, list(0xa2, 3))) // a retried epoch overwrites
	must(t, kl.PutKeyLogChanges(ctx, 3, list(0xa3, 2)))
	must(t, kl.PutKeyLogChanges(ctx, 7, list(0xa7, 1)))
	for _, bad := range [][]byte{nil, make([]byte, 63), make([]byte, 65)} {
		if err := kl.PutKeyLogChanges(ctx, 9, bad); err == nil {
			t.Fatalf("a change list of %d bytes accepted", len(bad))
		}
	}
	type rec struct {
		epoch uint64
		tag   byte
		k     int
	}
	tests := []struct {
		name     string
		from, to uint64
		max      int
		want     []rec
	}{
		{"everything", 0, 10, 100, []rec{{0, 0xa0, 1}, {2, 0xa2, 3}, {3, 0xa3, 2}, {7, 0xa7, 1}}},
		{"inclusive bounds", 2, 3, 100, []rec{{2, 0xa2, 3}, {3, 0xa3, 2}}},
		{"one epoch", 7, 7, 100, []rec{{7, 0xa7, 1}}},
		{"empty epochs only", 4, 6, 100, nil},
		{"beyond the last", 8, 1 << 63, 100, nil},
		{"from after to", 3, 2, 100, nil},
		{"limit 1: the first record", 0, 10, 1, []rec{{0, 0xa0, 1}}},
		{"limit 2: a record is never split", 0, 10, 2, []rec{{0, 0xa0, 1}, {2, 0xa2, 3}}},
		{"limit 4: exactly reached", 0, 10, 4, []rec{{0, 0xa0, 1}, {2, 0xa2, 3}}},
		{"limit 5", 0, 10, 5, []rec{{0, 0xa0, 1}, {2, 0xa2, 3}, {3, 0xa3, 2}}},
		{"limit 1 on a large record", 2, 10, 1, []rec{{2, 0xa2, 3}}},
		{"no limit", 0, 10, 0, nil},
		{"the largest range", 0, 1<<64 - 1, 100, []rec{{0, 0xa0, 1}, {2, 0xa2, 3}, {3, 0xa3, 2}, {7, 0xa7, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kl.KeyLogChanges(ctx, tc.from, tc.to, tc.max)
			must(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d records, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				if got[i].Epoch != w.epoch || !bytes.Equal(got[i].Changes, list(w.tag, w.k)) {
					t.Fatalf("record %d = epoch %d (%d bytes), want epoch %d k %d", i, got[i].Epoch, len(got[i].Changes), w.epoch, w.k)
				}
			}
		})
	}

	// Deleting from epoch 3 leaves epochs 0 and 2.
	must(t, kl.DeleteKeyLogChanges(ctx, 3))
	got, err := kl.KeyLogChanges(ctx, 0, 1<<64-1, 100)
	must(t, err)
	if len(got) != 2 || got[0].Epoch != 0 || got[1].Epoch != 2 {
		t.Fatalf("after deleting from epoch 3: %d records", len(got))
	}
	must(t, kl.DeleteKeyLogChanges(ctx, 1<<64-1))
	must(t, kl.DeleteKeyLogChanges(ctx, 0))
	if got, err := kl.KeyLogChanges(ctx, 0, 1<<64-1, 100); err != nil || len(got) != 0 {
		t.Fatalf("after deleting everything: %d records, %v", len(got), err)
	}
}
