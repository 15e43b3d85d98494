package canary

import (
	"strings"
	"testing"
)

var members = []string{"alice", "bob", "carol", "dave", "erin", "frank"}

// Each channel survives the conditions it is meant to survive, and only
// those: slots of a channel are read from a pasted copy, and from a retyped
// (normalised) copy only for the lexical channel.
func TestChannelSurvival(t *testing.T) {
	key := testKey(10)
	paras := proseParagraphs(t)
	for _, tc := range []struct {
		policy  Policy
		retyped bool
		channel string
		survive bool
	}{
		{PolicyInvisible, false, "invisible", true},
		{PolicyInvisible, true, "invisible", false},
		{PolicyTypographic, false, "typographic", true},
		{PolicyTypographic, true, "typographic", false},
		{PolicyLexical, false, "lexical", true},
		{PolicyLexical, true, "lexical", true},
		{PolicyAll, true, "lexical", true},
		{PolicyAll, true, "invisible", false},
	} {
		msgs := sentMessages(paras, members, tc.policy)
		tr, err := NewTracer(key, msgs)
		if err != nil {
			t.Fatal(err)
		}
		leak := copyOf(t, key, msgs, "carol")
		if tc.retyped {
			leak = Normalize(leak)
		}
		res, err := tr.Trace(leak, 0)
		if err != nil {
			t.Fatal(err)
		}
		n := res.SlotsByChannel[tc.channel]
		if (n > 0) != tc.survive {
			t.Errorf("policy %v retyped=%v: %d %s slots read", tc.policy, tc.retyped, n, tc.channel)
		}
		if tc.survive && (res.Verdict != Identified || res.Suspects[0].Member != "carol") {
			t.Errorf("policy %v retyped=%v: verdict %s, suspects %+v", tc.policy, tc.retyped, res.Verdict, res.Suspects)
		}
		for _, s := range res.Suspects {
			if s.Member != "carol" {
				t.Errorf("innocent %s accused", s.Member)
			}
		}
	}
}

