package canary

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"it\u2019s \u201Cfine\u201D", `it's "fine"`},
		{"a\u200B b\u2060  c\u00A0d", "a b c d"},
		{"wait\u2026 now\u2014then \u2013 x", "wait... now--then - x"},
		{"end.  Next \t line  \nnew", "end. Next line\nnew"},
		{"", ""},
	} {
		if got := Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestCanonicalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"We\u2019re organising the centre of it.", "We are organizing the center of it."},
		{"It's Mr Smith's US plan, amongst others.", "It is Mr. Smith's U.S. plan, among others."},
		{"I\u2019ll co-operate with 6 people.", "I will cooperate with six people."},
		{"we do not organize", "we do not organize"},
	} {
		if got := Canonicalize(tc.in); got != tc.want {
			t.Errorf("Canonicalize(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	if got := strings.Join(CanonicalWords("We\u2019re \u200Borganising"), " "); got != "we are organizing" {
		t.Errorf("CanonicalWords = %q", got)
	}
}

func TestTokenizeProtectedSpans(t *testing.T) {
	tok := tokenize("see https://ex.org/a-b, mail a.b@ex.org or `x y`; U.S. e.g. Mr. Ford's well-known 1,000.5")
	var raws []string
	for k := range tok.words {
		raws = append(raws, tok.raw(k))
	}
	want := "see|https://ex.org/a-b|mail|a.b@ex.org|or|x|y|U.S.|e.g.|Mr.|Ford's|well-known|1,000.5"
	if got := strings.Join(raws, "|"); got != want {
		t.Errorf("words = %s\nwant    %s", got, want)
	}
	for k, w := range tok.words {
		hard := k == 1 || k == 3 || k == 5 || k == 6
		if w.hard != hard {
			t.Errorf("word %q hard = %v", tok.raw(k), w.hard)
		}
	}
}

func TestCodeSpans(t *testing.T) {
	text := "we are `it is` and ``a ` b`` then\n```\nwe are here\n```\nwe are `open"
	var got []string
	for _, s := range codeSpans(text) {
		got = append(got, text[s[0]:s[1]])
	}
	if want := "`it is`|``a ` b``|```\nwe are here\n```"; strings.Join(got, "|") != want {
		t.Fatalf("code spans %q", got)
	}
	l := NewLayout(text, PolicyAll)
	sym := make([]int, l.NumSlots())
	for i := range sym {
		sym[i] = 1
	}
	c := l.Render(sym)
	for _, span := range got {
		if !strings.Contains(c, span) {
			t.Errorf("code %q altered in %q", span, c)
		}
	}
}

func TestCanonicalizeWrappedPhrase(t *testing.T) {
	if a, b := Canonicalize("so it\nis agreed"), Canonicalize("so it's agreed"); a != b {
		t.Errorf("%q != %q", a, b)
	}
}
