package live

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"backchannel/client"
	"backchannel/server/apiclient"
)

// fakeFollower scripts what the server does: each Follow call plays one
// episode (connect, deliver reports, then fail with err).
type fakeFollower struct {
	mu       sync.Mutex
	episodes []episode
	syncs    int
}

type episode struct {
	syncErr error
	up      bool
	reports int
	flaps   int   // the stream drops and comes back inside Follow this often
	err     error // what Follow returns (nil: block until ctx ends)
}

func (f *fakeFollower) next() (episode, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.episodes) == 0 {
		return episode{}, false
	}
	e := f.episodes[0]
	f.episodes = f.episodes[1:]
	return e, true
}

func (f *fakeFollower) Sync(ctx context.Context) (*client.SyncReport, error) {
	f.mu.Lock()
	f.syncs++
	var err error
	if len(f.episodes) > 0 {
		err = f.episodes[0].syncErr
		if err != nil {
			f.episodes = f.episodes[1:]
		}
	}
	f.mu.Unlock()
	return &client.SyncReport{}, err
}

func (f *fakeFollower) FollowWatched(ctx context.Context, onReport func(*client.SyncReport), onStream func(bool, error)) error {
	e, ok := f.next()
	if !ok {
		<-ctx.Done()
		return ctx.Err()
	}
	if e.up {
		onStream(true, nil)
	}
	for i := 0; i < e.reports; i++ {
		onReport(&client.SyncReport{Received: 1})
	}
	for i := 0; i < e.flaps; i++ {
		onStream(false, errors.New("connection reset"))
		onStream(true, nil)
	}
	if e.err == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	return e.err
}

func collect(t *testing.T, ch <-chan Event, n int) []Event {
	t.Helper()
	var got []Event
	deadline := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case ev := <-ch:
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("got %d events, want %d: %+v", len(got), n, got)
		}
	}
	return got
}

func TestStatesFollowTheConnection(t *testing.T) {
	f := &fakeFollower{episodes: []episode{
		{up: true, reports: 2, err: errors.New("connection reset")},
		{syncErr: errors.New("dial tcp: connection refused")},
		{up: true, reports: 1},
	}}
	h := New(f)
	ch, stop := h.Subscribe()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	got := collect(t, ch, 6)
	var trail []string
	for _, ev := range got {
		if ev.Report != nil {
			trail = append(trail, fmt.Sprintf("report(%d)", ev.Report.Received))
		} else {
			trail = append(trail, string(ev.State))
		}
	}
	want := []string{"connected", "report(1)", "report(1)", "reconnecting", "connected", "report(1)"}
	if fmt.Sprint(trail) != fmt.Sprint(want) {
		t.Errorf("events %v, want %v", trail, want)
	}
	if st, reason := h.State(); st != StateConnected || reason != "" {
		t.Errorf("state %q (%q), want connected", st, reason)
	}
	if got[3].Reason != "the server cannot be reached" {
		t.Errorf("reconnecting reason %q", got[3].Reason)
	}
	// Every connection after a drop began with a sync (the outbox goes
	// out): the first, and the two attempts after the drop.
	f.mu.Lock()
	syncs := f.syncs
	f.mu.Unlock()
	if syncs < 3 {
		t.Errorf("%d syncs, want one per connection attempt", syncs)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

// A refused device is not retried: the hub says so and returns.
func TestRefusedIsFinal(t *testing.T) {
	f := &fakeFollower{episodes: []episode{{up: true, err: fmt.Errorf("stream: %w", apiclient.ErrUnauthorized)}}}
	h := New(f)
	ch, stop := h.Subscribe()
	defer stop()
	err := h.Run(context.Background())
	if !errors.Is(err, apiclient.ErrUnauthorized) {
		t.Fatalf("Run returned %v, want the refusal", err)
	}
	got := collect(t, ch, 2)
	if got[1].State != StateRefused || got[1].Reason != "the server refused this device" {
		t.Errorf("last event %+v, want refused", got[1])
	}
}

// A watcher that does not read never blocks the hub; it loses the oldest
// events and is told how many.
func TestSlowWatcherIsToldWhatItMissed(t *testing.T) {
	h := New(&fakeFollower{})
	ch, stop := h.Subscribe()
	defer stop()
	total := watcherBuffer + 10
	finished := make(chan struct{})
	go func() {
		for i := 0; i < total; i++ {
			h.Changed()
		}
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("publishing blocked on a watcher that does not read")
	}
	got := collect(t, ch, watcherBuffer)
	missed := 0
	for _, ev := range got {
		missed += ev.Missed
		if !ev.Local {
			t.Fatalf("Changed published a non-local event: %+v", ev)
		}
	}
	if missed+len(got) != total {
		t.Errorf("received %d and told of %d missed, want %d in all", len(got), missed, total)
	}
}

func TestUnsubscribeClosesAndStopsDelivery(t *testing.T) {
	h := New(&fakeFollower{})
	ch, stop := h.Subscribe()
	stop()
	stop() // twice is harmless
	h.Changed()
	if _, ok := <-ch; ok {
		t.Error("an event reached an ended subscription")
	}
}

// What the server brought in the background is counted for the next
// explicit sync; local changes are not.
func TestTakeArrived(t *testing.T) {
	h := New(&fakeFollower{})
	h.publish(Event{Report: &client.SyncReport{Received: 2, New: []client.Stored{{Room: "r", ID: "a"}, {Room: "r", ID: "b"}}, Warnings: []string{"w"}}})
	h.Changed()
	h.publish(Event{Report: &client.SyncReport{Received: 1, New: []client.Stored{{Room: "r", ID: "c"}}}})
	a := h.TakeArrived()
	if a.Received != 3 || len(a.New) != 3 || a.New[2].ID != "c" || len(a.Warnings) != 1 {
		t.Errorf("arrived %+v, want 3 entries a, b, c and one warning", a)
	}
	if b := h.TakeArrived(); b.Received != 0 || len(b.New) != 0 {
		t.Errorf("a second take returned %+v, want nothing", b)
	}
}

// When the stream drops and comes back inside one Follow (the API client
// reconnects by itself), the hub syncs, so what was queued while it was
// down goes out at once.
func TestReconnectInsideFollowSyncs(t *testing.T) {
	f := &fakeFollower{episodes: []episode{{up: true, flaps: 1}}}
	h := New(f)
	ch, stop := h.Subscribe()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	got := collect(t, ch, 3)
	if got[1].State != StateReconnecting || got[2].State != StateConnected {
		t.Fatalf("states %v %v %v, want connected, reconnecting, connected", got[0].State, got[1].State, got[2].State)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		n := f.syncs
		f.mu.Unlock()
		if n >= 2 {
			return // the first sync, and the one after the reconnection
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d syncs: no sync after the stream came back", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
