package demo

import (
	"slices"
	"testing"
)

func TestVisible(t *testing.T) {
	for _, tc := range []struct {
		name, original, copy string
		highlight            bool
		want                 string
		differs              []string
	}{
		{"unmarked", "keep it short", "keep it short", false, "keep it short", nil},
		{"each zero-width character its symbol", "a b c d e", "a \u200bb \u200cc \u2060d \u200de", false, "a ·b ∘c •d ⋄e", nil},
		{"another invisible character", "a b", "a \u00adb", false, "a ¤b", nil},
		{"special and extra spaces", "One. Two three", "One.  Two\u00a0three", false, "One. ␣Two␣three", nil},
		{"a changed word", "to two pages", "to 2 pages", false, "to [2] pages", []string{"2"}},
		{"typography", "won't read", "won’t read", false, "[won’t] read", []string{"won’t"}},
		{"one word becomes two", "won't read", "will not read", false, "[will] [not] read", []string{"will", "not"}},
		{"a marked changed word keeps its mark", "to two pages", "to \u200b2 pages", false, "to [·2] pages", []string{"2"}},
		{"reverse video", "to two pages", "to 2 pages", true, "to \x1b[7m2\x1b[27m pages", []string{"2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Visible(tc.original, tc.copy, tc.highlight)
			if r.Text != tc.want || !slices.Equal(r.Differs, tc.differs) {
				t.Errorf("Visible(%q, %q) = %q %q, want %q %q", tc.original, tc.copy, r.Text, r.Differs, tc.want, tc.differs)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ceasefire-talks", "ceasefire-talks"},
		{"aide,adviser", "aide,adviser"},
		{"Thank you. We're done", `"Thank you. We're done"`},
		{`say "$HOME"`, `'say "$HOME"'`},
		{"it's $5", `'it'\''s $5'`},
		{"", `""`},
	} {
		if got := shellQuote(tc.in); got != tc.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
