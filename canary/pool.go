package canary

// Pooled traces: a leaked conversation holds messages of several senders,
// and each sender can read only the marks of their own messages. Each
// sender computes a Contribution for the leak over its own messages; the
// investigator combines them into one verdict with one bound.
//
// How to call it (helper C, the room protocol):
//
//	// each sender, for the leak the investigator sent:
//	part, err := tracer.Contribute(leak, senderName)  // *Contribution, never codewords or the key
//	data, err := json.Marshal(part)                    // at most MaxContributionBytes
//	// the investigator, for every answer received:
//	part, err := canary.DecodeContribution(data)       // validates; a clear error otherwise
//	res, err := canary.Combine(parts, epsilon)         // one verdict; res.Senders, Suspect.BySender
//
// Contribute applies the same input check as Trace's caller should
// (CheckInput is the caller's, as for Trace). part.SlotsRead is what a
// consent rule's minimum applies to. Combine refuses two parts of one
// sender. The verdict's bound holds if every part is honest; a dishonest
// sender can frame anyone within its own part, so the result shows every
// sender's share of each accusation (docs/canary.md, "Pooled traces").

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"
)

// ContributionVersion is the version of the Contribution format.
const ContributionVersion = 1

// Bounds on a contribution, so that a decoder never accepts an unbounded
// answer.
const (
	MaxContributionMembers = 512
	MaxContributionGroups  = 64
	MaxContributionBytes   = 1 << 20
	maxNameBytes           = 128
)

// poolTests names the tests of a contribution, in order: the same two
// scores as Trace (copyTerm, tardosTerm).
var poolTests = []string{"copy", "collusion"}

// PoolLambdas is the fixed grid of Chernoff parameters λ = k/4,
// k = 1…64, on which contributions report their null log-MGFs. It holds
// λ = 1, the exact point for the likelihood ratio.
var PoolLambdas = func() []float64 {
	g := make([]float64, 64)
	for k := range g {
		g[k] = float64(k+1) / 4
	}
	return g
}()

// Contribution is one sender's part of a pooled trace: for the leak, over
// the sender's own messages, every scored member's scores and the terms of
// the bound. It holds no codeword, symbol or key.
type Contribution struct {
	Version        int            `json:"version"`
	Sender         string         `json:"sender"`
	Tests          []string       `json:"tests"`
	WordsMatched   int            `json:"words_matched"`
	SlotsRead      int            `json:"slots_read"`
	SlotsByChannel map[string]int `json:"slots_by_channel"`
	Messages       int            `json:"messages_matched"`
	Members        []MemberPart   `json:"members"`
	// Groups are the members' null models: members who received the same
	// aligned messages share one. LogMGF[t][k] is ln E[exp(λ_k S_t)] of
	// an innocent member's score S_t in test t, λ_k = PoolLambdas[k].
	Groups []GroupPart `json:"groups"`
}

// MemberPart is one member's scores in a contribution.
type MemberPart struct {
	Member       string    `json:"member"`
	Group        int       `json:"group"`
	Scores       []float64 `json:"scores"`
	SlotsRead    int       `json:"slots_read"`
	SlotsMatched int       `json:"slots_matched"`
}

// GroupPart is the null model of one group of members.
type GroupPart struct {
	LogMGF [][]float64 `json:"log_mgf"`
}

// SenderPart is one sender's part as shown in a combined Result.
type SenderPart struct {
	Sender       string `json:"sender"`
	WordsMatched int    `json:"words_matched"`
	SlotsRead    int    `json:"slots_read"`
	Members      int    `json:"members_scored"`
}

// SenderShare is one sender's share of the evidence against a suspect.
type SenderShare struct {
	Sender       string  `json:"sender"`
	Score        float64 `json:"score"`
	SlotsRead    int     `json:"slots_read"`
	SlotsMatched int     `json:"slots_matched"`
	// BoundWithout is the suspect's bound if this sender's part were
	// left out: when it is above ε, the accusation rests on this sender.
	BoundWithout float64 `json:"bound_without"`
}

// Contribute computes the sender's contribution for the leak over the
// tracer's messages. sender names the tracer's owner.
func (tr *Tracer) Contribute(leak, sender string) (*Contribution, error) {
	if err := checkName(sender); err != nil {
		return nil, fmt.Errorf("contribution sender: %w", err)
	}
	d, err := newDeriver(tr.key)
	if err != nil {
		return nil, err
	}
	lt := tokenize(validUTF8(leak))
	lcanon, _ := canonicalTokens(mustLexicon(), lt)
	segs := tr.align(lt, lcanon)
	res := &Result{SlotsByChannel: map[string]int{}}
	rsegs := tr.read(d, segs, lt, lcanon, res)
	scores := tr.score(d, rsegs)
	c := &Contribution{Version: ContributionVersion, Sender: sender, Tests: append([]string(nil), poolTests...),
		WordsMatched: res.WordsMatched, SlotsRead: res.SlotsRead, SlotsByChannel: res.SlotsByChannel, Messages: res.Messages,
		Members: []MemberPart{}, Groups: []GroupPart{}}
	if len(scores) > MaxContributionMembers {
		return nil, fmt.Errorf("contribution: %d members scored, more than %d", len(scores), MaxContributionMembers)
	}
	keys, groups := groupMembers(scores)
	if len(keys) > MaxContributionGroups {
		return nil, fmt.Errorf("contribution: %d different sets of received messages, more than %d", len(keys), MaxContributionGroups)
	}
	for gi, key := range keys {
		mems := groups[key]
		sets := tr.nullSets(rsegs, scores[mems[0]].received)
		g := GroupPart{LogMGF: [][]float64{make([]float64, len(PoolLambdas)), make([]float64, len(PoolLambdas))}}
		for k, l := range PoolLambdas {
			g.LogMGF[0][k] = sets[testCopy].logMGF(l)
			g.LogMGF[1][k] = sets[testCollusion].logMGF(l)
		}
		c.Groups = append(c.Groups, g)
		for _, mem := range mems {
			ms := scores[mem]
			c.Members = append(c.Members, MemberPart{Member: tr.members[mem], Group: gi, Scores: []float64{ms.s[testCopy], ms.s[testCollusion]}, SlotsRead: ms.read[0], SlotsMatched: ms.match[0]})
		}
	}
	sort.Slice(c.Members, func(a, b int) bool { return c.Members[a].Member < c.Members[b].Member })
	return c, nil
}

