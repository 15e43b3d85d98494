package keylog

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"backchannel/entropy"
	"backchannel/keylog/prefix"
	"backchannel/store"
	"backchannel/store/sqlite"
)

// failAfterAppend is a Backend whose next Append, once armed, adds the entry
// and then fails as if reading the checkpoint had failed.
type failAfterAppend struct {
	Backend
	armed   atomic.Bool
	appends atomic.Int64
}

func (f *failAfterAppend) Append(ctx context.Context, entry []byte) (uint64, []byte, error) {
	idx, cp, err := f.Backend.Append(ctx, entry)
	f.appends.Add(1)
	if err == nil && f.armed.Swap(false) {
		return idx, nil, fmt.Errorf("%w: read checkpoint: injected failure", ErrSequenced)
	}
	return idx, cp, err
}

// A failure after the entry got its index (a checkpoint read, a cancelled
// wait) must not stall the log: the epoch stays sequenced, no second entry
// claims it, and the update becomes visible at the next epoch, listed where
// it really is (review finding: the log used to retry the same epoch for ever
// and fill the log with entries naming it).
func TestFailureAfterSequencingDoesNotStallTheLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.OpenDir(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kdir := filepath.Join(dir, "keylog")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		t.Fatal(err)
	}
	origin := Origin("seq.example")
	signer, vkey, err := loadLogKey(kdir, "", origin, entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := NewPOSIX(filepath.Join(kdir, TilesDir), signer, verifier, POSIXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fb := &failAfterAppend{Backend: inner}
	l, err := Open(ctx, Config{Dir: kdir, Store: st, DefaultOrigin: origin, EpochDelay: 20 * time.Millisecond, Heartbeat: time.Hour, Backend: fb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		l.Close(cctx)
	})
	list := func(v uint64) []byte { return fmt.Appendf(nil, "alice v%d", v) }
	a := store.Account{Name: "alice", IdentityKey: []byte("ik"), CreatedAt: time.Now()}
	d := store.Device{User: "alice", ID: 1, SigningKey: []byte("k"), CreatedAt: time.Now()}
	if err := st.CreateAccount(ctx, a, d, list(1), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, "alice", 1, sha256.Sum256(list(1))); err != nil {
		t.Fatal(err)
	}
	wait := func(v uint64) *Lookup {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); ; {
			lk, err := l.Lookup(ctx, "alice")
			if err == nil && lk.Version == v {
				return lk
			}
			if time.Now().After(deadline) {
				t.Fatalf("alice never reached version %d (%v)", v, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait(1)
	fb.armed.Store(true)
	if err := st.PutDeviceList(ctx, "alice", 2, list(2), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(ctx, "alice", 2, sha256.Sum256(list(2))); err != nil {
		t.Fatal(err)
	}
	lk := wait(2)
	if fb.armed.Load() {
		t.Fatal("the failure was never injected")
	}
	size, err := inner.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fb.appends.Load(); uint64(got) != size {
		t.Fatalf("%d appends for a log of %d entries", got, size)
	}
	// Every entry names its own index (no second entry claims an epoch), and
	// v2 is listed in the epoch whose serving failed.
	for i := uint64(0); i < size; i++ {
		at, err := l.LookupAt(ctx, "alice", i, size)
		if err != nil {
			continue // epochs before alice existed, or not retained
		}
		e, err := prefix.ParseEntry(at.Entry)
		if err != nil || e.Epoch != i {
			t.Fatalf("log index %d holds epoch %d (%v)", i, e.Epoch, err)
		}
	}
	if lk.Changed == nil || lk.Changed.Epoch >= lk.Epoch {
		t.Fatalf("v2 listed at %+v, want an epoch before the one that serves it (%d)", lk.Changed, lk.Epoch)
	}
	ce, err := prefix.ParseEntry(lk.Changed.Entry)
	if err != nil || ce.Epoch != lk.Changed.Epoch || ce.Changes != 1 {
		t.Fatalf("listing entry %+v (%v)", ce, err)
	}
}
