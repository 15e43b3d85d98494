package canary_test

import (
	"fmt"
	"strings"

	"backchannel/canary"
)

func Example() {
	key := make([]byte, canary.KeySize) // the sender's secret marking key
	for i := range key {
		key[i] = byte(i)
	}
	members := []string{"alice", "bob", "carol"}
	text := strings.Repeat("We are prepared to organize a meeting of the two delegations toward the end of the month, "+
		"and we have said so to the U.S. side; it is not a concession. ", 6)

	// Each member receives a different copy.
	copies := map[string]string{}
	for _, m := range members {
		c, err := canary.Mark(key, "msg-1", m, text, canary.PolicyAll)
		if err != nil {
			panic(err)
		}
		copies[m] = c
	}
	fmt.Println(canary.Canonicalize(copies["alice"]) == canary.Canonicalize(copies["bob"]))

	// Later, bob's copy surfaces, pasted.
	tr, err := canary.NewTracer(key, []canary.Message{{ID: "msg-1", Text: text, Recipients: members, Policy: canary.PolicyAll}})
	if err != nil {
		panic(err)
	}
	res, err := tr.Trace(copies["bob"], canary.DefaultEpsilon)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Verdict, res.Suspects[0].Member, res.Suspects[0].FalseAccusationBound < 1e-6)
	// Output:
	// true
	// identified bob true
}