func TestTraceScenarios(t *testing.T) {
	key := testKey(11)
	paras := proseParagraphs(t)
	msgs := sentMessages(paras, members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	full := copyOf(t, key, msgs[3:], "dave")
	orig := strings.Join(paras, "\n\n")
	// Colluders merge their copies slot by slot: bob's symbol where bob and
	// erin agree, else alternately.
	var merged []string
	for _, m := range msgs {
		l := NewLayout(m.Text, m.Policy)
		b, _ := Codeword(key, m.ID, "bob", l)
		e, _ := Codeword(key, m.ID, "erin", l)
		for i := range b {
			if i%2 == 1 {
				b[i] = e[i]
			}
		}
		merged = append(merged, l.Render(b))
	}
	for _, tc := range []struct {
		name    string
		leak    string
		want    []string // nil: inconclusive
		matched bool
	}{
		{"pasted 40 words", firstWords(full, 40), []string{"dave"}, true},
		{"retyped 3000 words", Normalize(full), []string{"dave"}, true},
		{"unmarked original", orig, nil, true},
		{"unrelated text", "The quick brown fox jumps over the lazy dog while the band plays on and on.", nil, false},
		{"empty", "", nil, false},
		{"two colluders", strings.Join(merged, "\n\n"), []string{"bob", "erin"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tr.Trace(tc.leak, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			if (res.WordsMatched > 0) != tc.matched {
				t.Errorf("words matched = %d", res.WordsMatched)
			}
			if tc.want == nil {
				if res.Verdict != Inconclusive || len(res.Suspects) != 0 {
					t.Fatalf("verdict %s, suspects %+v", res.Verdict, res.Suspects)
				}
				return
			}
			if res.Verdict != Identified {
				t.Fatalf("verdict %s (slots %d, leading %+v)", res.Verdict, res.SlotsRead, res.Leading)
			}
			want := map[string]bool{}
			for _, w := range tc.want {
				want[w] = true
			}
			for _, s := range res.Suspects {
				if !want[s.Member] {
					t.Errorf("innocent %s accused (bound %g)", s.Member, s.FalseAccusationBound)
				}
				if s.FalseAccusationBound > res.Epsilon || len(s.Evidence) == 0 {
					t.Errorf("suspect %+v above ε or without evidence", s)
				}
			}
		})
	}
}

// An inconclusive trace estimates how much more text would be needed, and
// that estimate is roughly right.
func TestMoreWordsNeeded(t *testing.T) {
	key := testKey(12)
	msgs := sentMessages(proseParagraphs(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	retyped := Normalize(copyOf(t, key, msgs, "frank"))
	short := firstWords(retyped, 400)
	res, err := tr.Trace(short, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Inconclusive {
		t.Fatalf("400 retyped words already identify (%d slots): lengthen nothing, shorten the excerpt", res.SlotsRead)
	}
	if res.MoreWordsNeeded <= 0 {
		t.Fatalf("no estimate: %+v", res)
	}
	longer := firstWords(retyped, res.WordsMatched+2*res.MoreWordsNeeded)
	res2, err := tr.Trace(longer, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Verdict != Identified {
		t.Errorf("twice the estimate (%d more words) still inconclusive: %d slots", res.MoreWordsNeeded, res2.SlotsRead)
	}
}

func TestTraceRejectsBadEpsilon(t *testing.T) {
	tr, err := NewTracer(testKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []float64{1, 2} {
		if _, err := tr.Trace("x", e); err == nil {
			t.Errorf("epsilon %v accepted", e)
		}
	}
	if _, err := NewTracer(testKey(1), []Message{{ID: "a"}, {ID: "a"}}); err == nil {
		t.Error("duplicate message id accepted")
	}
}

// A passage repeated in the leak is read once: repeating a short copy must
// not multiply its evidence.
func TestRepeatedPassageReadOnce(t *testing.T) {
	key := testKey(13)
	msgs := sentMessages(proseParagraphs(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	one := firstWords(copyOf(t, key, msgs[5:], "bob"), 12)
	r1, err := tr.Trace(one, 0)
	if err != nil {
		t.Fatal(err)
	}
	r5, err := tr.Trace(strings.Repeat(one+"\n\n", 5), 0)
	if err != nil {
		t.Fatal(err)
	}
	if r1.SlotsRead == 0 || r5.SlotsRead != r1.SlotsRead {
		t.Fatalf("slots read: once %d, five times %d", r1.SlotsRead, r5.SlotsRead)
	}
	if r5.Verdict != r1.Verdict {
		t.Fatalf("verdict changed by repetition: %s -> %s", r1.Verdict, r5.Verdict)
	}
}

// A leak whose typography was auto-corrected to one style carries no
// typographic evidence; the other channels still name the leaker.
func TestAutocorrectedStyleErased(t *testing.T) {
	key := testKey(15)
	msgs := sentMessages(proseParagraphs(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	leak := copyOf(t, key, msgs[:20], "alice")
	smart := strings.NewReplacer("'", "\u2019", "\"", "\u201D", "--", "\u2014", "...", "\u2026").Replace(leak)
	plain := strings.NewReplacer("\u2019", "'", "\u2018", "'", "\u201C", "\"", "\u201D", "\"", "\u2014", "--", "\u2013", "-", "\u2026", "...").Replace(leak)
	res, err := tr.Trace(smart, 0)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := tr.Trace(plain, 0)
	if err != nil {
		t.Fatal(err)
	}
	full, err := tr.Trace(leak, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Only sentence-spacing slots remain readable in either one-style leak.
	if n, m, all := res.SlotsByChannel["typographic"], ref.SlotsByChannel["typographic"], full.SlotsByChannel["typographic"]; n != m || n >= all {
		t.Errorf("typographic slots: auto-corrected %d, plain %d, copy %d", n, m, all)
	}
	if res.Verdict != Identified || res.Suspects[0].Member != "alice" || len(res.Suspects) != 1 {
		t.Errorf("verdict %s, suspects %+v", res.Verdict, res.Suspects)
	}
	if !mixed(3, 0) || mixed(0, 3) || mixed(20, 1) || !mixed(10, 10) {
		t.Error("mixed")
	}
}

// A leak re-wrapped at 60 columns (an e-mail, a terminal) still shows its
// lexical marks.
func TestWrappedLeak(t *testing.T) {
	key := testKey(16)
	msgs := sentMessages(proseParagraphs(t), members, PolicyLexical)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	leak := copyOf(t, key, msgs, "carol")
	var b strings.Builder
	col := 0
	for _, w := range strings.Fields(leak) {
		if col+len(w) > 60 {
			b.WriteString("\n")
			col = 0
		} else if col > 0 {
			b.WriteString(" ")
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	flat, err := tr.Trace(strings.Join(strings.Fields(leak), " "), 0)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := tr.Trace(b.String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if wrapped.SlotsRead != flat.SlotsRead || wrapped.Verdict != Identified || wrapped.Suspects[0].Member != "carol" {
		t.Fatalf("wrapped: %d slots, %s; unwrapped: %d slots", wrapped.SlotsRead, wrapped.Verdict, flat.SlotsRead)
	}
}

// Members who received different subsets of the messages (a member who
// joined late) are scored only on what they received.
func TestPartialRecipients(t *testing.T) {
	key := testKey(17)
	paras := proseParagraphs(t)
	msgs := sentMessages(paras, members, PolicyAll)
	for i := range msgs[:len(msgs)/2] {
		msgs[i].Recipients = members[:3] // dave, erin and frank joined half-way
	}
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who  string
		from int
	}{{"frank", len(msgs) / 2}, {"bob", 0}, {"bob", len(msgs) / 2}} {
		leak := firstWords(copyOf(t, key, msgs[tc.from:], tc.who), 300)
		res, err := tr.Trace(leak, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != Identified || len(res.Suspects) != 1 || res.Suspects[0].Member != tc.who {
			t.Errorf("%s from message %d: %s %+v", tc.who, tc.from, res.Verdict, res.Suspects)
		}
		want := 3
		if tc.from > 0 {
			want = len(members)
		}
		if res.Members != want {
			t.Errorf("%s from message %d: %d members scored, want %d", tc.who, tc.from, res.Members, want)
		}
	}
}
