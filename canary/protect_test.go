package canary

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// recipients gets every test text marked many times, so that each slot
// takes every symbol in some copy.
var recipients = func() []string {
	var rs []string
	for i := range 24 {
		rs = append(rs, fmt.Sprintf("member%02d", i))
	}
	return rs
}()

// prose is ordinary text full of slots of every channel, put around each
// structure so that marking happens right next to it.
const prose = "We are organizing the review \u2014 it's \"final\" now. Everyone should favor the plan; the center agrees."

// markedCopies returns the copies of text for every recipient under every
// channel at once.
func markedCopies(t *testing.T, text string) []string {
	t.Helper()
	copies, err := MarkEach(testKey(40), "doc", text, PolicyAll, recipients)
	if err != nil {
		t.Fatal(err)
	}
	return copies
}

// Line kinds of a Markdown text, found without the package's code: what
// must not change when a copy is marked.
var (
	reATX       = regexp.MustCompile(`^ {0,3}#{1,6}([ \t]|$)`)
	reRule      = regexp.MustCompile(`^ {0,3}(([-*_])[ \t]*)(([-*_])[ \t]*){2,}$`)
	reFence     = regexp.MustCompile("^ {0,3}(```|~~~)")
	reDelim     = regexp.MustCompile(`^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$`)
	reSetext    = regexp.MustCompile(`^ {0,3}(=+|-+)\s*$`)
	reContainer = regexp.MustCompile(`^(( {0,3}> ?)|([ \t]*([-*+\x{2022}]|[0-9]{1,9}[.)])([ \t]+|$)))+`)
)

// structure describes a line by its block kind and, for lines that are
// wholly structure, by its bytes; for quote and list lines by their
// markers.
func structure(line string) string {
	switch {
	case strings.TrimSpace(line) == "":
		return "blank"
	case reFence.MatchString(line):
		return "fence " + line
	case reATX.MatchString(line):
		return "heading " + line
	case reRule.MatchString(line):
		return "rule " + line
	case reDelim.MatchString(line) && strings.Contains(line, "-"):
		return "delimiter " + line
	case strings.Contains(line, "|"):
		return "row " + line
	case reSetext.MatchString(line):
		return "underline " + line
	case strings.HasPrefix(line, "    "):
		return "indented " + line
	}
	if m := reContainer.FindString(line); m != "" {
		return "container " + m
	}
	return "text"
}

// sameStructure reports the first line whose structure differs.
func sameStructure(orig, cp string) error {
	a, b := strings.Split(orig, "\n"), strings.Split(cp, "\n")
	if len(a) != len(b) {
		return fmt.Errorf("%d lines, the original has %d", len(b), len(a))
	}
	for i := range a {
		sa := structure(a[i])
		if sa == "text" && i+1 < len(a) && reSetext.MatchString(a[i+1]) {
			sa = "setext " + a[i] // a setext heading's text line
		}
		sb := structure(b[i])
		if sb == "text" && i+1 < len(b) && reSetext.MatchString(b[i+1]) {
			sb = "setext " + b[i]
		}
		if sa != sb {
			return fmt.Errorf("line %d: %q became %q", i+1, sa, sb)
		}
	}
	return nil
}

// spansKept checks that every protected span of orig is in cp, byte for
// byte and in order, with the text between two spans canonically the same
// as in the original (marks change only what lies between them).
func spansKept(orig, cp string) error {
	at, from := 0, 0 // where the previous span ended in cp and in orig
	for _, s := range protect(orig).spans {
		want := orig[s.start:s.end]
		bw := CanonicalWords(orig[from:s.start])
		before := strings.Join(bw, " ")
		found := false
		for p := at; p <= len(cp); {
			k := strings.Index(cp[p:], want)
			if k < 0 {
				break
			}
			p += k
			w := CanonicalWords(cp[at:p])
			if strings.Join(w, " ") == before {
				at, found = p+len(want), true
				break
			}
			if len(w) > len(bw)+2 {
				break // past where the span should be
			}
			p++
		}
		if !found {
			return fmt.Errorf("protected %q is not in the copy as it was", want)
		}
		from = s.end
	}
	return nil
}

