package canary

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// interleaveMerge builds the copy colluders make by taking runs of 5 to 20
// slots alternately from their copies (a run continues across messages),
// as the evaluation harness does.
func interleaveMerge(t *testing.T, key []byte, msgs []Message, colluders []string, rng *rand.Rand) string {
	t.Helper()
	var parts []string
	cur, run := 0, 0
	for _, m := range msgs {
		l := NewLayout(m.Text, m.Policy)
		var cws [][]int
		for _, c := range colluders {
			cw, err := Codeword(key, m.ID, c, l)
			if err != nil {
				t.Fatal(err)
			}
			cws = append(cws, cw)
		}
		out := make([]int, l.NumSlots())
		for i := range out {
			if run <= 0 {
				cur = (cur + 1 + rng.IntN(len(cws)-1)) % len(cws)
				run = 5 + rng.IntN(16)
			}
			run--
			out[i] = cws[cur][i]
		}
		parts = append(parts, l.Render(out))
	}
	return strings.Join(parts, "\n\n")
}

// The attack: three colluders interleave their copies and retype the
// result. Once retyped, each slot read comes from a colluder drawn at
// random, and every colluder's own score matches on a third of the slots
// beyond chance; the trio test, given the other two colluders, names one
// of them, and nobody else is named.
func TestRetypedInterleavedMergeNamedByTrioTest(t *testing.T) {
	named := traceRetypedMerges(t, 31, interleaveMerge, 0)
	total := 0
	for _, n := range named {
		total += n
	}
	if total < 4 || named["trio"] == 0 {
		t.Errorf("of 4 triples, named by test: %v (want all 4, some by the trio test)", named)
	}
	// The trio test alone, with its share of ε, names one of each triple
	// given the other two, and nobody else.
	key := testKey(31)
	msgs := sentMessages(longProse(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(31, 8))
	trio := 0
	for trial, colluders := range threeOfSix {
		leak := Normalize(interleaveMerge(t, key, msgs, colluders, rng))
		hit := false
		for mem, v := range trioScores(t, tr, leak) {
			if v.log() > math.Log(1e-6) {
				continue
			}
			if !slices.Contains(colluders, mem) {
				t.Fatalf("trial %d: the trio test names innocent %s", trial, mem)
			}
			partners := []string{tr.members[v.pair[0]], tr.members[v.pair[1]]}
			if slices.Contains(partners, mem) {
				t.Errorf("trial %d: %s is their own partner: %v", trial, mem, partners)
			}
			hit = true
		}
		if hit {
			trio++
		}
	}
	if trio < 3 {
		t.Errorf("the trio test alone named a colluder in %d of 4 trials (want 3 or more)", trio)
	}
}

// trioScores traces leak up to the scores and runs the trio test alone,
// at ε = 1 (no member is skipped as already named).
func trioScores(t *testing.T, tr *Tracer, leak string) map[string]verdictBound {
	return oneTest(t, tr, leak, (*Tracer).trioTest)
}

// traceState is what a trace of leak computes before its tests: the
// deriver, the slots read and every member's scores.
func traceState(t *testing.T, tr *Tracer, leak string) (*deriver, [][]altRead, map[int32]*memberScore) {
	t.Helper()
	d, err := newDeriver(tr.key)
	if err != nil {
		t.Fatal(err)
	}
	lt := tokenize(leak)
	lcanon, _ := canonicalTokens(mustLexicon(), lt)
	res := &Result{SlotsByChannel: map[string]int{}}
	rsegs := tr.read(d, tr.align(lt, lcanon), lt, lcanon, res)
	return d, rsegs, tr.score(d, rsegs)
}

// oneTest traces leak up to the scores and runs one of the tests that
// condition on other members' symbols alone, at ε = 1.
func oneTest(t *testing.T, tr *Tracer, leak string, test func(*Tracer, *deriver, [][]altRead, map[int32]*memberScore, float64, map[int32]verdictBound) map[int32]verdictBound) map[string]verdictBound {
	t.Helper()
	d, rsegs, scores := traceState(t, tr, leak)
	out := map[string]verdictBound{}
	for mem, v := range test(tr, d, rsegs, scores, 1, nil) {
		out[tr.members[mem]] = v
	}
	return out
}

// The trio test's bound holds for innocent members, in the case that
// gives them the most help: the partners are the real colluders (an
// interleaved merge of three of ten members' copies, retyped). Over many
// leaks, the bound before the union, exp(lb), is at most α for at most
// about α of the innocent members, at every level α tried; the same holds
// on leaks that are nobody's copy. (A member whose score is not positive
// gets no bound from the test: counted as 1.) A bound that undercounted would show
// here as too many innocents at small α. Every trial draws its own marking
// key: with one key, the trials would draw again and again from the same
// few pairs of codewords, and the count would not be a binomial one.
// CANARY_TRIO_NULL_TRIALS runs more trials (20,000 innocents reach α = 10⁻³).
func TestTrioTestNullOnManyLeaks(t *testing.T) {
	ten := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"}
	paras := proseParagraphs(t)
	msgs := sentMessages(paras, ten, PolicyAll)
	rng := rand.New(rand.NewPCG(33, 34))
	levels := []float64{0.3, 0.1, 0.03, 0.01, 0.003}
	var below [5]int
	innocents, colluderNamed := 0, 0
	trials := 150
	if n, err := strconv.Atoi(os.Getenv("CANARY_TRIO_NULL_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	for trial := range trials {
		key := make([]byte, KeySize)
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		tr, err := NewTracer(key, msgs)
		if err != nil {
			t.Fatal(err)
		}
		var leak string
		var colluders []string
		if trial%3 == 2 {
			// nobody's copy: random symbols in every slot
			var parts []string
			for _, m := range msgs {
				l := NewLayout(m.Text, m.Policy)
				sym := make([]int, l.NumSlots())
				for i := range sym {
					sym[i] = rng.IntN(l.Alphabet(i))
				}
				parts = append(parts, l.Render(sym))
			}
			leak = strings.Join(parts, "\n\n")
		} else {
			for _, i := range rng.Perm(len(ten))[:3] {
				colluders = append(colluders, ten[i])
			}
			leak = interleaveMerge(t, key, msgs, colluders, rng)
		}
		// an excerpt of 400 to 1,500 words, retyped
		words := strings.Fields(Normalize(leak))
		n := 400 + rng.IntN(1100)
		start := rng.IntN(max(len(words)-n, 1))
		leak = strings.Join(words[start:min(start+n, len(words))], " ")
		vs := trioScores(t, tr, leak)
		for _, mem := range ten {
			v := vs[mem] // a member the test did not bound has lb = 0
			if slices.Contains(colluders, mem) {
				if v.lb <= math.Log(1e-3) {
					colluderNamed++
				}
				continue
			}
			innocents++
			for i, a := range levels {
				if v.lb <= math.Log(a) {
					below[i]++
				}
			}
		}
	}
	if innocents < 7*trials {
		t.Fatalf("only %d innocent members scored", innocents)
	}
	for i, a := range levels {
		// the count of a Binomial(innocents, α) with four standard
		// deviations of room (members of one leak are not independent)
		allowed := a*float64(innocents) + 4*math.Sqrt(a*float64(innocents)) + 2
		if float64(below[i]) > allowed {
			t.Errorf("%d of %d innocent members have a trio bound at most %g (at most %.0f allowed)", below[i], innocents, a, allowed)
		}
		t.Logf("α = %g: %d of %d innocent members", a, below[i], innocents)
	}
	// 400 to 1,500 words of this prose hold 10 to 40 slots: too few to
	// name a colluder, so the count is logged, not checked (the test
	// above checks the power).
	t.Logf("colluders at a bound of at most 1e-3: %d", colluderNamed)
}

// A trio accusation is explained with its partners.
func TestExplainTrio(t *testing.T) {
	s := Suspect{Member: "carol", Test: "trio", Pair: []string{"alice", "bob"}, SlotsRead: 138, SlotsMatched: 97, FalseAccusationBound: 4e-7}
	got := s.Explain()
	for _, want := range []string{"carol's copy interleaved", "given alice's and bob's copies", "97 of 138", "trio test", "4.0e-07"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}
