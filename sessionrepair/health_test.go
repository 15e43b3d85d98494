package sessionrepair

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func TestWantsRepair(t *testing.T) {
	cases := []struct {
		name string
		h    Health
		want bool
	}{
		{"healthy", Health{}, false},
		{"resend log only", Health{Resend: []int64{1}, Stale: 2}, false},
		{"blocked", Health{Blocked: Unacknowledged}, true},
		{"failing", Health{Failed: []int64{7}}, true},
		{"gave up, cleared", Health{GaveUp: true, Drop: []int64{7}}, false},
	}
	for _, c := range cases {
		if got := c.h.WantsRepair(); got != c.want {
			t.Errorf("%s: WantsRepair %v, want %v", c.name, got, c.want)
		}
	}
}

func TestKeep(t *testing.T) {
	base, chain, chain2 := []byte("base"), []byte("chain1"), []byte("chain2")
	cases := []struct {
		name        string
		h           Health
		chain       []byte
		seq         int64
		dropped     []int64
		resend      []int64
		lost, stale int
		blocked     Reason
	}{
		{"first", Health{}, chain, 0, nil, []int64{0}, 0, 0, ""},
		{"same chain keeps the stale count", Health{Base: base, Chain: chain, Resend: []int64{4}, Next: 5, Stale: 2, StaleFirst: t0, Blocked: Unacknowledged},
			chain, 5, nil, []int64{4, 5}, 0, 2, Unacknowledged},
		{"a new chain clears the stale count and its block", Health{Base: base, Chain: chain, Resend: []int64{4}, Next: 5, Stale: 2, StaleFirst: t0, Blocked: Unacknowledged},
			chain2, 5, nil, []int64{4, 5}, 0, 0, ""},
		{"a new chain keeps an undecryptable block", Health{Base: base, Chain: chain, Next: 1, Blocked: Undecryptable},
			chain2, 1, nil, []int64{1}, 0, 0, Undecryptable},
		{"full: the oldest is dropped and counted", Health{Base: base, Chain: chain, Resend: seqs(10, MaxResend), Next: 10 + MaxResend, Lost: 3},
			chain, 10 + MaxResend, []int64{10}, seqs(11, MaxResend), 4, 0, ""},
	}
	for _, c := range cases {
		h := c.h
		seq, dropped := h.Keep(base, c.chain)
		if seq != c.seq || !slices.Equal(dropped, c.dropped) || !slices.Equal(h.Resend, c.resend) || h.Lost != c.lost || h.Stale != c.stale || h.Blocked != c.blocked {
			t.Errorf("%s: seq %d dropped %v resend %v lost %d stale %d blocked %q", c.name, seq, dropped, h.Resend, h.Lost, h.Stale, h.Blocked)
		}
		if h.Next != seq+1 || string(h.Chain) != string(c.chain) || string(h.Base) != "base" {
			t.Errorf("%s: next %d chain %q base %q", c.name, h.Next, h.Chain, h.Base)
		}
		if c.stale == 0 && !h.StaleFirst.IsZero() {
			t.Errorf("%s: stale since %v with no stale messages", c.name, h.StaleFirst)
		}
	}
}

func seqs(from int64, n int) []int64 {
	var out []int64
	for i := range n {
		out = append(out, from+int64(i))
	}
	return out
}

func TestAcknowledged(t *testing.T) {
	cases := []struct {
		name    string
		h       Health
		blocked Reason
	}{
		{"waiting", Health{Chain: []byte("c"), Resend: []int64{3, 4}, Lost: 2, Stale: 1, StaleFirst: t0}, ""},
		{"blocked unacknowledged, gave up", Health{Chain: []byte("c"), Resend: []int64{3, 4}, Blocked: Unacknowledged, Resets: 2, GaveUp: true}, ""},
		{"blocked undecryptable stays so", Health{Chain: []byte("c"), Resend: []int64{3, 4}, Blocked: Undecryptable, Failed: []int64{9}}, Undecryptable},
	}
	for _, c := range cases {
		h := c.h
		drop := h.Acknowledged()
		if !slices.Equal(drop, []int64{3, 4}) {
			t.Errorf("%s: drop %v", c.name, drop)
		}
		if h.Resend != nil || h.Lost != 0 || h.Chain != nil || h.Stale != 0 || !h.StaleFirst.IsZero() || h.Resets != 0 || h.GaveUp || h.Blocked != c.blocked {
			t.Errorf("%s: after: %+v", c.name, h)
		}
		if !slices.Equal(h.Failed, c.h.Failed) {
			t.Errorf("%s: failed changed to %v", c.name, h.Failed)
		}
	}
}

