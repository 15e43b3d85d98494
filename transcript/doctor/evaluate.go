package doctor

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"backchannel/transcript/leak"
)

// Config configures a benchmark run.
type Config struct {
	CorpusDir    string
	Leaks        int   // leaks per transcript (default 25)
	Seed         int64 // default 1
	Rate         float64
	Canonicalize func(string) string
	// Mark, if set, makes every leak from the leaker's marked copies
	// (see Generator.Mark); pair it with the marking's Canonicalize.
	Mark func(msgID, text string) string
	// Layouts, if set, generates Leaks leaks per transcript in each label
	// layout of Layouts (instead of the random styles), half of them with
	// times shown in another time zone.
	Layouts bool
}

// LayoutScore is the outcome for one layout.
type LayoutScore struct {
	Lines, Authentic, AuthenticFlagged, Doctored, Caught int
	ByEdit                                               map[Edit]*Counts // TP: expected verdict, FN: not
}

// Counts is a confusion tally for one verdict class.
type Counts struct{ TP, FP, FN int }

// Precision is TP/(TP+FP), or 1 when nothing was predicted.
func (c Counts) Precision() float64 {
	if c.TP+c.FP == 0 {
		return 1
	}
	return float64(c.TP) / float64(c.TP+c.FP)
}

// Recall is TP/(TP+FN), or 1 when nothing was expected.
func (c Counts) Recall() float64 {
	if c.TP+c.FN == 0 {
		return 1
	}
	return float64(c.TP) / float64(c.TP+c.FN)
}

// Miss is a doctored line the verifier did not flag correctly, or an
// authentic one it flagged.
type Miss struct {
	Transcript string
	Edit       Edit
	Expected   leak.Verdict
	Got        leak.Verdict
	Leaked     string
	Diff       string
}

// Result aggregates a benchmark run.
type Result struct {
	Corpus           string
	Transcripts      int
	Messages         int
	Leaks            int
	Lines            int
	Words            int
	Classes          map[leak.Verdict]*Counts // altered, fabricated, misattributed
	Flagged          Counts                   // any doctored line flagged (any non-authentic verdict)
	AuthenticFlagged int
	Unreported       int              // lines that got no verdict at all
	ByEdit           map[Edit]*Counts // TP: flagged with the expected verdict, FN: not
	ByLayout         map[string]*LayoutScore
	Misses           []Miss
	Elapsed          time.Duration // verification time only
}

func newResult() *Result {
	r := &Result{Classes: map[leak.Verdict]*Counts{}, ByEdit: map[Edit]*Counts{}, ByLayout: map[string]*LayoutScore{}}
	for _, v := range []leak.Verdict{leak.Altered, leak.Fabricated, leak.Misattributed, leak.Misdated} {
		r.Classes[v] = &Counts{}
	}
	return r
}

// predicted is the verdict for an item: the expected verdict if any line
// reported for it has it, else the most severe reported one.
func predicted(item Item, lines []leak.Line) (leak.Verdict, string) {
	want := item.Edit.Expected()
	got, diff := leak.Verdict(""), ""
	rank := map[leak.Verdict]int{leak.Authentic: 1, leak.Misdated: 2, leak.Misattributed: 3, leak.Altered: 4, leak.Fabricated: 5}
	for _, l := range lines {
		if l.Line < item.FirstLine || l.Line > item.LastLine {
			continue
		}
		if l.Verdict == want && want != leak.Authentic {
			return want, l.Diff
		}
		if rank[l.Verdict] > rank[got] {
			got, diff = l.Verdict, l.Diff
		}
	}
	if got == "" {
		got = "unreported"
	}
	return got, diff
}

