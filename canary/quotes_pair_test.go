package canary

import (
	"strings"
	"testing"
)

// A pair of double quotes is restyled as one: every marked copy shows
// "annex" or “annex”, never “annex" (issue 13 review).
func TestDoubleQuotesStayPaired(t *testing.T) {
	texts := []string{
		`see "annex" -- section 2.`,
		`He said "we accept", then "we will sign" and left.`,
		`"Quoted" at the start, and "again" in the middle of a longer sentence here.`,
		`Mixed “curly” and "straight" quotes, both kept in pairs.`,
	}
	for _, text := range texts {
		l := NewLayout(text, PolicyAll)
		for copyN := 0; copyN < 64; copyN++ {
			syms := make([]int, l.NumSlots())
			for i := range syms {
				syms[i] = (copyN >> (i % 6)) % l.Alphabet(i)
				if i%2 == 1 {
					syms[i] = (copyN + i) % l.Alphabet(i)
				}
			}
			out := l.Render(syms)
			open := rune(0)
			for _, r := range out {
				switch r {
				case '\u201C':
					open = r
				case '\u201D':
					if open != '\u201C' {
						t.Fatalf("a curly closing quote after a straight opening one in %q", out)
					}
					open = 0
				case '"':
					if open == '\u201C' {
						t.Fatalf("a straight closing quote after a curly opening one in %q", out)
					}
					if open == '"' {
						open = 0
					} else {
						open = '"'
					}
				}
			}
			if strings.Count(out, "\u201C") != strings.Count(out, "\u201D") {
				t.Fatalf("unpaired curly quotes in %q", out)
			}
		}
	}
}
