package room

import (
	"fmt"
	"sort"
	"time"
)

// BeatDue says whether a syncing member should send a heartbeat to a room
// it last sent to at lastSent.
func BeatDue(lastSent, now time.Time) bool {
	return lastSent.IsZero() || now.Sub(lastSent) >= BeatInterval
}

// Backoff is the heartbeat schedule toward one member: Sent when the last
// heartbeat went to them, Wait how long after Sent the next may go while
// nothing arrives from them (zero: BeatInterval).
type Backoff struct {
	Sent time.Time     `json:"sent"`
	Wait time.Duration `json:"wait,omitempty"`
}

// BeatTo decides, when a room heartbeat is due (BeatDue), whether it goes
// to a member last heard from at heard, given the schedule b toward them;
// it returns the schedule to keep (unchanged when it does not go). It goes
// if nothing was ever sent to them, if anything arrived from them since the
// last heartbeat (the wait resets to BeatInterval), or if the wait has
// elapsed (the next wait doubles, up to MaxBeatInterval). An offline
// member's mailbox so gets a heartbeat about every MaxBeatInterval instead
// of every BeatInterval.
func BeatTo(b Backoff, heard, now time.Time) (send bool, next Backoff) {
	wait := b.Wait
	if wait <= 0 {
		wait = BeatInterval
	}
	switch {
	case b.Sent.IsZero(), heard.After(b.Sent):
		return true, Backoff{Sent: now, Wait: BeatInterval}
	case now.Sub(b.Sent) >= wait:
		return true, Backoff{Sent: now, Wait: min(2*wait, MaxBeatInterval)}
	}
	return false, b
}

// Silent words a warning for every member (but me) from whom nothing has
// arrived for PartitionAfter: lastHeard per member, since the later of
// that and watchFrom (when this device started expecting them: its join,
// or when the member was added).
func Silent(me string, members []string, lastHeard map[string]time.Time, watchFrom time.Time, now time.Time, loc *time.Location) []string {
	if loc == nil {
		loc = time.UTC
	}
	var out []string
	for _, m := range members {
		if m == me {
			continue
		}
		since := lastHeard[m]
		if since.Before(watchFrom) {
			since = watchFrom
		}
		if since.IsZero() || now.Sub(since) < PartitionAfter {
			continue
		}
		out = append(out, fmt.Sprintf("nothing from %s since %s (%d minutes; members send a heartbeat every %d minutes while their client runs): %s is offline, or the server is withholding their messages",
			m, since.In(loc).Format("15:04"), int(now.Sub(since)/time.Minute), int(BeatInterval/time.Minute), m))
	}
	sort.Strings(out)
	return out
}

// Waiting is one queued payload: who sent it, when it arrived, the version
// it waits for (0: its room) and the opaque payload.
type Waiting[T any] struct {
	Sender     string    `json:"sender"`
	ReceivedAt time.Time `json:"received_at"`
	Need       int       `json:"need,omitempty"`
	Payload    T         `json:"payload"`
}

// Admit adds w to q unless that would exceed max in total or perSender
// for w.Sender, first expiring what is older than ttl. It returns the new
// queue, whether w was kept, and the entries that expired.
func Admit[T any](q []Waiting[T], w Waiting[T], max, perSender int, ttl time.Duration, now time.Time) (out []Waiting[T], kept bool, expired []Waiting[T]) {
	out, expired = Expire(q, ttl, now)
	n := 0
	for _, x := range out {
		if x.Sender == w.Sender {
			n++
		}
	}
	if len(out) >= max || n >= perSender {
		return out, false, expired
	}
	return append(out, w), true, expired
}

// Expire removes the entries of q older than ttl and returns them.
func Expire[T any](q []Waiting[T], ttl time.Duration, now time.Time) (kept, expired []Waiting[T]) {
	for _, x := range q {
		if now.Sub(x.ReceivedAt) > ttl {
			expired = append(expired, x)
		} else {
			kept = append(kept, x)
		}
	}
	return kept, expired
}

// Ready splits q into the entries whose Need is at most version and the rest.
func Ready[T any](q []Waiting[T], version int) (ready, rest []Waiting[T]) {
	for _, x := range q {
		if x.Need <= version {
			ready = append(ready, x)
		} else {
			rest = append(rest, x)
		}
	}
	return ready, rest
}
