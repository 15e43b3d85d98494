package main

import "testing"

func TestSafe(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"ok\n2026-11-28 21:00  alice: I accept", "ok\n      │ 2026-11-28 21:00  alice: I accept"},
		{"\x1b[2Jcleared", "\uFFFD[2Jcleared"},
		{"a\u202Eb", "a\uFFFDb"},
		{"mark\u200bed", "mark\u200bed"},
		{"trailing\n", "trailing"},
	}
	for _, c := range cases {
		if got := safe(c.in); got != c.want {
			t.Errorf("safe(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
