package doctor

import (
	"flag"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"backchannel/canary"
	"backchannel/transcript/leak"
)

// go test ./transcript/doctor -run TestBenchmark -v -args -leaks 50 -seed 1
// reproduces the numbers in docs/benchmarks.md.
var (
	leaks   = flag.Int("leaks", 6, "leaks per transcript in TestBenchmark")
	seed    = flag.Int64("seed", 3, "seed of TestBenchmark")
	nocanon = flag.Bool("nocanon", false, "with -marked: verify without the canonicaliser")
	marked  = flag.Bool("marked", false, "TestBenchmark on canary-marked copies, verified with canary.Canonicalize")
	layouts = flag.Int("layout-leaks", 2, "leaks per transcript and layout in TestLayouts")
	showF   = flag.Bool("show-false", false, "print each authentic line flagged with its leak lines and the verdicts on them")
	corpusF = flag.String("corpus", "", "corpus directory of TestBenchmark, TestLayouts and TestMemos (default ../shared/corpus); testdata/fresh holds texts written for issue 11")
)

// benchCorpus is -corpus, or the shared corpus (the sample if absent).
func benchCorpus(t *testing.T) string {
	t.Helper()
	if *corpusF != "" {
		return *corpusF
	}
	dir, fallback, err := FindCorpus()
	if err != nil {
		t.Fatal(err)
	}
	if fallback {
		t.Logf("NOTE: ../shared/corpus is absent; using the small sample in %s", dir)
	}
	return dir
}

// checkFindings holds a run to the arrangement findings. The target is
// every moved line and every left-out message reported and no false
// finding; measured short of it (docs/benchmarks.md), so the test guards
// the measured level: precision and recall of each at least floor (0.95
// in the label layouts; 0.85 in the random styles, where a line moved in
// unlabelled text re-wrapped without blank lines may go unreported).
func checkFindings(t *testing.T, r *Result, floor float64) {
	t.Helper()
	for k, m := range r.FindingMisses {
		t.Logf("finding miss: %s", m)
		if *showF && r.FindingContext[k] != "" {
			t.Logf("finding miss in context:\n%s", r.FindingContext[k])
		}
	}
	for k, c := range r.Findings {
		if c.TP == 0 {
			t.Errorf("%s: never generated or never reported", k)
		}
		if c.Precision() < floor || c.Recall() < floor {
			t.Errorf("%s: precision %.3f, recall %.3f (%d missed, %d false, of %d)", k, c.Precision(), c.Recall(), c.FN, c.FP, c.TP+c.FN)
		}
	}
}

// checkNoise: authentic lines with copying noise stay authentic and noise
// hiding a change of meaning is altered, both for at least pct % of the
// lines: 99 on plain copies, 97 on canary-marked ones, where a slip inside
// a marked variant ("dfeences" for a copy's "defences") is no slip of the
// message's word. The target, all of them, is not met: a short line whose
// every word is noisy ("Very sedlom.", "Colonel Hosue withhdrew.") still
// finds no message; notes_verify.md.
func checkNoise(t *testing.T, r *Result, pct int) {
	t.Helper()
	for _, e := range []Edit{Noise, NoiseMeaning} {
		if c := r.ByEdit[e]; c != nil && 100*c.TP < pct*c.total() {
			t.Errorf("edit %s: %d of %d without the expected verdict", e, c.FN, c.total())
		}
	}
}