// Score verifies one leak against its transcript and adds it to r.
func (r *Result) Score(t Transcript, ix *leak.Index, l Leak) error {
	start := time.Now()
	rep, err := ix.Verify([]byte(l.Text))
	r.Elapsed += time.Since(start)
	if err != nil {
		return fmt.Errorf("verify %s: %w", t.Name, err)
	}
	r.Leaks++
	r.Words += len(strings.Fields(l.Text))
	ls := r.ByLayout[l.Style.LayoutName()]
	if ls == nil {
		ls = &LayoutScore{ByEdit: map[Edit]*Counts{}}
		r.ByLayout[l.Style.LayoutName()] = ls
	}
	for _, it := range l.Items {
		ls.Lines++
		r.Lines++
		want := it.Edit.Expected()
		got, diff := predicted(it, rep.Lines)
		if got == "unreported" {
			r.Unreported++
		}
		if r.ByEdit[it.Edit] == nil {
			r.ByEdit[it.Edit] = &Counts{}
		}
		if got == want {
			r.ByEdit[it.Edit].TP++
		} else {
			r.ByEdit[it.Edit].FN++
			r.Misses = append(r.Misses, Miss{t.Name, it.Edit, want, got, strings.Join(strings.Fields(it.Text), " "), diff})
		}
		for v, c := range r.Classes {
			switch {
			case got == v && want == v:
				c.TP++
			case got == v:
				c.FP++
			case want == v:
				c.FN++
			}
		}
		flagged := got != leak.Authentic && got != "unreported"
		if ls.ByEdit[it.Edit] == nil {
			ls.ByEdit[it.Edit] = &Counts{}
		}
		if got == want {
			ls.ByEdit[it.Edit].TP++
		} else {
			ls.ByEdit[it.Edit].FN++
		}
		if want == leak.Authentic {
			ls.Authentic++
			if flagged {
				ls.AuthenticFlagged++
			}
		} else {
			ls.Doctored++
			if got == want {
				ls.Caught++
			}
		}
		switch {
		case want != leak.Authentic && flagged:
			r.Flagged.TP++
		case want != leak.Authentic:
			r.Flagged.FN++
		case flagged:
			r.Flagged.FP++
			r.AuthenticFlagged++
		}
	}
	return nil
}

// foreignSentences collects sentences of the other transcripts, used as
// invented lines (real prose, but from no message of this room).
func foreignSentences(ts []Transcript, self int) []string {
	var out []string
	for i, t := range ts {
		if i == self {
			continue
		}
		for _, m := range t.Messages {
			for _, s := range sentences(m.Text) {
				if n := len(strings.Fields(s)); n >= 8 && n <= 30 {
					out = append(out, s+".")
				}
			}
		}
	}
	return out
}

// unlike drops candidate inserted lines that share a fifth or more of
// their word 3-grams with the transcript: those read as edits of a real
// message, not as invented lines.
func unlike(cands []string, t Transcript) []string {
	grams := map[string]bool{}
	tri := func(s string) []string {
		w := leak.Normalize(s, nil)
		var out []string
		for i := 0; i+3 <= len(w); i++ {
			out = append(out, strings.Join(w[i:i+3], " "))
		}
		return out
	}
	for _, m := range t.Messages {
		for _, g := range tri(m.Text) {
			grams[g] = true
		}
	}
	var out []string
	for _, c := range cands {
		shared, all := 0, tri(c)
		for _, g := range all {
			if grams[g] {
				shared++
			}
		}
		if 5*shared < len(all) {
			out = append(out, c)
		}
	}
	return out
}

// fallbackFabrications are used when the corpus has a single transcript.
var fallbackFabrications = []string{
	"We have already agreed to hand over the airport before the elections.",
	"The President told me privately that the sanctions will be lifted next week.",
	"Our side will pay for the reconstruction if they drop the complaint.",
	"I can confirm that the minister approved the transfer of the weapons.",
	"Nobody outside this room knows that the ceasefire is only a pretext.",
}

