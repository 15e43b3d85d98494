package client_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"backchannel/canary"
	"backchannel/client"
	"backchannel/tracepool"
)

// Five members talk; erin retypes her copy of the conversation and leaks
// it. No sender's own trace names anyone; the pooled trace of the
// investigator (alice) with bob's, carol's and dave's contributions names
// erin, with erin (offline) shown as no answer, and names no innocent.
func TestPooledTraceNamesTheLeakerEndToEnd(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile("../canary/eval/testdata/corpus/milestones_excerpt.txt")
	if err != nil {
		t.Fatal(err)
	}
	var paras []string
	for _, p := range strings.Split(string(data), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			paras = append(paras, p)
		}
	}
	e := newEnv(t)
	names := []string{"alice", "bob", "carol", "dave", "erin"}
	cs := map[string]*client.Client{}
	for _, n := range names {
		cs[n] = e.user(n)
	}
	if _, err := cs["alice"].CreateRoom(ctx, "talks", names[1:], client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	sync(t, cs["bob"], cs["carol"], cs["dave"], cs["erin"])
	const n = 20
	for i, p := range paras[:n] {
		if _, err := cs[names[i%len(names)]].Send(ctx, "talks", p); err != nil {
			t.Fatal(err)
		}
	}
	for _, nm := range names {
		sync(t, cs[nm])
	}
	_, msgs, err := cs["erin"].History(ctx, "talks")
	if err != nil {
		t.Fatal(err)
	}
	var copyText []string
	for _, m := range msgs {
		if m.Kind == client.KindText {
			copyText = append(copyText, m.Text)
		}
	}
	leakText := canary.Normalize(strings.Join(copyText, "\n\n"))
	words := len(strings.Fields(leakText))
	for _, nm := range names[:4] {
		res, err := cs[nm].Trace(ctx, "talks", leakText, canary.DefaultEpsilon)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Suspects) > 0 {
			t.Fatalf("%s alone names %s from %d words: the test does not show what pooling adds", nm, res.Suspects[0].Member, words)
		}
	}
	q, err := cs["alice"].RequestPooledTrace(ctx, "talks", []byte(leakText), canary.DefaultEpsilon)
	if err != nil {
		t.Fatal(err)
	}
	for _, nm := range []string{"bob", "carol", "dave"} {
		sync(t, cs[nm])
		if a, err := cs[nm].AnswerTraceRequest(ctx, q.ID, true); err != nil || a.Status == tracepool.Declined {
			t.Fatalf("%s answers: %+v, %v", nm, a, err)
		}
	}
	sync(t, cs["alice"])
	res, err := cs["alice"].PooledTrace(ctx, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Result.Suspects {
		if s.Member != "erin" {
			t.Fatalf("innocent %s named by the pooled trace", s.Member)
		}
	}
	if res.Result.Verdict != canary.Identified {
		t.Fatalf("the pooled trace of %d retyped words is %s (%d marks read)", words, res.Result.Verdict, res.Result.SlotsRead)
	}
	status := map[string]tracepool.Status{}
	for _, s := range res.Senders {
		status[s.Member] = s.Status
	}
	if status["erin"] != tracepool.NoAnswer || status["alice"] != tracepool.Contributed {
		t.Fatalf("senders: %+v", res.Senders)
	}
	t.Logf("pooled: erin named from %d retyped words of %d messages, %d marks read, bound %.1e", words, n, res.Result.SlotsRead, res.Result.Suspects[0].FalseAccusationBound)
}
