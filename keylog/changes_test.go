package keylog_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"backchannel/entropy"
	"backchannel/keylog"
	"backchannel/keylog/prefix"
	"backchannel/store"
)

// leafOf recomputes a lookup's index and leaf hash as a client would.
func leafOf(t testing.TB, l *keylog.Log, name string, lk *keylog.Lookup) (prefix.Hash, prefix.Hash) {
	t.Helper()
	index, err := prefix.VerifyVRF(l.Info().VRFKey, name, lk.VRFProof)
	if err != nil {
		t.Fatal(err)
	}
	c, err := prefix.CheckedCommitment(lk.Nonce, lk.Version, listHash(name, lk.Version))
	if err != nil {
		t.Fatal(err)
	}
	return index, prefix.LeafHash(index, lk.Updates, c)
}

// verifyChanged checks a lookup's listing proof the way step 8 of "What a
// client verifies" does, and returns the epoch that lists the leaf.
func verifyChanged(t testing.TB, l *keylog.Log, name string, lk *keylog.Lookup) uint64 {
	t.Helper()
	v, err := note.NewVerifier(l.Info().LogKey)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, _, err := tlog.ParseCheckpoint([]byte(lk.Checkpoint), l.Info().Origin, v)
	if err != nil {
		t.Fatal(err)
	}
	ch := lk.Changed
	if ch == nil {
		t.Fatalf("lookup of %s has no listing", name)
		return 0
	}
	if ch.Epoch > lk.Epoch {
		t.Fatalf("%s listed at epoch %d after the lookup's %d", name, ch.Epoch, lk.Epoch)
	}
	e, err := prefix.ParseEntry(ch.Entry)
	if err != nil || e.Epoch != ch.Epoch {
		t.Fatalf("listing entry of %s: %v (epoch %d)", name, err, e.Epoch)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, ch.Epoch, cp.Size, rfc6962.DefaultHasher.HashLeaf(ch.Entry), ch.Inclusion, cp.Hash); err != nil {
		t.Fatalf("inclusion of epoch %d in the checkpoint of size %d: %v", ch.Epoch, cp.Size, err)
	}
	index, leaf := leafOf(t, l, name, lk)
	path := make([]prefix.Hash, len(ch.Path))
	for i, p := range ch.Path {
		if path[i], err = prefix.HashFromBytes(p); err != nil {
			t.Fatal(err)
		}
	}
	if !prefix.VerifyChange(prefix.Change{Index: index, Leaf: leaf}, ch.Position, int(e.Changes), path, e.ChangesRoot) {
		t.Fatalf("change proof of %s at epoch %d position %d of %d does not verify", name, ch.Epoch, ch.Position, e.Changes)
	}
	return ch.Epoch
}

// allChanges reads every change list of epochs 0 … the latest through
// Changes, folds the head chain and checks it against the latest entry's head.
func allChanges(t testing.TB, l *keylog.Log) map[uint64][]prefix.Change {
	t.Helper()
	ctx := context.Background()
	latest, ok := l.Latest()
	if !ok {
		t.Fatal("no epoch")
	}
	to := latest.Entry.Epoch
	out := make(map[uint64][]prefix.Change)
	head := prefix.Empty
	last := int64(-1)
	for from := uint64(0); from <= to; {
		page, err := l.Changes(ctx, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if page.Through < from || page.Through > to {
			t.Fatalf("page from %d to %d through %d", from, to, page.Through)
		}
		for _, r := range page.Records {
			if int64(r.Epoch) <= last || r.Epoch < from || r.Epoch > page.Through {
				t.Fatalf("record of epoch %d out of order or range", r.Epoch)
			}
			last = int64(r.Epoch)
			var cs []prefix.Change
			for _, b := range r.Changes {
				c, err := prefix.ParseChange(b)
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, c)
			}
			if err := prefix.CheckChanges(cs); err != nil {
				t.Fatalf("epoch %d: %v", r.Epoch, err)
			}
			head = prefix.NextHead(head, r.Epoch, cs)
			out[r.Epoch] = cs
		}
		from = page.Through + 1
	}
	if head != latest.Entry.Head {
		t.Fatalf("the served change lists fold to head %x, entry %d has %x", head[:4], to, latest.Entry.Head[:4])
	}
	return out
}

// listings returns the epochs whose changes hold index, with the leaf hashes listed.
func listings(all map[uint64][]prefix.Change, index prefix.Hash) map[uint64]prefix.Hash {
	out := make(map[uint64]prefix.Hash)
	for e, cs := range all {
		for _, c := range cs {
			if c.Index == index {
				out[e] = c.Leaf
			}
		}
	}
	return out
}

