package eval

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"backchannel/canary"
)

// colludeRows is the grid of TestColludeRows: three retyped colluders
// (every merge) and one retyped sender, in rooms of 3, 10 and 50, at the
// given lengths.
func colludeRows(colludeWords, singleWords []int) []Case {
	var out []Case
	for _, members := range []int{3, 10, 50} {
		for _, strat := range []string{Majority, Minority, Interleave} {
			out = append(out, ladder(Case{Condition: Retype, Policy: canary.PolicyAll, Strategy: strat, Colluders: 3, Members: members}, colludeWords)...)
		}
		out = append(out, ladder(single(Retype, canary.PolicyAll, members), singleWords)...)
	}
	return out
}

// TestColludeRows runs the colluder rows and the single-sender retyped rows
// of the harness on our own texts (testdata/own) and on the shared corpus,
// for the figures of docs/benchmarks.md ("Issue 11: interleaved
// colluders"). It takes minutes, so it runs only when CANARY_COLLUDE_TRIALS
// gives the trials per row:
//
//	CANARY_COLLUDE_TRIALS=100 nice -n 19 go test -run TestColludeRows -v -timeout 0 ./canary/eval
//
// CANARY_COLLUDE_CORPUS=own or shared runs one corpus only;
// CANARY_COLLUDE_STRATEGY=interleave (or single, majority, minority) runs
// that strategy's rows only; CANARY_COLLUDE_WORDS=6000,8000 sets the
// colluders' lengths on the shared corpus (default 2000,4000).
func TestColludeRows(t *testing.T) {
	trials, _ := strconv.Atoi(os.Getenv("CANARY_COLLUDE_TRIALS"))
	if trials <= 0 {
		t.Skip("set CANARY_COLLUDE_TRIALS to run")
	}
	type corpus struct {
		name, dir       string
		collude, single []int
	}
	var corpora []corpus
	want := os.Getenv("CANARY_COLLUDE_CORPUS")
	if want == "" || want == "own" {
		corpora = append(corpora, corpus{"own", filepath.Join("testdata", "own"), []int{2000}, []int{600, 1000}})
	}
	if want == "" || want == "shared" {
		dir, err := FindCorpus(".")
		if err != nil {
			t.Fatal(err)
		}
		lengths := []int{2000, 4000}
		if w := os.Getenv("CANARY_COLLUDE_WORDS"); w != "" {
			lengths = nil
			for _, f := range strings.Split(w, ",") {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatal(err)
				}
				lengths = append(lengths, n)
			}
		}
		corpora = append(corpora, corpus{"shared", dir, lengths, []int{600, 1000}})
	}
	for _, c := range corpora {
		cases := colludeRows(c.collude, c.single)
		if strat := os.Getenv("CANARY_COLLUDE_STRATEGY"); strat != "" {
			cases = slices.DeleteFunc(cases, func(x Case) bool { return x.Strategy != strat })
		}
		tab, err := Run(context.Background(), Config{CorpusDir: c.dir, Trials: trials, Seed: 1, Cases: cases}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s corpus:\n%s", c.name, tab.Markdown())
		for _, r := range tab.Rows {
			if r.FalseAccusations != 0 {
				t.Errorf("%+v: innocent members named", r)
			}
		}
	}
}
