package client_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"backchannel/canary"
	"backchannel/client"
)

// lastFrom returns the newest text message from sender in c's history of
// room: c's copy of it.
func lastFrom(t *testing.T, c *client.Client, room, sender string) client.Message {
	t.Helper()
	_, msgs, err := c.History(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Sender == sender && msgs[i].Kind == client.KindText {
			return msgs[i]
		}
	}
	t.Fatalf("%s has no message from %s", c.User(), sender)
	return client.Message{}
}

type quoteStats struct {
	trials, quoterNamed, otherNamed, noted, quoterTracesLeaker int
	framing, framingNamed                                      int // mallory's deliberate attempts, and bob named by them
}

// quotingTrials: alice writes; bob pastes his copy of her message into a
// reply; a recipient of the reply leaks it (carol and dave the whole reply,
// mallory, who asked bob to quote alice, only the quoted part of it, on
// purpose); alice traces the leak against her messages and bob against
// his.
func quotingTrials(t *testing.T, rng *rand.Rand, alice, bob *client.Client, leakers []*client.Client, room string, trials int) quoteStats {
	t.Helper()
	ctx := context.Background()
	var st quoteStats
	for i := range trials {
		if _, err := alice.Send(ctx, room, say(rng, 3)); err != nil {
			t.Fatal(err)
		}
		sync(t, bob)
		quoted := lastFrom(t, bob, room, "alice").Text
		reply, err := bob.Send(ctx, room, "On your point: "+quoted+" I agree, and I will tell the minister tonight.")
		if err != nil {
			t.Fatal(err)
		}
		leaker := leakers[i%len(leakers)]
		sync(t, leaker)
		leak := lastFrom(t, leaker, room, "bob").Text
		if leaker.User() == "mallory" {
			// The framing attempt: only the words bob quoted, in mallory's
			// copy of his reply.
			leak = leak[strings.Index(leak, ":")+1:]
			leak = leak[:strings.LastIndex(leak, "agree")]
			leak = leak[:strings.LastIndex(leak, ".")+1]
		}
		st.trials++
		sync(t, alice) // alice has bob's reply in her history, as any member would
		res, err := alice.Trace(ctx, room, leak, 0)
		if err != nil {
			t.Fatal(err)
		}
		if leaker.User() == "mallory" {
			st.framing++
		}
		for _, s := range res.Suspects {
			if s.Member == "bob" {
				st.quoterNamed++
				if leaker.User() == "mallory" {
					st.framingNamed++
				}
			} else {
				st.otherNamed++
			}
		}
		for _, q := range res.Quotes {
			if q.By == "bob" && q.InMessage == reply.ID {
				st.noted++
				break
			}
		}
		// bob's own trace of his reply names whose copy of it leaked.
		res, err = bob.Trace(ctx, room, leak, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict == canary.Identified && len(res.Suspects) == 1 && res.Suspects[0].Member == leaker.User() {
			st.quoterTracesLeaker++
		}
	}
	return st
}

// TestQuotingFramesNobody performs issue 10's quoting attack (item 9):
// bob pastes the copy of alice's message he received, with its marks, into
// his reply, and another recipient leaks the reply. With a client from
// before the fix (the baseline) alice's trace names bob, an innocent
// quoter; now bob's client unmarks outgoing text, so his reply carries
// only his own marks: alice names nobody, her trace notes that the text
// reappears in bob's reply, and bob's trace names whose copy of the reply
// leaked. A third of the trials are mallory's deliberate attempt to frame
// bob: she asks him to quote alice and leaks only the quoted words.
// BACKCHANNEL_STATS=full runs 120 trials and a 60-trial baseline.
func TestQuotingFramesNobody(t *testing.T) {
	trials, baseTrials := 60, 6
	if statsFull() {
		trials, baseTrials = 120, 60
	}
	ctx := context.Background()
	e := newEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	leakers := []*client.Client{e.user("carol"), e.user("dave"), e.user("mallory")}
	rng := rand.New(rand.NewPCG(9, 9))
	for _, room := range []string{"before", "after"} {
		if _, err := alice.CreateRoom(ctx, room, []string{"bob", "carol", "dave", "mallory"}, client.ModeOnRecord, "all"); err != nil {
			t.Fatal(err)
		}
	}
	sync(t, append([]*client.Client{bob}, leakers...)...)

	restore := client.SetUnmark(false)
	base := quotingTrials(t, rng, alice, bob, leakers, "before", baseTrials)
	restore()
	t.Logf("baseline (no unmarking): bob named in %d of %d trials (%d of mallory's %d framing attempts), others in %d", base.quoterNamed, base.trials, base.framingNamed, base.framing, base.otherNamed)
	if 2*base.quoterNamed < base.trials {
		t.Errorf("baseline: the innocent quoter was named in only %d of %d trials; the attack is not reproduced", base.quoterNamed, base.trials)
	}

	st := quotingTrials(t, rng, alice, bob, leakers, "after", trials)
	t.Logf("unmarked: bob named in %d of %d trials (%d of mallory's %d framing attempts), anyone in %d; quote noted in %d; bob's trace named whose copy of his reply leaked in %d",
		st.quoterNamed, st.trials, st.framingNamed, st.framing, st.quoterNamed+st.otherNamed, st.noted, st.quoterTracesLeaker)
	if st.quoterNamed+st.otherNamed != 0 {
		t.Errorf("alice's trace named %d innocent quoters and %d others in %d trials", st.quoterNamed, st.otherNamed, st.trials)
	}
	if st.noted != st.trials {
		t.Errorf("the quote in bob's reply was noted in %d of %d trials", st.noted, st.trials)
	}
	if 10*st.quoterTracesLeaker < 9*st.trials {
		t.Errorf("bob's trace named the leaker of his reply in only %d of %d trials", st.quoterTracesLeaker, st.trials)
	}
}
