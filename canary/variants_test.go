package canary

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// copiesOf renders the copies of text under p with every slot at symbol 0,
// every slot at 1, and alternating: every alternative of every slot occurs.
func copiesOf(text string, p Policy) []string {
	l := NewLayout(text, p)
	var out []string
	for fill := 0; fill < 3; fill++ {
		sym := make([]int, l.NumSlots())
		for i := range sym {
			switch fill {
			case 2:
				sym[i] = i % l.Alphabet(i)
			default:
				sym[i] = fill % l.Alphabet(i)
			}
		}
		out = append(out, l.Render(sym))
	}
	return out
}

func slotsOfClass(text, class string) int {
	n := 0
	for _, s := range NewLayout(text, PolicyAll).slots {
		if s.class() == class {
			n++
		}
	}
	return n
}

// checkCopies fails unless every copy of text has its canonical words and
// canonical form and keeps every digit.
func checkCopies(t *testing.T, text string) {
	t.Helper()
	words := strings.Join(CanonicalWords(text), " ")
	canon := Canonicalize(text)
	digits := digitsOf(text)
	for _, p := range []Policy{PolicyLexical, PolicyAll} {
		for _, c := range copiesOf(text, p) {
			if got := strings.Join(CanonicalWords(c), " "); got != words {
				t.Errorf("canonical words differ\norig %q: %s\ncopy %q: %s", text, words, c, got)
			}
			if got := Canonicalize(c); got != canon {
				t.Errorf("Canonicalize differs\norig %q: %q\ncopy %q: %q", text, canon, c, got)
			}
			if got := digitsOf(c); got != digits {
				t.Errorf("digits changed: %q -> %q", text, c)
			}
		}
	}
}

// digitsOf lists the digit runs of s, except whole words 2 to 20 and tens: the number
// slots write "two weeks" as "2 weeks" (and Canonicalize reads them back).
func digitsOf(s string) string {
	var out []string
	for _, d := range reDigits.FindAllStringIndex(s, -1) {
		run := strings.TrimRight(s[d[0]:d[1]], ".,:") // a full stop or comma after the number is no digit
		d[1] = d[0] + len(run)
		if n, err := strconv.Atoi(run); err == nil && ((n >= 2 && n <= 20) || (n%10 == 0 && n <= 90)) && !isWordRune(lastRune(s[:d[0]])) && !isWordRune(firstRune(s[d[1]:])) {
			continue
		}
		out = append(out, run)
	}
	return strings.Join(out, " ")
}

// firstRune decodes a whole rune, as lastRune does (a byte of "”" read as
// a rune is the letter "â": found by FuzzMarkVariants).
func firstRune(s string) rune { r, _ := utf8.DecodeRuneInString(s); return r }

