package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"backchannel/store"
)

func digest(s string) []byte { d := make([]byte, 32); copy(d, s); return d }

func pendingCount(t *testing.T, s store.Store, to store.Address) int {
	t.Helper()
	msgs, err := s.Pending(context.Background(), to, 0, 1000)
	must(t, err)
	return len(msgs)
}

func wantRollback(t *testing.T, err error, counter uint64) {
	t.Helper()
	var rb *store.RollbackError
	if !errors.Is(err, store.ErrRollback) || !errors.As(err, &rb) || rb.Counter != counter {
		t.Fatalf("got %v, want a rollback at stored counter %d", err, counter)
	}
}

func testSendCounter(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	env := []store.Envelope{{To: bob, Data: []byte("m")}}
	send := func(counter uint64, d string) error {
		_, err := s.EnqueueCounted(ctx, alice, counter, digest(d), env, epoch, 0)
		return err
	}
	counter := func() uint64 {
		t.Helper()
		c, err := s.SendCounter(ctx, alice)
		must(t, err)
		return c
	}
	if c := counter(); c != 0 {
		t.Fatalf("fresh device counter %d", c)
	}
	_, err := s.SendCounter(ctx, store.Address{User: "alice", Device: 9})
	wantErr(t, err, store.ErrNotFound)
	_, err = s.EnqueueCounted(ctx, store.Address{User: "alice", Device: 9}, 1, digest("x"), env, epoch, 0)
	wantErr(t, err, store.ErrNotFound)

	// A device that does not count yet sends under 0, as often as it likes.
	must(t, send(0, "a"))
	must(t, send(0, "b"))
	if c := counter(); c != 0 {
		t.Fatalf("counter after uncounted sends %d", c)
	}
	steps := []struct {
		name    string
		counter uint64
		digest  string
		ok      bool
		stored  uint64 // the counter afterwards
	}{
		{"first counted batch", 5, "five", true, 5},
		{"retransmission after a lost reply", 5, "five", true, 5},
		{"same counter, another batch", 5, "other", false, 5},
		{"lower counter", 4, "four", false, 5},
		{"zero after counting", 0, "zero", false, 5},
		{"higher counter", 6, "six", true, 6},
		{"the previous batch again", 5, "five", false, 6},
		{"a jump", 100, "hundred", true, 100},
	}
	for _, st := range steps {
		before := pendingCount(t, s, bob)
		err := send(st.counter, st.digest)
		if st.ok {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if pendingCount(t, s, bob) != before+1 {
				t.Fatalf("%s: accepted but not enqueued", st.name)
			}
		} else {
			wantRollback(t, err, st.stored)
			if pendingCount(t, s, bob) != before {
				t.Fatalf("%s: refused but enqueued", st.name)
			}
		}
		if c := counter(); c != st.stored {
			t.Fatalf("%s: stored counter %d, want %d", st.name, c, st.stored)
		}
	}
	// Counters are per device: bob starts from zero.
	_, err = s.EnqueueCounted(ctx, bob, 1, digest("b1"), []store.Envelope{{To: alice, Data: []byte("x")}}, epoch, 0)
	must(t, err)
	// A batch that fails (mailbox full, unknown recipient) advances nothing.
	_, err = s.EnqueueCounted(ctx, alice, 101, digest("full"), env, epoch, 1)
	wantErr(t, err, store.ErrMailboxFull)
	_, err = s.EnqueueCounted(ctx, alice, 101, digest("nobody"), []store.Envelope{{To: store.Address{User: "nobody", Device: 1}, Data: []byte("x")}}, epoch, 0)
	wantErr(t, err, store.ErrNotFound)
	if c := counter(); c != 100 {
		t.Fatalf("a failed batch moved the counter to %d", c)
	}
	// A removed device's counter goes with it.
	must(t, s.AddDevice(ctx, store.Device{User: "alice", ID: 2, SigningKey: []byte("k2"), CreatedAt: epoch}))
	two := store.Address{User: "alice", Device: 2}
	_, err = s.EnqueueCounted(ctx, two, 3, digest("x"), env, epoch, 0)
	must(t, err)
	must(t, s.RemoveDevice(ctx, "alice", 2))
	_, err = s.SendCounter(ctx, two)
	wantErr(t, err, store.ErrNotFound)
}

// testSendCounterConcurrent: batches racing under one counter with
// different contents: exactly one is stored.
func testSendCounterConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	for round := uint64(1); round <= 5; round++ {
		const racers = 8
		var wg sync.WaitGroup
		errs := make([]error, racers)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := fmt.Sprint("round", round, "racer", i)
				_, errs[i] = s.EnqueueCounted(ctx, alice, round, digest(d), []store.Envelope{{To: bob, Data: []byte(d)}}, epoch, 0)
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				wantRollback(t, err, round)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d batches won", round, won)
		}
		if n := pendingCount(t, s, bob); n != int(round) {
			t.Fatalf("round %d: %d messages stored", round, n)
		}
	}
}