// TestMarkingRespectsStructure: each Markdown structure and each kind of
// digit group, with marked prose around it, comes out byte-identical in
// every copy, and every line keeps its block kind.
func TestMarkingRespectsStructure(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		keep []string // must be in every copy as written
	}{
		{"table", "| Term | It's -- \"agreed\" |\n|------|:--:|\n| price -- final | we are organizing |\n",
			[]string{"| Term | It's -- \"agreed\" |\n|------|:--:|\n| price -- final | we are organizing |\n"}},
		{"table without outer pipes", "Term | Notes\n--|--\nprice | it's -- \"final\"\n",
			[]string{"Term | Notes\n--|--\nprice | it's -- \"final\"\n"}},
		{"rule of dashes", "---\n", []string{"\n---\n"}},
		{"rule of stars", "* * *\n", []string{"* * *\n"}},
		{"rule of underscores", "___\n", []string{"___\n"}},
		{"ATX heading", "## We are organizing -- it's \"final\"\n", []string{"## We are organizing -- it's \"final\"\n"}},
		{"setext heading", "We are organizing -- it's final\n---------\n", []string{"We are organizing -- it's final\n---------\n"}},
		{"setext heading, equals", "Everyone should favor it\n=====\n", []string{"Everyone should favor it\n=====\n"}},
		{"setext heading over two lines", "We are organizing -- it's\nfinal, everyone\n===\n", []string{"We are organizing -- it's\nfinal, everyone\n===\n"}},
		{"bullet list", "- we are organizing it\n- everyone should favor it\n  * the center agrees\n+ it's done\n",
			[]string{"\n- w", "\n- e", "\n  * t", "\n+ it"}},
		{"numbered list", "1. we are organizing it\n2) everyone should favor it\n10. it's done\n",
			[]string{"\n1. w", "\n2) e", "\n10. it"}},
		{"block quote", "> we are organizing it\n> > everyone should favor it\n", []string{"\n> w", "\n> > e"}},
		{"fenced code", "```\nwe are organizing -- it's \"final\". Everyone\n```\n", []string{"```\nwe are organizing -- it's \"final\". Everyone\n```\n"}},
		{"tilde fence", "~~~go\nx := \"it's\" -- y\n~~~\n", []string{"~~~go\nx := \"it's\" -- y\n~~~\n"}},
		{"indented code", "\n    we are organizing -- it's \"final\"\n    everyone favor\n", []string{"    we are organizing -- it's \"final\"\n    everyone favor\n"}},
		{"inline code", "run `we are organizing -- it's` now and then", []string{"`we are organizing -- it's`"}},
		{"link", "see [we are organizing](https://example.org/a--b \"it's\") now", []string{"[", "](https://example.org/a--b \"it's\")"}},
		{"reference link", "see [the plan][ref-1] now\n\n[ref-1]: https://example.org/x--y \"it's\"\n",
			[]string{"][ref-1]", "[ref-1]: https://example.org/x--y \"it's\"\n"}},
		{"image", "look ![we are organizing -- it's](img/a--b.png) here", []string{"![we are organizing -- it's](img/a--b.png)"}},
		{"autolink", "write to <https://example.org/it's--here> or <desk@example.org> today", []string{"<https://example.org/it's--here>", "<desk@example.org>"}},
		{"plain URL and e-mail", "see https://example.org/we-are--here and desk.team@example.org today", []string{"https://example.org/we-are--here", "desk.team@example.org"}},
		{"HTML", "a <span title=\"it's -- final\">we are organizing</span> b\n<div class=\"x\">it's</div>\n", []string{"<span title=\"it's -- final\">", "</span>", "<div class=\"x\">it's</div>\n"}},
		{"IBAN", "pay to GB29 NWBK 6016 1331 9268 19 and DE89 3704 0044 0532 0130 00 now", []string{"GB29 NWBK 6016 1331 9268 19", "DE89 3704 0044 0532 0130 00"}},
		{"card number", "card 4111 1111 1111 1111 or 4111-1111-1111-1111 expires 09/27", []string{"4111 1111 1111 1111", "4111-1111-1111-1111", "09/27"}},
		{"phone", "call +44 20 7946 0958 or (020) 7946 0958 or 555.123.4567", []string{"44 20 7946 0958", "020) 7946 0958", "555.123.4567"}},
		{"amounts", "we pay EUR 1 250 000 and 1 000 000 USD, not 12 500", []string{"EUR 1 250 000", "1 000 000 USD", "12 500"}},
		{"dates", "on 5 May 2025 or 2025-05-05 or 05.05.2025 or May 5, 2025 at 10:30", []string{"5 May 2025", "2025-05-05", "05.05.2025", "May 5, 2025", "10:30"}},
		{"command-line options", "run it with --dry-run and --since \"it's\" then\n--verbose -- it's done", []string{" --dry-run", " --since", "\n--verbose"}},
		{"references", "invoice INV-2025/0417 and case 2024/117-B", []string{"2025/0417", "2024/117-B"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := prose + "\n\n" + tc.text + "\n" + prose + "\n"
			changed := false
			for _, cp := range markedCopies(t, text) {
				changed = changed || cp != text
				for _, k := range tc.keep {
					if !strings.Contains(cp, k) {
						t.Fatalf("%q changed in the copy:\n%s", k, cp)
					}
				}
				if err := sameStructure(text, cp); err != nil {
					t.Fatalf("%v\ncopy:\n%s", err, cp)
				}
				if err := spansKept(text, cp); err != nil {
					t.Fatalf("%v\ncopy:\n%s", err, cp)
				}
			}
			if !changed {
				t.Fatal("no copy is marked: the test would prove nothing")
			}
		})
	}
}

