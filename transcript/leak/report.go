package leak

import (
	"fmt"
	"io"
	"strings"
)

const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
)

func verdictColour(v Verdict) string {
	switch v {
	case Authentic:
		return ansiGreen
	case Misattributed, Misdated:
		return ansiYellow
	}
	return ansiRed
}

// WriteText writes the report for people: one block per line with its
// verdict, source and diff, then the summary. colour adds ANSI colours
// (use it on a terminal, not when piped).
func (r *Report) WriteText(w io.Writer, colour bool) error {
	paint := func(c, s string) string {
		if !colour {
			return s
		}
		return c + s + ansiReset
	}
	var b strings.Builder
	for _, l := range r.Lines {
		fmt.Fprintf(&b, "line %d  %s\n", l.Line, paint(verdictColour(l.Verdict)+ansiBold, strings.ToUpper(string(l.Verdict))))
		fmt.Fprintf(&b, "  %q\n", l.Text)
		if l.MessageID != "" {
			fmt.Fprintf(&b, "  source: message %s from %s at %s\n", l.MessageID, l.Sender, l.SentAt)
		}
		if l.Diff != "" {
			fmt.Fprintf(&b, "  %s\n", colourDiff(l.Diff, colour))
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d lines: %s authentic, %s altered, %s fabricated, %s misattributed, %s misdated (%d of %d messages matched)\n",
		s.Lines, paint(ansiGreen, fmt.Sprint(s.Authentic)), paint(ansiRed, fmt.Sprint(s.Altered)),
		paint(ansiRed, fmt.Sprint(s.Fabricated)), paint(ansiYellow, fmt.Sprint(s.Misattributed)),
		paint(ansiYellow, fmt.Sprint(s.Misdated)), s.Matched, s.Messages)
	if s.Skipped > 0 {
		fmt.Fprintf(&b, "%d lines skipped: the program's own header and notices are not messages\n", s.Skipped)
	}
	if s.Note != "" {
		fmt.Fprintf(&b, "note: %s\n", s.Note)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// colourDiff paints [-removed-] red and {+added+} green.
func colourDiff(d string, colour bool) string {
	if !colour {
		return d
	}
	r := strings.NewReplacer("[-", ansiRed+"[-", "-]", "-]"+ansiReset, "{+", ansiGreen+"{+", "+}", "+}"+ansiReset)
	return r.Replace(d)
}