func corpus(t *testing.T) []Transcript {
	t.Helper()
	dir, fallback, err := FindCorpus()
	if err != nil {
		t.Fatal(err)
	}
	if fallback {
		t.Logf("NOTE: ../shared/corpus is absent; using the small sample in %s", dir)
	}
	ts, err := LoadCorpus(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestGroundTruth checks the generator's labels: an edited line really
// differs in its normalised words from its source, a formatting-only line
// really does not (or is a quoted sentence of it).
func TestGroundTruth(t *testing.T) {
	ts := corpus(t)
	for i, tr := range ts {
		g := &Generator{T: tr, Foreign: foreignSentences(ts, i)}
		if len(g.Foreign) == 0 {
			g.Foreign = fallbackFabrications
		}
		rng := rand.New(rand.NewSource(int64(i)))
		for k := 0; k < 5; k++ {
			l := g.Generate(rng)
			for _, it := range l.Items {
				if it.Source < 0 {
					if it.Edit != Insert && it.Edit != FakeEvent && it.Edit != EventLine {
						t.Fatalf("sourceless item with edit %s", it.Edit)
					}
					continue
				}
				src := leak.Normalize(tr.Messages[it.Source].Text, nil)
				got := leak.Normalize(it.Text, nil)
				switch it.Edit {
				case None, Swap, SwapPress, Retime, EventLine:
					if !slices.Equal(src, got) && !strings.Contains(strings.Join(src, " "), strings.Join(got, " ")) {
						t.Fatalf("%s line changed words: %q", it.Edit, it.Text)
					}
				default:
					if slices.Equal(src, got) {
						t.Fatalf("%s left the words unchanged: %q", it.Edit, it.Text)
					}
				}
			}
			if !strings.HasSuffix(l.Text, "\n") || len(l.Items) == 0 {
				t.Fatal("empty leak")
			}
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	ts := corpus(t)
	g := &Generator{T: ts[0], Foreign: fallbackFabrications}
	a := g.Generate(rand.New(rand.NewSource(7)))
	b := g.Generate(rand.New(rand.NewSource(7)))
	if a.Text != b.Text || len(a.Items) != len(b.Items) {
		t.Fatal("same seed, different leak")
	}
}

// TestBenchmark runs a small doctoring benchmark and holds the verifier to
// the goal: every doctored line flagged, no authentic line flagged (with
// 0.2 % slack, 1 % on marked copies, so a single hard case in a long run shows in the numbers,
// not as a broken build; measured: 0 of 2,714 at -leaks 50 -seed 1).
func TestBenchmark(t *testing.T) {
	dir := benchCorpus(t)
	cfg := Config{CorpusDir: dir, Leaks: *leaks, Seed: *seed}
	if *marked {
		// every leak is made from the leaker's canary-marked copies
		key := []byte("doctor benchmark: marking key 32")
		cfg.Mark = func(id, text string) string {
			out, err := canary.Mark(key, id, "leaker", text, canary.PolicyAll)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		if !*nocanon {
			cfg.Canonicalize = canary.Canonicalize
		}
	}
	r, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", r.Markdown())
	for _, m := range r.Misses {
		t.Logf("miss: %s expected %s got %s: %.120q (%.160s)", m.Edit, m.Expected, m.Got, m.Leaked, m.Diff)
		if *showF && m.Context != "" {
			t.Logf("false flag in %s:\n%s", m.Transcript, m.Context)
		}
	}
	if r.Lines < 100 {
		t.Fatalf("only %d lines generated", r.Lines)
	}
	if p, rc := r.Flagged.Precision(), r.Flagged.Recall(); p < 0.98 || rc < 0.98 {
		t.Errorf("flagging precision %.3f recall %.3f, want >= 0.98", p, rc)
	}
	per := 500 // at most 0.2 % of the authentic lines flagged (1 % on marked copies)
	if *marked {
		per = 100
	}
	if n := r.ByEdit[None].total() + r.ByEdit[Noise].total(); r.AuthenticFlagged*per > n {
		t.Errorf("%d of %d authentic lines flagged", r.AuthenticFlagged, n)
	}
	for _, e := range []Edit{Insert, Substitute, Negate, Splice, Omit, Noise, NoiseMeaning, SwapPress} {
		if c := r.ByEdit[e]; c == nil || c.TP == 0 {
			t.Errorf("edit %s never generated or never caught", e)
		}
	}
	if *marked {
		checkNoise(t, r, 97)
	} else {
		checkNoise(t, r, 99)
	}
	checkFindings(t, r, 0.85)
}

func TestParseTranscript(t *testing.T) {
	text := "Header line here\n\nSECRETARY KISSINGER: Well, gentlemen.\n\nMore from him.\n\nPROFESSOR OLIVER: Thank you.\n\nMr. Blair said that he agreed.\n"
	tr := ParseTranscript("x.txt", text, t0(), rand.New(rand.NewSource(1)))
	var got []string
	for _, m := range tr.Messages {
		got = append(got, m.Sender+"|"+m.Text)
	}
	if len(got) < 4 || got[1] != "secretary-kissinger|Well, gentlemen." || got[3] != "professor-oliver|Thank you." || got[4] != "mr-blair|Mr. Blair said that he agreed." {
		t.Fatalf("%q", got)
	}
	for i := 1; i < len(tr.Messages); i++ {
		if !tr.Messages[i].SentAt.After(tr.Messages[i-1].SentAt) {
			t.Fatal("times must increase")
		}
	}
}

func t0() (t time.Time) { return time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC) }

// TestFallbackSample keeps the fallback corpus usable.
func TestFallbackSample(t *testing.T) {
	sample := filepath.Join("..", "testdata", "corpus-sample")
	r, err := Run(Config{CorpusDir: sample, Leaks: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Transcripts != 2 || r.Lines < 20 {
		t.Fatalf("sample run: %d transcripts, %d lines", r.Transcripts, r.Lines)
	}
}

// TestDemoLeak: verify flags exactly the two doctored lines of the demo
// leak, for many seeds.
func TestDemoLeak(t *testing.T) {
	ts := corpus(t)
	msgs := ts[0].Messages[:40]
	ix := leak.NewIndex(msgs, leak.Options{})
	for seed := int64(0); seed < 20; seed++ {
		text, doctored, err := DemoLeak(msgs, seed)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ix.Verify([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		var flagged []int
		for _, l := range r.Lines {
			if l.Verdict != leak.Authentic {
				flagged = append(flagged, l.Line)
			}
		}
		if !slices.Equal(flagged, doctored) {
			t.Fatalf("seed %d: flagged lines %v, doctored %v", seed, flagged, doctored)
		}
	}
	short := []leak.Message{{ID: "x", Sender: "a", Text: "Yes."}, {ID: "y", Sender: "b", Text: "No."}}
	if _, _, err := DemoLeak(short, 1); err == nil {
		t.Fatal("expected an error for a room without a long message")
	}
}

// TestLayouts runs the benchmark in every label layout of Layouts and
// holds each to the goal: no authentic line flagged, every doctored line
// (altered, fabricated, swapped, merged, misdated, invented room events)
// given its expected verdict.
//
// go test ./transcript/doctor -run TestLayouts -v -args -layout-leaks 10
// reproduces the table in docs/benchmarks.md.
func TestLayouts(t *testing.T) {
	dir := benchCorpus(t)
	r, err := Run(Config{CorpusDir: dir, Leaks: *layouts, Seed: *seed, Layouts: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", r.Markdown())
	for _, m := range r.Misses {
		t.Logf("miss: %s expected %s got %s: %.120q (%.160s)", m.Edit, m.Expected, m.Got, m.Leaked, m.Diff)
		if *showF && m.Context != "" {
			t.Logf("false flag in %s:\n%s", m.Transcript, m.Context)
		}
	}
	if len(r.ByLayout) != len(Layouts) {
		t.Fatalf("%d layouts scored, want %d", len(r.ByLayout), len(Layouts))
	}
	// every layout: no authentic line flagged; every doctored line given
	// its verdict, with copying noise checked over all layouts below and a
	// miss per layout tolerated for the other edits (measured: a merged
	// line now and then, docs/benchmarks.md)
	for name, s := range r.ByLayout {
		for e, c := range s.ByEdit {
			if e == None && c.FN > 0 || e != Noise && e != NoiseMeaning && c.FN > 1 {
				t.Errorf("layout %s: %s: %d of %d without the expected verdict", name, e, c.FN, c.total())
			}
		}
	}
	for _, e := range []Edit{Swap, Merge, Retime, EventLine, FakeEvent, Noise, NoiseMeaning} {
		if c := r.ByEdit[e]; c == nil || c.TP == 0 {
			t.Errorf("edit %s never generated or never caught", e)
		}
	}
	checkNoise(t, r, 99)
	checkFindings(t, r, 0.95)
}

// TestMemos: memos (multi-paragraph messages) leaked paragraph by
// paragraph, re-wrapped or in the program's own layout: every doctored
// paragraph flagged and at most 1 % of the authentic ones (a paragraph
// that repeats one of its own sentences is split at the repeat and its
// second half looks cut: docs/benchmarks.md).
//
// go test ./transcript/doctor -run TestMemos -v -args -leaks 50
// reproduces the figures in docs/benchmarks.md.
func TestMemos(t *testing.T) {
	dir := benchCorpus(t)
	r, err := RunMemos(Config{CorpusDir: dir, Leaks: *leaks, Seed: *seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", r.Markdown())
	for _, m := range r.Misses {
		t.Logf("miss: %s expected %s got %s: %.120q (%.160s)", m.Edit, m.Expected, m.Got, m.Leaked, m.Diff)
		if *showF && m.Context != "" {
			t.Logf("false flag in %s:\n%s", m.Transcript, m.Context)
		}
	}
	if r.Lines < 50 {
		t.Fatalf("only %d paragraphs generated", r.Lines)
	}
	if n := r.ByEdit[None].total(); r.AuthenticFlagged*100 > n || r.Flagged.FN > 0 {
		t.Errorf("%d of %d authentic paragraphs flagged, %d doctored ones missed", r.AuthenticFlagged, n, r.Flagged.FN)
	}
	if c := r.ByEdit[None]; c == nil || c.TP == 0 {
		t.Error("no authentic paragraph verified")
	}
}
