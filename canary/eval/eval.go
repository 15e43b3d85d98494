// Package eval measures how well canary traces leaks: it marks real prose
// for simulated rooms, simulates leaks (pasted, retyped, excerpted, edited,
// paraphrased, merged by colluders) and reports, per condition, how often
// the leaker is named and how often an innocent member is.
//
// The simulator uses math/rand/v2 with a fixed seed so that runs are
// reproducible; the marks themselves are derived by canary from a marking
// key, as in production.
package eval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"backchannel/canary"
)

// Leak conditions.
const (
	Paste      = "paste"       // copied as is
	Retype     = "retype"      // invisible characters stripped, typography normalised
	Edits      = "edits"       // retyped, then 5% of words replaced, dropped or inserted
	PasteEdits = "paste+edits" // pasted, then 5% word edits
	Paraphrase = "paraphrase"  // retyped, sentences reordered, clauses dropped
)

// Collusion strategies.
const (
	Single     = "single"
	Interleave = "interleave" // runs of the copy switch between colluders
	Majority   = "majority"   // each slot takes the colluders' majority symbol
	Outsider   = "outsider"   // null test: a copy marked for a non-member
)

// Case is one row of the evaluation: a leak condition for a room size.
type Case struct {
	Condition string        `json:"condition"`
	Policy    canary.Policy `json:"policy"`
	Strategy  string        `json:"strategy"`
	Colluders int           `json:"colluders"`
	Members   int           `json:"members"`
	Words     int           `json:"words"`
}

// Config configures Run.
type Config struct {
	// CorpusDir holds the prose (*.txt). Empty: FindCorpus(".").
	CorpusDir string
	// Trials per case (default 40; quick 3).
	Trials int
	// Seed of the simulator (default 1).
	Seed uint64
	// Epsilon for tracing (default canary.DefaultEpsilon).
	Epsilon float64
	// Quick runs a small grid for tests.
	Quick bool
	// Cases overrides the grid.
	Cases []Case
}

// Row is the measured outcome of one case.
type Row struct {
	Case
	Trials           int     `json:"trials"`
	Identified       int     `json:"identified"`        // trials naming at least one true leaker
	FalseAccusations int     `json:"false_accusations"` // trials naming an innocent member
	MeanSlots        float64 `json:"mean_slots"`        // slots read per trial
	MeanWords        float64 `json:"mean_words"`        // leak words aligned per trial
}

// Rate is the identification rate.
func (r Row) Rate() float64 {
	if r.Trials == 0 {
		return 0
	}
	return float64(r.Identified) / float64(r.Trials)
}

// Table is the result of Run.
type Table struct {
	Rows     []Row         `json:"rows"`
	Corpus   string        `json:"corpus"`
	Messages int           `json:"messages"`
	Words    int           `json:"words"`
	Seed     uint64        `json:"seed"`
	Epsilon  float64       `json:"epsilon"`
	Elapsed  time.Duration `json:"elapsed_ns"`
}

// DefaultCases is the full grid: every condition of issue 5 for rooms of 3,
// 10 and 50 members.
func DefaultCases() []Case {
	type c struct {
		cond  string
		pol   canary.Policy
		strat string
		n     int
		words []int
	}
	base := []c{
		{Paste, canary.PolicyInvisible, Single, 1, []int{25, 50}},
		{Paste, canary.PolicyAll, Single, 1, []int{25, 50}},
		{PasteEdits, canary.PolicyAll, Single, 1, []int{25, 100}},
		{Retype, canary.PolicyAll, Single, 1, []int{150, 500, 1000, 2000, 3000}},
		{Edits, canary.PolicyAll, Single, 1, []int{1000, 2000, 3000}},
		{Paraphrase, canary.PolicyAll, Single, 1, []int{1000, 2000, 3000}},
		{Paste, canary.PolicyAll, Interleave, 2, []int{100, 300}},
		{Paste, canary.PolicyAll, Majority, 2, []int{100, 300}},
		{Paste, canary.PolicyAll, Interleave, 3, []int{100, 300, 2000}},
		{Paste, canary.PolicyAll, Majority, 3, []int{100, 300, 2000}},
		{Retype, canary.PolicyAll, Interleave, 3, []int{4000, 8000}},
		{Retype, canary.PolicyAll, Majority, 3, []int{4000, 8000}},
		{Paste, canary.PolicyAll, Outsider, 0, []int{2000}},
		{Retype, canary.PolicyAll, Outsider, 0, []int{4000}},
	}
	var out []Case
	for _, members := range []int{3, 10, 50} {
		for _, b := range base {
			for _, w := range b.words {
				out = append(out, Case{Condition: b.cond, Policy: b.pol, Strategy: b.strat, Colluders: b.n, Members: members, Words: w})
			}
		}
	}
	return out
}

