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