func TestWatches(t *testing.T) {
	cases := []struct {
		name string
		h    Health
		base string
		want bool
	}{
		{"same session, a chain waits", Health{Base: []byte("b"), Chain: []byte("c")}, "b", true},
		{"same session, nothing waits", Health{Base: []byte("b")}, "b", false},
		{"another session", Health{Base: []byte("b"), Chain: []byte("c")}, "x", false},
	}
	for _, c := range cases {
		if got := c.h.Watches([]byte(c.base)); got != c.want {
			t.Errorf("%s: Watches %v, want %v", c.name, got, c.want)
		}
	}
}

// TestIgnoredChain: BlockedMessages ignoring messages over at least
// BlockedAfter block the session; fewer, or faster, do not.
func TestIgnoredChain(t *testing.T) {
	cases := []struct {
		name    string
		h       Health
		at      []time.Duration // after t0
		blocked Reason
	}{
		{"one", Health{}, []time.Duration{0}, ""},
		{"enough, too fast", Health{}, []time.Duration{0, time.Minute, BlockedAfter - time.Second}, ""},
		{"enough over BlockedAfter", Health{}, []time.Duration{0, time.Minute, BlockedAfter}, Unacknowledged},
		{"long, too few", Health{}, []time.Duration{0, 2 * BlockedAfter}, ""},
		{"already blocked otherwise", Health{Blocked: Undecryptable}, []time.Duration{0, time.Minute, BlockedAfter}, Undecryptable},
	}
	for _, c := range cases {
		h := c.h
		for _, d := range c.at {
			h.IgnoredChain(t0.Add(d))
		}
		if h.Blocked != c.blocked || h.Stale != len(c.at) || !h.StaleFirst.Equal(t0) {
			t.Errorf("%s: blocked %q stale %d since %v", c.name, h.Blocked, h.Stale, h.StaleFirst)
		}
	}
}

func TestUndecryptable(t *testing.T) {
	cases := []struct {
		name    string
		h       Health
		id      int64
		want    Verdict
		failed  []int64
		drop    []int64
		blocked Reason
		since   time.Time
	}{
		{"first of an episode", Health{}, 5, KeepAndTell, []int64{5}, nil, "", t0},
		{"second", Health{Failed: []int64{5}, FailedSince: t0.Add(-time.Hour)}, 6, Keep, []int64{5, 6}, nil, "", t0.Add(-time.Hour)},
		{"the BlockedMessages-th blocks", Health{Failed: []int64{5, 6}, FailedSince: t0}, 7, Keep, []int64{5, 6, 7}, nil, Undecryptable, t0},
		{"a block for another reason stays", Health{Failed: []int64{5, 6}, FailedSince: t0, Blocked: Unacknowledged}, 7, Keep, []int64{5, 6, 7}, nil, Unacknowledged, t0},
		{"seen in an earlier pass", Health{Failed: []int64{5}, FailedSince: t0}, 5, AlreadyCounted, []int64{5}, nil, "", t0},
		{"its episode is over", Health{Drop: []int64{3, 5, 8}}, 5, Acknowledge, nil, []int64{3, 8}, "", time.Time{}},
		{"gave up", Health{GaveUp: true}, 5, Discard, nil, nil, "", time.Time{}},
	}
	for _, c := range cases {
		h := c.h
		got := h.Undecryptable(c.id, "why", t0)
		if got != c.want || !slices.Equal(h.Failed, c.failed) || !slices.Equal(h.Drop, c.drop) || h.Blocked != c.blocked || !h.FailedSince.Equal(c.since) {
			t.Errorf("%s: verdict %d failed %v drop %v blocked %q since %v", c.name, got, h.Failed, h.Drop, h.Blocked, h.FailedSince)
		}
		if counted := got == Keep || got == KeepAndTell; counted != (h.FailReason == "why") {
			t.Errorf("%s: verdict %d, reason %q", c.name, got, h.FailReason)
		}
	}
}

