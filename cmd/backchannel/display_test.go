package main

import (
	"bytes"
	"strings"
	"testing"

	"backchannel/canary"
)

func TestSafe(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"ok\n2026-11-28 21:00  alice: I accept", "ok\n      │ 2026-11-28 21:00  alice: I accept"},
		{"ok\u20282026-11-28 21:00  alice: I accept", "ok\n      │ 2026-11-28 21:00  alice: I accept"},
		{"\x1b[2Jcleared", "\uFFFD[2Jcleared"},
		{"\u009b2Jcleared", "\uFFFD2Jcleared"},
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

// TestNamesPrintedSafely: the hostile document name of issue 10 as the
// table of 'docs' and a warning would print it.
func TestNamesPrintedSafely(t *testing.T) {
	hostile := "\x1b[2J\x1b[Hminutes\n2026-11-28 21:00  alice: I accept\u202Efdp.exe"
	row := padName(hostile, 30)
	if strings.ContainsAny(row, "\x1b\n\u202e") {
		t.Fatalf("padName printed %q", row)
	}
	if want := `\x1b[2J\x1b[Hminutes\n2026-11-28 21:00  alice: I accept\u202efdp.exe`; row != want {
		t.Fatalf("padName = %q, want %q", row, want)
	}
	if got := padName("draft.pdf", 12); got != "draft.pdf   " {
		t.Fatalf("padName pads to %q", got)
	}
	if got := safeName(strings.Repeat("x", 200)); len([]rune(got)) != maxShownName+1 {
		t.Fatalf("a long name is shown in %d characters", len([]rune(got)))
	}
	var b bytes.Buffer
	warn(&b, "refused "+hostile+"\u2066")
	if strings.ContainsAny(b.String()[:b.Len()-1], "\x1b\n\u202e\u2066") || !strings.HasSuffix(b.String(), "\\u2066\n") {
		t.Fatalf("warn printed %q", b.String())
	}
}

// What a verdict says about each kind of evidence, in plain words.
func TestSuspectLine(t *testing.T) {
	for _, tc := range []struct {
		s    canary.Suspect
		want string
	}{
		{canary.Suspect{Member: "bob", Test: "copy", SlotsRead: 40, SlotsMatched: 39, FalseAccusationBound: 2e-9},
			"the leak is bob's copy — 39 of 40 marks match it (copy test); probability that another copy matches this well ≤ 2.0e-09"},
		{canary.Suspect{Member: "bob", Test: "collusion", SetAside: []string{"invisible"}, SlotsRead: 30, SlotsMatched: 30, FalseAccusationBound: 1e-8},
			"the leak is bob's copy — 30 of 30 marks match it (collusion test, invisible marks set aside); probability that another copy matches this well ≤ 1.0e-08"},
		{canary.Suspect{Member: "frank", Test: "pair", Pair: []string{"bob", "dave"}, SlotsRead: 58, SlotsMatched: 58, FalseAccusationBound: 2e-14},
			"the leak holds frank's copy merged with others — where bob's and dave's copies agree and the leak differs, 58 of 58 marks match frank's (pair test); probability that another copy matches this well ≤ 2.0e-14"},
		{canary.Suspect{Member: "erin", Test: "split", Pair: []string{"alice", "carol"}, SlotsRead: 36, SlotsMatched: 36, FalseAccusationBound: 5.5e-8},
			"the leak holds erin's copy merged with others — where alice's and carol's copies differ, 36 of 36 marks match erin's (split test); probability that another copy matches this well ≤ 5.5e-08"},
	} {
		if got := suspectLine(tc.s); got != tc.want {
			t.Errorf("suspectLine(%+v)\n got %s\nwant %s", tc.s, got, tc.want)
		}
	}
}