// Each class: an original that offers its slot (and the alternative a copy
// shows), and originals that must not offer it.
var variantCases = []struct {
	class      string
	text, copy string   // copy: a substring some copy holds
	none       []string // texts with no slot of the class
}{
	{class: "that",
		text: "The envoy said that we would wait, and I believe that the others knew that Mr. Smith agreed.",
		copy: "said we would wait",
		none: []string{
			"He said that plan was dead.",         // a determiner
			"She said that is wrong.",             // a pronoun, subject of "is"
			"I know that.",                        // no clause follows
			"The hope that we share is real.",     // a noun's clause
			"He added that the talks resume.",     // "added the talks": an object
			"They said that, in the end, we won.", // no subject next
			"They said we would wait.",            // no "that" is ever added
		}},
	{class: "that",
		text: "The minister agreed that we would wait, and she suggested that he go first.",
		copy: "agreed we would wait",
		none: []string{
			"He noted that it was late.",          // "noted it": an object
			"She explained that you must go.",     // "explained you": an object
			"They confirmed that the date holds.", // "confirmed the date": an object
			"The report that we lost is here.",    // a noun's clause
			"He agreed that, in the end, we won.", // no pronoun next
			"They agreed we would wait.",          // no "that" is ever added
		}},
	{class: "numbers",
		text: "The talks took thirty years and twelve rounds.",
		copy: "30 years",
		none: []string{
			"It lasted twenty one years.",       // one number
			"It lasted twenty two years.",       // not "twenty 2"
			"It lasted a hundred and two days.", // not "a hundred and 2"
			"Thirty years passed.",              // sentence start
		}},
	{class: "hyphens",
		text: "We need a long-term plan and a well-known full-time envoy.",
		copy: "long term plan",
		none: []string{
			"Both long-term and fair goals matter.", // "long term and": a noun
			"A long-term, costly plan.",             // no word next
			"In the long term we win.",              // never hyphenated
			"Its long-term Plan failed.",            // a name next
		}},
	{class: "variants",
		text: "They looked backwards and waited until dawn, and helped each other.",
		copy: "backward and waited till dawn",
		none: []string{
			"A backward region waited.", // -ward is no slot: may be an adjective
			"He sat at the till.",       // "till" never becomes "until"
		}},
	{class: "contractions",
		text: "It will rain and there will be time; he would go.",
		copy: "It'll rain and there'll be time; he'd go",
		none: []string{"He'd gone.", "That will was signed."}},
	{class: "intro-comma",
		text: "Finally, we agreed. In fact the delegates left. Yesterday, Mr. Smith said so.",
		copy: "Finally we agreed. In fact, the delegates left.",
		none: []string{
			"However, we decide.",            // "However we decide" reads otherwise
			"Again, we met.",                 // moreover / once more
			"Finally, agreed terms arrived.", // no subject next
			"We met finally, we think.",      // not at the start of a sentence
			"Finally; we agreed.",            // no comma or space
			"In 1976, we met.",               // a number: not listed
		}},
	{class: "abbrev-comma",
		text: "Some states, e.g., France, agreed; others, i.e. the rest, did not.",
		copy: "e.g. France",
		none: []string{"Take e.g.: France.", "See e.g. 2 cases."}},
	{class: "serial-comma",
		text: "We discussed tariffs, loans, credits and shipping, and they met, talked, argued, and agreed.",
		copy: "credits, and shipping",
		none: []string{
			"In the end, cost and time matter.",                   // two items: maybe an introduction
			"We bought apples, pears, plums and the shop closed.", // a clause follows
			"We saw Paris, Rome, Vienna and Berlin.",              // names (capitals) are not items
			"They sent two, three, four and five.",                // number words
		}},
	{class: "phrase-comma",
		text: "After the war, the allies met. In April 1972, we signed. On the surface, it held.",
		copy: "After the war the allies met.",
		none: []string{
			"After the war the allies met.",     // one-way: no comma is added
			"By the time we arrived, it ended.", // no comma before "we"
			"As the chair, we agreed.",          // "As" is not listed
			"In spite of the war, we met.",      // a lexicon alternative
			"In the room where we met, it rained.",
			"After they met, we left.", // a clause, its subject first
		}},
}

func TestVariantClasses(t *testing.T) {
	for _, c := range variantCases {
		if n := slotsOfClass(c.text, c.class); n == 0 {
			t.Errorf("%s: no slot in %q", c.class, c.text)
		}
		found := false
		for _, cp := range copiesOf(c.text, PolicyLexical) {
			found = found || strings.Contains(cp, c.copy)
		}
		if !found {
			t.Errorf("%s: no copy of %q holds %q: %q", c.class, c.text, c.copy, copiesOf(c.text, PolicyLexical))
		}
		checkCopies(t, c.text)
		for _, n := range c.none {
			if k := slotsOfClass(n, c.class); k != 0 {
				t.Errorf("%s: %d slots in %q", c.class, k, n)
			}
			checkCopies(t, n)
		}
	}
}

// modals and negations never change, and no word with a digit or a name
// is inside a lexical-channel slot (numbers: only number words become digits).
var modals = []string{"may", "might", "must", "can", "could", "will", "would", "shall", "should", "ought"}

func TestVariantSlotsNeverTouchMeaning(t *testing.T) {
	texts := proseParagraphs(t)
	for _, c := range variantCases {
		texts = append(texts, c.text)
		texts = append(texts, c.none...)
	}
	banned := map[string]bool{}
	for _, w := range append(append([]string{}, negations...), modals...) {
		banned[w] = true
	}
	for _, text := range texts {
		l := NewLayout(text, PolicyLexical)
		tk := l.tok
		for i, s := range l.slots {
			if s.kind != kindLexical {
				continue
			}
			for j := int(s.w); j < int(s.w)+s.m.n; j++ {
				w := tk.words[j]
				// A contraction keeps its modal ("we'd" is "we would"; the
				// ambiguous ones are one-way, contractions.txt).
				if (banned[w.key] && s.class() != "contractions") || strings.HasSuffix(w.key, "n't") {
					t.Errorf("slot %d (%s) covers %q in %q", i, s.class(), tk.raw(j), text)
				}
				if w.prot || (w.name && !s.m.g.caseSens) {
					t.Errorf("slot %d (%s) covers the protected word or name %q in %q", i, s.class(), tk.raw(j), text)
				}
			}
		}
		checkCopies(t, text)
	}
}

