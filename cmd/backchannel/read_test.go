package main

import (
	"slices"
	"testing"
	"time"

	"backchannel/client"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"", time.Time{}, false},
		{"2026-11-28T14:00:00Z", time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC), false},
		{"2026-11-27", time.Date(2026, 11, 27, 0, 0, 0, 0, time.Local), false},
		{"90m", now.Add(-90 * time.Minute), false},
		{"2h30m", now.Add(-150 * time.Minute), false},
		{"3d", now.AddDate(0, 0, -3), false},
		{"yesterday", time.Time{}, true},
		{"-2h", time.Time{}, true},
		{"2026-13-01", time.Time{}, true},
	} {
		got, err := parseSince(c.in, now)
		if (err != nil) != c.bad || !got.Equal(c.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v (error: %v)", c.in, got, err, c.want, c.bad)
		}
	}
}

func TestWindow(t *testing.T) {
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var msgs []client.Message
	for i := range 5 {
		msgs = append(msgs, client.Message{ID: string(rune('a' + i)), SentAt: base.Add(time.Duration(i) * time.Hour)})
	}
	ids := func(ms []client.Message) []string {
		out := []string{}
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	for _, c := range []struct {
		from  time.Time
		limit int
		want  []string
	}{
		{time.Time{}, 0, []string{"a", "b", "c", "d", "e"}},
		{time.Time{}, 2, []string{"d", "e"}},
		{base.Add(2 * time.Hour), 0, []string{"c", "d", "e"}},
		{base.Add(2 * time.Hour), 1, []string{"e"}},
		{base.Add(10 * time.Hour), 3, []string{}},
		{time.Time{}, 9, []string{"a", "b", "c", "d", "e"}},
	} {
		if got := ids(window(msgs, c.from, c.limit)); !slices.Equal(got, c.want) {
			t.Errorf("window(%v, %d) = %q, want %q", c.from, c.limit, got, c.want)
		}
	}
}