// start fills in the defaults (25 leaks per transcript, seed 1), loads the
// corpus and returns an empty result for it.
func (cfg *Config) start() ([]Transcript, *Result, error) {
	if cfg.Leaks == 0 {
		cfg.Leaks = 25
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	ts, err := LoadCorpus(cfg.CorpusDir, cfg.Seed)
	if err != nil {
		return nil, nil, err
	}
	res := newResult()
	res.Corpus, res.Transcripts = cfg.CorpusDir, len(ts)
	return ts, res, nil
}

// Run generates Config.Leaks leaks per transcript of the corpus, verifies
// each and scores the verdicts.
func Run(cfg Config) (*Result, error) {
	ts, res, err := cfg.start()
	if err != nil {
		return nil, err
	}
	for i, t := range ts {
		res.Messages += len(t.Messages)
		g := &Generator{T: t, Foreign: unlike(foreignSentences(ts, i), t), Rate: cfg.Rate, Mark: cfg.Mark}
		if len(g.Foreign) == 0 {
			g.Foreign = fallbackFabrications
		}
		ix := leak.NewIndex(t.Messages, leak.Options{Canonicalize: cfg.Canonicalize, Events: t.Events()})
		rng := rand.New(rand.NewSource(cfg.Seed*1000 + int64(i)))
		if cfg.Layouts {
			for k := range Layouts {
				for n := 0; n < cfg.Leaks; n++ {
					st := Style{Layout: k + 1, Retype: rng.Intn(10) < 7, Blank: rng.Intn(2) == 0}
					if !strings.HasPrefix(Layouts[k].Name, "|") && rng.Intn(3) == 0 {
						st.Wrap = 50 + rng.Intn(40)
					}
					if n%2 == 1 {
						st.Shift = []int{60, -300, 330, 540}[rng.Intn(4)]
					}
					if err := res.Score(t, ix, g.GenerateStyle(rng, st)); err != nil {
						return nil, err
					}
				}
			}
			continue
		}
		for k := 0; k < cfg.Leaks; k++ {
			if err := res.Score(t, ix, g.Generate(rng)); err != nil {
				return nil, err
			}
		}
	}
	sort.SliceStable(res.Misses, func(a, b int) bool { return res.Misses[a].Edit < res.Misses[b].Edit })
	return res, nil
}

// DefaultCorpus returns the shared corpus directory relative to the
// repository root (../shared/corpus), searching upwards from the working
// directory; ok is false if it does not exist.
func DefaultCorpus() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			c := filepath.Join(dir, "..", "shared", "corpus")
			if st, err := os.Stat(c); err == nil && st.IsDir() {
				return filepath.Clean(c), true
			}
			return "", false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Markdown renders the result as a table for docs/benchmarks.md.
func (r *Result) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Corpus: %s (%d transcripts, %d messages); %d leaks, %d leaked lines, %d words; verification took %v in total.\n\n",
		r.Corpus, r.Transcripts, r.Messages, r.Leaks, r.Lines, r.Words, r.Elapsed.Round(time.Millisecond))
	b.WriteString("| verdict | precision | recall | TP | FP | FN |\n|---|---|---|---|---|---|\n")
	for _, v := range []leak.Verdict{leak.Altered, leak.Fabricated, leak.Misattributed, leak.Misdated} {
		c := r.Classes[v]
		fmt.Fprintf(&b, "| %s | %.3f | %.3f | %d | %d | %d |\n", v, c.Precision(), c.Recall(), c.TP, c.FP, c.FN)
	}
	c := r.Flagged
	fmt.Fprintf(&b, "| any doctored line flagged | %.3f | %.3f | %d | %d | %d |\n\n", c.Precision(), c.Recall(), c.TP, c.FP, c.FN)
	fmt.Fprintf(&b, "Authentic lines flagged: %d of %d. Lines with no verdict: %d.\n\n", r.AuthenticFlagged, r.ByEdit[None].total()+r.ByEdit[EventLine].total(), r.Unreported)
	b.WriteString("| edit | lines | correct verdict |\n|---|---|---|\n")
	edits := make([]string, 0, len(r.ByEdit))
	for e := range r.ByEdit {
		edits = append(edits, string(e))
	}
	sort.Strings(edits)
	for _, e := range edits {
		c := r.ByEdit[Edit(e)]
		fmt.Fprintf(&b, "| %s | %d | %d |\n", e, c.TP+c.FN, c.TP)
	}
	if len(r.ByLayout) > 1 {
		b.WriteString("\n| layout | lines | authentic lines flagged | doctored lines with the expected verdict |\n|---|---|---|---|\n")
		names := make([]string, 0, len(r.ByLayout))
		for n := range r.ByLayout {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s := r.ByLayout[n]
			fmt.Fprintf(&b, "| `%s` | %d | %d of %d | %d of %d |\n", n, s.Lines, s.AuthenticFlagged, s.Authentic, s.Caught, s.Doctored)
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "read:") && !strings.HasPrefix(n, "chat:") {
				continue
			}
			s := r.ByLayout[n]
			fmt.Fprintf(&b, "\n`%s`:", n)
			for _, e := range []Edit{Swap, Retime, Merge, EventLine, FakeEvent} {
				if c := s.ByEdit[e]; c != nil {
					fmt.Fprintf(&b, " %s %d of %d;", e, c.TP, c.total())
				}
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func (c *Counts) total() int {
	if c == nil {
		return 0
	}
	return c.TP + c.FN
}
