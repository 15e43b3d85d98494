package client

import (
	"slices"
	"testing"
	"time"
)

// TestRoomEvents: the history's room events give every form members see,
// so a leak of another member's history verifies.
func TestRoomEvents(t *testing.T) {
	at := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	st := RoomState{Name: "talks", Mode: "on-record"}
	msgs := []Message{
		{ID: "1", Kind: "system", Sender: "alice", SentAt: at, Text: `alice added you to "talks" (on-record) with alice, bob`},
		{ID: "2", Kind: KindText, Sender: "alice", SentAt: at.Add(time.Minute), Text: "hello"},
		{ID: "3", Kind: "system", Sender: "alice", SentAt: at.Add(2 * time.Minute), Text: "alice added carol"},
		{ID: "4", Kind: "system", Sender: "alice", SentAt: at.Add(3 * time.Minute), Text: `alice renamed the room to "deal"`},
		{ID: "5", Kind: "system", Sender: "alice", SentAt: at.Add(4 * time.Minute), Text: "alice added dave"},
		{ID: "6", Kind: "system", Sender: "alice", SentAt: at.Add(5 * time.Minute), Text: "alice removed carol"},
	}
	evs := roomEvents(st, msgs)
	want := map[string][]string{
		"1": {`alice added you to "talks" (on-record) with alice, bob`, "alice created the room with bob"},
		"3": {"alice added carol", `alice added you to "talks" (on-record) with alice, bob, carol`},
		"4": {`alice renamed the room to "deal"`},
		"5": {"alice added dave", `alice added you to "deal" (on-record) with alice, bob, carol, dave`},
		"6": {"alice removed carol"},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for _, ev := range evs {
		if !slices.Equal(ev.Texts, want[ev.ID]) || ev.Actor != "alice" {
			t.Errorf("event %s: %q, want %q", ev.ID, ev.Texts, want[ev.ID])
		}
	}
}