// QuickCases is a small grid for tests.
func QuickCases() []Case {
	return []Case{
		{Condition: Paste, Policy: canary.PolicyInvisible, Strategy: Single, Colluders: 1, Members: 10, Words: 25},
		{Condition: Retype, Policy: canary.PolicyAll, Strategy: Single, Colluders: 1, Members: 10, Words: 2000},
		{Condition: Paste, Policy: canary.PolicyAll, Strategy: Majority, Colluders: 3, Members: 10, Words: 1000},
		{Condition: Paste, Policy: canary.PolicyAll, Strategy: Outsider, Colluders: 0, Members: 10, Words: 1000},
	}
}

// Run evaluates every case and reports progress after each trial.
func Run(ctx context.Context, cfg Config, progress func(done, total int)) (Table, error) {
	start := time.Now()
	if cfg.CorpusDir == "" {
		dir, err := FindCorpus(".")
		if err != nil {
			return Table{}, err
		}
		cfg.CorpusDir = dir
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Epsilon <= 0 {
		cfg.Epsilon = canary.DefaultEpsilon
	}
	cases := cfg.Cases
	if len(cases) == 0 {
		cases = DefaultCases()
		if cfg.Quick {
			cases = QuickCases()
		}
	}
	if cfg.Trials <= 0 {
		cfg.Trials = 40
		if cfg.Quick {
			cfg.Trials = 3
		}
	}
	msgs, err := loadCorpus(cfg.CorpusDir, 120)
	if err != nil {
		return Table{}, err
	}
	sim := newSimulator(msgs, cfg.Seed)
	tab := Table{Corpus: cfg.CorpusDir, Messages: len(msgs), Words: sim.totalWords, Seed: cfg.Seed, Epsilon: cfg.Epsilon}
	total := len(cases) * cfg.Trials
	done := 0
	for ci, c := range cases {
		if c.Members < max(c.Colluders, 1) {
			return Table{}, fmt.Errorf("case %d: %d colluders in a room of %d", ci, c.Colluders, c.Members)
		}
		room, err := sim.room(c.Members, c.Policy)
		if err != nil {
			return Table{}, err
		}
		rng := rand.New(rand.NewChaCha8(seedFor(cfg.Seed, uint64(ci))))
		row := Row{Case: c}
		for t := 0; t < cfg.Trials; t++ {
			if err := ctx.Err(); err != nil {
				return Table{}, fmt.Errorf("evaluation stopped: %w", err)
			}
			leak, leakers, err := sim.leak(rng, room, c)
			if err != nil {
				return Table{}, err
			}
			res, err := room.tracer.Trace(leak, cfg.Epsilon)
			if err != nil {
				return Table{}, fmt.Errorf("trace: %w", err)
			}
			hit, innocent := false, false
			for _, s := range res.Suspects {
				if leakers[s.Member] {
					hit = true
				} else {
					innocent = true
				}
			}
			row.Trials++
			if hit {
				row.Identified++
			}
			if innocent {
				row.FalseAccusations++
			}
			row.MeanSlots += float64(res.SlotsRead)
			row.MeanWords += float64(res.WordsMatched)
			done++
			if progress != nil {
				progress(done, total)
			}
		}
		row.MeanSlots /= float64(row.Trials)
		row.MeanWords /= float64(row.Trials)
		tab.Rows = append(tab.Rows, row)
	}
	tab.Elapsed = time.Since(start)
	return tab, nil
}

func seedFor(seed, n uint64) [32]byte {
	var s [32]byte
	for i := 0; i < 8; i++ {
		s[i] = byte(seed >> (8 * i))
		s[8+i] = byte(n >> (8 * i))
	}
	s[16] = 0xEC
	return s
}

// Markdown renders the table.
func (t Table) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Corpus: %d messages, %d words. ε = %g. Seed %d. %s.\n\n", t.Messages, t.Words, t.Epsilon, t.Seed, t.Elapsed.Round(time.Second))
	b.WriteString("| condition | policy | leakers | members | words | trials | identified | innocents accused | slots read (mean) |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range t.Rows {
		who := "1"
		switch r.Strategy {
		case Outsider:
			who = "none (outsider's copy)"
		case Interleave, Majority:
			who = fmt.Sprintf("%d, %s", r.Colluders, r.Strategy)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %.0f%% | %d | %.0f |\n",
			r.Condition, r.Policy, who, r.Members, r.Words, r.Trials, 100*r.Rate(), r.FalseAccusations, r.MeanSlots)
	}
	trials, accused := 0, 0
	for _, r := range t.Rows {
		trials += r.Trials
		accused += r.FalseAccusations
	}
	fmt.Fprintf(&b, "\nIn all: %d traces, %d with an innocent member accused.\n", trials, accused)
	return b.String()
}
