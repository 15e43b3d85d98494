package eval

import (
	"fmt"
	"sort"
	"strings"
)

// targets renders "Against the targets" for issue 11 from the rows: every
// figure comes from the table, none is typed in.
func (t Table) targets() string {
	var b strings.Builder
	b.WriteString("Against the targets (issue 11):\n\n| target | measured | met |\n|---|---|---|\n")
	needs := t.WordsNeeded()
	needRow := func(target, cond, strat string, limit int) {
		var parts []string
		met, any := true, false
		for _, n := range needs {
			if n.Case.Condition != cond || n.Case.Strategy != strat {
				continue
			}
			any = true
			w := fmt.Sprintf("%d", n.Words)
			if n.Words == 0 {
				w = fmt.Sprintf("> %d (%.0f%% at %d)", n.Case.Words, 100*n.RateAtMax, n.Case.Words)
				met = false
			} else if n.Words > limit {
				met = false
			}
			parts = append(parts, fmt.Sprintf("%d members: %s", n.Case.Members, w))
			if r, ok := t.row(n.Case, limit); ok {
				parts[len(parts)-1] += fmt.Sprintf(" (%.0f%% at %d)", 100*r.Rate(), limit)
			}
		}
		if !any {
			return
		}
		fmt.Fprintf(&b, "| %s | words needed (99%% of trials): %s | %s |\n", target, strings.Join(parts, "; "), yes(met))
	}
	needRow("one leaker from ≤ 600 retyped words of one sender", Retype, Single, 600)
	needRow("one leaker from ≤ 1,000 retyped words with 2% typos (and 2% word edits)", Typos, Single, 1000)
	needRow("one leaker from a retyped press article quoting ≥ 800 words", Press, Single, 800)

	// Pooled conversations: the rate at 800 words.
	var pooled []string
	pmet, pany := true, false
	for _, r := range t.Rows {
		if r.Condition != Pooled || r.Strategy == Outsider || r.Words != 800 || r.Skipped != "" {
			continue
		}
		pany = true
		pooled = append(pooled, fmt.Sprintf("%s: best single sender %.0f%%, pooled %s", r.Assign, 100*float64(r.SingleIdentified)/float64(r.Trials), t.pooledRate(r)))
		if !t.pooledMeasured() || r.Rate() < 0.99 {
			pmet = false
		}
	}
	if pany {
		fmt.Fprintf(&b, "| one leaker from a pooled retyped conversation of ≤ 800 words among 5 senders | 800 words, %s | %s |\n", strings.Join(pooled, "; "), yes(pmet))
	}

	// Evasion against stripping, on the same trials: the total lost, and
	// the worst row of each evasion.
	lost, paired, evRows := 0, 0, 0
	type worstRow struct{ lost, trials, words, members int }
	worst := map[string]worstRow{}
	for _, r := range t.Rows {
		if r.Baseline == "" {
			continue
		}
		evRows++
		paired += r.Trials
		lost += r.LostToBaseline
		if w := worst[r.Condition]; r.LostToBaseline > w.lost {
			worst[r.Condition] = worstRow{r.LostToBaseline, r.Trials, r.Words, r.Members}
		}
	}
	if evRows > 0 {
		m := fmt.Sprintf("%d paired trials in %d rows; traces stripping allowed that scrambling or randomising prevented: %d", paired, evRows, lost)
		for _, cond := range []string{Scramble, Randomise} {
			if w, ok := worst[cond]; ok {
				m += fmt.Sprintf("; worst %s row: %d of %d at %d words (%d members)", cond, w.lost, w.trials, w.words, w.members)
			}
		}
		fmt.Fprintf(&b, "| scrambling or randomising invisible marks never prevents a trace that stripping allows | %s | %s |\n", m, yes(lost == 0))
	}

	// Retyped colluders at 4,000 words.
	var coll []string
	cmet, cany := true, false
	for _, r := range t.Rows {
		if r.Condition != Retype || r.Colluders != 3 || r.Words != 4000 || r.Skipped != "" {
			continue
		}
		cany = true
		coll = append(coll, fmt.Sprintf("%s %.0f%% (%d members)", r.Strategy, 100*r.Rate(), r.Members))
		if r.Rate() < 0.9 {
			cmet = false
		}
	}
	if cany {
		sort.Strings(coll)
		fmt.Fprintf(&b, "| one of 3 retyped colluders named from ≤ 4,000 words in ≥ 90%% of trials | 4,000 words: %s | %s |\n", strings.Join(coll, ", "), yes(cmet))
	}
	traces, accused := t.innocents()
	fmt.Fprintf(&b, "| 0 innocent members named | %d of %d traces | %s |\n", accused, traces, yes(accused == 0))
	return b.String()
}

// row finds the row of scenario s at the given length.
func (t Table) row(s Case, words int) (Row, bool) {
	for _, r := range t.Rows {
		if scenario(r.Case) == scenario(s) && r.Words == words && r.Skipped == "" {
			return r, true
		}
	}
	return Row{}, false
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
