package tui

import (
	"strings"
	"unicode"

	"github.com/charmbracelet/x/ansi"

	"backchannel/names"
)

// sanitizeLine shows a name, a warning or an error on one line with every
// control, format or line-breaking character as a visible escape.
func sanitizeLine(s string) string { return names.Quote(s, 0) }

// bidiControl: the characters that reorder what follows them on screen.
func bidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// sanitizeText shows a message's text, or any other text from the
// network: its lines, each with control and reordering characters replaced
// by U+FFFD (so nothing another member sent can move the cursor, clear the
// screen or reorder the line), and every other format character (Unicode
// category Cf: the canary's zero-width marks U+200B, U+200C, U+200D,
// U+2060, U+FEFF, soft hyphens, tags) left out. Terminals disagree on
// those (tmux joins a U+200D to the cell beside it), so the screen's
// widths are exact only without them; `backchannel read` keeps the exact
// copy.
func sanitizeText(s string) []string {
	s = strings.NewReplacer("\r\n", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n").Replace(strings.TrimRight(s, "\n"))
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Map(func(r rune) rune {
			switch {
			case r == '\t':
				return ' '
			case unicode.IsControl(r), bidiControl(r):
				return '\uFFFD'
			case unicode.Is(unicode.Cf, r):
				return -1
			}
			return r
		}, l)
	}
	return lines
}

// sanitizeField shows a short value from the network (a room's mode or
// marking, a reason) on one line: as sanitizeText, its lines joined by
// spaces.
func sanitizeField(s string) string { return strings.Join(sanitizeText(s), " ") }

// cleanInput is what typed or pasted text may put in the composer: escape
// sequences removed whole, line breaks and tabs as spaces, other control
// and reordering characters dropped.
func cleanInput(s string) string {
	s = ansi.Strip(s)
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r), bidiControl(r), r == unicode.ReplacementChar:
			return -1
		}
		return r
	}, s)
}
