package webapp

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"backchannel/client"
	"backchannel/live"
)

// timelines keeps each room's answer (the room and its whole timeline)
// encoded, so that opening a room costs a copy and not a History of the
// whole room — about 270 ms for 10,000 messages (docs/benchmarks.md). Every
// change this process hears of (an arrival, a send, a read mark, any
// command the agent ran) makes every kept answer stale before the page is
// told to refetch, so a page never gets an answer older than what it was
// told of. After an unlock every room is prepared once in the background;
// after a change, the rooms opened last are prepared again. At most
// maxKept answers are kept.
type timelines struct {
	mu     sync.Mutex
	gen    uint64
	byRef  map[string]cachedRoom
	recent []string // the rooms opened last, newest last
	kick   chan struct{}
}

type cachedRoom struct {
	gen  uint64
	body []byte
}

// keepRecent is how many recently opened rooms are prepared again after a
// change.
const keepRecent = 4

// rewarmDelay gathers a burst of changes into one preparation.
const rewarmDelay = 200 * time.Millisecond

func newTimelines() *timelines {
	return &timelines{byRef: map[string]cachedRoom{}, kick: make(chan struct{}, 1)}
}

// stale forgets every kept answer (they are kept, but no longer served).
func (t *timelines) stale() {
	t.mu.Lock()
	t.gen++
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// reset forgets everything (another profile, or none).
func (t *timelines) reset() {
	t.mu.Lock()
	t.gen++
	t.byRef = map[string]cachedRoom{}
	t.recent = nil
	t.mu.Unlock()
}

// get returns ref's answer: the kept one when nothing changed since it
// was prepared, else a new one from build.
func (t *timelines) get(ref string, build func() ([]byte, error)) ([]byte, error) {
	t.mu.Lock()
	t.recent = append(slices.DeleteFunc(t.recent, func(r string) bool { return r == ref }), ref)
	if len(t.recent) > keepRecent {
		t.recent = t.recent[len(t.recent)-keepRecent:]
	}
	c, ok := t.byRef[ref]
	gen := t.gen
	t.mu.Unlock()
	if ok && c.gen == gen {
		return c.body, nil
	}
	return t.prepare(ref, build)
}

// prepare builds ref's answer and keeps it under the generation it was
// begun in: a change during the build leaves it stale.
func (t *timelines) prepare(ref string, build func() ([]byte, error)) ([]byte, error) {
	t.mu.Lock()
	gen := t.gen
	t.mu.Unlock()
	body, err := build()
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	// Kept only when nothing changed meanwhile: a build that ends after a
	// change, or after a lock (reset), is its caller's alone.
	if t.gen == gen {
		t.byRef[ref] = cachedRoom{gen: gen, body: body}
		t.evict()
	}
	t.mu.Unlock()
	return body, nil
}

// maxKept bounds the answers kept (a room of 10,000 messages is about 2 MB).
const maxKept = 16

// evict drops kept answers beyond maxKept, the rooms not opened lately
// first.
func (t *timelines) evict() {
	for ref := range t.byRef {
		if len(t.byRef) <= maxKept {
			return
		}
		if !slices.Contains(t.recent, ref) {
			delete(t.byRef, ref)
		}
	}
}

func (t *timelines) fresh(ref string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.byRef[ref]
	return ok && c.gen == t.gen
}

func (t *timelines) recentRooms() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.recent)
}

// roomAnswer is GET /api/rooms/{id}'s body.
func roomAnswer(ctx context.Context, c *client.Client, ref string) ([]byte, error) {
	rm, msgs, err := c.History(ctx, ref)
	if err != nil {
		return nil, err
	}
	me := c.User()
	out := make([]Message, len(msgs))
	for i := range msgs {
		out[i] = messageOf(me, &msgs[i])
	}
	warnings, _ := c.TranscriptWarnings(ctx, rm.State.ID)
	return json.Marshal(map[string]any{"room": roomOf(rm), "messages": out, "warnings": nonNil(warnings)})
}

// warm prepares every room once, then the recently opened ones after each
// change, until ctx ends (the profile is locked).
func (t *timelines) warm(ctx context.Context, c *client.Client, hub *live.Hub) {
	events, stop := hub.Subscribe()
	defer stop()
	build := func(ref string) func() ([]byte, error) {
		return func() ([]byte, error) { return roomAnswer(ctx, c, ref) }
	}
	if rooms, err := c.Rooms(ctx); err == nil {
		for _, r := range rooms {
			if ctx.Err() != nil {
				return
			}
			if !t.fresh(r.State.ID) {
				t.prepare(r.State.ID, build(r.State.ID))
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Report != nil {
				t.stale()
			}
			continue
		case <-t.kick:
		}
		select { // gather the rest of a burst
		case <-ctx.Done():
			return
		case <-time.After(rewarmDelay):
		}
		for _, ref := range t.recentRooms() {
			if ctx.Err() != nil {
				return
			}
			if !t.fresh(ref) {
				t.prepare(ref, build(ref))
			}
		}
	}
}
