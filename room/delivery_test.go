package room

import (
	"fmt"
	"slices"
	"testing"
)

func TestDeliveredTo(t *testing.T) {
	// a1 ← a2 ← b1 (bob cites a2), a3 is alice's latest, c1 cites a1 only.
	dag := map[string][]string{
		"a1": nil,
		"a2": {"a1"},
		"b1": {"a2"},
		"a3": {"b1"},
		"c1": {"a1"},
	}
	acks := Vouch(nil, "bob", []string{"a2"}) // bob's b1 names a2 as its parent
	acks = Vouch(acks, "carol", []string{"a1"})
	acks = Vouch(acks, "dave", []string{"zz"}) // an entry alice does not know
	reach := Reached(dag, acks)
	for _, c := range []struct {
		entry string
		want  []string
	}{
		{"a1", []string{"bob", "carol"}},
		{"a2", []string{"bob"}},
		{"a3", []string{}}, // nobody has shown it yet
		{"", []string{}},
	} {
		if got := reach.DeliveredTo(c.entry, []string{"bob", "carol", "dave"}); !slices.Equal(got, c.want) {
			t.Errorf("DeliveredTo(%q) = %q, want %q", c.entry, got, c.want)
		}
	}
	// A heartbeat naming a3 as bob's head of alice's entries.
	reach = Reached(dag, Vouch(acks, "bob", []string{"a3"}))
	if got := reach.DeliveredTo("a3", []string{"bob", "carol"}); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("after bob's heartbeat: %q", got)
	}
}

func TestVouchIsBounded(t *testing.T) {
	var acks map[string][]string
	for i := range 3 * MaxVouched {
		acks = Vouch(acks, "bob", []string{fmt.Sprint(i), fmt.Sprint(i)})
	}
	got := acks["bob"]
	if len(got) != MaxVouched || got[len(got)-1] != fmt.Sprint(3*MaxVouched-1) {
		t.Fatalf("kept %d entries, last %q", len(got), got[len(got)-1])
	}
	if Vouch(nil, "bob", nil) != nil {
		t.Fatal("nothing vouched made a map")
	}
}
