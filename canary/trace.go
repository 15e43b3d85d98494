package canary

import (
	"errors"
	"fmt"
	"math"
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
	// Channels says per channel what was read and what was discarded
	// (erased: the leak's own style, flooded marks) and why.
	Channels map[string]ChannelReport `json:"channels"`
	Messages int                      `json:"messages_matched"`
	Members  int                      `json:"members_scored"`
	// MoreWordsNeeded estimates, for an inconclusive trace, how many more
	// words of the same kind of leak would name the leaker (estimate.go
	// gives the formula); 0 when the leak matches none of the sender's
	// words. MoreWordsByChannel is the same if only one channel's marks
	// survived.
	MoreWordsNeeded    int            `json:"more_words_needed,omitempty"`
	MoreWordsByChannel map[string]int `json:"more_words_by_channel,omitempty"`
	// Quotes lists other members' messages in which text the leak matched
	// reappears (NoteQuotes): the leak may be a copy of one of them.
	Quotes []Quote `json:"quotes,omitempty"`
	// Senders lists, for a pooled trace (Combine), every sender's part.
	Senders []SenderPart `json:"senders,omitempty"`

	// matched: the canonical positions the leak matched, per message.
	matched map[int32][]int32
}

// Suspect is a member named by a trace, with the evidence.
type Suspect struct {
	Member string  `json:"member"`
	Score  float64 `json:"score"`
	// Test is the strongest of the accusation tests (accuse.go): "copy"
	// (the leak is this member's unmerged copy), "collusion" (the
	// symmetric Tardos score), "pair" (on the slots where the two members
	// in Pair agree and the leak differs, the leak holds this member's
	// symbols: a merge of copies), "split" (the same where the two in
	// Pair differ: a majority merge), "trio" (given the symbols of the
	// two in Pair, the other members whose copies the leak fits best, it
	// holds this member's symbols where theirs miss it: an interleaved
	// merge) or "minority" (this member's copy holds, on every slot, the
	// symbol a merge of it with the two in Pair keeping the rarest symbol
	// would need). SetAside names the channels the test did not read
	// ("invisible": marks an adversary may have randomised); SlotsRead and
	// SlotsMatched count the slots it read.
	Test     string   `json:"test"`
	SetAside []string `json:"set_aside,omitempty"`
	Pair     []string `json:"pair,omitempty"`
	// FalseAccusationBound bounds the probability that an innocent member
	// would be named with this much evidence (union bound over all members,
	// tests and, for the pair test, pairs).
	FalseAccusationBound float64    `json:"false_accusation_bound"`
	SlotsRead            int        `json:"slots_read"`
	SlotsMatched         int        `json:"slots_matched"`
	Evidence             []Evidence `json:"evidence"`
	// BySender is, for a pooled trace (Combine), each sender's share of
	// the evidence.
	BySender []SenderShare `json:"by_sender,omitempty"`
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
	key      []byte
	msgs     []tracedMsg
	index    map[uint64][]int32 // anchor hash -> positions in all
	frequent map[uint64]bool    // anchors with more than maxPostings positions
	all      []canonTok         // canonical tokens of all messages, in order
	msgOf    []int32            // message of each position of all
	offset   []int32            // first position of each message in all
	members  []string
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
	tr := &Tracer{key: append([]byte(nil), key...), index: make(map[uint64][]int32), frequent: map[uint64]bool{}}
	memberIdx := map[string]int32{}
	ids := map[string]bool{}
	for _, m := range msgs {
		if m.ID == "" {
			return nil, errors.New("tracer: message without id")
		}
		if ids[m.ID] {
			return nil, fmt.Errorf("tracer: duplicate message id %q", m.ID)
		}
		ids[m.ID] = true
		tm := tracedMsg{id: m.ID, layout: NewLayout(m.Text, m.Policy)}
		dup := map[string]bool{}
		for _, r := range m.Recipients {
			if dup[r] {
				continue
			}
			dup[r] = true
			i, ok := memberIdx[r]
			if !ok {
				i = int32(len(tr.members))
				memberIdx[r] = i
				tr.members = append(tr.members, r)
			}
			tm.recips = append(tm.recips, i)
		}
		mi := int32(len(tr.msgs))
		tr.offset = append(tr.offset, int32(len(tr.all)))
		tr.all = append(tr.all, tm.layout.canon...)
		for range tm.layout.canon {
			tr.msgOf = append(tr.msgOf, mi)
		}
		tr.msgs = append(tr.msgs, tm)
	}
	for i := 0; i+gram <= len(tr.all); i++ {
		h := gramHash(tr.all, i)
		switch ps := tr.index[h]; {
		case tr.frequent[h]:
		case len(ps) < maxPostings:
			tr.index[h] = append(ps, int32(i))
		default:
			tr.frequent[h] = true
			delete(tr.index, h)
		}
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
		return nil, fmt.Errorf("the false-accusation bound must be between 0 and 1 (not %g)", epsilon)
	}
	d, err := newDeriver(tr.key)
	if err != nil {
		return nil, err
	}
	lt := tokenize(validUTF8(leak))
	lcanon, _ := canonicalTokens(mustLexicon(), lt)
	segs := tr.align(lt, lcanon)
	res := &Result{Verdict: Inconclusive, Epsilon: epsilon, Suspects: []Suspect{}, SlotsByChannel: map[string]int{}}
	rsegs := tr.read(d, segs, lt, lcanon, res)

	scores := tr.score(d, rsegs)
	res.Members = len(scores)
	if len(scores) == 0 {
		tr.estimate(d, res, rsegs, nil, verdictBound{}, len(tr.members))
		return res, nil
	}
	accused, lead, leadV := tr.decide(d, rsegs, scores, epsilon)
	if len(accused) > 0 {
		res.Verdict = Identified
		res.Suspects = accused
		res.MoreWordsNeeded = 0
		return res, nil
	}
	res.Leading = lead
	tr.estimate(d, res, rsegs, lead, leadV, len(scores))
	return res, nil
}

