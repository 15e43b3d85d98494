package main

import (
	"strings"
	"unicode"
)

// safe prepares text written by other people for a terminal line: control
// characters (escape sequences included) and bidirectional overrides are
// shown as U+FFFD, and every line after the first is indented, so a message
// can neither repaint the screen nor pass off a line of its own as a line
// from someone else. Zero-width characters (canary marks) are kept.
func safe(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimRight(s, "\n") {
		switch {
		case r == '\n':
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
