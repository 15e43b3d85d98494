package canary

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestUnmark(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"We\u200B accept\u2060 the \u201Cterms\u201D\u2014all of them\u2026", `We accept the "terms"--all of them...`},
		{"It\u2019s done.  Next point.   And more.", "It's done. Next point. And more."},
		{"Done.\u00A0 See 10\u202F000.", "Done. See 10 000."},
		{"\u201CYes.\u201D  No.", `"Yes." No.`},
		{"  indented\n\tcode  with  spaces.  \nend.", "  indented\n\tcode  with  spaces.  \nend."},
		{"pages 3\u20135", "pages 3-5"},
		{"say `s := \"\u2014\"` \u2014 it\u2019s code.  Next", "say `s := \"\u2014\"` -- it's code. Next"},
		{"x\n\n```\nq := \u201Cok\u201D\u200B\n```\ny\u2019s", "x\n\n```\nq := \u201Cok\u201D\n```\ny's"},
		{"text\n\n    a.  b \u2014 c\n", "text\n\n    a.  b \u2014 c\n"},
	} {
		if got := Unmark(tc.in); got != tc.want {
			t.Errorf("Unmark(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestUnmarkRemovesEveryStyleMark: two recipients' copies of one text,
// unmarked, are the same text: nothing of either copy's invisible or
// typographic marks is left.
func TestUnmarkRemovesEveryStyleMark(t *testing.T) {
	key := testKey(7)
	text := "We agree to \u201Cthe principles\u201D \u2014 subject to review. It\u2019s a start.\n- first item\n- second item\nThe rest\u2026 later. Thank you."
	p := PolicyInvisible | PolicyTypographic
	a, _ := Mark(key, "m1", "bob", text, p)
	b, _ := Mark(key, "m1", "carol", text, p)
	if a == b {
		t.Fatal("the copies are the same")
	}
	if ua, ub := Unmark(a), Unmark(b); ua != ub || ua != Unmark(text) {
		t.Fatalf("unmarked copies differ:\n%q\n%q", ua, ub)
	}
}

// FuzzUnmark: Unmark is idempotent, keeps the canonical words, and leaves
// no mark of the invisible and typographic channels in any rendered copy.
func FuzzUnmark(f *testing.F) {
	for _, s := range []string{"", "it\u2019s \u201Cx\u201D\u2014y\u2026", "a\u200B\u200C b", "Yes.  No.\u00A0 Maybe?  ", "- a\n* b\n\u2022 c", "g-\u2013Mr. Smith-ggggggg-\u2013", "\xff", "`a\u2014b` c\u2014d", "```\n\u201Cx\u201D\u200B\n```\ny\u2019s", "x\n\n    a.  b\u2026\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		u := Unmark(s)
		if Unmark(u) != u {
			t.Fatalf("Unmark not idempotent: %q -> %q -> %q", s, u, Unmark(u))
		}
		if strings.Join(CanonicalWords(u), " ") != strings.Join(CanonicalWords(s), " ") {
			t.Fatalf("Unmark changed the canonical words: %q -> %q", s, u)
		}
		l := NewLayout(s, PolicyInvisible|PolicyTypographic)
		want := ""
		for fill := range 4 {
			sym := make([]int, l.NumSlots())
			for i := range sym {
				sym[i] = (fill + i) % l.Alphabet(i)
			}
			got := Unmark(l.Render(sym))
			if fill == 0 {
				want = got
			} else if got != want {
				t.Fatalf("marks survive Unmark: %q: %q vs %q", s, want, got)
			}
		}
	})
}
