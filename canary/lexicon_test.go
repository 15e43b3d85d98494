package canary

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLexiconLoads(t *testing.T) {
	lx, err := loadLexicon(lexiconFS)
	if err != nil {
		t.Fatal(err) // includes: an alternative listed twice
	}
	if len(lx.groups) < 100 {
		t.Errorf("only %d lexicon groups", len(lx.groups))
	}
}

// negations must never be part of a lexical alternative.
var negations = []string{"not", "no", "never", "nor", "none", "nothing", "nobody", "neither", "cannot", "without"}

func TestLexiconMeaningPreserving(t *testing.T) {
	lx := mustLexicon()
	// Every pair of the blocklist shifts meaning in some context; no group
	// may offer both.
	f, err := lexiconFS.Open("lexicon/blocklist.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A third field names the one context in which the pair is allowed.
	type blocked struct {
		a, b    string
		allowed lexContext
		only    bool
	}
	var block []blocked
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Split(s, "|")
		if len(f) < 2 || len(f) > 3 {
			t.Fatalf("blocklist line %q", s)
		}
		p := blocked{a: strings.TrimSpace(f[0]), b: strings.TrimSpace(f[1])}
		if len(f) == 3 {
			if strings.TrimSpace(f[2]) != "pronoun" {
				t.Fatalf("blocklist line %q: unknown context", s)
			}
			p.allowed, p.only = ctxPronoun, true
		}
		block = append(block, p)
	}
	if len(block) < 10 {
		t.Fatalf("blocklist has %d pairs", len(block))
	}
	numbers := map[string]int{"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
		"thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
		"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
	for _, g := range lx.groups {
		has := map[string]bool{}
		for _, a := range g.alts {
			la := strings.ToLower(a)
			has[la] = true
			for _, w := range strings.Fields(la) {
				for _, n := range negations {
					if w == n || strings.HasSuffix(w, "n't") {
						t.Errorf("%s: alternative %q contains a negation", g.source, a)
					}
				}
			}
		}
		for _, p := range block {
			if has[p.a] && has[p.b] && !(p.only && g.ctx == p.allowed) {
				t.Errorf("%s: group %v offers blocked pair %q/%q", g.source, g.alts, p.a, p.b)
			}
		}
		// Number forms keep their value, and only words become digits.
		if v, ok := numbers[strings.ToLower(g.alts[0])]; ok {
			if n, err := strconv.Atoi(g.alts[1]); err != nil || n != v || !g.oneWay {
				t.Errorf("%s: number group %v changes value or is not one-way", g.source, g.alts)
			}
		}
		for _, a := range g.alts[1:] {
			if _, err := strconv.Atoi(a); err == nil && numbers[strings.ToLower(g.alts[0])] == 0 {
				t.Errorf("%s: digits %q outside a number group", g.source, a)
			}
		}
	}
}

func TestLexiconRejectsDuplicates(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"duplicate":       {"lexicon/a.txt": "toward | towards\n", "lexicon/b.txt": "towards | toward\n"},
		"unknown context": {"lexicon/a.txt": "@context sideways\n"},
		"group of one":    {"lexicon/a.txt": "lonely\n"},
		"empty":           {"lexicon/a.txt": "a | | b\n"},
	} {
		fsys := fstest.MapFS{}
		for p, c := range files {
			fsys[p] = &fstest.MapFile{Data: []byte(c)}
		}
		if _, err := loadLexicon(fsys); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
