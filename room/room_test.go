package room

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func view(me string, removed bool, states ...Version) View {
	return View{Me: me, States: states, Removed: removed}
}

func TestJudge(t *testing.T) {
	v1 := Version{Version: 1, Members: []string{"alice", "bob", "carol"}, Hash: []byte("h1")}
	v2 := Version{Version: 2, Members: []string{"alice", "bob"}, Hash: []byte("h2")}
	v3 := Version{Version: 3, Members: []string{"alice", "bob", "dave"}, Hash: []byte("h3")}
	cases := []struct {
		name  string
		v     View
		m     Message
		want  Action
		need  int
		flag  string
		cause string
	}{
		{"current member, current state", view("bob", false, v1, v2), Message{Sender: "alice", Version: 2, Recipients: []string{"alice", "bob"}}, Apply, 0, "", ""},
		{"newer state: hold", view("bob", false, v1), Message{Sender: "alice", Version: 2}, Hold, 2, "", ""},
		{"unknown sender under newer state: hold", view("bob", false, v1, v2), Message{Sender: "dave", Version: 3}, Hold, 3, "", ""},
		{"ignored removal is flagged", view("alice", false, v1, v2), Message{Sender: "bob", Version: 1, Recipients: []string{"alice", "bob", "carol"}}, Apply, 0, "carol", ""},
		{"removed member sees nothing after", view("carol", true, v1, v2), Message{Sender: "bob", Version: 1, Recipients: []string{"alice", "bob", "carol"}}, Ignore, 0, "", "after you were removed"},
		{"removed member keeps what precedes", view("carol", true, v1, v2), Message{Sender: "bob", Version: 1, BeforeRemove: true}, Apply, 0, "", ""},
		{"removed sender", view("bob", false, v1, v2), Message{Sender: "carol", Version: 1}, Ignore, 0, "", "removed in room version 2"},
		{"stranger", view("bob", false, v1, v2), Message{Sender: "mallory", Version: 2}, Ignore, 0, "", "not a member"},
		{"no version", view("bob", false, v1), Message{Sender: "alice"}, Ignore, 0, "", "no room version"},
		{"different state hash", view("bob", false, v1, v2), Message{Sender: "alice", Version: 2, StateHash: []byte("xx")}, Apply, 0, "different room state", ""},
		{"later member's late join", view("bob", false, v1, v2, v3), Message{Sender: "dave", Version: 3}, Apply, 0, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Judge(c.v, c.m)
			if got.Action != c.want || got.Need != c.need {
				t.Fatalf("got %+v, want action %d need %d", got, c.want, c.need)
			}
			if c.flag == "" && len(got.Flags) > 0 || c.flag != "" && (len(got.Flags) == 0 || !strings.Contains(got.Flags[0], c.flag)) {
				t.Fatalf("flags %q, want %q", got.Flags, c.flag)
			}
			if c.cause != "" && !strings.Contains(got.Reason, c.cause) {
				t.Fatalf("reason %q, want %q", got.Reason, c.cause)
			}
		})
	}
}

func TestCanSend(t *testing.T) {
	v := view("bob", false, Version{Version: 1, Members: []string{"alice", "bob"}})
	if err := CanSend(v, 1); err != nil {
		t.Fatal(err)
	}
	if err := CanSend(v, 2); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("behind: %v", err)
	}
	v.Removed = true
	if err := CanSend(v, 0); err != ErrRemoved {
		t.Fatalf("removed: %v", err)
	}
}

