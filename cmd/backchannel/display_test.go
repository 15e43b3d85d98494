package main

import (
	"bytes"
	"strings"
	"testing"
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
