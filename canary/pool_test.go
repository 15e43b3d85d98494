package canary

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// The combined bound against exact enumeration: two senders' parts built
// from known terms; for every threshold z, the bound Combine uses is at
// least the exact probability that an innocent member's summed score
// reaches z.
func TestCombinedBoundAgainstEnumeration(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		var parts [][]term
		for s := 0; s < 2; s++ {
			var ts []term
			for i := 0; i < 3+rng.IntN(5); i++ {
				p := []float64{0.5, 0.25, 0.1, 0.7}[rng.IntN(4)]
				if rng.IntN(2) == 0 {
					ts = append(ts, copyTerm(p))
				} else {
					ts = append(ts, tardosTerm(p))
				}
			}
			parts = append(parts, ts)
		}
		all := append(append([]term(nil), parts[0]...), parts[1]...)
		var mgf [2][]float64
		for test := range mgf {
			mgf[test] = make([]float64, len(PoolLambdas))
			for k, l := range PoolLambdas {
				mgf[test][k] = logMGF(parts[0], l) + logMGF(parts[1], l)
			}
		}
		// exact distribution of the sum by enumeration
		n := len(all)
		for mask := 0; mask < 1<<n; mask++ {
			z := 0.0
			for i, tm := range all {
				if mask&(1<<i) != 0 {
					z += tm.a
				} else {
					z += tm.b
				}
			}
			exact := 0.0
			for m2 := 0; m2 < 1<<n; m2++ {
				s, pr := 0.0, 1.0
				for i, tm := range all {
					if m2&(1<<i) != 0 {
						s, pr = s+tm.a, pr*tm.p
					} else {
						s, pr = s+tm.b, pr*(1-tm.p)
					}
				}
				if s >= z-1e-12 {
					exact += pr
				}
			}
			lb, _ := gridBound(mgf, [2]float64{z, math.Inf(-1)})
			if b := math.Exp(lb); b < exact*(1-1e-9) {
				t.Fatalf("trial %d: bound %g below the exact tail %g at z=%g", trial, b, exact, z)
			}
		}
	}
}

// conversation is a room in which five members each send a share of the
// messages, marked with their own key for the four others.
type conversation struct {
	members []string
	tracers []*Tracer
	keys    [][]byte
	msgs    []Message
	from    []int
}

func newConversation(t testing.TB, paras []string) *conversation {
	t.Helper()
	cv := &conversation{members: []string{"ana", "ben", "cai", "dee", "eli"}}
	sent := make([][]Message, len(cv.members))
	for s := range cv.members {
		cv.keys = append(cv.keys, testKey(byte(40+s)))
	}
	for i, p := range paras {
		s := i % len(cv.members)
		var to []string
		for j, m := range cv.members {
			if j != s {
				to = append(to, m)
			}
		}
		m := Message{ID: fmt.Sprintf("m%03d", i), Text: p, Recipients: to, Policy: PolicyAll}
		cv.msgs = append(cv.msgs, m)
		cv.from = append(cv.from, s)
		sent[s] = append(sent[s], m)
	}
	for s := range cv.members {
		tr, err := NewTracer(cv.keys[s], sent[s])
		if err != nil {
			t.Fatal(err)
		}
		cv.tracers = append(cv.tracers, tr)
	}
	return cv
}

// view is the leaker's copy of messages [0, n): others' messages as the
// leaker received them, its own as written; retyped.
func (cv *conversation) view(t testing.TB, leaker string, n int) string {
	var parts []string
	for i, m := range cv.msgs[:n] {
		if cv.members[cv.from[i]] == leaker {
			parts = append(parts, m.Text)
			continue
		}
		c, err := Mark(cv.keys[cv.from[i]], m.ID, leaker, m.Text, m.Policy)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, c)
	}
	return Normalize(strings.Join(parts, "\n\n"))
}

func (cv *conversation) pooled(t testing.TB, leak string) (*Result, []*Result) {
	t.Helper()
	var parts []*Contribution
	var single []*Result
	for s, tr := range cv.tracers {
		c, err := tr.Contribute(leak, cv.members[s])
		if err != nil {
			t.Fatal(err)
		}
		data, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeContribution(data)
		if err != nil {
			t.Fatalf("a contribution does not decode: %v", err)
		}
		parts = append(parts, back)
		r, err := tr.Trace(leak, 0)
		if err != nil {
			t.Fatal(err)
		}
		single = append(single, r)
	}
	res, err := Combine(parts, 0)
	if err != nil {
		t.Fatal(err)
	}
	return res, single
}

// A retyped leak of a conversation among five senders: from the fewest
// messages at which the pooled verdict names the leaker, no sender alone
// names anyone, and no trace (pooled or single) names an innocent.
func TestPooledConversationNamesTheLeaker(t *testing.T) {
	cv := newConversation(t, proseParagraphs(t))
	for _, leaker := range []string{"ben", "eli"} {
		found := false
		for n := 5; n <= len(cv.msgs) && !found; n++ {
			leak := cv.view(t, leaker, n)
			res, single := cv.pooled(t, leak)
			for _, s := range res.Suspects {
				if s.Member != leaker {
					t.Fatalf("%d messages: innocent %s named by the pooled trace", n, s.Member)
				}
			}
			singleNamed := false
			for _, r := range single {
				for _, s := range r.Suspects {
					if s.Member != leaker {
						t.Fatalf("%d messages: innocent %s named by one sender", n, s.Member)
					}
					singleNamed = true
				}
			}
			if res.Verdict != Identified {
				if singleNamed {
					t.Fatalf("%d messages: a single sender names %s, the pooled trace does not", n, leaker)
				}
				continue
			}
			found = true
			if singleNamed {
				t.Errorf("%d messages (%d words): a single sender already names %s when pooling first does", n, res.WordsMatched, leaker)
			}
			if len(res.Senders) != len(cv.members) || len(res.Suspects[0].BySender) == 0 {
				t.Errorf("senders not reported: %+v", res.Senders)
			}
			t.Logf("leaker %s: pooled verdict from %d messages, %d words, %d slots, bound %.2g", leaker, n, res.WordsMatched, res.SlotsRead, res.Suspects[0].FalseAccusationBound)
		}
		if !found {
			t.Errorf("pooling never names %s", leaker)
		}
	}
}

