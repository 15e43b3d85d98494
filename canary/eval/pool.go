package eval

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"backchannel/canary"
)

// conversation is a room in which every member sends: each message of the
// corpus has one sender (round robin or at random), who marks it with their
// own key for every other member and alone can trace it.
type conversation struct {
	members []string
	keys    [][]byte
	sender  []int // sender of each corpus message
	tracers []*canary.Tracer
	layouts map[int]*canary.Layout
}

func (s *simulator) conversation(c Case) (*conversation, error) {
	k := fmt.Sprintf("%d|%d|%s", c.Members, c.Senders, c.Assign)
	if cv, ok := s.convs[k]; ok {
		return cv, nil
	}
	rng := rand.New(rand.NewChaCha8(seedFor(s.seed, trialKey(c)^0xC0FFEE)))
	cv := &conversation{layouts: map[int]*canary.Layout{}}
	for i := 0; i < c.Members; i++ {
		cv.members = append(cv.members, fmt.Sprintf("member%02d", i+1))
	}
	for i := 0; i < c.Senders; i++ {
		key := make([]byte, canary.KeySize)
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		cv.keys = append(cv.keys, key)
	}
	sent := make([][]canary.Message, c.Senders)
	for i, m := range s.msgs {
		from := i % c.Senders
		if c.Assign == AtRandom {
			from = rng.IntN(c.Senders)
		}
		cv.sender = append(cv.sender, from)
		var to []string
		for j, name := range cv.members {
			if j != from {
				to = append(to, name)
			}
		}
		sent[from] = append(sent[from], canary.Message{ID: m.id, Text: m.text, Recipients: to, Policy: canary.PolicyAll})
	}
	for i := range cv.keys {
		tr, err := canary.NewTracer(cv.keys[i], sent[i])
		if err != nil {
			return nil, fmt.Errorf("sender %d of the conversation: %w", i+1, err)
		}
		cv.tracers = append(cv.tracers, tr)
	}
	s.convs[k] = cv
	return cv, nil
}

// pooledTrial leaks a retyped excerpt of one member's view of the
// conversation (the others' messages as that member received them, the
// member's own as written), traces it with every sender's tracer alone and
// pools the senders' contributions (canary.Combine) into one verdict.
func (s *simulator) pooledTrial(rng *rand.Rand, c Case, epsilon float64) (outcome, error) {
	cv, err := s.conversation(c)
	if err != nil {
		return outcome{}, err
	}
	leaker := "outsider"
	if c.Strategy != Outsider {
		leaker = cv.members[rng.IntN(len(cv.members))]
	}
	start := rng.IntN(len(s.msgs))
	var parts []string
	words, offset := 0, -1
	for i := start; words < c.Words+offset || offset < 0; i = (i + 1) % len(s.msgs) {
		m := s.msgs[i]
		from := cv.sender[i]
		text := m.text
		if cv.members[from] != leaker {
			l, ok := cv.layouts[i]
			if !ok {
				l = canary.NewLayout(m.text, canary.PolicyAll)
				cv.layouts[i] = l
			}
			cw, err := canary.Codeword(cv.keys[from], m.id, leaker, l)
			if err != nil {
				return outcome{}, fmt.Errorf("codeword: %w", err)
			}
			text = l.Render(cw)
		}
		n := len(strings.Fields(text))
		if offset < 0 {
			offset = rng.IntN(max(n/2, 1))
		}
		words += n
		parts = append(parts, text)
	}
	leak := canary.Normalize(excerpt(strings.Join(parts, "\n\n"), offset, c.Words))
	leakers := map[string]bool{leaker: true}
	o := outcome{byChannel: map[string]int{}}
	var contribs []*canary.Contribution
	for i, tr := range cv.tracers {
		res, err := tr.Trace(leak, epsilon)
		if err != nil {
			return outcome{}, fmt.Errorf("trace by sender %d: %w", i+1, err)
		}
		hit, innocent := judge(res.Suspects, leakers)
		o.singleHit = o.singleHit || hit
		o.singleInnocent = o.singleInnocent || innocent
		// Each sender's client computes its contribution over its own
		// messages; the investigator combines them.
		part, err := tr.Contribute(leak, fmt.Sprintf("sender%02d", i+1))
		if err != nil {
			o.poolErr = fmt.Sprintf("contribution of sender %d: %v", i+1, err)
			return o, nil
		}
		contribs = append(contribs, part)
	}
	// A refused combination is a measured failure of pooling (the row
	// shows how many and why), not a reason to stop the evaluation.
	pooled, err := canary.Combine(contribs, epsilon)
	if err != nil {
		o.poolErr = fmt.Sprintf("combine: %v", err)
		return o, nil
	}
	o.hit, o.innocent = judge(pooled.Suspects, leakers)
	o.slots, o.words = pooled.SlotsRead, pooled.WordsMatched
	for ch, n := range pooled.SlotsByChannel {
		o.byChannel[ch] += n
	}
	return o, nil
}

// poolingAvailable says whether the pooled verdict (canary.Combine of the
// senders' contributions) is measured.
const poolingAvailable = true

func (t Table) pooledMeasured() bool { return poolingAvailable }
