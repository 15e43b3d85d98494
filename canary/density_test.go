package canary

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// sharedCorpus returns the texts of the shared evaluation corpus
// (../shared/corpus from the repository root, as canary/eval.FindCorpus
// finds it; that package imports this one), or nil when it is absent.
func sharedCorpus(t *testing.T) map[string]string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
	files, err := filepath.Glob(filepath.Join(dir, "..", "shared", "corpus", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = string(data)
	}
	return out
}

// density counts the lexical-channel slots (the ones a retyped leak keeps)
// per class over the paragraphs of texts, and the words.
func density(texts []string) (map[string]int, int) {
	by := map[string]int{}
	words := 0
	for _, text := range texts {
		for _, p := range strings.Split(text, "\n\n") {
			l := NewLayout(p, PolicyLexical)
			words += l.Words()
			for _, s := range l.slots {
				by[s.class()]++
			}
		}
	}
	return by, words
}

func densityReport(t *testing.T, name string, by map[string]int, words int) float64 {
	t.Helper()
	var classes []string
	total := 0
	for c, n := range by {
		classes = append(classes, c)
		total += n
	}
	sort.Strings(classes)
	per := func(n int) float64 { return 100 * float64(n) / float64(max(words, 1)) }
	t.Logf("%s: %d words, %d lexical-channel slots: %.2f per 100 words (one per %.1f words)", name, words, total, per(total), float64(words)/float64(max(total, 1)))
	for _, c := range classes {
		t.Logf("  %-14s %5d  %.2f per 100 words", c, by[c], per(by[c]))
	}
	return per(total)
}

// TestDensity reports the retyping-surviving slots per 100 words, per class,
// on the shipped prose and (when present) the shared corpus; run with -v.
func TestDensity(t *testing.T) {
	by, words := density(proseParagraphs(t))
	if d := densityReport(t, "shipped excerpt", by, words); d < 2.2 {
		t.Errorf("lexical density %.2f per 100 words on the shipped prose, want at least 2.2", d)
	}
	corpus := sharedCorpus(t)
	if corpus == nil {
		t.Log("shared corpus not found (../shared/corpus): only the shipped excerpt measured")
		return
	}
	var names []string
	for n := range corpus {
		names = append(names, n)
	}
	sort.Strings(names)
	all := map[string]int{}
	allWords := 0
	for _, n := range names {
		by, words := density([]string{corpus[n]})
		densityReport(t, n, by, words)
		for c, k := range by {
			all[c] += k
		}
		allWords += words
	}
	densityReport(t, "shared corpus", all, allWords)
}
