package canary

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// DefaultEpsilon is the default bound on the probability that a trace
// accuses any innocent member.
const DefaultEpsilon = 1e-6

// Message is one message (or document) the tracer sent: the original text
// as composed, its recipients and the room's marking policy at the time.
type Message struct {
	ID         string
	Text       string
	Recipients []string
	Policy     Policy
}

// Verdict is the outcome of a trace.
type Verdict string

// Verdicts.
const (
	Identified   Verdict = "identified"
	Inconclusive Verdict = "inconclusive"
)

// Result is the outcome of tracing one leak.
type Result struct {
	Verdict Verdict `json:"verdict"`
	// Epsilon is the bound, over all members and both scores, on the
	// probability that any innocent member is named.
	Epsilon  float64   `json:"epsilon"`
	Suspects []Suspect `json:"suspects"`
	// Leading is the best-scoring member when nobody is named (nil if no
	// slot was read). It is not an accusation.
	Leading *Suspect `json:"leading,omitempty"`
	// WordsMatched counts leak words aligned to sent messages; SlotsRead
	// counts marking slots whose symbol could be read, by channel in
	// SlotsByChannel.
	WordsMatched   int            `json:"words_matched"`
	SlotsRead      int            `json:"slots_read"`
	SlotsByChannel map[string]int `json:"slots_by_channel"`
	Messages       int            `json:"messages_matched"`
	Members        int            `json:"members_scored"`
	// MoreWordsNeeded estimates, for an inconclusive trace, how many more
	// words of the same kind of leak would name the leading member; -1 when
	// there is no signal to extrapolate from.
	MoreWordsNeeded int `json:"more_words_needed,omitempty"`
}

// Suspect is a member named by a trace, with the evidence.
type Suspect struct {
	Member string  `json:"member"`
	Score  float64 `json:"score"`
	// Test is "copy" (the leak is this member's unmerged copy) or
	// "collusion" (the symmetric Tardos score), whichever is stronger.
	Test string `json:"test"`
	// FalseAccusationBound bounds the probability that an innocent member
	// would be named with this much evidence (union bound over all members
	// and both scores).
	FalseAccusationBound float64    `json:"false_accusation_bound"`
	SlotsRead            int        `json:"slots_read"`
	SlotsMatched         int        `json:"slots_matched"`
	Evidence             []Evidence `json:"evidence"`
}

// Evidence is one message that matched: how many of its slots were read and
// how many carried this member's symbol.
type Evidence struct {
	MessageID    string `json:"message_id"`
	SlotsRead    int    `json:"slots_read"`
	SlotsMatched int    `json:"slots_matched"`
}

// Tracer traces leaks against the messages one sender sent. It is safe for
// concurrent use once built.
type Tracer struct {
	key     []byte
	msgs    []tracedMsg
	index   map[uint64][]posting
	members []string
}

type tracedMsg struct {
	id     string
	layout *Layout
	recips []int32
}

// NewTracer indexes the sender's messages. key is the sender's marking key.
func NewTracer(key []byte, msgs []Message) (*Tracer, error) {
	if len(key) != KeySize {
		return nil, ErrKey
	}
	tr := &Tracer{key: append([]byte(nil), key...), index: make(map[uint64][]posting)}
	memberIdx := map[string]int32{}
	ids := map[string]bool{}
	for _, m := range msgs {
		if m.ID == "" {
			return nil, errors.New("canary: tracer: message without id")
		}
		if ids[m.ID] {
			return nil, fmt.Errorf("canary: tracer: duplicate message id %q", m.ID)
		}
		ids[m.ID] = true
		tm := tracedMsg{id: m.ID, layout: NewLayout(m.Text, m.Policy)}
		for _, r := range m.Recipients {
			i, ok := memberIdx[r]
			if !ok {
				i = int32(len(tr.members))
				memberIdx[r] = i
				tr.members = append(tr.members, r)
			}
			tm.recips = append(tm.recips, i)
		}
		mi := int32(len(tr.msgs))
		c := tm.layout.canon
		for i := 0; i+gram <= len(c); i++ {
			h := gramHash(c, i)
			if ps := tr.index[h]; len(ps) < maxPostings {
				tr.index[h] = append(ps, posting{mi, int32(i)})
			}
		}
		tr.msgs = append(tr.msgs, tm)
	}
	return tr, nil
}

// readSlot is one slot whose symbol was read from the leak.
type readSlot struct {
	slot int
	sym  int
}