// read reads the slots of every alternative of every segment, and fills in
// the counts of res.
func (tr *Tracer) read(d *deriver, segs []segment, lt *tokens, lcanon []canonTok, res *Result) [][]altRead {
	ch := leakChannels(lt)
	cums := map[int32][][maxQ]float64{}
	// Each slot of each message is read at most once, so that every term of
	// an innocent member's score involves a different symbol of theirs and
	// the terms are independent (docs/canary.md).
	seen := map[[2]int32]bool{}
	erasedTypo := 0
	matchedWords := map[int32]bool{}
	matchedMsgs := map[int32]bool{}
	var rsegs [][]altRead
	for _, sg := range segs {
		var alts []altRead
		found := false
		for ai, pairs := range sg.alts {
			var ar altRead
			byMsg := map[int32][][2]int32{}
			var order []int32
			for _, pr := range pairs {
				if ai == 0 {
					matchedWords[pr[0]] = true
					if res.matched == nil {
						res.matched = map[int32][]int32{}
					}
					m := tr.msgOf[pr[1]]
					res.matched[m] = append(res.matched[m], pr[1]-tr.offset[m])
				}
				m := tr.msgOf[pr[1]]
				if _, ok := byMsg[m]; !ok {
					order = append(order, m)
				}
				byMsg[m] = append(byMsg[m], pr)
			}
			for _, m := range order {
				tm := &tr.msgs[m]
				cmap := make([]int32, len(tm.layout.canon))
				for i := range cmap {
					cmap[i] = -1
				}
				for _, pr := range byMsg[m] {
					cmap[pr[1]-tr.offset[m]] = pr[0]
				}
				rs := readSlots(tm.layout, cmap, lt, lcanon, ch)
				if ai == 0 && (!ch.style || !ch.space) {
					// what the erased style channels would have read
					typo := func(rs []readSlot) int {
						n := 0
						for _, r := range rs {
							if k := tm.layout.slots[r.slot].kind; k.channel() == PolicyTypographic {
								n++
							}
						}
						return n
					}
					erasedTypo += typo(readSlots(tm.layout, cmap, lt, lcanon, channels{style: true, space: true})) - typo(rs)
				}
				kept := rs[:0]
				for _, r := range rs {
					if k := [2]int32{m, int32(r.slot)}; !seen[k] {
						seen[k] = true
						kept = append(kept, r)
					}
				}
				rs = kept
				if len(rs) == 0 {
					continue
				}
				if ai == 0 {
					matchedMsgs[m] = true
					res.SlotsRead += len(rs)
					for _, r := range rs {
						res.SlotsByChannel[tm.layout.slots[r.slot].kind.channel().String()]++
					}
				}
				cum, ok := cums[m]
				if !ok {
					cum = d.biases(tm.id, tm.layout)
					cums[m] = cum
				}
				ar.msgs = append(ar.msgs, msgRead{m: m, reads: rs, cum: cum})
				found = true
			}
			alts = append(alts, ar)
		}
		if found {
			rsegs = append(rsegs, alts)
		}
	}
	res.WordsMatched = len(matchedWords)
	res.Messages = len(matchedMsgs)
	res.Channels = map[string]ChannelReport{}
	if erasedTypo > 0 {
		res.Channels["typographic"] = ChannelReport{Discarded: erasedTypo, Reason: "the leak's style is uniform (retyped, normalised or a house style): it says nothing about the copy"}
	}
	if n := tr.eraseFlooded(rsegs); n > 0 {
		res.SlotsRead -= n
		if res.SlotsByChannel["invisible"] -= n; res.SlotsByChannel["invisible"] <= 0 {
			delete(res.SlotsByChannel, "invisible")
		}
		res.Channels["invisible"] = ChannelReport{Discarded: n, Reason: "flooded: one carrier in far more gaps than a marked copy has"}
	}
	for _, c := range []string{"invisible", "typographic", "lexical"} {
		r := res.Channels[c]
		r.Read = res.SlotsByChannel[c]
		res.Channels[c] = r
	}
	return rsegs
}

type msgRead struct {
	m     int32
	reads []readSlot
	cum   [][maxQ]float64
}

type altRead struct{ msgs []msgRead }
