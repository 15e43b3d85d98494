package eval

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"backchannel/canary"
)

// corpusDir returns the shared corpus, or the small corpus shipped in
// testdata when the shared one is absent (said so in the log).
func corpusDir(t testing.TB) string {
	dir, err := FindCorpus(".")
	if err == nil {
		return dir
	}
	if !errors.Is(err, ErrNoCorpus) {
		t.Fatal(err)
	}
	t.Logf("%v; using testdata/corpus", err)
	return "testdata/corpus"
}

func TestRunQuick(t *testing.T) {
	var calls, last int
	tab, err := Run(context.Background(), Config{CorpusDir: corpusDir(t), Quick: true}, func(done, total int) {
		calls++
		if done < last || done > total {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		last = done
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != len(QuickCases())*3 || last != calls {
		t.Errorf("progress called %d times, last %d", calls, last)
	}
	t.Log("\n" + tab.Markdown())
	for _, r := range tab.Rows {
		if r.FalseAccusations != 0 {
			t.Errorf("%+v: innocent members accused", r)
		}
		switch {
		case r.Strategy == Outsider:
			if r.Identified != 0 {
				t.Errorf("%+v: outsider's copy named a member", r)
			}
		case r.Condition == Paste && r.Words <= 25:
			if r.Identified < 2 {
				t.Errorf("%+v: pasted %d words identified in %d of %d trials", r, r.Words, r.Identified, r.Trials)
			}
		case r.Condition == Paste && r.Strategy == Majority:
			if r.Identified < 2 {
				t.Errorf("%+v: colluders identified in %d of %d trials", r, r.Identified, r.Trials)
			}
		case r.Condition == Strip:
			// Stripping keeps typography and wording: 1,000 words hold
			// well over a hundred slots.
			if r.Identified < 2 {
				t.Errorf("%+v: stripped copy identified in %d of %d trials", r, r.Identified, r.Trials)
			}
		}
		if r.Condition == Pooled && r.SingleFalseAccusations != 0 {
			t.Errorf("%+v: a single sender's trace accused an innocent member", r)
		}
		if (r.Condition == Scramble || r.Condition == Randomise) && r.Baseline != Strip {
			t.Errorf("%+v: not paired with stripping", r)
		}
		if r.MeanWords == 0 {
			t.Errorf("%+v: nothing aligned", r)
		}
	}
	for _, want := range []string{"Against the targets", "Evasion of the invisible marks", "Pooled conversation", "| press | all | 1 | 10 | 1600 |"} {
		if !strings.Contains(tab.Markdown(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if !strings.Contains(tab.Markdown(), "| paste | invisible | 1 | 10 | 25 |") {
		t.Errorf("table lacks the paste row:\n%s", tab.Markdown())
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Config{CorpusDir: "testdata/corpus", Quick: true}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestMissingCorpus(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "repo")
	if err := os.MkdirAll(filepath.Join(repo, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := FindCorpus(filepath.Join(repo, "sub"))
	if !errors.Is(err, ErrNoCorpus) || !strings.Contains(err.Error(), filepath.Join(root, "shared", "corpus")) {
		t.Fatalf("FindCorpus: %v", err)
	}
	if _, err := Run(context.Background(), Config{CorpusDir: filepath.Join(root, "nothing")}, nil); !errors.Is(err, ErrNoCorpus) {
		t.Fatalf("Run without corpus: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "shared", "corpus"), 0o755); err != nil {
		t.Fatal(err)
	}
	if dir, err := FindCorpus(filepath.Join(repo, "sub")); err != nil || dir != filepath.Join(root, "shared", "corpus") {
		t.Fatalf("FindCorpus = %q, %v", dir, err)
	}
}

func TestExcerptKeepsMarks(t *testing.T) {
	text := "one \u200Btwo  three\n\nfour \u200Cfive six"
	for _, tc := range []struct {
		off, n int
		want   string
	}{
		{0, 2, "one \u200Btwo"},
		{1, 3, "\u200Btwo  three\n\nfour"},
		{4, 5, "\u200Cfive six"},
		{9, 1, ""},
	} {
		if got := excerpt(text, tc.off, tc.n); got != tc.want {
			t.Errorf("excerpt(%d,%d) = %q; want %q", tc.off, tc.n, got, tc.want)
		}
	}
}

func TestMergeStrategies(t *testing.T) {
	l := canary.NewLayout("We are here and it is late, they are sure, so we will go now and then.", canary.PolicyAll)
	a := make([]int, l.NumSlots())
	b := make([]int, l.NumSlots())
	c := make([]int, l.NumSlots())
	for i := range b {
		b[i] = 1
		c[i] = 1
	}
	m := &merger{rng: rand.New(rand.NewPCG(1, 1))}
	for _, w := range [][]int{a, b, c} {
		m.add(w)
	}
	for i, s := range m.merge(Majority, l) {
		if s != 1 {
			t.Fatalf("majority slot %d = %d", i, s)
		}
	}
	m.add(a)
	m.add(b)
	got := m.merge(Interleave, l)
	zeros := 0
	for _, s := range got {
		if s == 0 {
			zeros++
		}
	}
	if len(got) > 30 && (zeros == 0 || zeros == len(got)) {
		t.Errorf("interleave took every slot from one colluder: %v", got)
	}
}

// BenchmarkHarness runs the full grid once and logs the table for
// docs/benchmarks.md (100 trials per case):
// go test ./canary/eval -run X -bench Harness -benchtime 1x -v
func BenchmarkHarness(b *testing.B) {
	for b.Loop() {
		tab, err := Run(context.Background(), Config{CorpusDir: corpusDir(b), Trials: 100}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Log("\n" + tab.Markdown())
	}
}
