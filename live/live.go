// Package live keeps one open profile's push connection up and fans what
// it brings out to any number of watchers: the agent's commands, the chat
// screen, `sync --follow`.
//
// A Hub owns the only Follow loop of its client. It syncs once, follows the
// push stream, and when the stream fails it says so (StateReconnecting, with
// the reason), waits with jittered backoff and starts again; it never gives
// up while its context lives, except on an authentication failure, which it
// reports as StateRefused and returns. Watchers get every Event published
// after they subscribed; a watcher that does not keep up loses the oldest
// events, never blocks the hub, and is told how many it missed.
package live

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"backchannel/client"
	"backchannel/server/apiclient"
)

// State is the push connection's state.
type State string

// The states, as shown to the user.
const (
	StateConnecting   State = "connecting"
	StateConnected    State = "connected"
	StateReconnecting State = "reconnecting"
	StateRefused      State = "refused" // the server refused this device; not retried
)

// Event is one thing a watcher is told: a sync report (new messages,
// warnings), or a change of the connection's state.
type Event struct {
	At     time.Time
	Report *client.SyncReport // nil for a state change
	State  State              // the state after this event
	Reason string             // why the connection is not up (plain words)
	// Local: the report is a change made here (a command from another
	// terminal sent, read or changed something), not from the server.
	Local bool
	// Missed counts events this watcher lost before this one because it
	// did not keep up.
	Missed int
}

// watcherBuffer bounds each watcher's queue.
const watcherBuffer = 256

// Backoff between reconnections.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Follower is what a Hub needs of a client.
type Follower interface {
	Sync(ctx context.Context) (*client.SyncReport, error)
	FollowWatched(ctx context.Context, onReport func(*client.SyncReport), onStream func(up bool, err error)) error
}

// Hub is one profile's live connection.
type Hub struct {
	c   Follower
	now func() time.Time

	mu       sync.Mutex
	state    State
	reason   string
	watchers map[*watcher]struct{}
	// arrived sums the server's reports since the last TakeArrived, so an
	// explicit sync in the agent tells what came in the background.
	arrived client.SyncReport
}

// arrivedBound caps what arrived keeps between two TakeArrived calls.
const arrivedBound = 1000

type watcher struct {
	ch     chan Event
	missed int
}

// New returns a hub for c; Run starts it.
func New(c Follower) *Hub {
	return &Hub{c: c, now: time.Now, state: StateConnecting, watchers: map[*watcher]struct{}{}}
}

// State reports the connection's state and, when it is not up, why.
func (h *Hub) State() (State, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state, h.reason
}

// Subscribe returns a channel of the events published from now on, and a
// function that ends the subscription (and closes the channel).
func (h *Hub) Subscribe() (<-chan Event, func()) {
	w := &watcher{ch: make(chan Event, watcherBuffer)}
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.watchers, w)
			h.mu.Unlock()
			close(w.ch)
		})
	}
}

func (h *Hub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Report == nil {
		if ev.State == h.state && ev.Reason == h.reason {
			return
		}
		h.state, h.reason = ev.State, ev.Reason
	} else if !ev.Local {
		a, r := &h.arrived, ev.Report
		a.Received += r.Received
		a.Dropped += r.Dropped
		a.Held = r.Held
		if len(a.New)+len(r.New) <= arrivedBound {
			a.New = append(a.New, r.New...)
		}
		if len(a.Warnings)+len(r.Warnings) <= arrivedBound {
			a.Warnings = append(a.Warnings, r.Warnings...)
		}
	}
	ev.State, ev.Reason = h.state, h.reason
	ev.At = h.now()
	for w := range h.watchers {
		e := ev
		e.Missed = w.missed
		select {
		case w.ch <- e:
			w.missed = 0
			continue
		default:
		}
		// Full: drop the oldest, then deliver.
		select {
		case <-w.ch:
			w.missed++
		default:
		}
		e.Missed = w.missed
		select {
		case w.ch <- e:
			w.missed = 0
		default:
			w.missed++
		}
	}
}

// TakeArrived returns what the server brought since the last call (counts,
// the stored entries and warnings, the latter two capped at 1,000) and
// starts counting again.
func (h *Hub) TakeArrived() client.SyncReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.arrived
	h.arrived = client.SyncReport{}
	return a
}

// Changed tells watchers that something changed on this side (a command
// run for another terminal sent or changed something), so they reload.
func (h *Hub) Changed() { h.publish(Event{Report: &client.SyncReport{}, Local: true}) }

// Run keeps the connection up until ctx ends (it then returns ctx.Err()) or
// the server refuses this device (apiclient.ErrUnauthorized, returned).
func (h *Hub) Run(ctx context.Context) error {
	backoff := minBackoff
	for {
		rep, err := h.c.Sync(ctx)
		if err == nil {
			if rep != nil && (rep.Received > 0 || len(rep.Warnings) > 0 || rep.Dropped > 0) {
				h.publish(Event{Report: rep})
			}
			err = h.c.FollowWatched(ctx, func(r *client.SyncReport) {
				h.publish(Event{Report: r})
			}, func(up bool, serr error) {
				if up {
					backoff = minBackoff
					st, _ := h.State()
					h.publish(Event{State: StateConnected})
					if st == StateReconnecting {
						// Back after a drop: what was queued meanwhile goes
						// out now, not at the next message.
						go h.resync(ctx)
					}
					return
				}
				h.publish(Event{State: StateReconnecting, Reason: Reason(serr)})
			})
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, apiclient.ErrUnauthorized) && !errors.Is(err, apiclient.ErrReplay) {
			h.publish(Event{State: StateRefused, Reason: Reason(err)})
			return err
		}
		h.publish(Event{State: StateReconnecting, Reason: Reason(err)})
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// resync flushes the outbox and fetches anything the stream missed.
func (h *Hub) resync(ctx context.Context) {
	rep, err := h.c.Sync(ctx)
	if err == nil && rep != nil && (rep.Received > 0 || len(rep.Warnings) > 0 || rep.Dropped > 0) {
		h.publish(Event{Report: rep})
	}
}

// Reason says in plain words why the connection is down.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, apiclient.ErrUnauthorized):
		return "the server refused this device"
	case errors.Is(err, context.DeadlineExceeded):
		return "the server did not answer in time"
	}
	return "the server cannot be reached"
}
