package transcript

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the bundle report for people; colour adds ANSI colours
// (on a terminal, not when piped).
func (r *BundleReport) WriteText(w io.Writer, colour bool) error {
	paint := func(c, s string) string {
		if !colour {
			return s
		}
		return c + s + "\x1b[0m"
	}
	var b strings.Builder
	status := paint("\x1b[1;32m", "VALID")
	if !r.OK {
		status = paint("\x1b[1;31m", "INVALID")
	}
	fmt.Fprintf(&b, "%s  room %s (%s): %d entries, %d disclosed\n", status, r.Room, r.Mode, r.Entries, r.Disclosed)
	for _, m := range r.Members {
		trust := "as listed in the bundle"
		if m.Trusted {
			trust = "matches the trusted key"
		}
		fmt.Fprintf(&b, "  member %-16s key fingerprint %s (%s)\n", m.ID, m.Fingerprint, trust)
		for _, d := range m.Devices {
			proof := "NOT proven to be " + m.ID + "'s"
			if d.Proven {
				proof = "in " + m.ID + "'s signed device list"
			}
			fmt.Fprintf(&b, "    device key fingerprint %s (%s)\n", d.Fingerprint, proof)
		}
	}
	if len(r.Unverified) > 0 {
		fmt.Fprintf(&b, "  %s %s: nobody vouched for these identity keys; compare the fingerprints with the members themselves\n",
			paint("\x1b[1;33m", "UNVERIFIED IDENTITIES:"), strings.Join(r.Unverified, ", "))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s %s\n", paint("\x1b[31m", "problem:"), p)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "  %s %s\n", paint("\x1b[33m", "warning:"), w)
	}
	for _, c := range r.Claims {
		fmt.Fprintf(&b, "  proves: %s\n", c)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
