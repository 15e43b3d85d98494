// Package eval measures how well canary traces leaks: it marks real prose
// for simulated rooms, simulates leaks (pasted, retyped with typos, excerpted,
// edited, paraphrased, quoted in a press article, with invisible marks
// stripped, scrambled or randomised, merged by colluders, or taken from a
// conversation among several senders) and reports, per condition, how often
// the leaker is named and how often an innocent member is.
//
// The simulator uses math/rand/v2 with fixed seeds so that runs are
// reproducible; the marks themselves are derived by canary from a marking
// key, as in production.
package eval

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"backchannel/canary"
)

// Leak conditions.
const (
	Paste      = "paste"         // copied as is
	Retype     = "retype"        // invisible characters stripped, typography normalised
	Typos      = "retype+typos"  // retyped with 2% character typos and 2% word edits
	Edits      = "edits"         // retyped, then 5% of words replaced, dropped or inserted
	PasteEdits = "paste+edits"   // pasted, then 5% word edits
	Paraphrase = "paraphrase"    // retyped, sentences reordered, clauses dropped
	Press      = "press"         // retyped, quoted in a newspaper article in its house typography
	Strip      = "strip"         // pasted, invisible characters removed (typography kept)
	Scramble   = "scramble"      // pasted, invisible characters replaced by one U+200B in every word gap
	Randomise  = "randomise"     // pasted, every invisible carrier replaced by a random one
	Pooled     = "pooled-retype" // a retyped excerpt of a conversation among several senders
)

// Collusion strategies.
const (
	Single     = "single"
	Interleave = "interleave" // runs of the copy switch between colluders
	Majority   = "majority"   // each slot takes the colluders' majority symbol
	Minority   = "minority"   // where the copies differ, each slot takes the rarest symbol
	Outsider   = "outsider"   // null test: a copy marked for a non-member
)

// Sender assignment in a pooled conversation.
const (
	RoundRobin = "round-robin"
	AtRandom   = "random"
)

// Case is one row of the evaluation: a leak condition for a room size.
type Case struct {
	Condition string        `json:"condition"`
	Policy    canary.Policy `json:"policy"`
	Strategy  string        `json:"strategy"`
	Colluders int           `json:"colluders"`
	Members   int           `json:"members"`
	// Words is the leak's length in words of sent text (for a press
	// article: the words quoted; the article's own prose comes on top).
	Words int `json:"words"`
	// Senders and Assign describe a pooled conversation: every member
	// sends, each message's sender is chosen round robin or at random.
	Senders int    `json:"senders,omitempty"`
	Assign  string `json:"assign,omitempty"`
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
	Trials           int                `json:"trials"`
	Identified       int                `json:"identified"`        // trials naming at least one true leaker
	FalseAccusations int                `json:"false_accusations"` // trials naming an innocent member
	MeanSlots        float64            `json:"mean_slots"`        // slots read per trial
	MeanByChannel    map[string]float64 `json:"mean_slots_by_channel"`
	MeanWords        float64            `json:"mean_words"` // leak words aligned per trial
	// Skipped says why a case was not run (the corpus is shorter than
	// the leak).
	Skipped string `json:"skipped,omitempty"`
	// Evasion rows (scramble, randomise): the stripping row on the same
	// trials, and in how many of them stripping named the leaker and this
	// leak did not.
	Baseline       string `json:"baseline,omitempty"`
	LostToBaseline int    `json:"lost_to_baseline,omitempty"`
	// Pooled rows: Identified and FalseAccusations are the pooled verdict;
	// these are the best single sender's (any one sender's trace naming a
	// leaker, or an innocent).
	SingleIdentified       int `json:"single_identified,omitempty"`
	SingleFalseAccusations int `json:"single_false_accusations,omitempty"`
	// PoolErrors counts pooled trials whose contributions could not be
	// combined (counted as not identified); PoolError is the first error.
	PoolErrors int    `json:"pool_errors,omitempty"`
	PoolError  string `json:"pool_error,omitempty"`

	hits []bool
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

// outcome is one trial's result.
type outcome struct {
	hit, innocent             bool
	singleHit, singleInnocent bool
	poolErr                   string
	slots, words              int
	byChannel                 map[string]int
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
		if err := checkCase(c); err != nil {
			return Table{}, fmt.Errorf("case %d: %w", ci, err)
		}
		row := Row{Case: c, MeanByChannel: map[string]float64{}}
		// A leak must not wrap around the corpus into text it already
		// holds: that would be a leak quoting itself.
		if c.Words > sim.totalWords*9/10 {
			row.Skipped = fmt.Sprintf("the corpus has %d words", sim.totalWords)
			tab.Rows = append(tab.Rows, row)
			done += cfg.Trials
			if progress != nil {
				progress(done, total)
			}
			continue
		}
		// Trials depend on everything but the condition and the length,
		// so conditions compared on "the same trials" (stripping against
		// scrambling) see the same leakers and excerpts, and longer rows
		// extend shorter ones. Each trial has its own stream: with one
		// stream per row, a condition that draws random numbers
		// (randomising the marks) shifted every later trial's leaker and
		// excerpt, and the pairing with stripping held for the first trial
		// only.
		for t := 0; t < cfg.Trials; t++ {
			if err := ctx.Err(); err != nil {
				return Table{}, fmt.Errorf("evaluation stopped: %w", err)
			}
			rng := rand.New(rand.NewChaCha8(trialSeed(cfg.Seed, trialKey(c), t)))
			var o outcome
			if c.Condition == Pooled {
				o, err = sim.pooledTrial(rng, c, cfg.Epsilon)
			} else {
				o, err = sim.trial(rng, c, cfg.Epsilon)
			}
			if err != nil {
				return Table{}, err
			}
			row.add(o)
			done++
			if progress != nil {
				progress(done, total)
			}
		}
		row.finish()
		tab.Rows = append(tab.Rows, row)
	}
	pairBaselines(tab.Rows)
	tab.Elapsed = time.Since(start)
	return tab, nil
}