// The text of links, list items, quotes and table-free paragraphs is still
// marked: protection keeps the structure, not the words around it.
func TestMarkedInsideContainers(t *testing.T) {
	for _, tc := range []struct{ text, marked string }{
		{"see [we are organizing it](https://example.org) now", "[we are organising it]"},
		{"- we are organizing it\n- and so on", "- we are organising it"},
		{"> we are organizing it\n", "> we are organising it"},
		{"1. we are organizing it\n", "1. we are organising it"},
	} {
		found := false
		for _, cp := range markedCopies(t, tc.text) {
			if strings.Contains(Normalize(cp), tc.marked) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: no copy has %q", tc.text, tc.marked)
		}
	}
}

// No slot on the Markdown sample touches a protected byte, whichever symbol
// it takes, and the sample keeps most of its marking capacity in prose.
func TestMarkdownSampleCapacity(t *testing.T) {
	b, err := os.ReadFile("testdata/markdown_sample.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	l := NewLayout(text, PolicyAll)
	by := map[string]int{}
	for _, s := range l.slots {
		by[s.kind.channel().String()]++
	}
	t.Logf("Markdown sample: %d words, %d slots %v", l.Words(), l.NumSlots(), by)
	// 238 slots (191 invisible, 24 typographic, 23 lexical) before the
	// structure was protected; what is left is the prose's.
	if by["invisible"] < 100 || by["lexical"] < 8 || by["typographic"] < 5 {
		t.Fatalf("capacity lost beyond the structure: %v", by)
	}
	for _, cp := range markedCopies(t, text) {
		if err := sameStructure(text, cp); err != nil {
			t.Fatal(err)
		}
		if err := spansKept(text, cp); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzProtectedSpans: whatever the text and the symbols, marking never
// changes a byte inside a protected span nor a line's Markdown structure.
func FuzzProtectedSpans(f *testing.F) {
	for _, s := range []string{
		"| a | b |\n|---|---|\n| it's -- x | y |",
		"# We are organizing -- it's\n\nEveryone favors it. Yes.",
		"IBAN DE89 3704 0044 0532 0130 00. Call +44 20 7946 0958.",
		"- it's \"a\" -- b\n* c\n1. d\n> e -- f",
		"```\nit's -- \"x\"\n```\nwe are organizing",
		"see [we are organizing](http://x.y/a--b) and <b>it's</b> `c -- d` e@x.org",
		"Title -- it's\n---\ntext",
	} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, seed uint8) {
		if !utf8.ValidString(s) || len(s) > 2048 {
			return
		}
		l := NewLayout(s, PolicyAll)
		sym := make([]int, l.NumSlots())
		for i := range sym {
			sym[i] = (int(seed) + i*int(seed|1)) % l.Alphabet(i)
		}
		cp := l.Render(sym)
		if err := spansKept(s, cp); err != nil {
			t.Fatalf("%v\norig: %q\ncopy: %q", err, s, cp)
		}
		if err := sameStructure(s, cp); err != nil {
			t.Fatalf("%v\norig: %q\ncopy: %q", err, s, cp)
		}
	})
}

// On ordinary prose protection costs (almost) nothing: a pasted and a
// retyped copy are traced to the same member with the same evidence as
// without it, give or take the slots of a few digit groups.
func TestProtectionKeepsProseEvidence(t *testing.T) {
	key := testKey(41)
	msgs := sentMessages(proseParagraphs(t), members, PolicyAll)
	trace := func(leak string) *Result {
		tr, err := NewTracer(key, msgs)
		if err != nil {
			t.Fatal(err)
		}
		res, err := tr.Trace(leak, 0)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, retyped := range []bool{false, true} {
		leak := copyOf(t, key, msgs, "dave")
		if retyped {
			leak = Normalize(leak)
		}
		with := trace(leak)
		protectText = func(string) *protection { return &protection{} }
		leakWithout := copyOf(t, key, msgs, "dave")
		if retyped {
			leakWithout = Normalize(leakWithout)
		}
		without := trace(leakWithout)
		protectText = protect
		for _, res := range []*Result{with, without} {
			if res.Verdict != Identified || len(res.Suspects) != 1 || res.Suspects[0].Member != "dave" {
				t.Fatalf("retyped=%v: verdict %s, suspects %+v", retyped, res.Verdict, res.Suspects)
			}
		}
		t.Logf("retyped=%v: %d slots read with protection, %d without (%v vs %v)", retyped, with.SlotsRead, without.SlotsRead, with.SlotsByChannel, without.SlotsByChannel)
		if 100*with.SlotsRead < 98*without.SlotsRead {
			t.Errorf("retyped=%v: %d slots read with protection, %d without", retyped, with.SlotsRead, without.SlotsRead)
		}
		if with.Suspects[0].SlotsMatched*100 < without.Suspects[0].SlotsMatched*98 {
			t.Errorf("retyped=%v: %d slots matched with protection, %d without", retyped, with.Suspects[0].SlotsMatched, without.Suspects[0].SlotsMatched)
		}
	}
}
