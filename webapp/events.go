package webapp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"backchannel/live"
)

// event is one server-sent event.
type event struct {
	name string
	data any
}

// keepAlive is how often an idle event stream gets a comment line.
const keepAlive = 15 * time.Second

// subscriberBuffer bounds what a slow page holds back; beyond it events
// are dropped and the page refetches on the next one.
const subscriberBuffer = 32

func (s *Server) subscribe() (chan event, func()) {
	ch := make(chan event, subscriberBuffer)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}

func (s *Server) broadcast(ev event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default: // a page that fell behind refetches on the next event
		}
	}
}

// changed tells the pages something this process did changed a room (a
// message sent from the page shows in every open page, and in the chats of
// other terminals through the hub).
func (s *Server) changed() {
	s.tl.stale()
	if _, hub := s.current(); hub != nil {
		hub.Changed()
	}
}

// events streams the profile's changes to one page: the push connection's
// state, arrivals (to refetch), locking and unlocking.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported here")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	mine, unsubscribe := s.subscribe()
	defer unsubscribe()
	send := func(ev event) bool {
		b, _ := json.Marshal(ev.data)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		// Follow the hub of the profile open now; a lock or an unlock ends
		// this subscription and starts the next.
		_, hub := s.current()
		var hubEvents <-chan live.Event
		stop := func() {}
		if hub != nil {
			hubEvents, stop = hub.Subscribe()
			st, reason := hub.State()
			if !send(event{"state", map[string]any{"state": string(st), "reason": reason}}) {
				stop()
				return
			}
		} else if !send(event{"locked", map[string]any{}}) {
			return
		}
		again := false
		for !again {
			select {
			case <-r.Context().Done():
				stop()
				return
			case <-tick.C:
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					stop()
					return
				}
				fl.Flush()
			case ev := <-mine:
				if !send(ev) {
					stop()
					return
				}
				again = ev.name == "locked" || ev.name == "unlocked"
			case ev, ok := <-hubEvents:
				if !ok {
					hubEvents = nil
					continue
				}
				var err bool
				if ev.Report != nil {
					// Before the page hears of it: its refetch must not
					// get an answer prepared before the change.
					s.tl.stale()
					warnings := nonNil(ev.Report.Warnings)
					err = !send(event{"update", map[string]any{"received": ev.Report.Received, "warnings": warnings, "missed": ev.Missed}})
				} else {
					err = !send(event{"state", map[string]any{"state": string(ev.State), "reason": ev.Reason}})
				}
				if err {
					stop()
					return
				}
			}
		}
		stop()
	}
}