func checkCase(c Case) error {
	if c.Members < max(c.Colluders, 1) {
		return fmt.Errorf("%d colluders in a room of %d", c.Colluders, c.Members)
	}
	if c.Words <= 0 {
		return fmt.Errorf("a leak of %d words", c.Words)
	}
	if c.Condition == Pooled && (c.Senders < 1 || c.Senders > c.Members) {
		return fmt.Errorf("%d senders in a room of %d", c.Senders, c.Members)
	}
	return nil
}

// trial simulates one leak of a single sender's messages and traces it.
func (s *simulator) trial(rng *rand.Rand, c Case, epsilon float64) (outcome, error) {
	room, err := s.room(c.Members, c.Policy)
	if err != nil {
		return outcome{}, err
	}
	leak, leakers, err := s.leak(rng, room, c)
	if err != nil {
		return outcome{}, err
	}
	res, err := room.tracer.Trace(leak, epsilon)
	if err != nil {
		return outcome{}, fmt.Errorf("trace: %w", err)
	}
	o := outcome{slots: res.SlotsRead, words: res.WordsMatched, byChannel: res.SlotsByChannel}
	o.hit, o.innocent = judge(res.Suspects, leakers)
	return o, nil
}

func judge(suspects []canary.Suspect, leakers map[string]bool) (hit, innocent bool) {
	for _, s := range suspects {
		if leakers[s.Member] {
			hit = true
		} else {
			innocent = true
		}
	}
	return hit, innocent
}

func (r *Row) add(o outcome) {
	r.Trials++
	r.hits = append(r.hits, o.hit)
	if o.hit {
		r.Identified++
	}
	if o.innocent {
		r.FalseAccusations++
	}
	if o.singleHit {
		r.SingleIdentified++
	}
	if o.poolErr != "" {
		r.PoolErrors++
		if r.PoolError == "" {
			r.PoolError = o.poolErr
		}
	}
	if o.singleInnocent {
		r.SingleFalseAccusations++
	}
	r.MeanSlots += float64(o.slots)
	r.MeanWords += float64(o.words)
	for ch, n := range o.byChannel {
		r.MeanByChannel[ch] += float64(n)
	}
}

func (r *Row) finish() {
	if r.Trials == 0 {
		return
	}
	n := float64(r.Trials)
	r.MeanSlots /= n
	r.MeanWords /= n
	for ch := range r.MeanByChannel {
		r.MeanByChannel[ch] /= n
	}
}

// pairBaselines compares each scrambled or randomised row with the
// stripping row of the same trials.
func pairBaselines(rows []Row) {
	for i := range rows {
		r := &rows[i]
		if (r.Condition != Scramble && r.Condition != Randomise) || r.Skipped != "" {
			continue
		}
		for _, b := range rows {
			if b.Condition != Strip || b.Skipped != "" || trialKey(b.Case) != trialKey(r.Case) || b.Words != r.Words || b.Policy != r.Policy || len(b.hits) != len(r.hits) {
				continue
			}
			r.Baseline = Strip
			for t := range r.hits {
				if b.hits[t] && !r.hits[t] {
					r.LostToBaseline++
				}
			}
			break
		}
	}
}

// trialKey identifies the trials of a case: everything but its condition
// and length.
func trialKey(c Case) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%s|%d|%d|%d|%s", c.Members, c.Strategy, c.Colluders, c.Senders, c.Policy, c.Assign)
	return h.Sum64()
}

// trialSeed is the seed of trial t of the trials keyed k.
func trialSeed(seed, k uint64, t int) [32]byte {
	s := seedFor(seed, k)
	for i := 0; i < 8; i++ {
		s[17+i] = byte(uint64(t) >> (8 * i))
	}
	return s
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
