package canary

import "testing"

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Policy
		err  bool
	}{
		{"", DefaultPolicy, false},
		{"off", PolicyOff, false},
		{"invisible", PolicyInvisible, false},
		{"typographic", PolicyTypographic, false},
		{"lexical", PolicyLexical, false},
		{"all", PolicyAll, false},
		{"Invisible+Typographic", PolicyInvisible | PolicyTypographic, false},
		{"loud", 0, true},
		{"invisible+", 0, true},
	} {
		got, err := ParsePolicy(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v, err=%v", tc.in, got, err, tc.want, tc.err)
		}
		if !tc.err {
			back, err := ParsePolicy(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %v via %q = %v, %v", got, got.String(), back, err)
			}
		}
	}
	if DefaultPolicy != PolicyAll {
		t.Errorf("DefaultPolicy = %v; docs/canary.md documents all", DefaultPolicy)
	}
}
