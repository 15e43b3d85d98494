package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// counterObject is a decoded record a caller may change (as a session is).
type counterObject struct{ n int }

func (c *counterObject) Marshal() []byte { return fmt.Appendf(nil, "n=%d", c.n) }

func newObjectVault(t *testing.T) *Vault {
	t.Helper()
	v, err := Create(context.Background(), filepath.Join(t.TempDir(), "p.db"), []byte("pw"), fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// checkCoherent fails if an object kept for name is not what the record
// holds, and puts it back.
func checkCoherent(t *testing.T, v *Vault, name string) (kept bool) {
	t.Helper()
	obj, ok := v.Take(name)
	if !ok {
		return false
	}
	raw, err := v.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("%s: an object is kept for a record that cannot be read: %v", name, err)
	}
	if !bytes.Equal(raw, obj.Marshal()) {
		t.Fatalf("%s: the kept object says %q, the record %q", name, obj.Marshal(), raw)
	}
	if err := v.Update(context.Background(), func(tx *Tx) error { return tx.PutObject(context.Background(), name, obj) }); err != nil {
		t.Fatal(err)
	}
	return true
}

func TestKeptObjects(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		// steps run one transaction each; the last says whether it fails.
		steps    []func(tx *Tx, obj *counterObject) error
		wantKept bool
	}{
		{"PutObject, committed", []func(*Tx, *counterObject) error{
			func(tx *Tx, o *counterObject) error { return tx.PutObject(ctx, "s", o) },
		}, true},
		{"PutObject, transaction failed", []func(*Tx, *counterObject) error{
			func(tx *Tx, o *counterObject) error { tx.PutObject(ctx, "s", o); return boom },
		}, false},
		{"PutObject then Put in one transaction", []func(*Tx, *counterObject) error{
			func(tx *Tx, o *counterObject) error {
				tx.PutObject(ctx, "s", o)
				return tx.Put(ctx, "s", []byte("other"))
			},
		}, false},
		{"Put then PutObject in one transaction", []func(*Tx, *counterObject) error{
			func(tx *Tx, o *counterObject) error {
				tx.Put(ctx, "s", []byte("other"))
				return tx.PutObject(ctx, "s", o)
			},
		}, true},
		{"kept, then written by another transaction", []func(*Tx, *counterObject) error{
			func(tx *Tx, o *counterObject) error { return tx.PutObject(ctx, "s", o) },
			func(tx *Tx, o *counterObject) error { return tx.Put(ctx, "s", []byte("rewritten")) },
		}, false},
		{"kept, then written by a transaction that failed", []func(*Tx, *counterObject) error{
			func(tx *Tx, o *counterObject) error { return tx.PutObject(ctx, "s", o) },
			func(tx *Tx, o *counterObject) error { tx.Put(ctx, "s", []byte("rewritten")); return boom },
		}, false}, // dropped when the write was accepted; a miss is safe
		{"kept, then deleted", []func(*Tx, *counterObject) error{
			func(tx *Tx, o *counterObject) error { return tx.PutObject(ctx, "s", o) },
			func(tx *Tx, o *counterObject) error { return tx.Delete(ctx, "s") },
		}, false},
		{"kept, another record written", []func(*Tx, *counterObject) error{
			func(tx *Tx, o *counterObject) error { return tx.PutObject(ctx, "s", o) },
			func(tx *Tx, o *counterObject) error { return tx.Put(ctx, "s/previous", []byte("x")) },
		}, true},
		{"kept, then a transaction that writes nothing", []func(*Tx, *counterObject) error{
			func(tx *Tx, o *counterObject) error { return tx.PutObject(ctx, "s", o) },
			func(tx *Tx, o *counterObject) error { return nil },
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newObjectVault(t)
			obj := &counterObject{n: 1}
			for i, step := range tc.steps {
				v.Update(ctx, func(tx *Tx) error { return step(tx, obj) })
				if i == 0 {
					obj = &counterObject{n: obj.n + 1} // the caller goes on with another object
				}
			}
			if got := checkCoherent(t, v, "s"); got != tc.wantKept {
				t.Fatalf("kept = %v, want %v", got, tc.wantKept)
			}
		})
	}
}

func TestTakeHandsAnObjectBackOnce(t *testing.T) {
	ctx := context.Background()
	v := newObjectVault(t)
	obj := &counterObject{n: 7}
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutObject(ctx, "s", obj) }); err != nil {
		t.Fatal(err)
	}
	got, ok := v.Take("s")
	if !ok || got != obj {
		t.Fatalf("Take = %v, %v; want the object put", got, ok)
	}
	got.(*counterObject).n = 8 // the holder changes it: it must not be handed out again
	if _, ok := v.Take("s"); ok {
		t.Fatal("a taken object was handed out a second time")
	}
	raw, _ := v.Get(ctx, "s")
	if string(raw) != "n=7" {
		t.Fatalf("record = %q", raw)
	}
}

