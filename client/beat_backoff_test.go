package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	gosync "sync"
	"testing"
	"time"

	"backchannel/client"
	"backchannel/room"
	"backchannel/server/api"
)

// countingFrontEnd passes one client's requests to the server and counts
// the envelopes it sends, per recipient user.
type countingFrontEnd struct {
	ts *httptest.Server
	mu gosync.Mutex
	to map[string]int
}

func newCountingFrontEnd(t *testing.T, e *env) *countingFrontEnd {
	t.Helper()
	target, _ := url.Parse(e.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	f := &countingFrontEnd{to: map[string]int{}}
	count := func(r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/messages" && r.Body != nil {
			raw, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(raw))
			var req api.SendRequest
			if err := json.Unmarshal(raw, &req); err == nil {
				f.mu.Lock()
				for _, m := range req.Messages {
					f.to[m.To]++
				}
				f.mu.Unlock()
			}
		}
	}
	f.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count(r)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(f.ts.Close)
	return f
}

func (f *countingFrontEnd) count(user string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.to[user]
}

// Heartbeats back off toward an offline member: carol never syncs for two
// simulated days while alice and bob sync every heartbeat interval. Her
// mailbox gets a handful of heartbeats per sender per day (not 144), alice
// and bob still warn about her silence, and keep beating each other every
// interval; her next message resets the backoff.
func TestHeartbeatBackoffOfflineMember(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := newFakeClock()
	fa, fb := newCountingFrontEnd(t, e), newCountingFrontEnd(t, e)
	alice := e.userVia("alice", fa.ts.URL, clk)
	bob := e.userVia("bob", fb.ts.URL, clk)
	carol := e.userVia("carol", e.srv.URL, clk)
	if _, err := alice.CreateRoom(ctx, "ops", []string{"bob", "carol"}, client.ModeDeniable, ""); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, carol)
	step := room.BeatInterval + time.Second
	aliceToCarol0, bobToCarol0, aliceToBob0 := fa.count("carol"), fb.count("carol"), fa.count("bob")
	var day1 [2]int
	var warned []string
	for elapsed := time.Duration(0); elapsed < 48*time.Hour; elapsed += step {
		if elapsed < 24*time.Hour {
			day1 = [2]int{fa.count("carol") - aliceToCarol0, fb.count("carol") - bobToCarol0}
		}
		clk.advance(step)
		warned = syncAll(t, alice, bob)
	}
	a, b := fa.count("carol")-aliceToCarol0, fb.count("carol")-bobToCarol0
	t.Logf("envelopes to carol over 2 days: alice %d (day 1: %d), bob %d (day 1: %d); alice to bob %d", a, day1[0], b, day1[1], fa.count("bob")-aliceToBob0)
	for _, n := range [][2]int{{a, day1[0]}, {b, day1[1]}} {
		if n[1] > 10 || n[0]-n[1] > 5 {
			t.Fatalf("heartbeats to offline carol per sender: %d on day 1, %d on day 2 (want at most 10 and 5)", n[1], n[0]-n[1])
		}
	}
	if n := fa.count("bob") - aliceToBob0; n < 250 {
		t.Fatalf("alice backed off toward bob, who talks: %d envelopes in 2 days", n)
	}
	if c := countContains(warned, "nothing from carol since"); c != 2 {
		t.Fatalf("alice and bob not both warned of carol's silence: %q", warned)
	}
	// Carol comes back: her heartbeat resets alice's backoff toward her.
	if w := syncAll(t, carol); anyContains(w, "nothing from alice") || anyContains(w, "nothing from bob") {
		t.Fatalf("carol warned though the heartbeats waited for her: %q", w)
	}
	if w := syncAll(t, alice); anyContains(w, "nothing from carol") {
		t.Fatalf("warning about carol stays after she spoke: %q", w)
	}
	before := fa.count("carol")
	clk.advance(step)
	syncAll(t, alice)
	if fa.count("carol") != before+1 {
		t.Fatalf("alice's next heartbeat did not go to carol after she spoke: %d envelopes", fa.count("carol")-before)
	}
}

func countContains(ws []string, s string) int {
	n := 0
	for _, w := range ws {
		if bytes.Contains([]byte(w), []byte(s)) {
			n++
		}
	}
	return n
}