// A lying sender inflates an innocent member's score in its own part. It
// can frame (the bound assumes honest parts), but the result shows that
// the accusation rests on that sender alone: without its part the bound
// is far above ε.
func TestLyingContributionIsVisible(t *testing.T) {
	cv := newConversation(t, proseParagraphs(t))
	leak := cv.view(t, "ben", 10)
	var parts []*Contribution
	for s, tr := range cv.tracers {
		c, err := tr.Contribute(leak, cv.members[s])
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, c)
	}
	honest, err := Combine(parts, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range honest.Suspects {
		if s.Member == "dee" {
			t.Fatalf("dee named before any lie")
		}
	}
	liar := parts[0] // ana
	for i := range liar.Members {
		if liar.Members[i].Member == "dee" {
			liar.Members[i].Scores[0] += 60
		}
	}
	res, err := Combine(parts, 0)
	if err != nil {
		t.Fatal(err)
	}
	var framed *Suspect
	for i, s := range res.Suspects {
		if s.Member == "dee" {
			framed = &res.Suspects[i]
		}
	}
	if framed == nil {
		t.Fatalf("the lie did not frame dee (the test would show nothing): %+v", res.Suspects)
	}
	for _, sh := range framed.BySender {
		if sh.Sender == "ana" && sh.BoundWithout <= res.Epsilon {
			t.Errorf("without the liar's part dee is still named (bound %g)", sh.BoundWithout)
		}
	}
}

func TestDecodeContributionRefuses(t *testing.T) {
	cv := newConversation(t, proseParagraphs(t)[:10])
	c, err := cv.tracers[1].Contribute(cv.view(t, "cai", 10), "ben")
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(c)
	if _, err := DecodeContribution(good); err != nil {
		t.Fatalf("an honest contribution is refused: %v", err)
	}
	for name, mutate := range map[string]func(*Contribution){
		"version":   func(c *Contribution) { c.Version = 2 },
		"no sender": func(c *Contribution) { c.Sender = "" },
		"nan score": func(c *Contribution) { c.Members[0].Scores[0] = math.NaN() },
		"group":     func(c *Contribution) { c.Members[0].Group = 99 },
		"grid":      func(c *Contribution) { c.Groups[0].LogMGF[0] = c.Groups[0].LogMGF[0][:3] },
		"twice":     func(c *Contribution) { c.Members = append(c.Members, c.Members[0]) },
		"self":      func(c *Contribution) { c.Members[0].Member = c.Sender },
		"tests":     func(c *Contribution) { c.Tests = []string{"copy"} },
	} {
		var x Contribution
		if err := json.Unmarshal(good, &x); err != nil {
			t.Fatal(err)
		}
		mutate(&x)
		data, _ := json.Marshal(x)
		if _, err := DecodeContribution(data); err == nil {
			t.Errorf("%s: a malformed contribution decodes", name)
		}
	}
	if _, err := DecodeContribution([]byte("not json")); err == nil || !strings.Contains(err.Error(), "JSON") {
		t.Errorf("not JSON: %v", err)
	}
	if _, err := Combine([]*Contribution{c, c}, 0); err == nil {
		t.Error("two parts of one sender combine")
	}
}

func FuzzDecodeContribution(f *testing.F) {
	f.Add([]byte(`{"version":1,"sender":"a","tests":["copy","collusion"],"members":[],"groups":[]}`))
	f.Add([]byte(`{"version":1,"sender":"a","tests":["copy","collusion"],"members":[{"member":"b","group":0,"scores":[1,2]}],"groups":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeContribution(data)
		if err != nil {
			return
		}
		if _, err := Combine([]*Contribution{c}, 0); err != nil {
			t.Fatalf("a valid contribution does not combine: %v", err)
		}
	})
}

// A text sent twice aligns as a segment with two alternatives, and each
// member is scored on both: the contribution must still decode (eval trace
// found Combine refusing such parts).
func TestContributionWithRepeatedTextDecodes(t *testing.T) {
	text := strings.Join(proseParagraphs(t)[:4], "\n\n")
	members := []string{"ann", "ben", "cat"}
	msgs := []Message{
		{ID: "m1", Text: text, Recipients: members, Policy: PolicyAll},
		{ID: "m2", Text: text, Recipients: members, Policy: PolicyAll},
	}
	key := testKey(7)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	leak, err := Mark(key, "m2", "ben", text, PolicyAll)
	if err != nil {
		t.Fatal(err)
	}
	part, err := tr.Contribute(leak, "sender")
	if err != nil {
		t.Fatal(err)
	}
	repeatedOnce := false
	for _, m := range part.Members {
		repeatedOnce = repeatedOnce || m.SlotsRead > part.SlotsRead
	}
	if !repeatedOnce {
		t.Fatalf("no member was scored on both alternatives (part reads %d slots): the test does not exercise the case", part.SlotsRead)
	}
	b, err := json.Marshal(part)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeContribution(b)
	if err != nil {
		t.Fatalf("decoding a genuine contribution: %v", err)
	}
	res, err := Combine([]*Contribution{got}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Identified || len(res.Suspects) != 1 || res.Suspects[0].Member != "ben" {
		t.Fatalf("verdict %s, suspects %+v: want ben", res.Verdict, res.Suspects)
	}
}
