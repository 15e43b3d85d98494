package canary

import (
	"encoding/json"
	"testing"
)

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

func TestPolicyJSON(t *testing.T) {
	b, err := json.Marshal(struct{ P Policy }{PolicyInvisible | PolicyLexical})
	if err != nil || string(b) != `{"P":"invisible+lexical"}` {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	var v struct{ P Policy }
	if err := json.Unmarshal([]byte(`{"P":"all"}`), &v); err != nil || v.P != PolicyAll {
		t.Fatalf("unmarshal: %v, %v", v.P, err)
	}
	if err := json.Unmarshal([]byte(`{"P":"loud"}`), &v); err == nil {
		t.Fatal("bad policy accepted")
	}
}
