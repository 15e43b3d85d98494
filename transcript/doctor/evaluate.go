package doctor

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
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
	Findings                                             Counts           // reordered and omitted, as in Result.Findings
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
	// Context is, for an authentic line flagged, the leak's lines around
	// it (one before, one after) and every verdict reported on them: what
	// -show-false prints.
	Context string
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
	// Findings scores the arrangement findings: "reordered" per moved
	// line (TP: a reordered finding names one of its lines; FP: a
	// reordered finding names no moved line), "omitted" per left-out
	// message (TP: an omitted finding lists it; FP: one lists a message
	// that was not left out inside a labelled run).
	Findings      map[string]*Counts
	FindingMisses []string
	// FindingContext holds, for each finding miss, the leak lines it
	// concerns and the verdicts on them (printed by -show-false).
	FindingContext []string
}

func newResult() *Result {
	r := &Result{Classes: map[leak.Verdict]*Counts{}, ByEdit: map[Edit]*Counts{}, ByLayout: map[string]*LayoutScore{},
		Findings: map[string]*Counts{leak.Reordered: {}, leak.Omitted: {}}}
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
	r.scoreFindings(t, l, rep, ls)
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
			m := Miss{t.Name, it.Edit, want, got, strings.Join(strings.Fields(it.Text), " "), diff, ""}
			if want == leak.Authentic {
				m.Context = context(l.Text, it.FirstLine, it.LastLine, rep.Lines)
			}
			r.Misses = append(r.Misses, m)
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

// context shows the leak lines first to last with one line either side, and
// the verdicts reported on those lines.
func context(text string, first, last int, lines []leak.Line) string {
	ls := strings.Split(text, "\n")
	var b strings.Builder
	for n := max(1, first-1); n <= min(len(ls), last+1); n++ {
		mark := "  "
		if n >= first && n <= last {
			mark = "> "
		}
		fmt.Fprintf(&b, "\t%s%4d | %s\n", mark, n, ls[n-1])
	}
	for _, l := range lines {
		if l.Line >= first-1 && l.Line <= last+1 {
			fmt.Fprintf(&b, "\t  line %d %s %s: %.200s", l.Line, l.Verdict, l.MessageID, l.Diff)
			if l.Noise != "" {
				fmt.Fprintf(&b, " [%s]", l.Noise)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// scoreFindings scores the reordered and omitted findings of one leak.
func (r *Result) scoreFindings(t Transcript, l Leak, rep *leak.Report, ls *LayoutScore) {
	note := func(kind string, tp, fp, fn int, what string, lines ...int) {
		c := r.Findings[kind]
		c.TP, c.FP, c.FN = c.TP+tp, c.FP+fp, c.FN+fn
		ls.Findings.TP, ls.Findings.FP, ls.Findings.FN = ls.Findings.TP+tp, ls.Findings.FP+fp, ls.Findings.FN+fn
		if fp+fn > 0 && len(r.FindingMisses) < 200 {
			r.FindingMisses = append(r.FindingMisses, fmt.Sprintf("%s %s (%s): %s", l.Transcript, kind, l.Style.LayoutName(), what))
			ctx := ""
			if len(lines) > 0 {
				ctx = context(l.Text, slices.Min(lines), slices.Max(lines), rep.Lines)
			}
			r.FindingContext = append(r.FindingContext, ctx)
		}
	}
	// the leak lines of each moved source message
	span := map[int][2]int{}
	for _, it := range l.Items {
		if it.Source >= 0 && it.Edit != Insert {
			span[it.Source] = [2]int{it.FirstLine, it.LastLine}
		}
	}
	names := func(f leak.Finding, src int) bool {
		sp, ok := span[src]
		for _, x := range f.Lines {
			if ok && x >= sp[0] && x <= sp[1] {
				return true
			}
		}
		return false
	}
	for _, src := range l.Moved {
		found := false
		for _, f := range rep.Findings {
			if f.Kind == leak.Reordered && names(f, src) {
				found = true
			}
		}
		if found {
			note(leak.Reordered, 1, 0, 0, "")
		} else {
			note(leak.Reordered, 0, 0, 1, fmt.Sprintf("moved line at %v not reported", span[src]), span[src][0]-2, span[src][1]+2)
		}
	}
	omitted := map[string]bool{}
	for _, id := range l.Omitted {
		omitted[id] = true
	}
	reported := map[string]bool{}
	for _, f := range rep.Findings {
		switch f.Kind {
		case leak.Reordered:
			ok := false
			for _, src := range l.Moved {
				ok = ok || names(f, src)
			}
			if !ok {
				note(leak.Reordered, 0, 1, 0, f.Text, f.Lines...)
			}
		case leak.Omitted:
			for _, id := range f.Messages {
				reported[id] = true
				if !omitted[id] {
					note(leak.Omitted, 0, 1, 0, f.Text+" "+id, f.Lines...)
				}
			}
		}
	}
	for _, id := range l.Omitted {
		if reported[id] {
			note(leak.Omitted, 1, 0, 0, "")
			continue
		}
		// the lines of the leaked messages sent just before and after it
		src := slices.IndexFunc(t.Messages, func(m leak.Message) bool { return m.ID == id })
		before, after := -1, -1
		for k, it := range l.Items {
			if it.Source < 0 || it.Edit == Insert {
				continue
			}
			if it.Source < src && (before < 0 || it.Source > l.Items[before].Source) {
				before = k
			}
			if it.Source > src && (after < 0 || it.Source < l.Items[after].Source) {
				after = k
			}
		}
		var around []int
		for _, k := range []int{before, after} {
			if k >= 0 {
				around = append(around, l.Items[k].FirstLine, l.Items[k].LastLine)
			}
		}
		note(leak.Omitted, 0, 0, 1, "not reported: "+id, around...)
	}
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
	fmt.Fprintf(&b, "| any doctored line flagged | %.3f | %.3f | %d | %d | %d |\n", c.Precision(), c.Recall(), c.TP, c.FP, c.FN)
	for _, k := range []string{leak.Reordered, leak.Omitted} {
		if c := r.Findings[k]; c.TP+c.FP+c.FN > 0 {
			unit := map[string]string{leak.Reordered: "moved lines", leak.Omitted: "left-out messages"}[k]
			fmt.Fprintf(&b, "| %s (%s) | %.3f | %.3f | %d | %d | %d |\n", k, unit, c.Precision(), c.Recall(), c.TP, c.FP, c.FN)
		}
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Authentic lines flagged: %d of %d. Lines with no verdict: %d.\n\n", r.AuthenticFlagged, r.ByEdit[None].total()+r.ByEdit[EventLine].total()+r.ByEdit[Noise].total(), r.Unreported)
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
		b.WriteString("\n| layout | lines | authentic lines flagged | doctored lines with the expected verdict | findings reported (reordered, omitted) | false findings |\n|---|---|---|---|---|---|\n")
		names := make([]string, 0, len(r.ByLayout))
		for n := range r.ByLayout {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s := r.ByLayout[n]
			fmt.Fprintf(&b, "| `%s` | %d | %d of %d | %d of %d | %d of %d | %d |\n", n, s.Lines, s.AuthenticFlagged, s.Authentic, s.Caught, s.Doctored,
				s.Findings.TP, s.Findings.TP+s.Findings.FN, s.Findings.FP)
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
