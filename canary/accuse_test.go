package canary

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// stripInvisible drops every invisible character, as a leaker who strips
// the marks does.
func stripInvisible(s string) string {
	return strings.Map(func(r rune) rune {
		if isIgnorable(r) {
			return -1
		}
		return r
	}, s)
}

// randomiseInvisible replaces every invisible carrier with a random one:
// the marks stay where they were, their symbols say nothing.
func randomiseInvisible(rng *rand.Rand, s string) string {
	return strings.Map(func(r rune) rune {
		if slices.Contains(zeroWidth[:], r) {
			return zeroWidth[rng.IntN(len(zeroWidth))]
		}
		return r
	}, s)
}

// scrambleInvisible strips the invisible marks and puts one U+200B after
// the space of every word gap: every gap seems to carry the same symbol.
func scrambleInvisible(s string) string {
	var b strings.Builder
	prevSpace := false
	for _, r := range stripInvisible(s) {
		sp := unicode.IsSpace(r)
		if prevSpace && !sp && b.Len() > 0 {
			b.WriteRune('\u200B')
		}
		b.WriteRune(r)
		prevSpace = sp
	}
	return b.String()
}

// The attack: a leaker randomises the invisible marks of their copy, or
// floods every gap with one carrier, instead of stripping them. Whenever
// the stripped copy names the leaker, the randomised and the scrambled ones
// must too, with the invisible channel set aside or erased, and nobody
// else is ever named.
func TestRandomisedInvisibleMarksTraceAsStripped(t *testing.T) {
	key := testKey(21)
	msgs := sentMessages(longProse(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	full := copyOf(t, key, msgs, "carol")
	rng := rand.New(rand.NewPCG(5, 6))
	stripNamed := 0
	for _, words := range []int{40, 80, 150, 300, 600, 1200} {
		for trial := range 3 {
			excerpt := firstWords(full, words)
			if trial > 0 { // from further into the text
				excerpt = firstWords(strings.Join(strings.Fields(full)[trial*words:], " "), words)
			}
			stripped, err := tr.Trace(stripInvisible(excerpt), 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			randomised, err := tr.Trace(randomiseInvisible(rng, excerpt), 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			scrambled, err := tr.Trace(scrambleInvisible(excerpt), 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			if stripped.SlotsRead-stripped.SlotsByChannel["invisible"] != scrambled.SlotsRead-scrambled.SlotsByChannel["invisible"] {
				t.Errorf("%d words (trial %d): the scrambled copy reads %v visible slots, the stripped one %v", words, trial, scrambled.SlotsByChannel, stripped.SlotsByChannel)
			}
			if stripped.Verdict == Identified && scrambled.Verdict != Identified {
				t.Errorf("%d words (trial %d): stripping names carol but scrambling prevents it", words, trial)
			}
			for _, res := range []*Result{stripped, randomised, scrambled} {
				for _, s := range res.Suspects {
					if s.Member != "carol" {
						t.Fatalf("%d words: innocent %s named (%s test, bound %g)", words, s.Member, s.Test, s.FalseAccusationBound)
					}
				}
			}
			if stripped.Verdict != Identified {
				continue
			}
			stripNamed++
			if randomised.Verdict != Identified {
				t.Errorf("%d words (trial %d): stripping names carol (bound %g) but randomising prevents it (leading %+v)",
					words, trial, stripped.Suspects[0].FalseAccusationBound, randomised.Leading)
				continue
			}
			if s := randomised.Suspects[0]; s.FalseAccusationBound > stripped.Suspects[0].FalseAccusationBound*(1+1e-9) {
				t.Errorf("%d words: randomised bound %g above the stripped one %g", words, s.FalseAccusationBound, stripped.Suspects[0].FalseAccusationBound)
			}
		}
	}
	if stripNamed == 0 {
		t.Fatal("stripping never named the leaker: the test shows nothing")
	}
	// Long enough that the randomised invisible channel holds most of the
	// slots: the test that named carol set it aside.
	res, err := tr.Trace(randomiseInvisible(rng, firstWords(full, 600)), 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Identified || !slices.Equal(res.Suspects[0].SetAside, []string{"invisible"}) {
		t.Fatalf("600 randomised words: verdict %s, suspects %+v", res.Verdict, res.Suspects)
	}
	if res.Suspects[0].SlotsRead >= res.SlotsRead {
		t.Errorf("the suspect's test read %d slots of %d: the invisible ones were not set aside", res.Suspects[0].SlotsRead, res.SlotsRead)
	}
}

// minorityMerge builds the copy three colluders make when they compare
// their copies slot by slot and keep, where they differ, the symbol fewest
// of them hold: every colluder's own score then has no expected margin.
func minorityMerge(t *testing.T, key []byte, msgs []Message, colluders []string, rng *rand.Rand) string {
	return mergeCopies(t, key, msgs, colluders, rng, false)
}

// majorityMerge keeps, slot by slot, the symbol most colluders hold.
func majorityMerge(t *testing.T, key []byte, msgs []Message, colluders []string, rng *rand.Rand) string {
	return mergeCopies(t, key, msgs, colluders, rng, true)
}

func mergeCopies(t *testing.T, key []byte, msgs []Message, colluders []string, rng *rand.Rand, majority bool) string {
	t.Helper()
	var parts []string
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
			count := map[int]int{}
			for _, cw := range cws {
				count[cw[i]]++
			}
			least, most := len(cws)+1, 0
			for _, n := range count {
				least, most = min(least, n), max(most, n)
			}
			var tied []int
			for s, n := range count {
				if (!majority && n == least) || (majority && n == most) {
					tied = append(tied, s)
				}
			}
			slices.Sort(tied)
			out[i] = tied[rng.IntN(len(tied))]
		}
		parts = append(parts, l.Render(out))
	}
	return strings.Join(parts, "\n\n")
}

// The attack: three colluders merge their copies by minority and retype
// an excerpt. Each colluder's own score has no expected margin; given the
// other two, the minority test expects the third copy's symbol on every
// slot and names one of them from 2,500 words of this prose (62 slots,
// bound 6·10⁻¹⁵), where the pair test, on the quarter of the slots where
// two copies agree and the leak differs, gets 2·10⁻³ at best and needs the
// whole 6,300. Nobody else is ever named.
func TestRetypedMinorityMergeNamedByMinorityTest(t *testing.T) {
	named := traceRetypedMerges(t, 23, minorityMerge, 2500)
	if named["minority"] < 3 || len(named) != 1 {
		t.Errorf("of 4 triples at 2,500 words, named by test: %v (want 3 or more, all by the minority test)", named)
	}
	// The pair test alone still names them from the whole text.
	key := testKey(23)
	msgs := sentMessages(longProse(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(23, 8))
	pair := 0
	for trial, colluders := range threeOfSix {
		leak := Normalize(minorityMerge(t, key, msgs, colluders, rng))
		named := false
		for mem, v := range oneTest(t, tr, leak, func(tr *Tracer, d *deriver, rsegs [][]altRead, scores map[int32]*memberScore, eps float64, best map[int32]verdictBound) map[int32]verdictBound {
			return tr.mergeTests(d, rsegs, scores, eps, best, map[int]bool{testPair: true})
		}) {
			if v.log() > math.Log(1e-6) {
				continue
			}
			if !slices.Contains(colluders, mem) {
				t.Fatalf("trial %d: the pair test alone names innocent %s", trial, mem)
			}
			named = true
		}
		if named {
			pair++
		}
	}
	if pair < 3 {
		t.Errorf("the pair test alone named a colluder in %d of 4 trials (want 3 or more)", pair)
	}
}

// threeOfSix are four different triples of colluders among the members.
var threeOfSix = [][]string{{"bob", "dave", "frank"}, {"alice", "carol", "erin"}, {"alice", "bob", "carol"}, {"dave", "erin", "frank"}}

// traceRetypedMerges merges each triple's copies of the long prose with
// merge, retypes the first words of it (all when 0) and traces it. Naming
// anyone outside the triple fails the test at once; it returns how many
// triples were named, by test.
func traceRetypedMerges(t *testing.T, seed byte, merge func(*testing.T, []byte, []Message, []string, *rand.Rand) string, words int) map[string]int {
	t.Helper()
	key := testKey(seed)
	msgs := sentMessages(longProse(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 8))
	named := map[string]int{}
	for trial, colluders := range threeOfSix {
		leak := Normalize(merge(t, key, msgs, colluders, rng))
		if words > 0 {
			leak = firstWords(leak, words)
		}
		res, err := tr.Trace(leak, 1e-6)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range res.Suspects {
			if !slices.Contains(colluders, s.Member) {
				t.Fatalf("trial %d: innocent %s named (%s test, bound %g)", trial, s.Member, s.Test, s.FalseAccusationBound)
			}
		}
		if res.Verdict != Identified {
			t.Logf("trial %d: inconclusive, %d slots read, leading %s by the %s test (bound %.2g)", trial, res.SlotsRead, res.Leading.Member, res.Leading.Test, res.Leading.FalseAccusationBound)
			continue
		}
		s := res.Suspects[0]
		named[s.Test]++
		if (s.Test == "pair" || s.Test == "split" || s.Test == "minority") && (len(s.Pair) != 2 || slices.Contains(s.Pair, s.Member)) {
			t.Errorf("trial %d: %s test without its pair: %v", trial, s.Test, s.Pair)
		}
		t.Logf("trial %d: %s named by the %s test, %d of %d slots (pair %v), bound %.2g, %d slots read", trial, s.Member, s.Test, s.SlotsMatched, s.SlotsRead, s.Pair, s.FalseAccusationBound, res.SlotsRead)
	}
	return named
}

// longProse is the shipped prose and our own texts: about 6,300 words.
func longProse(t *testing.T) []string {
	t.Helper()
	paras := proseParagraphs(t)
	for _, f := range []string{"harbour_lease_negotiation.txt", "supply_contract_negotiation.txt", "data_centre_memo.txt"} {
		data, err := os.ReadFile(filepath.Join("eval/testdata/own", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range strings.Split(string(data), "\n\n") {
			if p = strings.TrimSpace(p); p != "" {
				paras = append(paras, p)
			}
		}
	}
	return paras
}

// The attack: three colluders merge their copies by majority and retype an
// excerpt too short for any colluder's own score (each matches the leak on
// three slots in four). Where two colluders' copies differ, the third's
// symbol decided: the split test names one of them, and nobody else. The
// trio test, which runs first, now names most of these merges too (given
// the other two colluders, a colluder's symbol broke every tie), so the
// split test is also checked alone.
func TestRetypedMajorityMergeNamedBySplitTest(t *testing.T) {
	named := traceRetypedMerges(t, 27, majorityMerge, 2500)
	if total := named["split"] + named["trio"] + named["copy"] + named["collusion"]; total < 3 || named["split"]+named["trio"] == 0 {
		t.Errorf("of 4 triples, named by test: %v (want 3 or more, some by the split or trio test)", named)
	}
	key := testKey(27)
	msgs := sentMessages(longProse(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(27, 8))
	split := 0
	for trial, colluders := range threeOfSix {
		leak := firstWords(Normalize(majorityMerge(t, key, msgs, colluders, rng)), 2500)
		for mem, v := range oneTest(t, tr, leak, func(tr *Tracer, d *deriver, rsegs [][]altRead, scores map[int32]*memberScore, eps float64, best map[int32]verdictBound) map[int32]verdictBound {
			return tr.pairTest(d, rsegs, scores, eps, best)
		}) {
			if v.log() > math.Log(1e-6) {
				continue
			}
			if !slices.Contains(colluders, mem) {
				t.Fatalf("trial %d: the %s test alone names innocent %s", trial, testNames[v.test], mem)
			}
			if v.test == testSplit {
				split++
				break
			}
		}
	}
	if split < 2 {
		t.Errorf("the split test alone named a colluder in %d of 4 trials (want 2 or more)", split)
	}
}

// The pair test's bound holds: leaks that are nobody's copy (random
// symbols in every slot, retyped) name nobody, at a loose ε where the
// union bound allows an accusation in at most ε of the traces.
func TestPairTestNamesNobodyOnRandomLeaks(t *testing.T) {
	key := testKey(29)
	msgs := sentMessages(proseParagraphs(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	const trials, eps = 40, 0.05
	named, pairRan := 0, 0
	for range trials {
		var parts []string
		for _, m := range msgs {
			l := NewLayout(m.Text, m.Policy)
			sym := make([]int, l.NumSlots())
			for i := range sym {
				sym[i] = rng.IntN(l.Alphabet(i))
			}
			parts = append(parts, l.Render(sym))
		}
		res, err := tr.Trace(Normalize(strings.Join(parts, "\n\n")), eps)
		if err != nil {
			t.Fatal(err)
		}
		if res.Leading != nil && res.Leading.Test == "pair" {
			pairRan++
		}
		if len(res.Suspects) > 0 {
			named++
		}
	}
	// ε bounds the probability of any accusation per trace; 40 traces at
	// ε = 0.05 expect at most 2.
	if named > 4 {
		t.Errorf("%d of %d random leaks named someone at ε = %g", named, trials, eps)
	}
	t.Logf("%d of %d random leaks named someone; the pair test led in %d", named, trials, pairRan)
}

// The tests' shares of ε never sum to more than ε: the union bound over
// the family is what keeps any innocent member's chance of being named
// at most ε. And each test without invisible marks has at least the share
// of its twin that reads every channel: a stripped leak's copy test is its
// copy test without invisible marks, score for score, so if the twin had
// less, a leaker who randomised the marks instead would get a worse bound
// than one who stripped them.
func TestSharesOfEpsilon(t *testing.T) {
	sum := 0.0
	for test, share := range shares {
		if share <= 0 {
			t.Errorf("the %s test (%d) has no share", testNames[test], test)
		}
		sum += share
	}
	if sum > 1+1e-12 {
		t.Fatalf("the tests' shares of ε sum to %v", sum)
	}
	for test := range numScoreTests {
		if len(setsAside[test]) > 0 && shares[test] < shares[twin[test]] {
			t.Errorf("%s without invisible marks has a share %v below its twin's %v", testNames[test], shares[test], shares[twin[test]])
		}
		if twin[twin[test]] != test {
			t.Errorf("test %d: twin of twin is %d", test, twin[twin[test]])
		}
	}
}

// The attack in a conversation: a leaker pastes their copy of a stretch of
// a room in which five members send (other senders' messages in every
// sender's trace), and scrambles or randomises the invisible marks instead
// of stripping them. Each sender traces the leak alone. No trace that the
// stripped leak wins may the scrambled or randomised one lose: the runs a
// sender reads must not depend on invisible characters (a review found
// that reading short runs because their gaps held some lost 139 of 584
// such traces on the 1919 minutes), and segments whose slots are invisible
// alone must cost the tests without invisible marks nothing.
func TestConversationInvisibleMarksTraceAsStripped(t *testing.T) {
	cv := newConversation(t, longProse(t))
	rng := rand.New(rand.NewPCG(41, 42))
	const leaker = "ben"
	traces, stripWins := 0, 0
	for _, span := range []int{10, 20, 40} {
		for a := 0; a+span <= len(cv.msgs); a += span {
			var parts []string
			for i := a; i < a+span; i++ {
				m := cv.msgs[i]
				text := m.Text
				if cv.members[cv.from[i]] != leaker {
					c, err := Mark(cv.keys[cv.from[i]], m.ID, leaker, m.Text, m.Policy)
					if err != nil {
						t.Fatal(err)
					}
					text = c
				}
				parts = append(parts, text)
			}
			pasted := strings.Join(parts, "\n\n")
			for s, tr := range cv.tracers {
				if cv.members[s] == leaker {
					continue
				}
				for _, eps := range []float64{1e-6, 1e-2} {
					traces++
					if tracesAsStripped(t, tr, pasted, leaker, eps, rng, fmt.Sprintf("messages %d–%d, sender %s", a, a+span, cv.members[s])) {
						stripWins++
					}
				}
			}
		}
	}
	t.Logf("%d traces, %d won by the stripped leak", traces, stripWins)
	if stripWins == 0 {
		t.Fatal("no stripped leak named the leaker: the test shows nothing")
	}
}

// A passage sent twice aligns with two alternatives. Where its slots are
// all invisible, the stripped leak reads nothing of it, and the scrambled
// or randomised one only invisible slots, which the tests without
// invisible marks do not read: the passage must cost them nothing (it was
// counted as two empty alternatives, ln 2 on the bound and no exact tail).
func TestInvisibleOnlyPassageCostsNothing(t *testing.T) {
	const twice = "We met the delegation early and spoke with them about the port at length"
	prose := proseParagraphs(t)
	paras := append(append(append([]string(nil), prose[:6]...), twice), append(prose[6:12], twice)...)
	msgs := sentMessages(paras, members, PolicyAll)
	if l := NewLayout(twice, PolicyAll); l.NumSlots() == 0 {
		t.Fatal("the passage has no slot at all")
	} else {
		for i := range l.NumSlots() {
			if l.slots[i].kind != kindInvisible {
				t.Fatalf("the passage has a slot of kind %v", l.slots[i].kind)
			}
		}
	}
	key := testKey(43)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	// carol's copy of the first twelve messages, the passage set apart by
	// words of the leaker's own, so that it aligns to both of its sendings.
	var parts []string
	for i, m := range msgs[:13] {
		if i == 6 {
			parts = append(parts, "Notes from the day follow.", copyOf(t, key, msgs[6:7], "carol"), "More notes follow below.")
			continue
		}
		parts = append(parts, copyOf(t, key, []Message{m}, "carol"))
	}
	pasted := strings.Join(parts, "\n\n")
	rng := rand.New(rand.NewPCG(43, 44))
	st, err := tr.Trace(stripInvisible(pasted), 1e-6)
	if err != nil || st.Verdict != Identified {
		t.Fatalf("the stripped leak: %v, %v", st, err)
	}
	for name, leak := range map[string]string{"scrambled": scrambleInvisible(pasted), "randomised": randomiseInvisible(rng, pasted)} {
		r, err := tr.Trace(leak, 1e-6)
		if err != nil {
			t.Fatal(err)
		}
		if r.Verdict != Identified || r.Suspects[0].Member != "carol" {
			t.Fatalf("%s leak: %+v", name, r.Suspects)
		}
		if got, want := r.Suspects[0].FalseAccusationBound, st.Suspects[0].FalseAccusationBound; got > want*(1+1e-9) {
			t.Errorf("%s leak: bound %.3g above the stripped leak's %.3g", name, got, want)
		}
	}
}

// The same attack where each message went to some of the members only: a
// message whose slots are all invisible reaches, in a scrambled or
// randomised copy, members the stripped copy reaches nothing of. They must
// not enlarge the union of the tests without invisible marks (a review
// found bounds worse by exactly the ratio of members counted, and 6 of 226
// traces lost on the 1919 minutes).
func TestPartialRecipientsInvisibleMarksTraceAsStripped(t *testing.T) {
	eight := []string{"ann", "ben", "cy", "dan", "eve", "fay", "gus", "hal"}
	rng := rand.New(rand.NewPCG(45, 46))
	var msgs []Message
	for i, p := range longProse(t) {
		var to []string
		for _, k := range rng.Perm(len(eight))[:4] {
			to = append(to, eight[k])
		}
		if !slices.Contains(to, "ben") && rng.IntN(2) == 0 {
			to = append(to, "ben")
		}
		msgs = append(msgs, Message{ID: fmt.Sprintf("m%03d", i), Text: p, Recipients: to, Policy: PolicyAll})
		// A line with no visible slot, to ben and to members of a wider
		// list who receive nothing else.
		line := []string{"ben"}
		for _, k := range rng.Perm(30)[:6] {
			line = append(line, fmt.Sprintf("guest%02d", k))
		}
		msgs = append(msgs, Message{ID: fmt.Sprintf("m%03d.line", i), Text: "We met the delegation early and spoke with them about the port at length", Recipients: line, Policy: PolicyAll})
	}
	key := testKey(45)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	traces, stripWins := 0, 0
	for _, span := range []int{10, 20, 40} {
		for a := 0; a+span <= len(msgs); a += span {
			var got []Message
			for _, m := range msgs[a : a+span] {
				if slices.Contains(m.Recipients, "ben") {
					got = append(got, m)
				}
			}
			pasted := copyOf(t, key, got, "ben")
			for _, eps := range []float64{1e-6, 1e-2} {
				traces++
				if tracesAsStripped(t, tr, pasted, "ben", eps, rng, fmt.Sprintf("messages %d–%d", a, a+span)) {
					stripWins++
				}
			}
		}
	}
	t.Logf("%d traces, %d won by the stripped leak", traces, stripWins)
	if stripWins == 0 {
		t.Fatal("no stripped leak named the leaker: the test shows nothing")
	}
}

// tracesAsStripped traces a pasted leak stripped of its invisible marks,
// and, when that names the leaker, scrambled and randomised too: those
// must name the leaker as well, and nobody else. It reports whether the
// stripped leak named the leaker.
func tracesAsStripped(t *testing.T, tr *Tracer, pasted, leaker string, eps float64, rng *rand.Rand, where string) bool {
	t.Helper()
	st, err := tr.Trace(stripInvisible(pasted), eps)
	if err != nil {
		t.Fatal(err)
	}
	if st.Verdict != Identified {
		return false
	}
	for name, leak := range map[string]string{"scrambled": scrambleInvisible(pasted), "randomised": randomiseInvisible(rng, pasted)} {
		r, err := tr.Trace(leak, eps)
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range r.Suspects {
			if sp.Member != leaker {
				t.Fatalf("%s: innocent %s named in the %s leak", where, sp.Member, name)
			}
		}
		if r.Verdict != Identified {
			t.Errorf("%s, ε %g: the stripped leak names %s (bound %.2g), the %s one does not (%v, %d members scored against %d)", where, eps, leaker, st.Suspects[0].FalseAccusationBound, name, r.SlotsByChannel, r.Members, st.Members)
		}
	}
	return true
}
