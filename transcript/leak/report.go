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
		if l.Noise != "" {
			fmt.Fprintf(&b, "  %s\n", l.Noise)
		}
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%s  %s\n", paint(ansiRed+ansiBold, strings.ToUpper(f.Kind)), f.Text)
		if len(f.Messages) > 0 {
			fmt.Fprintf(&b, "  messages: %s\n", strings.Join(f.Messages, ", "))
		}
	}
	s := r.Summary
	fmt.Fprintf(&b, "\n%d lines: %s authentic, %s altered, %s fabricated, %s misattributed, %s misdated (%d of %d messages matched)\n",
		s.Lines, paint(ansiGreen, fmt.Sprint(s.Authentic)), paint(ansiRed, fmt.Sprint(s.Altered)),
		paint(ansiRed, fmt.Sprint(s.Fabricated)), paint(ansiYellow, fmt.Sprint(s.Misattributed)),
		paint(ansiYellow, fmt.Sprint(s.Misdated)), s.Matched, s.Messages)
	if s.Reordered+s.Omitted > 0 {
		fmt.Fprintf(&b, "arrangement: %s out of order, %s of left-out messages\n",
			paint(ansiRed, plural(s.Reordered, "run of lines", "runs of lines")), paint(ansiRed, plural(s.Omitted, "gap", "gaps")))
	}
	if s.Noisy > 0 {
		fmt.Fprintf(&b, "%s authentic with copying noise (scanner confusions, typos, spacing), shown but not counted\n", plural(s.Noisy, "line", "lines"))
	}
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

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