// Marking never moves the word after a subject- or pronoun-context match
// into or out of the subject set or the pronoun set, so a copy and its
// original split "said that" and "agreed that" alike.
func TestSubjectSetClosedUnderMarking(t *testing.T) {
	for _, set := range []struct {
		name string
		in   func(string) bool
	}{{"subjects", subjectWord}, {"subject pronouns", pronounWord}} {
		for _, g := range mustLexicon().groups {
			for _, capital := range []bool{false, true} {
				if c := g.alts[len(g.alts)-1][0]; capital && c >= '0' && c <= '9' {
					continue // "Two" never becomes "2" (contextOK)
				}
				first := func(a int) bool { return set.in(strings.Fields(g.render(a, capital, false))[0]) }
				for a := range g.alts {
					if first(a) != first(0) {
						t.Errorf("%s: %q and %q differ as %s (capital %v)", g.source, g.render(0, capital, false), g.render(a, capital, false), set.name, capital)
					}
				}
			}
		}
	}
}

func FuzzMarkVariants(f *testing.F) {
	for _, c := range variantCases {
		f.Add(c.text)
		for _, n := range c.none {
			f.Add(n)
		}
	}
	f.Add("He said that 2 of them left; I think that it's 3.")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2000 {
			return
		}
		s = validUTF8(s)
		checkCopies(t, s)
		if t.Failed() {
			t.Logf("text %s", fmt.Sprintf("%q", s))
		}
	})
}

// The optional comma is read back from a retyped copy.
func TestPunctSlotsReadBack(t *testing.T) {
	text := "Finally, we agreed on tariffs, loans, credits and shipping. In fact the envoy, e.g. the chair, left."
	l := NewLayout(text, PolicyLexical)
	for fill := 0; fill < 2; fill++ {
		sym := make([]int, l.NumSlots())
		n := 0
		for i, s := range l.slots {
			sym[i] = -1
			if s.kind == kindPunct {
				sym[i] = (i + fill) % 2
				n++
			}
		}
		if n < 4 {
			t.Fatalf("%d punctuation slots in %q", n, text)
		}
		c := Normalize(l.Render(sym))
		ct := tokenize(c)
		for i, s := range l.slots {
			if s.kind == kindPunct {
				if got := commaSymbol(ct.gap(int(s.w))); got != sym[i] {
					t.Errorf("slot %d (%s): read %d from %q, wrote %d", i, s.class(), got, c, sym[i])
				}
			}
		}
	}
	for g, want := range map[string]int{" ": 0, ", ": 1, ",\n": 1, "\u200b ": 0, " -- ": -1, ". ": -1, ",  ": 1} {
		if got := commaSymbol(g); got != want {
			t.Errorf("commaSymbol(%q) = %d, want %d", g, got, want)
		}
	}
}

// A lexicon group offers all its forms as introductory phrases or none, and
// no multi-word alternative holds a pair of words that a punctuation slot
// can separate with a comma (the alternative would match in one form only).
func TestPunctRulesClosedUnderLexicon(t *testing.T) {
	for _, g := range mustLexicon().groups {
		intro := func(a int) bool { return introPhrases[strings.ToLower(g.alts[a])] }
		for a := range g.alts {
			if intro(a) != intro(0) {
				t.Errorf("%s: %q and %q differ as introductory phrases", g.source, g.alts[0], g.alts[a])
			}
			f := strings.Fields(strings.ToLower(g.alts[a]))
			for i := 1; i < len(f); i++ {
				if f[i] == "and" || f[i] == "or" || f[i-1] == "e.g." || f[i-1] == "i.e." || (introPhrases[strings.Join(f[:i], " ")] && subjectWord(f[i])) {
					t.Errorf("%s: %q holds a comma place between %q and %q", g.source, g.alts[a], f[i-1], f[i])
				}
			}
		}
	}
}

// A retyped copy (typography and invisible marks gone) still carries every
// lexical-channel slot, the new classes included, and the tracer reads each.
func TestRetypedCopyReadsEveryLexicalSlot(t *testing.T) {
	paras := proseParagraphs(t)
	for _, c := range variantCases {
		paras = append(paras, c.text)
	}
	msgs := sentMessages(paras, []string{"alice", "bob", "carol"}, PolicyAll)
	key := testKey(9)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	total := 0
	for _, m := range msgs {
		for _, s := range NewLayout(m.Text, PolicyAll).slots {
			if s.kind.channel() == PolicyLexical {
				want[s.class()]++
				total++
			}
		}
	}
	for _, class := range []string{"that", "hyphens", "variants", "intro-comma", "phrase-comma", "abbrev-comma", "serial-comma"} {
		if want[class] == 0 {
			t.Errorf("no %s slot in the test texts", class)
		}
	}
	res, err := tr.Trace(Normalize(copyOf(t, key, msgs, "bob")), 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.SlotsByChannel["lexical"] != total {
		t.Errorf("read %d lexical-channel slots of %d (%v)", res.SlotsByChannel["lexical"], total, want)
	}
	if res.Verdict != Identified || len(res.Suspects) != 1 || res.Suspects[0].Member != "bob" {
		t.Errorf("retyped copy of bob: %+v", res)
	}
}
