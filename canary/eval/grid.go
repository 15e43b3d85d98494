package eval

import "backchannel/canary"

// lengths of the words-needed ladders.
var (
	pasteLadder   = []int{10, 15, 20, 25, 30, 40, 50}
	editsLadder   = []int{25, 50, 75, 100, 150}
	retypeLadder  = []int{200, 400, 600, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000}
	stripLadder   = []int{50, 100, 200, 300, 400, 600, 800, 1000, 1500, 2000, 3000}
	pressLadder   = []int{400, 600, 800, 1000, 1200, 1500, 2000, 2500, 3000, 4000}
	colludeLadder = []int{1000, 2000, 3000, 4000, 6000, 8000}
	pooledLadder  = []int{200, 400, 600, 800, 1000, 1200, 1600, 2000}
)

func ladder(c Case, words []int) []Case {
	out := make([]Case, 0, len(words))
	for _, w := range words {
		c.Words = w
		out = append(out, c)
	}
	return out
}

func single(cond string, p canary.Policy, members int) Case {
	return Case{Condition: cond, Policy: p, Strategy: Single, Colluders: 1, Members: members}
}

// DefaultCases is the full grid: every leak form of issues 5 and 11, each
// on a ladder of lengths (for the words needed), for rooms of 3, 10 and 50
// members where the room size matters, and pooled conversations among 5.
func DefaultCases() []Case {
	var out []Case
	for _, members := range []int{3, 10, 50} {
		out = append(out, ladder(single(Paste, canary.PolicyInvisible, members), pasteLadder)...)
		out = append(out, ladder(single(Paste, canary.PolicyAll, members), pasteLadder)...)
		out = append(out, ladder(single(PasteEdits, canary.PolicyAll, members), editsLadder)...)
		out = append(out, ladder(single(Retype, canary.PolicyAll, members), retypeLadder)...)
		out = append(out, ladder(single(Typos, canary.PolicyAll, members), retypeLadder)...)
		out = append(out, ladder(single(Press, canary.PolicyAll, members), pressLadder)...)
		for _, cond := range []string{Strip, Scramble, Randomise} {
			out = append(out, ladder(single(cond, canary.PolicyAll, members), stripLadder)...)
		}
		for _, strat := range []string{Majority, Minority, Interleave} {
			out = append(out, ladder(Case{Condition: Retype, Policy: canary.PolicyAll, Strategy: strat, Colluders: 3, Members: members}, colludeLadder)...)
		}
		for _, cond := range []string{Paste, Retype, Press, Randomise} {
			out = append(out, Case{Condition: cond, Policy: canary.PolicyAll, Strategy: Outsider, Members: members, Words: 2000})
		}
	}
	for _, members := range []int{10} {
		out = append(out, ladder(single(Edits, canary.PolicyAll, members), retypeLadder)...)
		out = append(out, ladder(single(Paraphrase, canary.PolicyAll, members), retypeLadder)...)
		for _, strat := range []string{Majority, Interleave} {
			for _, n := range []int{2, 3} {
				out = append(out, ladder(Case{Condition: Paste, Policy: canary.PolicyAll, Strategy: strat, Colluders: n, Members: members}, []int{50, 100, 300})...)
			}
		}
	}
	for _, assign := range []string{RoundRobin, AtRandom} {
		out = append(out, ladder(Case{Condition: Pooled, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 5, Senders: 5, Assign: assign}, pooledLadder)...)
		out = append(out, Case{Condition: Pooled, Policy: canary.PolicyAll, Strategy: Outsider, Members: 5, Senders: 5, Assign: assign, Words: 800})
	}
	return out
}

// QuickCases is a small grid for tests (go test ./canary/...): one row of
// every leak form.
func QuickCases() []Case {
	return []Case{
		{Condition: Paste, Policy: canary.PolicyInvisible, Strategy: Single, Colluders: 1, Members: 10, Words: 25},
		{Condition: Retype, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10, Words: 2000},
		{Condition: Typos, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10, Words: 2000},
		{Condition: Press, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10, Words: 1600},
		{Condition: Strip, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10, Words: 1000},
		{Condition: Scramble, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10, Words: 1000},
		{Condition: Randomise, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10, Words: 1000},
		{Condition: Paste, Policy: canary.PolicyAll, Strategy: Majority, Colluders: 3, Members: 10, Words: 1000},
		{Condition: Retype, Policy: canary.PolicyAll, Strategy: Minority, Colluders: 3, Members: 10, Words: 4000},
		{Condition: Pooled, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 5, Senders: 5, Assign: RoundRobin, Words: 800},
		{Condition: Paste, Policy: canary.PolicyAll, Strategy: Outsider, Colluders: 0, Members: 10, Words: 1000},
		{Condition: Press, Policy: canary.PolicyAll, Strategy: Outsider, Colluders: 0, Members: 10, Words: 1000},
	}
}
