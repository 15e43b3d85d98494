package server_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"backchannel/keylog"
	"backchannel/keylog/prefix"
	"backchannel/server"
	"backchannel/server/apiclient"
)

// verifyChanged checks step 8 of "What a client verifies": the entry that
// lists the leaf is in the lookup's checkpoint tree (x/mod tlog) and the
// change proof recomputes its changes root.
func (in *independent) verifyChanged(l keylog.Lookup, size int64, root tlog.Hash, want prefix.Change) {
	in.t.Helper()
	ch := l.Changed
	if ch == nil {
		in.t.Fatal("a lookup without its listing")
		return
	}
	if ch.Epoch > l.Epoch {
		in.t.Fatalf("listed at epoch %d, after the lookup's %d", ch.Epoch, l.Epoch)
	}
	e, err := prefix.ParseEntry(ch.Entry)
	if err != nil || e.Epoch != ch.Epoch {
		in.t.Fatalf("listing entry: %v (epoch %d, want %d)", err, e.Epoch, ch.Epoch)
	}
	var rp tlog.RecordProof
	for _, h := range ch.Inclusion {
		var x tlog.Hash
		copy(x[:], h)
		rp = append(rp, x)
	}
	if err := tlog.CheckRecord(rp, size, root, int64(ch.Epoch), tlog.RecordHash(ch.Entry)); err != nil {
		in.t.Fatalf("inclusion of the listing entry %d in the tree of size %d: %v", ch.Epoch, size, err)
	}
	var path []prefix.Hash
	for _, p := range ch.Path {
		h, err := prefix.HashFromBytes(p)
		if err != nil {
			in.t.Fatal(err)
		}
		path = append(path, h)
	}
	if !prefix.VerifyChange(want, ch.Position, int(e.Changes), path, e.ChangesRoot) {
		in.t.Fatalf("change proof at epoch %d position %d of %d does not verify", ch.Epoch, ch.Position, e.Changes)
	}
}

// fold reads every change list of epochs from … to through the API, checks
// each record and returns the head chained over them from prev.
func fold(t *testing.T, c *apiclient.Client, prev prefix.Hash, from, to uint64) (prefix.Hash, map[uint64][]prefix.Change) {
	t.Helper()
	all := make(map[uint64][]prefix.Change)
	last := int64(from) - 1
	for from <= to {
		page, err := c.KeyLogChanges(context.Background(), from, to)
		if err != nil {
			t.Fatal(err)
		}
		if page.Through < from || page.Through > to {
			t.Fatalf("page %d..%d through %d", from, to, page.Through)
		}
		for _, r := range page.Records {
			if int64(r.Epoch) <= last || r.Epoch > page.Through {
				t.Fatalf("record of epoch %d out of order", r.Epoch)
			}
			last = int64(r.Epoch)
			var cs []prefix.Change
			for _, b := range r.Changes {
				ch, err := prefix.ParseChange(b)
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, ch)
			}
			if err := prefix.CheckChanges(cs); err != nil {
				t.Fatal(err)
			}
			prev = prefix.NextHead(prev, r.Epoch, cs)
			all[r.Epoch] = cs
		}
		from = page.Through + 1
	}
	return prev, all
}

func TestKeyLogChangesAndOwnStates(t *testing.T) {
	ks := startKeyLogServer(t, server.Config{}, time.Hour)
	in := newIndependent(t, ks.URL)
	alice := register(t, ks.URL, "alice", "")
	bob := register(t, ks.URL, "bob", "")
	waitVersion(t, in, bob.Client, "bob", 1)
	alice.next(t, []ed25519.PrivateKey{newKey(t)})
	l := waitVersion(t, in, bob.Client, "alice", 2) // verifyLookup checks the listing
	e, _ := prefix.ParseEntry(l.Entry)

	// The head chained over every served change list is the latest entry's.
	head, all := fold(t, bob.Client, prefix.Empty, 0, l.Epoch)
	if head != e.Head {
		t.Fatalf("the served change lists fold to %x, entry %d has head %x", head[:4], l.Epoch, e.Head[:4])
	}
	total := 0
	for _, cs := range all {
		total += len(cs)
	}
	if total != 3 { // alice v1, bob v1, alice v2
		t.Fatalf("%d changes listed, want 3", total)
	}
	if l.Changed.Epoch != l.Epoch || len(all[l.Epoch]) != 1 {
		t.Fatalf("alice v2 listed at epoch %d with %d changes", l.Changed.Epoch, len(all[l.Epoch]))
	}
	// A continued fold from an anchor gives the same head.
	mid := l.Changed.Epoch - 1
	headMid, _ := fold(t, bob.Client, prefix.Empty, 0, mid)
	if h2, _ := fold(t, bob.Client, headMid, mid+1, l.Epoch); h2 != e.Head {
		t.Fatal("folding from an anchor gives another head")
	}

	// Own states: alice's two, in order, whose commitments open her leaves.
	own, err := alice.KeyLogOwn(context.Background())
	if err != nil || len(own) != 2 || own[0].Updates != 1 || own[1].Updates != 2 || own[1].Version != 2 || string(own[1].Nonce) != string(l.Nonce) {
		t.Fatalf("alice's own states: %+v, %v", own, err)
	}
	if own, err := bob.KeyLogOwn(context.Background()); err != nil || len(own) != 1 || own[0].Version != 1 {
		t.Fatalf("bob's own states: %+v, %v", own, err)
	}

	// Parameters, authentication.
	tests := []struct {
		query string
		code  int
	}{
		{"", 400},
		{"from=0", 400},
		{"to=0", 400},
		{"from=x&to=1", 400},
		{"from=-1&to=1", 400},
		{"from=2&to=1", 400},
		{fmt.Sprintf("from=0&to=%d", l.Epoch+1), 400},
		{"from=0&to=99999999999999999999", 400},
		{fmt.Sprintf("from=0&to=%d", l.Epoch), 200},
		{fmt.Sprintf("from=%d&to=%d", l.Epoch, l.Epoch), 200},
	}
	for _, tc := range tests {
		code, er := rawRequest(t, "GET", ks.URL+"/v1/keylog/changes?"+tc.query, nil, "alice", 1, alice.key, time.Now())
		if code != tc.code {
			t.Errorf("changes?%s: %d %+v, want %d", tc.query, code, er, tc.code)
		}
	}
	for _, p := range []string{"/v1/keylog/changes?from=0&to=0", "/v1/keylog/own"} {
		if code, _, _ := httpGet(t, ks.URL+p); code != http.StatusUnauthorized {
			t.Fatalf("unauthenticated %s: %d", p, code)
		}
	}
}

func TestKeyLogChangesRateLimited(t *testing.T) {
	ks := startKeyLogServer(t, server.Config{Limits: server.Limits{KeyLogPerMin: 3}}, time.Hour)
	alice := register(t, ks.URL, "alice", "")
	n := 0
	var err error
	for ; n < 10; n++ {
		if n%2 == 0 {
			_, err = alice.KeyLogChanges(context.Background(), 0, 0)
		} else {
			_, err = alice.KeyLogOwn(context.Background())
		}
		if errors.Is(err, apiclient.ErrRateLimited) {
			break
		}
	}
	if n != 3 {
		t.Fatalf("rate limited after %d requests (%v), want 3", n, err)
	}
}
