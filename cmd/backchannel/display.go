package main

import (
	"fmt"
	"io"
	"strings"
	"unicode"

	"backchannel/names"
)

// Everything other people wrote or named reaches the terminal through one
// of these three functions, so that it can neither repaint the screen nor
// pass off text of its own as the program's.

// safe prepares a message text for a terminal: control characters (escape
// sequences included, C1 too), bidirectional embeddings, overrides and
// isolates are shown as U+FFFD, and every line after the first (a newline,
// or a Unicode line or paragraph separator) is indented, so a message can
// neither repaint the screen nor pass off a line of its own as a line from
// someone else. Zero-width characters (canary marks) are kept.
func safe(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimRight(s, "\n") {
		switch {
		case r == '\n' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			b.WriteString("\n      │ ")
		case r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r), r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// maxShownName bounds a name on one line of output.
const maxShownName = 80

// safeName shows a name (of a document, room or device) on one line: what
// the rule for names forbids is escaped visibly (\x1b, \n, \u202e), and a
// name longer than maxShownName characters is cut with "…".
func safeName(s string) string { return names.Quote(s, maxShownName) }

// safeLine shows a warning or an error, which may quote what others sent,
// on one line with everything the rule for names forbids escaped.
func safeLine(s string) string { return names.Quote(s, 0) }

// warn prints a warning on w, safely.
func warn(w io.Writer, s string) { fmt.Fprintln(w, "warning:", safeLine(s)) }

// padName pads a shown name to width characters, for tables.
func padName(s string, width int) string {
	shown := safeName(s)
	if n := len([]rune(shown)); n < width {
		shown += strings.Repeat(" ", width-n)
	}
	return shown
}
