package room

import (
	"testing"
	"time"
)

func TestBeatTo(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		b     Backoff
		heard time.Time
		now   time.Time
		send  bool
		next  Backoff
	}{
		{"never sent", Backoff{}, time.Time{}, t0, true, Backoff{t0, BeatInterval}},
		{"heard since: reset", Backoff{t0, 4 * time.Hour}, t0.Add(time.Minute), t0.Add(10 * time.Minute), true, Backoff{t0.Add(10 * time.Minute), BeatInterval}},
		{"heard before: wait", Backoff{t0, BeatInterval}, t0.Add(-time.Minute), t0.Add(9 * time.Minute), false, Backoff{t0, BeatInterval}},
		{"heard at the send: wait", Backoff{t0, 2 * BeatInterval}, t0, t0.Add(10 * time.Minute), false, Backoff{t0, 2 * BeatInterval}},
		{"silent, wait elapsed: double", Backoff{t0, BeatInterval}, time.Time{}, t0.Add(BeatInterval), true, Backoff{t0.Add(BeatInterval), 2 * BeatInterval}},
		{"zero wait counts as BeatInterval", Backoff{Sent: t0}, time.Time{}, t0.Add(BeatInterval), true, Backoff{t0.Add(BeatInterval), 2 * BeatInterval}},
		{"zero wait, not yet", Backoff{Sent: t0}, time.Time{}, t0.Add(BeatInterval - time.Second), false, Backoff{Sent: t0}},
		{"silent, not yet", Backoff{t0, 80 * time.Minute}, time.Time{}, t0.Add(79 * time.Minute), false, Backoff{t0, 80 * time.Minute}},
		{"capped", Backoff{t0, 4 * time.Hour}, time.Time{}, t0.Add(4 * time.Hour), true, Backoff{t0.Add(4 * time.Hour), MaxBeatInterval}},
		{"stays capped", Backoff{t0, MaxBeatInterval}, time.Time{}, t0.Add(MaxBeatInterval), true, Backoff{t0.Add(MaxBeatInterval), MaxBeatInterval}},
	}
	for _, c := range cases {
		send, next := BeatTo(c.b, c.heard, c.now)
		if send != c.send || !next.Sent.Equal(c.next.Sent) || next.Wait != c.next.Wait {
			t.Errorf("%s: BeatTo = %v %+v, want %v %+v", c.name, send, next, c.send, c.next)
		}
	}
}

// A member silent for two days, polled every BeatInterval, gets a handful
// of heartbeats a day once the wait is capped, not 144.
func TestBeatToSilentTwoDays(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b Backoff
	var day1, day2 int
	for now := t0; now.Before(t0.Add(48 * time.Hour)); now = now.Add(BeatInterval) {
		var send bool
		send, b = BeatTo(b, time.Time{}, now)
		if send && now.Before(t0.Add(24*time.Hour)) {
			day1++
		} else if send {
			day2++
		}
	}
	if day1 > 10 || day2 > 5 {
		t.Fatalf("heartbeats to a silent member: %d on day 1, %d on day 2", day1, day2)
	}
}