// Trace names the member(s) whose copy the leak is, if the evidence puts
// the false-accusation probability at or below epsilon (DefaultEpsilon when
// epsilon <= 0).
func (tr *Tracer) Trace(leak string, epsilon float64) (*Result, error) {
	if epsilon <= 0 {
		epsilon = DefaultEpsilon
	}
	if epsilon >= 1 || math.IsNaN(epsilon) {
		return nil, fmt.Errorf("canary: trace: epsilon %v not in (0,1)", epsilon)
	}
	d, err := newDeriver(tr.key)
	if err != nil {
		return nil, err
	}
	lt := tokenize(leak)
	lcanon, _ := canonicalTokens(mustLexicon(), lt)
	al := tr.align(lcanon)
	res := &Result{Verdict: Inconclusive, Epsilon: epsilon, Suspects: []Suspect{}, SlotsByChannel: map[string]int{}, MoreWordsNeeded: -1}

	// Group aligned tokens by message.
	perMsg := map[int32][]int32{} // message -> leak positions
	var order []int32
	for j, m := range al.m {
		if m < 0 {
			continue
		}
		res.WordsMatched++
		if _, ok := perMsg[m]; !ok {
			order = append(order, m)
		}
		perMsg[m] = append(perMsg[m], int32(j))
	}
	res.Messages = len(order)
	ch := leakChannels(lt)

	type msgRead struct {
		m     int32
		reads []readSlot
		cum   [][maxQ]float64
	}
	var reads []msgRead
	for _, m := range order {
		tm := &tr.msgs[m]
		cmap := make([]int32, len(tm.layout.canon))
		for i := range cmap {
			cmap[i] = -1
		}
		for _, j := range perMsg[m] {
			cmap[al.c[j]] = j
		}
		rs := readSlots(tm.layout, cmap, lt, lcanon, ch)
		if len(rs) == 0 {
			continue
		}
		for _, r := range rs {
			res.SlotsByChannel[tm.layout.slots[r.slot].kind.channel().String()]++
		}
		res.SlotsRead += len(rs)
		reads = append(reads, msgRead{m: m, reads: rs, cum: d.biases(tm.id, tm.layout)})
	}

	// Score every recipient of a message with read slots.
	type memberScore struct {
		tardos, copy float64
		read, match  int
		msgs         []int // indices into reads
		ev           []Evidence
	}
	scores := map[int32]*memberScore{}
	for ri, mr := range reads {
		tm := &tr.msgs[mr.m]
		for _, mem := range tm.recips {
			ms := scores[mem]
			if ms == nil {
				ms = &memberScore{}
				scores[mem] = ms
			}
			if len(ms.msgs) > 0 && ms.msgs[len(ms.msgs)-1] == ri {
				continue // listed twice as a recipient
			}
			ms.msgs = append(ms.msgs, ri)
			st := d.stream(tm.id, tr.members[mem])
			ev := Evidence{MessageID: tm.id, SlotsRead: len(mr.reads)}
			for _, r := range mr.reads {
				q := int(tm.layout.slots[r.slot].q)
				p := prob(&mr.cum[r.slot], r.sym)
				if st.symbol(r.slot, &mr.cum[r.slot], q) == r.sym {
					ev.SlotsMatched++
					ms.tardos += tardosTerm(p).a
					ms.copy += copyTerm(p).a
				} else {
					ms.tardos += tardosTerm(p).b
					ms.copy += copyTerm(p).b
				}
			}
			ms.read += ev.SlotsRead
			ms.match += ev.SlotsMatched
			ms.ev = append(ms.ev, ev)
		}
	}
	res.Members = len(scores)
	if len(scores) == 0 {
		return res, nil
	}

	// Group members by the messages they received; innocent members of one
	// group share the null distribution of their scores.
	groups := map[string][]int32{}
	for mem, ms := range scores {
		var sb strings.Builder
		for _, ri := range ms.msgs {
			fmt.Fprintf(&sb, "%d,", ri)
		}
		groups[sb.String()] = append(groups[sb.String()], mem)
	}
	n := float64(len(scores))
	logThreshold := math.Log(epsilon / (2 * n)) // two scores, n members
	var accused []Suspect
	var lead *Suspect
	leadLog := 0.0
	for _, mems := range groups {
		var tA, tB []term
		for _, ri := range scores[mems[0]].msgs {
			mr := reads[ri]
			for _, r := range mr.reads {
				p := prob(&mr.cum[r.slot], r.sym)
				tA = append(tA, tardosTerm(p))
				tB = append(tB, copyTerm(p))
			}
		}
		bound := map[int32][2]float64{}
		for test := 0; test < 2; test++ {
			sort.Slice(mems, func(a, b int) bool {
				sa, sb := scores[mems[a]], scores[mems[b]]
				if test == 0 {
					return sa.copy > sb.copy || (sa.copy == sb.copy && mems[a] < mems[b])
				}
				return sa.tardos > sb.tardos || (sa.tardos == sb.tardos && mems[a] < mems[b])
			})
			for _, mem := range mems {
				b := bound[mem]
				if _, done := bound[mem]; !done {
					b = [2]float64{logTail(tB, scores[mem].copy), logTail(tA, scores[mem].tardos)}
					bound[mem] = b
				}
				if b[test] > logThreshold {
					break
				}
			}
		}
		for mem, b := range bound {
			ms := scores[mem]
			s := Suspect{Member: tr.members[mem], Test: "copy", Score: ms.copy, SlotsRead: ms.read, SlotsMatched: ms.match, Evidence: ms.ev}
			lb := b[0]
			if b[1] < b[0] {
				s.Test, s.Score, lb = "collusion", ms.tardos, b[1]
			}
			s.FalseAccusationBound = math.Min(1, math.Exp(lb)*2*n)
			switch {
			case lb <= logThreshold:
				accused = append(accused, s)
			case lead == nil || lb < leadLog || (lb == leadLog && s.Member < lead.Member):
				lead, leadLog = &s, lb
			}
		}
	}
	sort.Slice(accused, func(a, b int) bool {
		if accused[a].FalseAccusationBound != accused[b].FalseAccusationBound {
			return accused[a].FalseAccusationBound < accused[b].FalseAccusationBound
		}
		return accused[a].Member < accused[b].Member
	})
	if len(accused) > 0 {
		res.Verdict = Identified
		res.Suspects = accused
		res.MoreWordsNeeded = 0
		return res, nil
	}
	res.Leading = lead
	if lead != nil && leadLog < 0 && lead.SlotsRead > 0 && res.SlotsRead > 0 {
		rate := -leadLog / float64(lead.SlotsRead) // nats per slot so far
		slots := -logThreshold / rate
		words := slots * float64(res.WordsMatched) / float64(res.SlotsRead)
		res.MoreWordsNeeded = max(1, int(math.Ceil(words))-res.WordsMatched)
	}
	return res, nil
}
