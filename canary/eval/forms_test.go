package eval

import (
	"math/rand/v2"
	"strings"
	"testing"

	"backchannel/canary"
)

const sample = "We're ready to sign the agreement -- if the annex is settled. \"Fine,\" she said... The committee's report was delayed by two weeks.\n\nNobody objected; the chair thanked everyone for their patience and closed the meeting."

func TestTyposAreCharacterLevel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	text := strings.Repeat(sample+"\n\n", 40)
	got := typos(rng, text, 0.02)
	a, b := strings.Fields(text), strings.Fields(got)
	if len(a) != len(b) {
		t.Fatalf("typos changed the number of words: %d -> %d", len(a), len(b))
	}
	if strings.Count(got, "\n\n") != strings.Count(text, "\n\n") {
		t.Error("typos changed the layout")
	}
	changed := 0
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		changed++
		if d := len([]rune(a[i])) - len([]rune(b[i])); d < -1 || d > 1 {
			t.Errorf("%q -> %q is more than one letter", a[i], b[i])
		}
	}
	// 2% of the words of at least three letters; an equal-letter swap
	// changes nothing, so somewhat fewer.
	if changed < len(a)/200 || changed > len(a)/25 {
		t.Errorf("%d of %d words changed, want about 2%%", changed, len(a))
	}
}

func TestScrambleAndRandomise(t *testing.T) {
	marked, err := canary.Mark(make([]byte, canary.KeySize), "m1", "bob", sample, canary.PolicyAll)
	if err != nil {
		t.Fatal(err)
	}
	carriersIn := func(s string) int {
		n := 0
		for _, r := range s {
			if isCarrier(r) {
				n++
			}
		}
		return n
	}
	if carriersIn(marked) == 0 {
		t.Fatal("the marked copy has no invisible marks")
	}
	st := stripInvisible(marked)
	if carriersIn(st) != 0 || canary.Normalize(st) != canary.Normalize(marked) {
		t.Errorf("stripping: %q", st)
	}
	if !strings.ContainsAny(st, "\u2019\u201C\u2014'\"") {
		t.Errorf("stripping lost the typography: %q", st)
	}
	sc := scramble(marked)
	gaps := len(strings.Fields(sc)) - 1
	if n := strings.Count(sc, "\u200B"); n != gaps || carriersIn(sc) != gaps {
		t.Errorf("scramble: %d U+200B, %d carriers, %d word gaps", n, carriersIn(sc), gaps)
	}
	for _, f := range strings.Fields(sc)[1:] {
		if !strings.HasPrefix(f, "\u200B") {
			t.Errorf("gap before %q lacks its U+200B", f)
		}
	}
	rd := randomise(rand.New(rand.NewPCG(1, 2)), marked)
	if carriersIn(rd) != carriersIn(marked) || stripInvisible(rd) != st || rd == marked {
		t.Errorf("randomise changed more or less than the carriers: %q", rd)
	}
}

func TestPressArticle(t *testing.T) {
	quoted := canary.Normalize(strings.Repeat(sample+"\n\n", 6))
	art := pressArticle(rand.New(rand.NewPCG(5, 6)), quoted)
	if strings.ContainsAny(art, "\"'") || strings.Contains(art, "--") || strings.Contains(art, "...") {
		t.Errorf("straight typography left in the article:\n%s", art)
	}
	if strings.Count(art, "\u201C") != strings.Count(art, "\u201D") || strings.Count(art, "\u201C") < 5 {
		t.Errorf("quotations not in curly double quotes:\n%s", art)
	}
	// Every quoted word appears, in order, in the article.
	want := canary.CanonicalWords(quoted)
	got := canary.CanonicalWords(art)
	k := 0
	for _, w := range got {
		if k < len(want) && w == want[k] {
			k++
		}
	}
	if k != len(want) {
		t.Errorf("only %d of %d quoted words found in order", k, len(want))
	}
	if len(got) <= len(want) {
		t.Errorf("the article has no prose of its own (%d words, %d quoted)", len(got), len(want))
	}
	for _, s := range append(append(pressReports, pressLeadIns...), pressFollows...) {
		if strings.ContainsAny(s, "\"'") || strings.Contains(s, "--") {
			t.Errorf("house style broken in %q", s)
		}
	}
}

func TestMinorityMerge(t *testing.T) {
	l := canary.NewLayout("We are here and it is late, they are sure, so we will go now and then.", canary.PolicyAll)
	n := l.NumSlots()
	a, b, c := make([]int, n), make([]int, n), make([]int, n)
	for i := range c {
		c[i] = 1
	}
	m := &merger{rng: rand.New(rand.NewPCG(1, 1))}
	for _, w := range [][]int{a, b, c} {
		m.add(w)
	}
	for i, s := range m.merge(Minority, l) {
		if s != 1 {
			t.Fatalf("minority slot %d = %d, want the lone colluder's 1", i, s)
		}
	}
	for _, w := range [][]int{a, a, a} {
		m.add(w)
	}
	for i, s := range m.merge(Minority, l) {
		if s != 0 {
			t.Fatalf("slot %d = %d where every copy agrees on 0", i, s)
		}
	}
}

func TestTrialsSharedAcrossConditionsAndLengths(t *testing.T) {
	a := Case{Condition: Strip, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10, Words: 100}
	b := a
	b.Condition, b.Words = Scramble, 800
	if trialKey(a) != trialKey(b) {
		t.Error("stripping and scrambling do not share their trials")
	}
	b.Members = 3
	if trialKey(a) == trialKey(b) {
		t.Error("rooms of 3 and 10 share their trials")
	}
}

func TestWordsNeeded(t *testing.T) {
	base := Case{Condition: Retype, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10}
	coll := Case{Condition: Retype, Policy: canary.PolicyAll, Strategy: Majority, Colluders: 3, Members: 10}
	row := func(c Case, words, hits int) Row {
		c.Words = words
		return Row{Case: c, Trials: 100, Identified: hits}
	}
	tab := Table{Rows: []Row{
		row(base, 400, 60), row(base, 200, 10), row(base, 600, 99), row(base, 800, 100),
		row(coll, 2000, 85), row(coll, 4000, 90),
		row(Case{Condition: Press, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10}, 800, 50),
		row(Case{Condition: Press, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10}, 1600, 98),
	}}
	got := tab.WordsNeeded()
	if len(got) != 3 || got[0].Words != 600 || got[1].Words != 4000 || got[2].Words != 0 || got[2].RateAtMax != 0.98 {
		t.Fatalf("WordsNeeded = %+v", got)
	}
	md := tab.Markdown()
	for _, want := range []string{"| retype | all | 1 | 10 | 600 |", "| press | all | 1 | 10 | > 1600 |", "retyped words of one sender | words needed (99% of trials): 10 members: 600 (99% at 600) | yes |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "4,000 words: majority 90% (10 members) | **no**") {
		t.Error("90% at 4,000 words counted as a miss")
	}
}

func TestCasesAreValid(t *testing.T) {
	for _, cs := range [][]Case{DefaultCases(), QuickCases()} {
		seen := map[Case]bool{}
		for _, c := range cs {
			if err := checkCase(c); err != nil {
				t.Errorf("%+v: %v", c, err)
			}
			if seen[c] {
				t.Errorf("%+v twice", c)
			}
			seen[c] = true
			if _, err := transform(rand.New(rand.NewPCG(1, 1)), "x", c.Condition, []string{"y"}); err != nil && c.Condition != Pooled {
				t.Errorf("%+v: %v", c, err)
			}
		}
	}
}
