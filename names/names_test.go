package names

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// The attack of issue 10, item 15: a document name with terminal escapes
// (clear the screen, move the cursor), a newline that draws a fake line,
// and a right-to-left override that hides the real extension.
const attack = "\x1b[2J\x1b[Hminutes\n2026-11-28 21:00  alice: I accept\u202Efdp.exe"

func TestCheck(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"draft-2.pdf", true},
		{"Résumé des négociations.docx", true},
		{"مسودة الاتفاق.pdf", true}, // right-to-left script is fine; overrides are not
		{"会议纪要 第二版", true},
		{"e\u0301", true},
		{attack, false},
		{"a\x1b[31mred", false},
		{"two\nlines", false},
		{"cr\rreturn", false},
		{"c1\u0085next line", false},
		{"c1\u009bcsi", false},
		{"invoice\u202Efdp.exe", false},
		{"isolate\u2066x\u2069", false},
		{"mark\u200Fed", false},
		{"zero\u200Bwidth", false},
		{"joiner\u200D", false},
		{"bom\uFEFF", false},
		{"soft\u00ADhyphen", false},
		{"tag\U000E0041", false},
		{"line\u2028sep", false},
		{"nbsp\u00A0space", false},
		{"ideographic\u3000space", false},
		{"private\uE000", false},
		{" leading", false},
		{"trailing ", false},
		{"", false},
		{"bad\xffutf8", false},
		{"zalgo" + strings.Repeat("\u0301", 5), false},
		{"\u0301starts with a mark", false},
		{strings.Repeat("a", 256), false},
		{strings.Repeat("a", 255), true},
	}
	for _, c := range cases {
		err := Check(c.name, 255)
		if (err == nil) != c.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrName) {
			t.Errorf("Check(%q): %v does not match ErrName", c.name, err)
		}
	}
	if err := Check("invoice\u202Efdp.exe", 255); err == nil || !strings.Contains(err.Error(), "text direction") {
		t.Errorf("the error does not say what is wrong: %v", err)
	}
}

func TestQuote(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"plain name", 0, "plain name"},
		{attack, 0, `\x1b[2J\x1b[Hminutes\n2026-11-28 21:00  alice: I accept\u202efdp.exe`},
		{"tag\U000E0041", 0, `tag\U000e0041`},
		{"bad\xffbyte", 0, `bad\xffbyte`},
		{"zalgo" + strings.Repeat("\u0301", 9), 0, "zalgo" + strings.Repeat("\u0301", MaxCombining)},
		{"a long name", 6, "a long…"},
		{"مسودة", 0, "مسودة"},
	}
	for _, c := range cases {
		if got := Quote(c.in, c.max); got != c.want {
			t.Errorf("Quote(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

func TestFileName(t *testing.T) {
	cases := []struct{ in, want string }{
		{"draft-2.pdf", "draft-2.pdf"},
		{attack, "[2J[Hminutes 2026-11-28 21_00 alice_ I acceptfdp.exe"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"../../.bashrc", "bashrc"},
		{`..\..\boot.ini`, "boot.ini"},
		{"..", "document"},
		{".hidden", "hidden"},
		{"report.pdf          .exe", "report.pdf .exe"},
		{"report.pdf\u00A0\u2003.exe", "report.pdf .exe"},
		{"trailing dots...", "trailing dots"},
		{"-rf", "_rf"},
		{"CON.txt", "_CON.txt"},
		{"com1", "_com1"},
		{"console.txt", "console.txt"},
		{"c:d*e?f\"g<h>i|j", "c_d_e_f_g_h_i_j"},
		{"\x00\x01", "document"},
		{"", "document"},
		{strings.Repeat("é", 200) + ".pdf", strings.Repeat("é", 125) + ".pdf"},
	}
	for _, c := range cases {
		if got := FileName(c.in); got != c.want {
			t.Errorf("FileName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// safeForATerminal: nothing that a terminal interprets or that changes
// how the text around it reads.
func safeForATerminal(s string) bool {
	for _, r := range s {
		if forbidden(r) && r != ' ' {
			return false
		}
	}
	return utf8.ValidString(s)
}

func FuzzQuoteAndFileName(f *testing.F) {
	for _, s := range []string{attack, "draft.pdf", "..", "\xff\xfe", "CON", "a\u0301\u0301\u0301\u0301\u0301\u0301", strings.Repeat("x.", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s, 80)
		if !safeForATerminal(q) || utf8.RuneCountInString(q) > 80*10+1 {
			t.Fatalf("Quote(%q) = %q", s, q)
		}
		if Check(s, 1<<20) == nil && Quote(s, 0) != s {
			// An acceptable name is shown as it is (but for piled marks,
			// which Check refuses anyway).
			t.Fatalf("Quote changed the acceptable name %q to %q", s, Quote(s, 0))
		}
		n := FileName(s)
		switch {
		case n == "", len(n) > MaxFileName, !utf8.ValidString(n), strings.ContainsAny(n, `/\`),
			n[0] == '.', n[0] == ' ', n[0] == '-', n[len(n)-1] == '.', n[len(n)-1] == ' ',
			!safeForATerminal(n), reserved(n):
			t.Fatalf("FileName(%q) = %q", s, n)
		}
		if FileName(n) != n {
			t.Fatalf("FileName is not idempotent on %q: %q then %q", s, n, FileName(n))
		}
	})
}
