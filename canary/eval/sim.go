package eval

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode"

	"backchannel/canary"
)

type simulator struct {
	msgs       []message
	totalWords int
	vocab      []string
	seed       uint64
	rooms      map[[2]int]*room
	convs      map[string]*conversation
}

type room struct {
	key     []byte
	members []string
	policy  canary.Policy
	tracer  *canary.Tracer
	layouts map[int]*canary.Layout
}

func newSimulator(msgs []message, seed uint64) *simulator {
	s := &simulator{msgs: msgs, seed: seed, rooms: map[[2]int]*room{}, convs: map[string]*conversation{}}
	seen := map[string]bool{}
	for _, m := range msgs {
		for _, w := range strings.Fields(m.text) {
			s.totalWords++
			w = strings.ToLower(strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) }))
			if len(w) > 2 && !seen[w] {
				seen[w] = true
				s.vocab = append(s.vocab, w)
			}
		}
	}
	return s
}

// room returns the simulated room of n members with the given policy: every
// message of the corpus was sent to every member.
func (s *simulator) room(n int, p canary.Policy) (*room, error) {
	k := [2]int{n, int(p)}
	if r, ok := s.rooms[k]; ok {
		return r, nil
	}
	rng := rand.New(rand.NewChaCha8(seedFor(s.seed, uint64(n)<<8|uint64(p))))
	r := &room{key: make([]byte, canary.KeySize), policy: p, layouts: map[int]*canary.Layout{}}
	for i := range r.key {
		r.key[i] = byte(rng.Uint32())
	}
	for i := 0; i < n; i++ {
		r.members = append(r.members, fmt.Sprintf("member%02d", i+1))
	}
	sent := make([]canary.Message, len(s.msgs))
	for i, m := range s.msgs {
		sent[i] = canary.Message{ID: m.id, Text: m.text, Recipients: r.members, Policy: p}
	}
	tr, err := canary.NewTracer(r.key, sent)
	if err != nil {
		return nil, fmt.Errorf("room of %d: %w", n, err)
	}
	r.tracer = tr
	s.rooms[k] = r
	return r, nil
}

func (r *room) layout(s *simulator, i int) *canary.Layout {
	l, ok := r.layouts[i]
	if !ok {
		l = canary.NewLayout(s.msgs[i].text, r.policy)
		r.layouts[i] = l
	}
	return l
}

// leak simulates one leak for case c and returns it with the set of members
// whose copies it was made from.
func (s *simulator) leak(rng *rand.Rand, r *room, c Case) (string, map[string]bool, error) {
	leakers := map[string]bool{}
	var who []string
	if c.Strategy == Outsider {
		who = []string{"outsider"}
	} else {
		for _, i := range rng.Perm(len(r.members))[:c.Colluders] {
			who = append(who, r.members[i])
			leakers[r.members[i]] = true
		}
	}
	start := rng.IntN(len(s.msgs))
	var parts []string
	words, offset := 0, -1
	merge := &merger{rng: rng, run: 0}
	for i := start; words < c.Words+offset || offset < 0; i = (i + 1) % len(s.msgs) {
		m := s.msgs[i]
		l := r.layout(s, i)
		var sym []int
		for _, w := range who {
			cw, err := canary.Codeword(r.key, m.id, w, l)
			if err != nil {
				return "", nil, fmt.Errorf("codeword: %w", err)
			}
			if sym == nil {
				sym = cw
				if len(who) == 1 {
					break
				}
				sym = nil
			}
			merge.add(cw)
		}
		if len(who) > 1 {
			sym = merge.merge(c.Strategy, l)
		}
		text := l.Render(sym)
		n := len(strings.Fields(text))
		if offset < 0 {
			offset = rng.IntN(max(n/2, 1))
		}
		words += n
		parts = append(parts, text)
	}
	leak := excerpt(strings.Join(parts, "\n\n"), offset, c.Words)
	leak, err := transform(rng, leak, c.Condition, s.vocab)
	return leak, leakers, err
}