// groupMembers groups scored members by the messages they received, in a
// fixed order.
func groupMembers(scores map[int32]*memberScore) ([]string, map[string][]int32) {
	groups := map[string][]int32{}
	for mem, ms := range scores {
		var ids []int
		for m := range ms.received {
			ids = append(ids, int(m))
		}
		sort.Ints(ids)
		key := fmt.Sprint(ids)
		groups[key] = append(groups[key], mem)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
		sort.Slice(groups[k], func(a, b int) bool { return groups[k][a] < groups[k][b] })
	}
	sort.Strings(keys)
	return keys, groups
}

func checkName(s string) error {
	switch {
	case s == "":
		return errors.New("empty name")
	case len(s) > maxNameBytes:
		return fmt.Errorf("name of %d bytes, more than %d", len(s), maxNameBytes)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("name is not plain text")
	}
	return nil
}

// DecodeContribution parses and validates a contribution.
func DecodeContribution(data []byte) (*Contribution, error) {
	if len(data) > MaxContributionBytes {
		return nil, fmt.Errorf("contribution of %d bytes, more than %d", len(data), MaxContributionBytes)
	}
	var c Contribution
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("contribution is not valid JSON: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks a contribution's form: version, sizes, names, finite
// numbers. It cannot check that the numbers are honest.
func (c *Contribution) Validate() error {
	if c == nil {
		return errors.New("contribution missing")
	}
	if c.Version != ContributionVersion {
		return fmt.Errorf("contribution version %d, this program reads %d", c.Version, ContributionVersion)
	}
	if err := checkName(c.Sender); err != nil {
		return fmt.Errorf("contribution sender: %w", err)
	}
	if len(c.Tests) != len(poolTests) {
		return fmt.Errorf("contribution of %s has %d tests, expected %d", c.Sender, len(c.Tests), len(poolTests))
	}
	for i, t := range c.Tests {
		if t != poolTests[i] {
			return fmt.Errorf("contribution of %s: test %d is %q, expected %q", c.Sender, i, t, poolTests[i])
		}
	}
	if c.WordsMatched < 0 || c.SlotsRead < 0 || c.Messages < 0 {
		return fmt.Errorf("contribution of %s: negative counts", c.Sender)
	}
	if len(c.SlotsByChannel) > 8 {
		return fmt.Errorf("contribution of %s: %d channels", c.Sender, len(c.SlotsByChannel))
	}
	for ch, n := range c.SlotsByChannel {
		if _, err := ParsePolicy(ch); err != nil || n < 0 || strings.Contains(ch, "+") {
			return fmt.Errorf("contribution of %s: channel %q with %d slots", c.Sender, ch, n)
		}
	}
	if len(c.Members) > MaxContributionMembers || len(c.Groups) > MaxContributionGroups {
		return fmt.Errorf("contribution of %s: %d members in %d groups, at most %d in %d", c.Sender, len(c.Members), len(c.Groups), MaxContributionMembers, MaxContributionGroups)
	}
	for gi, g := range c.Groups {
		if len(g.LogMGF) != len(poolTests) {
			return fmt.Errorf("contribution of %s: group %d has %d tests", c.Sender, gi, len(g.LogMGF))
		}
		for _, row := range g.LogMGF {
			if len(row) != len(PoolLambdas) {
				return fmt.Errorf("contribution of %s: group %d has %d grid points, expected %d", c.Sender, gi, len(row), len(PoolLambdas))
			}
			for _, v := range row {
				if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e9 {
					return fmt.Errorf("contribution of %s: group %d has a log-MGF of %g", c.Sender, gi, v)
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, m := range c.Members {
		if err := checkName(m.Member); err != nil {
			return fmt.Errorf("contribution of %s: member: %w", c.Sender, err)
		}
		if seen[m.Member] {
			return fmt.Errorf("contribution of %s: member %s twice", c.Sender, m.Member)
		}
		seen[m.Member] = true
		if m.Member == c.Sender {
			return fmt.Errorf("contribution of %s scores its own sender", c.Sender)
		}
		if m.Group < 0 || m.Group >= len(c.Groups) {
			return fmt.Errorf("contribution of %s: member %s in group %d of %d", c.Sender, m.Member, m.Group, len(c.Groups))
		}
		if len(m.Scores) != len(poolTests) {
			return fmt.Errorf("contribution of %s: member %s has %d scores", c.Sender, m.Member, len(m.Scores))
		}
		for _, v := range m.Scores {
			if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e9 {
				return fmt.Errorf("contribution of %s: member %s has a score of %g", c.Sender, m.Member, v)
			}
		}
		// A member's slots read may exceed the part's: the part counts the
		// first alternative of each segment, a member is scored on every
		// alternative (text sent more than once).
		if m.SlotsRead < 0 || m.SlotsMatched < 0 || m.SlotsMatched > m.SlotsRead {
			return fmt.Errorf("contribution of %s: member %s matched %d of %d slots (%d read)", c.Sender, m.Member, m.SlotsMatched, m.SlotsRead, c.SlotsRead)
		}
	}
	return nil
}
