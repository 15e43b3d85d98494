package doctor

import (
	"fmt"
	"math/rand"
	"strings"
	"time"

	"backchannel/transcript/leak"
)

// Memos turns a transcript into a room of memos: runs of 4 to 8
// consecutive messages of at least six words become one multi-paragraph
// message (paragraphs separated by blank lines) from the run's first
// sender.
func Memos(t Transcript, rng *rand.Rand) Transcript {
	out := Transcript{Name: t.Name + " (memos)", Labels: t.Labels}
	var paras []string
	var first leak.Message
	flush := func() {
		if len(paras) > 0 {
			first.ID = fmt.Sprintf("memo-%s-%03d", shortName(t.Name), len(out.Messages)+1)
			first.Text = strings.Join(paras, "\n\n")
			out.Messages = append(out.Messages, first)
		}
		paras = nil
	}
	want := 4 + rng.Intn(5)
	for _, m := range t.Messages {
		if len(strings.Fields(m.Text)) < 6 {
			continue
		}
		if len(paras) == 0 {
			first = m
		}
		paras = append(paras, m.Text)
		if len(paras) == want {
			flush()
			want = 4 + rng.Intn(5)
		}
	}
	flush()
	return out
}

// MemoLeak leaks one memo (or two consecutive ones) paragraph by
// paragraph: the first paragraph under its sender's label, the others
// after blank lines, re-wrapped or in backchannel's own `read` layout
// (continuation lines "      │ "), retyped; about a third of the
// paragraphs doctored (substituted word, changed number, negation,
// omitted context) and a tenth left out (an excerpt, not a finding).
func (g *Generator) MemoLeak(rng *rand.Rand) Leak {
	g.init()
	msgs := g.T.Messages
	k := rng.Intn(len(msgs))
	n := 1 + rng.Intn(2)
	own := rng.Intn(3) == 0
	wrapAt := 0
	if !own && rng.Intn(2) == 0 {
		wrapAt = 50 + rng.Intn(40)
	}
	retyped := rng.Intn(10) < 7
	var b strings.Builder
	var items []Item
	line := 1
	for i := k; i < min(k+n, len(msgs)); i++ {
		m := msgs[i]
		label := g.T.Labels[m.Sender]
		if label == "" {
			label = strings.ToUpper(m.Sender)
		}
		for p, para := range strings.Split(m.Text, "\n\n") {
			if p > 0 && rng.Intn(10) == 0 {
				continue // a paragraph left out
			}
			it := Item{Source: i, Speaker: m.Sender, Text: para, Edit: None}
			if rng.Float64() < g.rate() {
				edits := []Edit{Substitute, Number, Negate, Omit}
				rng.Shuffle(len(edits), func(a, b int) { edits[a], edits[b] = edits[b], edits[a] })
				for _, e := range edits {
					if txt, ok := g.edit(e, para, "", rng); ok {
						it.Text, it.Edit = txt, e
						break
					}
				}
			}
			text := it.Text
			if retyped {
				text = retype(text, rng)
			}
			var s string
			switch {
			case own && p == 0:
				s = m.SentAt.Format("2006-01-02 15:04") + "  " + m.Sender + ": " + text
			case own:
				s = "      │ " + text
			case p == 0:
				s = wrap(label+": "+text, wrapAt)
			default:
				s = wrap(text, wrapAt)
			}
			if b.Len() > 0 {
				if own {
					b.WriteString("\n      │ \n")
				} else {
					b.WriteString("\n\n")
				}
				line += 2
			}
			it.FirstLine = line
			line += strings.Count(s, "\n")
			it.LastLine = line
			b.WriteString(s)
			items = append(items, it)
		}
	}
	b.WriteString("\n")
	return Leak{Transcript: g.T.Name, Style: Style{Labels: true, Wrap: wrapAt, Retype: retyped, Memo: true}, Text: b.String(), Items: items}
}

func (g *Generator) rate() float64 {
	if g.Rate == 0 {
		return 0.3
	}
	return g.Rate
}

// RunMemos runs the memo benchmark: every transcript of the corpus as a
// room of memos, cfg.Leaks memo leaks each.
func RunMemos(cfg Config) (*Result, error) {
	ts, res, err := cfg.start()
	if err != nil {
		return nil, err
	}
	for i, t := range ts {
		rng := rand.New(rand.NewSource(cfg.Seed*1000 + int64(i)))
		mt := Memos(t, rng)
		if len(mt.Messages) == 0 {
			continue
		}
		res.Messages += len(mt.Messages)
		g := &Generator{T: mt}
		ix := leak.NewIndex(mt.Messages, leak.Options{Canonicalize: cfg.Canonicalize, Location: time.UTC})
		for k := 0; k < cfg.Leaks; k++ {
			if err := res.Score(mt, ix, g.MemoLeak(rng)); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}