func TestDecrypted(t *testing.T) {
	cases := []struct {
		name      string
		h         Health
		discarded int
		drop      int
		blocked   Reason
	}{
		{"no episode", Health{Drop: []int64{1}}, 0, 1, ""},
		{"an episode ends", Health{Failed: []int64{5, 6}, FailedSince: t0, Blocked: Undecryptable, Drop: []int64{1}}, 2, 3, ""},
		{"another block stays", Health{Failed: []int64{5}, FailedSince: t0, Blocked: Unacknowledged}, 1, 1, Unacknowledged},
		{"drop is bounded", Health{Failed: []int64{-1, -2}, Drop: seqs(0, MaxDrop)}, 2, MaxDrop, ""},
	}
	for _, c := range cases {
		h := c.h
		n := h.Decrypted()
		if n != c.discarded || len(h.Drop) != c.drop || h.Blocked != c.blocked || h.Failed != nil || !h.FailedSince.IsZero() {
			t.Errorf("%s: discarded %d drop %d blocked %q failed %v", c.name, n, len(h.Drop), h.Blocked, h.Failed)
		}
		if len(c.h.Failed) > 0 && h.Drop[len(h.Drop)-1] != c.h.Failed[len(c.h.Failed)-1] {
			t.Errorf("%s: the newest failed id is not kept: %v", c.name, h.Drop[len(h.Drop)-1])
		}
	}
}

// TestDue: a blocked session, or one envelope failing for BlockedAfter, is
// started again, at most once per BlockedAfter.
func TestDue(t *testing.T) {
	cases := []struct {
		name   string
		h      Health
		reason Reason
		due    bool
	}{
		{"healthy", Health{}, "", false},
		{"blocked", Health{Blocked: Unacknowledged}, Unacknowledged, true},
		{"one failing, not for long", Health{Failed: []int64{1}, FailedSince: t0.Add(-BlockedAfter + time.Second)}, "", false},
		{"one failing for BlockedAfter", Health{Failed: []int64{1}, FailedSince: t0.Add(-BlockedAfter)}, Undecryptable, true},
		{"blocked, restarted just now", Health{Blocked: Undecryptable, LastReset: t0.Add(-time.Minute)}, "", false},
		{"blocked, restarted BlockedAfter ago", Health{Blocked: Undecryptable, LastReset: t0.Add(-BlockedAfter)}, Undecryptable, true},
		{"the block's reason wins", Health{Blocked: Unacknowledged, Failed: []int64{1}, FailedSince: t0.Add(-time.Hour)}, Unacknowledged, true},
	}
	for _, c := range cases {
		reason, due := c.h.Due(t0)
		if reason != c.reason || due != c.due {
			t.Errorf("%s: Due %q %v, want %q %v", c.name, reason, due, c.reason, c.due)
		}
	}
}

func TestRepairs(t *testing.T) {
	failing := func() Health {
		return Health{Base: []byte("old"), Chain: []byte("c"), Stale: 2, StaleFirst: t0, Failed: []int64{5, 6}, FailedSince: t0, Blocked: Undecryptable, Drop: []int64{1}, Resets: 1, Lost: 3}
	}
	cases := []struct {
		name   string
		apply  func(h *Health)
		resets int
		gaveUp bool
		chain  string
	}{
		{"restarted", func(h *Health) { h.Restarted([]byte("new"), []byte("n1"), t0) }, 2, false, "n1"},
		{"new session from the peer", func(h *Health) { h.NewSession([]byte("new"), []byte("n1")) }, 1, false, "n1"},
		{"gave up", (*Health).GiveUp, 1, true, "c"},
		{"device gone", (*Health).ClearFailures, 1, false, "c"},
	}
	for _, c := range cases {
		h := failing()
		c.apply(&h)
		if h.Blocked != "" || h.Failed != nil || !h.FailedSince.IsZero() || !slices.Equal(h.Drop, []int64{1, 5, 6}) || h.WantsRepair() {
			t.Errorf("%s: failures not cleared: %+v", c.name, h)
		}
		if h.Resets != c.resets || h.GaveUp != c.gaveUp || string(h.Chain) != c.chain || h.Lost != 3 {
			t.Errorf("%s: resets %d gave up %v chain %q lost %d", c.name, h.Resets, h.GaveUp, h.Chain, h.Lost)
		}
		if c.chain == "n1" && (h.Stale != 0 || !h.StaleFirst.IsZero() || string(h.Base) != "new") {
			t.Errorf("%s: the new session's chain starts with stale %d base %q", c.name, h.Stale, h.Base)
		}
	}
	h := failing()
	h.Restarted([]byte("new"), []byte("n1"), t0)
	if !h.LastReset.Equal(t0) || !h.Exhausted() {
		t.Errorf("second restart: last %v, exhausted %v", h.LastReset, h.Exhausted())
	}
}
