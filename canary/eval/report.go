package eval

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Need is the words needed for one scenario: the smallest length of its
// grid at which at least Threshold of the trials named a leaker.
type Need struct {
	Case      Case    `json:"case"` // the scenario (Words: the largest length tried)
	Threshold float64 `json:"threshold"`
	// Words is 0 when no length of the grid reached the threshold.
	Words int `json:"words"`
	// RateAtMax is the identification rate at the largest length tried.
	RateAtMax float64 `json:"rate_at_max"`
	Lengths   int     `json:"lengths"` // lengths tried
}

// scenario is a case without its length.
func scenario(c Case) Case { c.Words = 0; return c }

// WordsNeeded returns, for every scenario with a leaker (not the outsider
// null tests) tried at two lengths or more, the words needed: 99% of trials
// for one leaker, 90% for colluders (issue 11). Scenarios keep the order of
// their first row.
func (t Table) WordsNeeded() []Need {
	var order []Case
	byScen := map[Case][]Row{}
	for _, r := range t.Rows {
		if r.Strategy == Outsider || r.Skipped != "" || (r.Condition == Pooled && !t.pooledMeasured()) {
			continue
		}
		k := scenario(r.Case)
		if _, ok := byScen[k]; !ok {
			order = append(order, k)
		}
		byScen[k] = append(byScen[k], r)
	}
	var out []Need
	for _, k := range order {
		rows := byScen[k]
		if len(rows) < 2 {
			continue
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].Words < rows[j].Words })
		n := Need{Case: k, Threshold: 0.99, Lengths: len(rows)}
		if k.Colluders > 1 {
			n.Threshold = 0.90
		}
		for _, r := range rows {
			if n.Words == 0 && r.Rate() >= n.Threshold {
				n.Words = r.Words
			}
		}
		last := rows[len(rows)-1]
		n.Case.Words = last.Words
		n.RateAtMax = last.Rate()
		out = append(out, n)
	}
	return out
}

func who(c Case) string {
	switch {
	case c.Strategy == Outsider:
		return "none (outsider's copy)"
	case c.Colluders > 1:
		return fmt.Sprintf("%d, %s", c.Colluders, c.Strategy)
	case c.Condition == Pooled:
		return fmt.Sprintf("1 of %d senders (%s)", c.Senders, c.Assign)
	}
	return "1"
}

func channels(m map[string]float64) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

// Markdown renders the tables: the targets of issue 11, the words needed
// per scenario, evasion against stripping, pooled conversations and every
// row.
func (t Table) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Corpus: %d messages, %d words (%s). ε = %g. Seed %d. %s.\n\n", t.Messages, t.Words, t.Corpus, t.Epsilon, t.Seed, t.Elapsed.Round(time.Second))
	b.WriteString(t.targets())
	if needs := t.WordsNeeded(); len(needs) > 0 {
		b.WriteString("\nWords needed (smallest length of the grid at which ≥ 99% of trials name the leaker, ≥ 90% for colluders):\n\n")
		b.WriteString("| condition | policy | leakers | members | words needed | lengths tried | rate at the longest |\n|---|---|---|---:|---:|---:|---:|\n")
		for _, n := range needs {
			w := fmt.Sprintf("%d", n.Words)
			if n.Words == 0 {
				w = fmt.Sprintf("> %d", n.Case.Words)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %d | %.0f%% at %d |\n", n.Case.Condition, n.Case.Policy, who(n.Case), n.Case.Members, w, n.Lengths, 100*n.RateAtMax, n.Case.Words)
		}
	}
	var ev, pool strings.Builder
	for _, r := range t.Rows {
		if r.Skipped != "" {
			continue
		}
		if r.Baseline != "" {
			var base Row
			for _, x := range t.Rows {
				if x.Condition == r.Baseline && x.Words == r.Words && trialKey(x.Case) == trialKey(r.Case) && x.Policy == r.Policy {
					base = x
				}
			}
			fmt.Fprintf(&ev, "| %s | %d | %d | %d | %.0f%% | %.0f%% | %d |\n", r.Condition, r.Members, r.Words, r.Trials, 100*base.Rate(), 100*r.Rate(), r.LostToBaseline)
		}
		if r.Condition == Pooled {
			fmt.Fprintf(&pool, "| %s | %d | %d | %d | %.0f%% | %s | %d / %s | %.0f |\n", who(r.Case), r.Members, r.Words, r.Trials, 100*float64(r.SingleIdentified)/float64(r.Trials), t.pooledRate(r), r.SingleFalseAccusations, t.pooledFalse(r), r.MeanSlots)
		}
	}
	if ev.Len() > 0 {
		b.WriteString("\nEvasion of the invisible marks, against plain stripping on the same trials (same leakers, same excerpts):\n\n")
		b.WriteString("| evasion | members | words | trials | stripping names the leaker | this names the leaker | trials stripping named and this did not |\n|---|---:|---:|---:|---:|---:|---:|\n")
		b.WriteString(ev.String())
	}
	for _, r := range t.Rows {
		if r.PoolErrors > 0 {
			fmt.Fprintf(&pool, "\nPooling failed in %d of %d trials at %d words (%s), counted as not identified; the first error: %s\n", r.PoolErrors, r.Trials, r.Words, r.Assign, r.PoolError)
		}
	}
	if pool.Len() > 0 {
		b.WriteString("\nPooled conversation (retyped excerpt; every member sends, each with their own key; slots and words: the pooled trace's):\n\n")
		b.WriteString("| leaker | members | words | trials | best single sender names the leaker | pooled verdict names the leaker | innocents accused (single / pooled) | slots read (mean) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		b.WriteString(pool.String())
	}
	b.WriteString("\nEvery row:\n\n| condition | policy | leakers | members | words | trials | identified | innocents accused | slots read (mean) | by channel (mean) | words matched (mean) |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for _, r := range t.Rows {
		if r.Skipped != "" {
			fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | — | not run: %s | | | | |\n", r.Condition, r.Policy, who(r.Case), r.Members, r.Words, r.Skipped)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %d | %.0f%% | %d | %.0f | %s | %.0f |\n",
			r.Condition, r.Policy, who(r.Case), r.Members, r.Words, r.Trials, 100*r.Rate(), r.FalseAccusations, r.MeanSlots, channels(r.MeanByChannel), r.MeanWords)
	}
	trials, accused := t.innocents()
	fmt.Fprintf(&b, "\nIn all: %d traces, %d with an innocent member accused.\n", trials, accused)
	return b.String()
}

// innocents counts traces and traces accusing an innocent member (a pooled
// trial counts each sender's trace and, when measured, the pooled one).
func (t Table) innocents() (traces, accused int) {
	for _, r := range t.Rows {
		if r.Condition == Pooled {
			traces += r.Trials * r.Senders
			accused += r.SingleFalseAccusations
			if !t.pooledMeasured() {
				continue
			}
		}
		traces += r.Trials
		accused += r.FalseAccusations
	}
	return traces, accused
}

func (t Table) pooledRate(r Row) string {
	if !t.pooledMeasured() {
		return "not measured"
	}
	return fmt.Sprintf("%.0f%%", 100*r.Rate())
}

func (t Table) pooledFalse(r Row) string {
	if !t.pooledMeasured() {
		return "—"
	}
	return fmt.Sprintf("%d", r.FalseAccusations)
}