// transform turns an excerpt of a marked copy (or a merge of copies) into
// the leak of the condition.
func transform(rng *rand.Rand, leak, condition string, vocab []string) (string, error) {
	switch condition {
	case Paste:
	case Retype:
		leak = canary.Normalize(leak)
	case Typos:
		leak = canary.Normalize(typos(rng, editWords(rng, leak, vocab, 0.02), 0.02))
	case Edits:
		leak = canary.Normalize(editWords(rng, leak, vocab, 0.05))
	case PasteEdits:
		leak = editWords(rng, leak, vocab, 0.05)
	case Paraphrase:
		leak = paraphrase(rng, canary.Normalize(leak))
	case Press:
		leak = pressArticle(rng, canary.Normalize(leak))
	case Strip:
		leak = stripInvisible(leak)
	case Scramble:
		leak = scramble(leak)
	case Randomise:
		leak = randomise(rng, leak)
	default:
		return "", fmt.Errorf("unknown condition %q", condition)
	}
	return leak, nil
}

// merger combines colluders' codewords slot by slot.
type merger struct {
	rng   *rand.Rand
	words [][]int
	cur   int // interleave: current colluder
	run   int // interleave: slots left in the current run
}

func (m *merger) add(cw []int) { m.words = append(m.words, cw) }

func (m *merger) merge(strategy string, l *canary.Layout) []int {
	defer func() { m.words = m.words[:0] }()
	out := make([]int, l.NumSlots())
	for i := range out {
		switch strategy {
		case Interleave:
			if m.run <= 0 {
				m.cur = (m.cur + 1 + m.rng.IntN(len(m.words)-1)) % len(m.words)
				m.run = 5 + m.rng.IntN(16)
			}
			m.run--
			out[i] = m.words[m.cur][i]
		case Minority:
			out[i] = m.rarest(i)
		default: // majority; ties broken at random
			var count [8]int
			best := 0
			for _, w := range m.words {
				count[w[i]]++
				best = max(best, count[w[i]])
			}
			var tied []int
			for a, n := range count {
				if n == best {
					tied = append(tied, a)
				}
			}
			out[i] = tied[m.rng.IntN(len(tied))]
		}
	}
	return out
}

// rarest returns, for slot i, the symbol fewest colluders hold (ties at
// random): where the copies agree that is their common symbol, where they
// differ it is the minority's, the merge that gives a majority-style
// accusation the least.
func (m *merger) rarest(i int) int {
	var count [8]int
	for _, w := range m.words {
		count[w[i]]++
	}
	least := len(m.words) + 1
	for _, n := range count {
		if n > 0 {
			least = min(least, n)
		}
	}
	var tied []int
	for a, n := range count {
		if n == least {
			tied = append(tied, a)
		}
	}
	return tied[m.rng.IntN(len(tied))]
}

// excerpt returns n whitespace-separated words of text starting at word
// offset, as they appear in text (invisible characters kept).
func excerpt(text string, offset, n int) string {
	start, end, k := -1, len(text), 0
	in := false
	for i, r := range text {
		sp := unicode.IsSpace(r)
		if !sp && !in {
			if k == offset {
				start = i
			}
			if k == offset+n {
				end = i
				break
			}
			k++
		}
		in = !sp
	}
	if start < 0 {
		return ""
	}
	return strings.TrimSpace(text[start:end])
}

// editWords replaces, drops or inserts a word at each word with
// probability rate.
func editWords(rng *rand.Rand, text string, vocab []string, rate float64) string {
	var out []string
	for _, w := range strings.Fields(text) {
		if rng.Float64() >= rate {
			out = append(out, w)
			continue
		}
		switch rng.IntN(3) {
		case 0:
			out = append(out, vocab[rng.IntN(len(vocab))])
		case 1:
		case 2:
			out = append(out, w, vocab[rng.IntN(len(vocab))])
		}
	}
	return strings.Join(out, " ")
}

// paraphrase swaps neighbouring sentences and drops clauses.
func paraphrase(rng *rand.Rand, text string) string {
	var sents []string
	last := 0
	f := strings.Fields(text)
	for i, w := range f {
		if strings.HasSuffix(w, ".") || strings.HasSuffix(w, "?") || strings.HasSuffix(w, "!") || i == len(f)-1 {
			sents = append(sents, strings.Join(f[last:i+1], " "))
			last = i + 1
		}
	}
	for i := 0; i+1 < len(sents); i++ {
		if rng.Float64() < 0.3 {
			sents[i], sents[i+1] = sents[i+1], sents[i]
			i++
		}
	}
	for i, s := range sents {
		cl := strings.Split(s, ", ")
		if len(cl) >= 3 && rng.Float64() < 0.5 {
			d := 1 + rng.IntN(len(cl)-2)
			cl = append(cl[:d], cl[d+1:]...)
			sents[i] = strings.Join(cl, ", ")
		}
	}
	return strings.Join(sents, " ")
}
