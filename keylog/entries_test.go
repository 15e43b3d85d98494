package keylog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"backchannel/keylog"
	"backchannel/keylog/prefix"
	"backchannel/keylog/verify"
)

// TestEntriesVerify: the pages of a real log (Tessera tiles and bundles,
// heartbeats and changes, across an entry bundle's boundary) pass the
// owner's ScanEntries from epoch 0, from the epoch that listed alice's
// leaf with the frontier of the tiles, and from an anchor in the middle.
func TestEntriesVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 300 epochs")
	}
	e := newEnv(t)
	e.account("alice", 2)
	e.account("bob", 1)
	l := e.mustOpen(keylog.Config{Heartbeat: 3 * time.Millisecond, EpochDelay: time.Millisecond})
	ctx := context.Background()
	if err := l.Update(ctx, "bob", 1, listHash("bob", 1)); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, l, "bob", 1)
	if err := l.Update(ctx, "alice", 1, listHash("alice", 1)); err != nil {
		t.Fatal(err)
	}
	waitVersion(t, l, "alice", 1)
	if err := l.Update(ctx, "alice", 2, listHash("alice", 2)); err != nil {
		t.Fatal(err)
	}
	alice := waitVersion(t, l, "alice", 2)
	deadline := time.Now().Add(60 * time.Second)
	for {
		lt, _ := l.Latest()
		if lt.Entry.Epoch > 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d epochs", lt.Entry.Epoch)
		}
		time.Sleep(20 * time.Millisecond)
	}
	info := l.Info()
	tr := verify.Trust{Origin: info.Origin, LogKey: info.LogKey, VRFKey: info.VRFKey}
	index, leaf := leafOf(t, l, "alice", alice)

	p0, err := l.Entries(ctx, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(p0.Frontier) != 0 || p0.Through != 0 || len(p0.Entries) < 300 {
		t.Fatalf("page from 0: %d entries, through %d, frontier %d", len(p0.Entries), p0.Through, len(p0.Frontier))
	}
	full := 0
	for _, pe := range p0.Entries {
		if len(pe.C) > 0 {
			full++
		}
	}
	if full != 3 && full != 2 {
		t.Fatalf("%d epochs with changes, want 2 or 3 (bob, alice v1, v2)", full)
	}
	// From epoch 0: the anchor is entry 0 itself (first page starts at it).
	e0 := p0.Entries[0].E // epoch 0 always comes whole
	a0, err := verify.FirstAnchor(e0, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := verify.ScanEntries(tr, a0, []*verify.EntriesPage{p0}, nil, index)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Listings); n == 0 || s.Listings[n-1].Leaf != leaf || s.Listings[n-1].Epoch != alice.Changed.Epoch {
		t.Fatalf("alice's listings %+v, want the last at epoch %d", s.Listings, alice.Changed.Epoch)
	}
	// The first anchor: U = alice's listing epoch, the frontier from the tiles.
	u := alice.Changed.Epoch
	pu, err := l.Entries(ctx, u, true)
	if err != nil {
		t.Fatal(err)
	}
	first, err := verify.FirstAnchor(alice.Changed.Entry, pu.Frontier)
	if err != nil {
		t.Fatal(err)
	}
	su, err := verify.ScanEntries(tr, first, []*verify.EntriesPage{pu}, &s.Checkpoint, index)
	if err != nil {
		t.Fatal(err)
	}
	if len(su.Listings) != 1 || su.Listings[0].Leaf != leaf {
		t.Fatalf("listings from U: %+v", su.Listings)
	}
	// From anchors around an entry bundle's boundary (256), with frontiers.
	for _, from := range []uint64{270, 257, 256, 255} {
		pm, err := l.Entries(ctx, from, true)
		if err != nil {
			t.Fatal(err)
		}
		// Rebuild entry from-1's bytes from the page from 0.
		prev := mustEntryAt(t, p0, from-1)
		am, err := verify.FirstAnchor(prev, l2frontier(t, l, from-1))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verify.ScanEntries(tr, am, []*verify.EntriesPage{pm}, &su.Checkpoint, index); err != nil {
			t.Fatalf("from %d: %v", from, err)
		}
	}
	// Range errors.
	lt, _ := l.Latest()
	if _, err := l.Entries(ctx, lt.Entry.Epoch+5, false); !errors.Is(err, keylog.ErrRange) {
		t.Fatalf("entries after the log: %v", err)
	}
}

// mustEntryAt rebuilds entry idx from a page starting at 0.
func mustEntryAt(t *testing.T, p *verify.EntriesPage, idx uint64) []byte {
	t.Helper()
	var prev prefix.Entry
	for i := uint64(0); i <= idx; i++ {
		pe := p.Entries[i]
		if len(pe.E) > 0 {
			e, err := prefix.ParseEntry(pe.E)
			if err != nil {
				t.Fatal(err)
			}
			prev = e
			continue
		}
		prev = prefix.Entry{Epoch: i, Time: prev.Time.Add(time.Duration(pe.D) * time.Second), Root: prev.Root, Leaves: prev.Leaves, Head: prev.Head}
	}
	return prev.Marshal()
}

// l2frontier is the frontier of [0, n) as the server serves it.
func l2frontier(t *testing.T, l *keylog.Log, n uint64) [][]byte {
	t.Helper()
	p, err := l.Entries(context.Background(), n, true)
	if err != nil {
		t.Fatal(err)
	}
	return p.Frontier
}