func h(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestMissingAndPreJoin(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	bob := Head{Member: "bob", Key: h(1), Seq: 5, Hash: h(9), Version: 2}
	old := Head{Member: "carol", Key: h(2), Seq: 7, Hash: h(8), Version: 1}
	have := map[string]uint64{bob.Signer(): 3}
	ex := Missing(nil, have, []Head{bob, old}, "alice", 2, now)
	if len(ex) != 1 || ex[bob.Signer()].Seq != 5 {
		t.Fatalf("expect %+v", ex)
	}
	w := MissingWarnings(ex, have, nil)
	if len(w) != 1 || !strings.Contains(w[0], "2 messages from bob did not reach you (alice's messages name it") {
		t.Fatalf("warnings %q", w)
	}
	if p := PreJoin([]Head{bob, old}, 2); len(p) != 1 || p[0].Member != "carol" {
		t.Fatalf("prejoin %+v", p)
	}
	have[bob.Signer()] = 5
	if ex = Missing(ex, have, nil, "alice", 2, now); len(ex) != 0 {
		t.Fatalf("met expectation kept: %+v", ex)
	}
	// invalid heads are ignored
	if ex = Missing(nil, have, []Head{{Member: "x", Seq: 9}}, "a", 0, now); len(ex) != 0 {
		t.Fatal("invalid head used")
	}
}

func TestLatest(t *testing.T) {
	a1 := Head{Member: "a", Key: h(1), Seq: 1, Hash: h(11)}
	a2 := Head{Member: "a", Key: h(1), Seq: 2, Hash: h(12)}
	b1 := Head{Member: "b", Key: h(2), Seq: 1, Hash: h(21)}
	got := Latest([]Head{a1, b1, a2}, [][]byte{h(11)})
	if len(got) != 3 || got[0].Seq != 1 || got[1].Seq != 2 || got[2].Member != "b" {
		t.Fatalf("latest %+v", got)
	}
}

func TestCausalOrder(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// arrival: carol's answer (cites q), a notice, alice's question q
	items := []Item{
		{Key: "ans", Parents: []string{"q"}, Time: t0.Add(time.Minute), Sender: "carol"},
		{Key: "", Time: t0.Add(30 * time.Second), Sender: "x"},
		{Key: "q", Parents: []string{"root"}, Time: t0, Sender: "alice"},
	}
	order, moved := CausalOrder(items, map[string][]string{"root": nil})
	if want := []int{2, 1, 0}; !equalInts(order, want) {
		t.Fatalf("order %v want %v", order, want)
	}
	if len(moved) != 1 || moved[0].Index != 2 || moved[0].Before != 0 {
		t.Fatalf("moved %+v", moved)
	}
	// through an entry that is no item: ans cites mid, mid cites q
	items[0].Parents = []string{"mid"}
	order, moved = CausalOrder(items, map[string][]string{"mid": {"q"}})
	if order[len(order)-1] != 0 || len(moved) != 1 {
		t.Fatalf("order via dag %v moved %+v", order, moved)
	}
	// ties: time, then sender
	tie := []Item{{Key: "b", Time: t0, Sender: "zed"}, {Key: "a", Time: t0, Sender: "amy"}, {Key: "c", Time: t0.Add(-time.Second), Sender: "zed"}}
	if order, moved = CausalOrder(tie, nil); !equalInts(order, []int{2, 1, 0}) || len(moved) != 0 {
		t.Fatalf("ties %v %v", order, moved)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLiveness(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if !BeatDue(time.Time{}, now) || BeatDue(now.Add(-time.Minute), now) || !BeatDue(now.Add(-BeatInterval), now) {
		t.Fatal("beat schedule")
	}
	heard := map[string]time.Time{"alice": now.Add(-PartitionAfter - time.Minute), "carol": now.Add(-time.Minute)}
	w := Silent("bob", []string{"alice", "bob", "carol"}, heard, now.Add(-2*time.Hour), now, nil)
	if len(w) != 1 || !strings.Contains(w[0], "nothing from alice since 09:29 (31 minutes") {
		t.Fatalf("silent %q", w)
	}
	// a member added a minute ago is not silent yet
	if w := Silent("bob", []string{"dave"}, nil, now.Add(-time.Minute), now, nil); len(w) != 0 {
		t.Fatalf("new member silent: %q", w)
	}
}

func TestQueueBounds(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var q []Waiting[json.RawMessage]
	var kept bool
	for i := 0; i < MaxHeldPerSender+5; i++ {
		q, kept, _ = Admit(q, Waiting[json.RawMessage]{Sender: "mallory", ReceivedAt: now, Need: 2}, MaxHeld, MaxHeldPerSender, HeldTTL, now)
		if kept != (i < MaxHeldPerSender) {
			t.Fatalf("admit %d: kept=%v", i, kept)
		}
	}
	// another sender still gets in
	q, kept, _ = Admit(q, Waiting[json.RawMessage]{Sender: "dave", ReceivedAt: now, Need: 3}, MaxHeld, MaxHeldPerSender, HeldTTL, now)
	if !kept {
		t.Fatal("a flood by one sender blocked another")
	}
	// everything expires
	later := now.Add(HeldTTL + time.Second)
	q2, kept, expired := Admit(q, Waiting[json.RawMessage]{Sender: "mallory", ReceivedAt: later}, MaxHeld, MaxHeldPerSender, HeldTTL, later)
	if !kept || len(expired) != MaxHeldPerSender+1 || len(q2) != 1 {
		t.Fatalf("expiry: kept=%v expired=%d left=%d", kept, len(expired), len(q2))
	}
	ready, rest := Ready(q, 2)
	if len(ready) != MaxHeldPerSender || len(rest) != 1 {
		t.Fatalf("ready %d rest %d", len(ready), len(rest))
	}
}

func TestLatestCapKeepsParents(t *testing.T) {
	var hs []Head
	for i := 0; i < MaxHeads+10; i++ {
		hs = append(hs, Head{Member: fmt.Sprintf("m%03d", i), Key: h(byte(i)), Seq: 1, Hash: bytes.Repeat([]byte{byte(i), 1}, 16)})
	}
	last := hs[len(hs)-1].Hash
	got := Latest(hs, [][]byte{last})
	if len(got) != MaxHeads || !bytes.Equal(got[0].Hash, last) {
		t.Fatalf("cap: %d heads, first %x", len(got), got[0].Hash)
	}
}

func TestIgnoredNewer(t *testing.T) {
	if f := IgnoredNewer("bob", 1, []int{1, 2}); !strings.Contains(f, "written under room version 2 yet names version 1") {
		t.Fatalf("flag %q", f)
	}
	for _, c := range []struct {
		claimed int
		parents []int
	}{{2, []int{1, 2}}, {1, nil}, {0, []int{3}}} {
		if f := IgnoredNewer("bob", c.claimed, c.parents); f != "" {
			t.Fatalf("%+v flagged: %q", c, f)
		}
	}
}
