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

// sanitizeText shows a message's text: its lines, each with control and
// reordering characters replaced by U+FFFD (so nothing another member sent
// can move the cursor, clear the screen or reorder the line). The marks
// (zero-width characters) stay: they take no room.
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
			}
			return r
		}, l)
	}
	return lines
}

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
