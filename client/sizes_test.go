package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	gosync "sync"
	"testing"

	"backchannel/client"
	"backchannel/server/api"
)

// statsFull selects the full statistics runs (BACKCHANNEL_STATS=full);
// the default is small enough for CI.
func statsFull() bool { return os.Getenv("BACKCHANNEL_STATS") == "full" }

// wire records what the server sees of one sender's traffic: the size of
// each envelope of each batch, by recipient, and the bytes of each blob.
type wire struct {
	mu      gosync.Mutex
	on      bool
	batches []map[string]int
	blobs   map[string]int
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	w.mu.Lock()
	on := w.on
	w.mu.Unlock()
	if on && req.Body != nil && req.Method != http.MethodGet {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		w.mu.Lock()
		switch p := req.URL.Path; {
		case req.Method == http.MethodPost && p == "/v1/messages":
			var sr api.SendRequest
			if json.Unmarshal(body, &sr) == nil {
				b := map[string]int{}
				for _, e := range sr.Messages {
					b[e.To] = len(e.Data)
				}
				w.batches = append(w.batches, b)
			}
		case req.Method == http.MethodPut && strings.HasPrefix(p, "/v1/blobs/"):
			id := strings.Split(strings.TrimPrefix(p, "/v1/blobs/"), "/")[0]
			w.blobs[id] += len(body)
		}
		w.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (w *wire) record(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.on, w.batches, w.blobs = on, nil, map[string]int{}
}

// prose is what the length test's and the quoting test's senders say.
var prose = []string{
	"The delegation will not sign the protocol before the monitoring annex is agreed.",
	"We have offered a thirty-day pause in the north, and the other side has accepted the principle.",
	"They insist that the monitors come from a neutral country, which we can accept.",
	"It's not clear that the ministry will agree to the timetable as it stands.",
	"Our fallback is a joint list of three countries, and we don't intend to go below it.",
	"The minister \"welcomes\" the draft -- but wants the second clause rewritten.",
	"Perhaps we should organise a call with the mediator before Thursday's session.",
	"I have told them that the ceiling is firm; they've asked for a written answer.",
	"The others favour a shorter text... we think the longer one protects us better.",
	"Let's keep the phrase on sovereignty exactly as it was in the earlier version.",
	"The chairman said that he would circulate a revised paper by the end of the week.",
	"We cannot accept any reference to the disputed area in the preamble.",
	"The prisoners' exchange remains the first item; everything else follows from it.",
	"They are willing to discuss the funding of the monitors, but not its source.",
	"Please don't share the annex outside the delegation until it has been cleared.",
	"The working group will meet again on Monday, probably in the afternoon.",
}

func say(rng *rand.Rand, sentences int) string {
	var b strings.Builder
	for i := range sentences {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(prose[rng.IntN(len(prose))])
	}
	return b.String()
}

// sizedSends sends n messages from the sender to the room and returns, per
// message, the envelope size each recipient's device was sent (what the
// server sees) and each recipient's received copy.
func sizedSends(t *testing.T, rng *rand.Rand, w *wire, from *client.Client, room string, recips []*client.Client, n int) (sizes []map[string]int, copies []map[string]string) {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for range n {
		w.record(true)
		m, err := from.Send(ctx, room, say(rng, 2+rng.IntN(3)))
		if err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		if len(w.batches) != 1 {
			t.Fatalf("%d batches for one message", len(w.batches))
		}
		sizes = append(sizes, w.batches[0])
		w.mu.Unlock()
		ids = append(ids, m.ID)
	}
	w.record(false)
	sync(t, recips...)
	byID := map[string]map[string]string{}
	for _, r := range recips {
		_, msgs, err := r.History(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if byID[m.ID] == nil {
				byID[m.ID] = map[string]string{}
			}
			byID[m.ID][r.User()] = m.Text
		}
	}
	for _, id := range ids {
		copies = append(copies, byID[id])
	}
	return sizes, copies
}

// jsonLen is the length the server would attribute to a leaked text inside
// a payload: its JSON string.
func jsonLen(s string) int {
	b, _ := json.Marshal(s)
	return len(b)
}

// attribute plays the server: from envelope sizes alone and the leaked
// texts (verbatim copies of k messages), it names one recipient, with two
// attacks: "consistency" (the recipient whose envelope sizes minus the
// leak's lengths vary least across the messages) and "overhead" (the
// server knows every byte of a payload but the text, here measured on one
// reference recipient's copy, and names the recipient whose envelopes fit
// the leak with that overhead best). Ties are broken at random.
func attribute(rng *rand.Rand, names []string, sizes []map[string]int, leaks []string, ref []int) (consistency, overhead string) {
	pick := func(score func(r string) float64) string {
		best, bestScore, ties := "", math.Inf(1), 0
		for _, r := range names {
			switch s := score(r); {
			case s < bestScore:
				best, bestScore, ties = r, s, 1
			case s == bestScore:
				ties++
				if rng.IntN(ties) == 0 {
					best = r
				}
			}
		}
		return best
	}
	consistency = pick(func(r string) float64 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for k := range leaks {
			x := float64(sizes[k][r] - jsonLen(leaks[k]))
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
		return hi - lo
	})
	overhead = pick(func(r string) float64 {
		s := 0.0
		for k := range leaks {
			s += math.Abs(float64(sizes[k][r] - jsonLen(leaks[k]) - ref[k]))
		}
		return s
	})
	return consistency, overhead
}

type attackRates struct {
	k                     int
	consistency, overhead float64
}

// lengthAttack runs trials of the attack for each number of leaked messages.
func lengthAttack(rng *rand.Rand, names []string, sizes []map[string]int, copies []map[string]string, trials int) []attackRates {
	// The overhead attack's knowledge: per message, envelope size minus the
	// reference recipient's copy.
	refName := names[0]
	ref := make([]int, len(sizes))
	for k := range sizes {
		ref[k] = sizes[k][refName] - jsonLen(copies[k][refName])
	}
	var out []attackRates
	for _, k := range []int{1, 3, 5, 10} {
		hit := [2]int{}
		for range trials {
			leaker := names[rng.IntN(len(names))]
			pick := rng.Perm(len(sizes))[:k]
			var sz []map[string]int
			var leaks []string
			var refs []int
			for _, i := range pick {
				sz = append(sz, sizes[i])
				leaks = append(leaks, copies[i][leaker])
				refs = append(refs, ref[i])
			}
			a, b := attribute(rng, names, sz, leaks, refs)
			if a == leaker {
				hit[0]++
			}
			if b == leaker {
				hit[1]++
			}
		}
		out = append(out, attackRates{k, float64(hit[0]) / float64(trials), float64(hit[1]) / float64(trials)})
	}
	return out
}

// TestEnvelopeSizesNameNobody performs issue 10's length attack (item 8):
// the server sees only envelope sizes and the leaked verbatim text of 1,
// 3, 5 or 10 messages, and names the recipient whose envelopes fit. Without
// padding (the baseline: a client from before) it names the leaker far
// above chance; with padding every recipient's envelope of a message has
// the same size and the attack falls to chance (1 in 4 recipients).
// BACKCHANNEL_STATS=full runs 120 messages and 2,000 trials per size.
func TestEnvelopeSizesNameNobody(t *testing.T) {
	msgs, trials := 16, 400
	if statsFull() {
		msgs, trials = 120, 2000
	}
	ctx := context.Background()
	e := newEnv(t)
	w := &wire{blobs: map[string]int{}}
	alice := e.userWith("alice", &http.Client{Transport: w})
	names := []string{"bob", "carol", "dave", "erin"}
	var recips []*client.Client
	for _, n := range names {
		recips = append(recips, e.user(n))
	}
	chance := 1 / float64(len(names))
	rng := rand.New(rand.NewPCG(10, 8))
	run := func(room string, padded bool) []attackRates {
		defer client.SetPadding(padded)()
		if _, err := alice.CreateRoom(ctx, room, names, client.ModeOnRecord, "all"); err != nil {
			t.Fatal(err)
		}
		sync(t, recips...)
		sizes, copies := sizedSends(t, rng, w, alice, room, recips, msgs)
		distinct := 0
		for k, s := range sizes {
			if len(s) != len(names) || len(copies[k]) != len(names) {
				t.Fatalf("message %d: %d envelopes, %d copies", k, len(s), len(copies[k]))
			}
			seen := map[int]bool{}
			for _, n := range names {
				seen[s[n]] = true
			}
			if len(seen) > 1 {
				distinct++
			}
		}
		if padded && distinct > 0 {
			t.Errorf("padded: %d of %d messages have envelopes of different sizes", distinct, msgs)
		}
		if !padded && distinct < msgs/2 {
			t.Errorf("baseline: only %d of %d messages have envelopes of different sizes; the attack has nothing to work on", distinct, msgs)
		}
		// A marked document: without padding each recipient's blob has its
		// own size; with it every blob has the same, and each recipient
		// still downloads exactly its own copy.
		w.record(true)
		if _, err := alice.ShareText(ctx, room, "terms.md", strings.Repeat(say(rng, 3)+"\n\n", 30)); err != nil {
			t.Fatal(err)
		}
		w.mu.Lock()
		blobSizes := map[int]bool{}
		for _, n := range w.blobs {
			blobSizes[n] = true
		}
		blobs := len(w.blobs)
		w.mu.Unlock()
		w.record(false)
		t.Logf("padded=%v: %d distinct blob sizes among the %d copies of one marked document", padded, len(blobSizes), blobs)
		if blobs != len(names)+1 || padded != (len(blobSizes) == 1) {
			t.Errorf("padded=%v: %d blobs, %d distinct sizes", padded, blobs, len(blobSizes))
		}
		sync(t, recips...)
		for _, r := range recips {
			var out bytes.Buffer
			if _, err := r.GetDoc(ctx, room, "terms.md", &out); err != nil {
				t.Fatalf("%s: %v", r.User(), err)
			}
			if out.Len() == 0 || bytes.IndexByte(out.Bytes(), 0) >= 0 {
				t.Fatalf("%s's download is empty or holds padding", r.User())
			}
		}
		rates := lengthAttack(rng, names, sizes, copies, trials)
		for _, r := range rates {
			t.Logf("padded=%v: %2d leaked messages: named the leaker in %.1f%% (consistency) and %.1f%% (overhead) of %d trials; chance %.0f%%",
				padded, r.k, 100*r.consistency, 100*r.overhead, trials, 100*chance)
		}
		return rates
	}
	base := run("unpadded", false)
	padded := run("padded", true)
	if last := base[len(base)-1]; math.Max(last.consistency, last.overhead) < 0.8 {
		t.Errorf("baseline: the attack named the leaker of 10 messages in only %.0f%%; it is not reproduced", 100*math.Max(last.consistency, last.overhead))
	}
	// Chance, within four standard deviations of the trials.
	tol := 4 * math.Sqrt(chance*(1-chance)/float64(trials))
	for _, r := range padded {
		if r.consistency > chance+tol || r.overhead > chance+tol {
			t.Errorf("padded, %d messages: attribution %.1f%% / %.1f%%, above chance %.0f%% ± %.1f%%", r.k, 100*r.consistency, 100*r.overhead, 100*chance, 100*tol)
		}
	}

}