func TestChangesListedExactly(t *testing.T) {
	e := newEnv(t)
	e.account("alice", 3)
	e.account("bob", 1)
	l := e.mustOpen(keylog.Config{Heartbeat: time.Hour, EpochDelay: 300 * time.Millisecond})
	ctx := context.Background()
	for _, u := range []struct {
		name string
		v    uint64
	}{{"alice", 1}, {"bob", 1}} {
		if err := l.Update(ctx, u.name, u.v, listHash(u.name, u.v)); err != nil {
			t.Fatal(err)
		}
	}
	first := waitVersion(t, l, "bob", 1)
	e1 := first.Epoch
	// Two updates of alice in one epoch: one change, with the final leaf.
	for v := uint64(2); v <= 3; v++ {
		if err := l.Update(ctx, "alice", v, listHash("alice", v)); err != nil {
			t.Fatal(err)
		}
	}
	alice := waitVersion(t, l, "alice", 3)
	bob, err := l.Lookup(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	all := allChanges(t, l)
	aIdx, aLeaf := leafOf(t, l, "alice", alice)
	bIdx, bLeaf := leafOf(t, l, "bob", bob)

	if len(all[e1]) != 2 {
		t.Fatalf("epoch %d lists %d changes, want alice and bob", e1, len(all[e1]))
	}
	al := listings(all, aIdx)
	if len(al) != 2 || al[alice.Epoch] != aLeaf {
		t.Fatalf("alice listed at %v, want epoch %d (v1) and epoch %d with her final leaf", al, e1, alice.Epoch)
	}
	if len(all[alice.Epoch]) != 1 {
		t.Fatalf("epoch %d lists %d changes: an unchanged account was listed", alice.Epoch, len(all[alice.Epoch]))
	}
	if bl := listings(all, bIdx); len(bl) != 1 || bl[e1] != bLeaf {
		t.Fatalf("bob listed at %v, want only epoch %d", bl, e1)
	}
	if got := verifyChanged(t, l, "alice", alice); got != alice.Epoch {
		t.Fatalf("alice's lookup names epoch %d", got)
	}
	if got := verifyChanged(t, l, "bob", bob); got != e1 || bob.Changed.Epoch == bob.Epoch {
		t.Fatalf("bob's lookup names epoch %d, want the earlier %d", got, e1)
	}
	// The epochs without changes have no record; their entries say k = 0.
	for ep := range alice.Epoch + 1 {
		if _, ok := all[ep]; !ok {
			lk, err := l.LookupAt(ctx, "bob", ep, alice.Epoch+1)
			if err == nil {
				en, _ := prefix.ParseEntry(lk.Entry)
				if en.Changes != 0 {
					t.Fatalf("epoch %d has k=%d and no record", ep, en.Changes)
				}
			}
		}
	}
	// An earlier lookup (alice at v1, epoch e1) proves its own, earlier listing.
	at, err := l.LookupAt(ctx, "alice", e1, alice.Epoch+1)
	if err != nil {
		t.Fatal(err)
	}
	if at.Version != 1 || verifyChanged(t, l, "alice", at) != e1 {
		t.Fatalf("alice at epoch %d: version %d", e1, at.Version)
	}

	// Own states: every state recorded, v1..v3, even v2 that no epoch showed.
	own, err := l.OwnStates(ctx, "alice")
	if err != nil || len(own) != 3 || own[0].Updates != 1 || own[2].Updates != 3 || own[2].Version != 3 || len(own[1].Nonce) != 32 {
		t.Fatalf("own states %+v, %v", own, err)
	}
	if none, err := l.OwnStates(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Fatalf("own states of nobody: %+v, %v", none, err)
	}
}

func TestChangesRange(t *testing.T) {
	e := newEnv(t)
	l := e.mustOpen(keylog.Config{Heartbeat: time.Hour})
	latest, _ := l.Latest()
	n := latest.Entry.Epoch
	ctx := context.Background()
	for _, r := range [][2]uint64{{0, n + 1}, {n + 1, n + 1}, {1, 0}, {0, 1 << 63}} {
		if _, err := l.Changes(ctx, r[0], r[1]); !errors.Is(err, keylog.ErrRange) {
			t.Fatalf("Changes(%d, %d): %v, want ErrRange", r[0], r[1], err)
		}
	}
	page, err := l.Changes(ctx, 0, n)
	if err != nil || page.Through != n || page.Records == nil || len(page.Records) != 0 {
		t.Fatalf("an empty log's changes: %+v, %v", page, err)
	}
}

func TestChangesPaging(t *testing.T) {
	e := newEnv(t)
	names := []string{"a", "b", "c", "d", "e"}
	for _, n := range names {
		e.account(n, 1)
	}
	l := e.mustOpen(keylog.Config{ChangesPageSize: 2, Heartbeat: time.Hour, EpochDelay: 5 * time.Millisecond})
	ctx := context.Background()
	for _, n := range names { // one epoch each, mostly
		if err := l.Update(ctx, n, 1, listHash(n, 1)); err != nil {
			t.Fatal(err)
		}
		waitVersion(t, l, n, 1)
	}
	latest, _ := l.Latest()
	page, err := l.Changes(ctx, 0, latest.Entry.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	if page.Through >= latest.Entry.Epoch || len(page.Records) == 0 || page.Through != page.Records[len(page.Records)-1].Epoch {
		t.Fatalf("first page through %d of %d with %d records: did not stop early", page.Through, latest.Entry.Epoch, len(page.Records))
	}
	all := allChanges(t, l) // pages to the end and checks the head
	total := 0
	for _, cs := range all {
		total += len(cs)
	}
	if total != len(names) {
		t.Fatalf("%d changes over all pages, want %d", total, len(names))
	}
}

// A restart lists what changed while the log was down, keeps the listings
// of what did not, ignores a change list stored for an epoch that was never
// appended, and continues the head chain.
func TestChangesAcrossRestart(t *testing.T) {
	e := newEnv(t)
	e.account("alice", 2)
	e.account("bob", 1)
	l := e.mustOpen(keylog.Config{Heartbeat: time.Hour})
	ctx := context.Background()
	for _, n := range []string{"alice", "bob"} {
		if err := l.Update(ctx, n, 1, listHash(n, 1)); err != nil {
			t.Fatal(err)
		}
		waitVersion(t, l, n, 1)
	}
	bobBefore, _ := l.Lookup(ctx, "bob")
	closeLog(t, l)
	latest, _ := l.Latest()
	down := latest.Entry.Epoch + 1 // the first epoch after the restart

	// While down: alice's leaf moves to v2 in the store (recorded, never
	// published), and a crash left a change list for epoch `down` whose
	// entry was never appended.
	aIdx, _ := leafOf(t, l, "alice", waitVersionNoFail(t, l, "alice"))
	var nonce [32]byte
	if err := (entropy.System{}).Bytes(nonce[:]); err != nil {
		t.Fatal(err)
	}
	lh := listHash("alice", 2)
	if _, _, err := e.st.PutKeyLogLeaf(ctx, store.KeyLogLeaf{Account: "alice", Index: aIdx[:], Version: 2, Nonce: nonce[:], ListHash: lh[:]}); err != nil {
		t.Fatal(err)
	}
	stale := prefix.Change{Index: prefix.Hash{1}, Leaf: sha256.Sum256([]byte("never published"))}
	if err := e.st.PutKeyLogChanges(ctx, down, stale.Bytes()); err != nil {
		t.Fatal(err)
	}

	l2 := e.mustOpen(keylog.Config{Heartbeat: time.Hour})
	alice := waitVersion(t, l2, "alice", 2)
	if alice.Epoch != down {
		t.Fatalf("alice v2 published at epoch %d, want the first after the restart, %d", alice.Epoch, down)
	}
	all := allChanges(t, l2) // the head chain continues across the restart
	if cs := all[down]; len(cs) != 1 || cs[0].Index != aIdx {
		t.Fatalf("epoch %d lists %d changes, want alice's only", down, len(cs))
	}
	if verifyChanged(t, l2, "alice", alice) != down {
		t.Fatal("alice's listing")
	}
	bob, err := l2.Lookup(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if got := verifyChanged(t, l2, "bob", bob); got != bobBefore.Changed.Epoch {
		t.Fatalf("bob listed at %d after the restart, %d before", got, bobBefore.Changed.Epoch)
	}

	// A change list the store lost is found at the next start.
	closeLog(t, l2)
	if err := e.st.DeleteKeyLogChanges(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.open(keylog.Config{}); !errors.Is(err, keylog.ErrCorrupt) {
		t.Fatalf("open without the change lists: %v, want ErrCorrupt", err)
	}
}

// waitVersionNoFail returns the last lookup a closed log answered (its
// published epoch stays readable).
func waitVersionNoFail(t testing.TB, l *keylog.Log, name string) *keylog.Lookup {
	t.Helper()
	lk, err := l.Lookup(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return lk
}

// A log that holds a format 1 entry is refused with a plain message.
func TestOldFormatLogRefused(t *testing.T) {
	e := newEnv(t)
	skey, vkey, err := note.GenerateKey(nil, keylog.Origin("old.example"))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	b, err := keylog.NewPOSIX(filepath.Join(t.TempDir(), "tiles"), signer, verifier, keylog.POSIXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old := append([]byte{1}, make([]byte, 56)...) // epoch 0, no leaves: a valid format 1 entry
	if _, _, err := b.Append(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	_, err = e.open(keylog.Config{Backend: b})
	if !errors.Is(err, keylog.ErrOldFormat) {
		t.Fatalf("open over a format 1 log: %v", err)
	}
	if want := "this key log was written by an older version; start the server with a new data directory"; !strings.Contains(err.Error(), want) {
		t.Fatalf("message %q does not say %q", err, want)
	}
}