func TestCommitThatFailsKeepsNothing(t *testing.T) {
	v := newObjectVault(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := v.Update(ctx, func(tx *Tx) error {
		if err := tx.PutObject(ctx, "s", &counterObject{n: 1}); err != nil {
			return err
		}
		cancel() // database/sql rolls the transaction back; Commit fails
		return nil
	})
	if err == nil {
		// database/sql rolls back a transaction whose context is cancelled.
		t.Fatal("a transaction whose context was cancelled committed")
	}
	if _, ok := v.Take("s"); ok {
		t.Fatal("an object was kept from a transaction that did not commit")
	}
	if _, err := v.Get(context.Background(), "s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("record after a failed commit: %v", err)
	}
}

// TestKeptObjectsUnderConcurrentWriters runs transactions that write one
// record at once, some with objects, some without, some failing; whatever
// is kept at the end must be what the record holds.
func TestKeptObjectsUnderConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	v := newObjectVault(t)
	boom := errors.New("boom")
	const writers, rounds = 4, 40
	for round := range rounds {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				obj := &counterObject{n: round*writers + w}
				v.Update(ctx, func(tx *Tx) error {
					switch (round + w) % 3 {
					case 0:
						return tx.PutObject(ctx, "s", obj)
					case 1:
						return tx.Put(ctx, "s", obj.Marshal())
					default:
						tx.PutObject(ctx, "s", obj)
						return boom
					}
				})
			}()
			if obj, ok := v.Take("s"); ok {
				// A reader that takes the object and puts it back changed.
				o := obj.(*counterObject)
				o2 := &counterObject{n: o.n + 1000}
				v.Update(ctx, func(tx *Tx) error { return tx.PutObject(ctx, "s", o2) })
			}
		}
		wg.Wait()
		checkCoherent(t, v, "s")
	}
}

func TestKeptObjectsAreBounded(t *testing.T) {
	ctx := context.Background()
	v := newObjectVault(t)
	for i := range MaxObjects + 20 {
		name := fmt.Sprintf("s/%d", i)
		if err := v.Update(ctx, func(tx *Tx) error { return tx.PutObject(ctx, name, &counterObject{n: i}) }); err != nil {
			t.Fatal(err)
		}
	}
	if v.Kept() != MaxObjects {
		t.Fatalf("kept %d objects, want at most %d", v.Kept(), MaxObjects)
	}
	if _, ok := v.Take("s/0"); ok {
		t.Fatal("the least recently kept object was not the one dropped")
	}
	if _, ok := v.Take(fmt.Sprintf("s/%d", MaxObjects+19)); !ok {
		t.Fatal("the most recent object was dropped")
	}
	if len(v.objs.gen) != 0 {
		t.Fatalf("%d write generations left behind after every transaction settled", len(v.objs.gen))
	}
	v.Close()
	if v.Kept() != 0 {
		t.Fatal("Close kept objects")
	}
}

func TestPanicInTransactionKeepsNothingAndFreesTheVault(t *testing.T) {
	ctx := context.Background()
	v := newObjectVault(t)
	func() {
		defer func() { recover() }()
		v.Update(ctx, func(tx *Tx) error {
			tx.PutObject(ctx, "s", &counterObject{n: 1})
			panic("a bug in the caller")
		})
	}()
	if _, ok := v.Take("s"); ok {
		t.Fatal("an object was kept from a transaction that panicked")
	}
	done := make(chan error, 1)
	go func() { done <- v.Put(ctx, "other", []byte("x")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the vault is stuck in the transaction that panicked")
	}
	if _, err := v.Get(ctx, "s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the panicked transaction's write: %v", err)
	}
}

// bigObject is an object whose record is n bytes.
type bigObject struct{ n int }

func (b *bigObject) Marshal() []byte { return make([]byte, b.n) }

func TestKeptObjectsAreBoundedInBytes(t *testing.T) {
	ctx := context.Background()
	v := newObjectVault(t)
	size := MaxObjectBytes / 16
	for i := range 20 {
		name := fmt.Sprintf("s/%d", i)
		if err := v.Update(ctx, func(tx *Tx) error { return tx.PutObject(ctx, name, &bigObject{n: size}) }); err != nil {
			t.Fatal(err)
		}
	}
	if v.Kept() != 16 || v.objs.size != 16*size {
		t.Fatalf("kept %d objects of %d bytes in all, want 16 within %d", v.Kept(), v.objs.size, MaxObjectBytes)
	}
	if _, ok := v.Take("s/3"); ok {
		t.Fatal("an old object was kept over the byte bound")
	}
	if err := v.Update(ctx, func(tx *Tx) error { return tx.PutObject(ctx, "huge", &bigObject{n: size + 1}) }); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Take("huge"); ok {
		t.Fatal("an object over the per-object bound was kept")
	}
	if v.Kept() != 16 || v.objs.size != 16*size {
		t.Fatalf("after a refused object: %d objects, %d bytes", v.Kept(), v.objs.size)
	}
	if _, ok := v.Take("s/19"); !ok || v.objs.size != 15*size {
		t.Fatalf("taking an object left %d bytes counted", v.objs.size)
	}
}
