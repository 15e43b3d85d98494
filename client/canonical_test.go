package client

import (
	"fmt"
	"testing"

	"backchannel/canary"
)

// The canonical text is part of the protocol (docs/protocol.md section 13,
// "One meaning for every member"): a manifest commits to it, and every
// recipient recomputes it. If canary's normalisation, tokeniser or lexicon
// changes what these texts fold to, messages from clients on either side of
// the change would be flagged as sent with two meanings: treat it as a
// format change (new CanonicalCommitmentLabel), not a refactoring.
func TestCanonicalTextIsStable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"We will not sign before Friday.", "we will not sign prior to friday"},
		{"It\u2019s a \u201cfirm\u201d no \u2014 the U.S. organise it.", "it is a firm no the u.s. organize it"},
		{"We\u200b will\u2060 not\u00a0sign.", "we will not sign"},
		{"- first item\n  * second item", "first item second item"},
		{"Our ceiling is 12 million.", "our ceiling is twelve million"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := canonicalText(tc.in); got != tc.want {
			t.Errorf("canonicalText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzCanonicalCopies: marking never changes a text's canonical text, for
// any recipient, so an honest sender's copies all open the one canonical
// commitment (otherwise commitCopies refuses to send).
func FuzzCanonicalCopies(f *testing.F) {
	for _, s := range []string{"We will not sign before Friday.", "It's a \u201cfirm\u201d no \u2014 organise it\u2026", "  - indented\n  - list", "Mr Smith and Dr. Jones, e.g. 10 per cent."} {
		f.Add(s, uint8(0))
	}
	key := make([]byte, canary.KeySize)
	f.Fuzz(func(t *testing.T, text string, n uint8) {
		want := canonicalText(text)
		copies, err := canary.MarkEach(key, fmt.Sprintf("%032x", n), text, canary.PolicyAll, []string{"bob", "carol", "dave"})
		if err != nil {
			return // not markable (e.g. invalid UTF-8): nothing is sent
		}
		for i, c := range copies {
			if got := canonicalText(c); got != want {
				t.Fatalf("copy %d of %q has canonical text %q, the original %q", i, text, got, want)
			}
		}
	})
}
