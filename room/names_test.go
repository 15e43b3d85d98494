package room

import (
	"errors"
	"slices"
	"testing"
)

func TestSameName(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"talks", "talks", true},
		{"talks", "Talks", true},
		{"Straße", "STRASSE", false}, // simple folding only: ß is not ss
		{"Ωmega", "ωMEGA", true},
		{"big  deal", "big deal", true},
		{"talks", "talks 2", false},
		{"talks", "talk", false},
		// Look-alike letters of other scripts read as the Latin ones.
		{"talks", "t\u0430lks", true},              // Cyrillic а
		{"Paris", "\u03a1aris", true},              // Greek Ρ
		{"ceasefire", "\u0441e\u0430sefire", true}, // Cyrillic с, а
		{"deal", "\uff44\uff45\uff41\uff4c", true}, // fullwidth
		{"talks", "t\u0430les", false},
		{"Москва", "Moskva", false}, // a Cyrillic word is not a Latin one
	} {
		if got := SameName(c.a, c.b); got != c.same {
			t.Errorf("SameName(%q, %q) = %v, want %v", c.a, c.b, got, c.same)
		}
	}
}

// A member's room named with a look-alike letter is labelled with its
// creator, never shown as a bare "talks" beside one's own.
func TestLookalikeNameIsLabelled(t *testing.T) {
	rs := []Named{
		{ID: "aaaa1111", Name: "talks", Creator: "alice"},
		{ID: "bbbb2222", Name: "t\u0430lks", Creator: "bob"},
	}
	got := Labels("alice", rs)
	if got[0] != "talks" || got[1] != "t\u0430lks (bob's)" {
		t.Errorf("labels %q, want the look-alike room labelled with bob", got)
	}
	if id := Taken(rs[:1], "t\u0430lks", ""); id != "aaaa1111" {
		t.Errorf("a look-alike of one's own room's name is not taken: %q", id)
	}
}

func TestLabelsAndResolve(t *testing.T) {
	rs := []Named{
		{ID: "aaaa1111", Name: "talks", Creator: "alice"},
		{ID: "bbbb2222", Name: "Talks", Creator: "bob"},
		{ID: "cccc3333", Name: "board", Creator: "carol"},
		{ID: "dddd4444", Name: "board", Creator: "carol"},
		{ID: "eeee5555", Name: "old", Creator: "alice", Gone: true},
		{ID: "ffff6666", Name: "old", Creator: "alice"},
		{ID: "aaab7777", Name: "solo", Creator: "dave"},
	}
	want := []string{"talks", "Talks (bob's)", "board (carol's, cccc3333)", "board (carol's, dddd4444)", "old (eeee5555)", "old", "solo"}
	if got := Labels("alice", rs); !slices.Equal(got, want) {
		t.Fatalf("labels\n got %q\nwant %q", got, want)
	}
	for _, c := range []struct {
		ref  string
		want int
		err  error
	}{
		{"talks", 0, nil},          // alice's own wins over bob's
		{"TALKS", 0, nil},          // names compare without case
		{"Talks (bob's)", 1, nil},  // the label names bob's
		{"bbbb", 1, nil},           // an id prefix
		{"bbbb2222", 1, nil},       // the id
		{"old", 5, nil},            // the room alice is still in
		{"old (eeee5555)", 4, nil}, // the one she left, by label
		{"board", -1, ErrAmbiguousRef},
		{"aaa", -1, ErrNoSuchRoom},  // too short for a prefix
		{"aaa1", -1, ErrNoSuchRoom}, // no id starts so
		{"aaab", 6, nil},
		{"aaaa", 0, nil},
		{"nothing", -1, ErrNoSuchRoom},
	} {
		got, err := Resolve("alice", rs, c.ref)
		if !errors.Is(err, c.err) || (c.err == nil && got != c.want) {
			t.Errorf("Resolve(%q) = %d, %v; want %d, %v", c.ref, got, err, c.want, c.err)
		}
	}
	if got := Taken(rs, "TALKS", ""); got != "aaaa1111" {
		t.Errorf("Taken(TALKS) = %q", got)
	}
	if got := Taken(rs, "talks", "aaaa1111"); got != "bbbb2222" {
		t.Errorf("Taken(talks) except alice's = %q, want bob's", got)
	}
	if got := Taken(rs[4:5], "old", ""); got != "" {
		t.Errorf("a room one has left takes its name: %q", got)
	}
}
