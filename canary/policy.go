package canary

import (
	"fmt"
	"strings"
)

// Policy selects the marking channels of a room. It is chosen by the room's
// creator and shown to every member before the first message.
type Policy uint8

// Marking channels. Policies combine them; PolicyAll is the default.
const (
	PolicyOff         Policy = 0
	PolicyInvisible   Policy = 1 << 0 // zero-width characters in word gaps
	PolicyTypographic Policy = 1 << 1 // quote, dash, ellipsis and sentence-spacing styles
	PolicyLexical     Policy = 1 << 2 // curated meaning-preserving wording alternatives
	PolicyAll                = PolicyInvisible | PolicyTypographic | PolicyLexical

	// DefaultPolicy is used when a room does not choose one: all channels,
	// because only lexical marks survive a retyped leak (see docs/canary.md).
	DefaultPolicy = PolicyAll
)

// Has reports whether every channel of c is enabled in p.
func (p Policy) Has(c Policy) bool { return p&c == c && c != 0 }

// String returns the policy in the form ParsePolicy accepts.
func (p Policy) String() string {
	switch p {
	case PolicyOff:
		return "off"
	case PolicyAll:
		return "all"
	}
	var parts []string
	for _, c := range []struct {
		p    Policy
		name string
	}{{PolicyInvisible, "invisible"}, {PolicyTypographic, "typographic"}, {PolicyLexical, "lexical"}} {
		if p.Has(c.p) {
			parts = append(parts, c.name)
		}
	}
	if p&^PolicyAll != 0 {
		parts = append(parts, fmt.Sprintf("unknown(%#x)", uint8(p&^PolicyAll)))
	}
	return strings.Join(parts, "+")
}

// ParsePolicy parses off, invisible, typographic, lexical, all, or a
// "+"-separated combination such as "invisible+typographic". The empty string
// gives DefaultPolicy.
func ParsePolicy(s string) (Policy, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return DefaultPolicy, nil
	}
	var p Policy
	for _, part := range strings.Split(s, "+") {
		switch strings.TrimSpace(part) {
		case "off", "none":
			// contributes nothing
		case "invisible":
			p |= PolicyInvisible
		case "typographic":
			p |= PolicyTypographic
		case "lexical":
			p |= PolicyLexical
		case "all":
			p |= PolicyAll
		default:
			return 0, fmt.Errorf("unknown marking policy %q (want off|invisible|typographic|lexical|all)", part)
		}
	}
	return p, nil
}

// MarshalText encodes the policy as ParsePolicy accepts it.
func (p Policy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes a policy with ParsePolicy.
func (p *Policy) UnmarshalText(b []byte) error {
	v, err := ParsePolicy(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}
