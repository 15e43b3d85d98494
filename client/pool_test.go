package client_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"backchannel/canary"
	"backchannel/client"
	"backchannel/store"
	"backchannel/tracepool"
)

func syncWarnings(t *testing.T, c *client.Client) []string {
	t.Helper()
	rep, err := c.Sync(context.Background())
	if err != nil {
		t.Fatalf("sync %s: %v", c.User(), err)
	}
	return rep.Warnings
}

func hasWarning(ws []string, part string) bool {
	return slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, part) })
}

func statusOf(q *tracepool.Inquiry) map[string]tracepool.Status {
	out := map[string]tracepool.Status{}
	for _, s := range q.Statuses() {
		out[s.Member] = s.Status
	}
	return out
}

// A pooled-trace request is seen by every member; nobody's client answers
// without consent; a decline, a member with none of its text in the leak
// and an offline member are told apart; answers that are not what the
// room's members sent for this request are refused in plain words; a
// server that drops an answer leaves "no answer", never a verdict.
func TestPooledTraceRequestConsentAndForgedAnswers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	alice, bob, carol, dave, erin := e.user("alice"), e.user("bob"), e.user("carol"), e.user("dave"), e.user("erin")
	mallory := e.user("mallory")
	if _, err := alice.CreateRoom(ctx, "talks", []string{"bob", "carol", "dave", "erin"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.CreateRoom(ctx, "side", []string{"mallory"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	sync(t, bob, carol, dave, erin, mallory)
	lines := map[*client.Client]string{
		bob:   "We can accept the second clause if the deadline moves to March.",
		carol: "The ministry will not sign anything before the elections are over.",
		dave:  "I think the figure of forty million is what they expect to hear.",
	}
	for c, text := range lines {
		if _, err := c.Send(ctx, "talks", text); err != nil {
			t.Fatal(err)
		}
	}
	sync(t, alice, bob, carol, dave, erin)
	leakText := []byte(canary.Normalize(lines[bob] + "\n" + lines[carol] + "\n" + lines[dave]))

	q, err := alice.RequestPooledTrace(ctx, "talks", leakText, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(q.Senders, []string{"bob", "carol", "dave"}) {
		t.Fatalf("senders awaited: %v", q.Senders)
	}
	short := tracepool.Short(q.ID)
	// Every member sees the request in the room: visibility deters abuse.
	sync(t, bob, carol, erin)
	for _, c := range []*client.Client{bob, carol, erin} {
		_, msgs, err := c.History(ctx, "talks")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(msgs, func(m client.Message) bool {
			return m.Kind == client.KindNotice && strings.HasPrefix(m.Text, "alice asked the room to help trace a leak (request "+short)
		}) {
			t.Fatalf("%s was not shown the request", c.User())
		}
		reqs, err := c.TraceRequests(ctx, "talks")
		if err != nil || len(reqs) != 1 || reqs[0].State != tracepool.Pending || string(reqs[0].Leak) != string(leakText) {
			t.Fatalf("%s's requests: %+v, %v", c.User(), reqs, err)
		}
	}
	// Without consent, nobody answered.
	sync(t, alice)
	if got, _ := alice.Inquiry(ctx, q.ID); len(got.Answers) != 0 {
		t.Fatalf("answers without consent: %v", got.Answers)
	}

	// carol declines (once); erin, who wrote nothing, has too little text.
	if a, err := carol.AnswerTraceRequest(ctx, short, false); err != nil || a.Status != tracepool.Declined {
		t.Fatalf("carol declines: %+v, %v", a, err)
	}
	if _, err := carol.AnswerTraceRequest(ctx, short, true); err == nil || !strings.Contains(err.Error(), "already declined") {
		t.Fatalf("carol answers after declining: %v", err)
	}
	if a, err := erin.AnswerTraceRequest(ctx, short, true); err != nil || a.Status != tracepool.TooLittle || len(a.Contribution) != 0 {
		t.Fatalf("erin answers: %+v, %v", a, err)
	}

	// Lies: an answer naming a request alice never made, one about another
	// text, an oversized one, a second answer from carol, and an answer
	// from outside the room that asked.
	answer := func(req string, hash []byte, status tracepool.Status, contribution string) []byte {
		a := tracepool.Answer{V: tracepool.Version, Request: req, LeakSHA256: hash, Status: status}
		if contribution != "" {
			a.Contribution = json.RawMessage(contribution)
		}
		b, _ := json.Marshal(a)
		return b
	}
	hash := tracepool.LeakHash(leakText)
	forged := []struct {
		from  *client.Client
		room  string
		body  []byte
		count string
	}{
		{bob, "talks", answer(strings.Repeat("ab", 16), hash, tracepool.Declined, ""), "you made no such request"},
		{bob, "talks", answer(q.ID, tracepool.LeakHash([]byte("another text")), tracepool.Declined, ""), "another text than the leak"},
		{bob, "talks", answer(q.ID, hash, tracepool.Contributed, `"`+strings.Repeat("9", tracepool.MaxContributionBytes)+`"`), "malformed pooled-trace payload"},
		{carol, "talks", answer(q.ID, hash, tracepool.TooLittle, ""), "second answer to request " + short + " from carol"},
		{mallory, "side", answer(q.ID, hash, tracepool.Declined, ""), "not in the room asked"},
	}
	for _, f := range forged {
		if err := f.from.SendPoolPayload(ctx, f.room, client.KindTraceAnswer, f.body, []string{"alice"}); err != nil {
			t.Fatal(err)
		}
	}
	ws := syncWarnings(t, alice)
	for _, f := range forged {
		if !hasWarning(ws, f.count) {
			t.Errorf("no warning %q among %q", f.count, ws)
		}
	}
	got, err := alice.Inquiry(ctx, short)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]tracepool.Status{"bob": tracepool.NoAnswer, "carol": tracepool.Declined, "dave": tracepool.NoAnswer, "erin": tracepool.TooLittle}
	if st := statusOf(got); !maps(st, want) {
		t.Fatalf("statuses %v, want %v", st, want)
	}

	// The server drops bob's decline: alice sees "no answer" for bob.
	if _, err := bob.AnswerTraceRequest(ctx, short, false); err != nil {
		t.Fatal(err)
	}
	for _, m := range pending(t, e, "alice") {
		if _, err := e.srv.Store.Ack(ctx, store.Address{User: "alice", Device: 1}, []int64{m.ID}); err != nil {
			t.Fatal(err)
		}
	}
	syncWarnings(t, alice)
	if got, _ := alice.Inquiry(ctx, short); statusOf(got)["bob"] != tracepool.NoAnswer || got.Complete() {
		t.Fatalf("after the server dropped bob's answer: %v", statusOf(got))
	}
}

func maps(a, b map[string]tracepool.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A requester who asks again and again (probing a member's marks with
// crafted leaks) gets at most tracepool.RateLimit requests a day
// answerable; later requests are shown, refused, and cannot be answered,
// even with the member's standing consent.
func TestPooledTraceRateLimit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	if _, err := alice.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	sync(t, bob)
	if err := bob.SetTraceConsent(ctx, "talks", true); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range tracepool.RateLimit + 2 {
		q, err := alice.RequestPooledTrace(ctx, "talks", []byte(strings.Repeat("probe ", i+1)), 1e-6)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, q.ID)
	}
	sync(t, bob)
	reqs, err := bob.TraceRequests(ctx, "talks")
	if err != nil || len(reqs) != len(ids) {
		t.Fatalf("bob's requests: %d, %v", len(reqs), err)
	}
	for i, in := range reqs {
		want := tracepool.Answered // bob's standing consent answered it
		if i >= tracepool.RateLimit {
			want = tracepool.Refused
		}
		if in.State != want {
			t.Errorf("request %d: %s (%s), want %s", i, in.State, in.Note, want)
		}
	}
	if _, err := bob.AnswerTraceRequest(ctx, ids[tracepool.RateLimit], true); err == nil || !strings.Contains(err.Error(), "cannot be answered") {
		t.Fatalf("answering beyond the rate limit: %v", err)
	}
	if _, err := bob.AnswerTraceRequest(ctx, ids[0], true); err == nil || !strings.Contains(err.Error(), "already answered") {
		t.Fatalf("answering twice: %v", err)
	}
	syncWarnings(t, alice)
	for i, id := range ids {
		q, err := alice.Inquiry(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if answered := q.Answers["bob"] != nil; answered != (i < tracepool.RateLimit) {
			t.Errorf("request %d: bob answered %v", i, answered)
		}
	}
}
