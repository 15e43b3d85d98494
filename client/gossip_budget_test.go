package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"backchannel/client"
)

// A contact sends many messages, each carrying another genuine, older
// checkpoint of the log. Each would cost the receiver a consistency proof
// from the server, drawn from the same allowance as its key lookups; the
// receiver checks one older checkpoint per sender per GossipOlderEvery, so
// the contact cannot exhaust it, while another sender's is still checked.
func TestOlderGossipCannotDrainTheLookupAllowance(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, _ := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	// Genuine checkpoints of distinct sizes: every registration publishes an epoch.
	var notes [][]byte
	last := ""
	for i := range 6 {
		e.user(fmt.Sprintf("u%d", i))
		for deadline := time.Now().Add(10 * time.Second); ; {
			n := fetchCheckpoint(t, e.srv.URL)
			if n != last {
				notes, last = append(notes, []byte(n)), n
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no new checkpoint after a registration")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	e.user("newest") // one more epoch, so every collected note is older than alice's next view
	a.Close()

	var proofs atomic.Int64
	target, _ := url.Parse(e.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/keylog/consistency" {
			proofs.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	var mu stdsync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, err := client.Open(ctx, filepath.Join(e.dir, "alice"), []byte("pw-alice"), client.Options{ServerURL: front.URL, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.AuditLog(ctx); err != nil { // alice's view: the newest checkpoint
		t.Fatal(err)
	}
	base := proofs.Load()
	for _, n := range notes {
		if w := a.ReceiveGossip(ctx, "bob", "talks", n); len(w) > 0 {
			t.Fatalf("a genuine older checkpoint warned: %q", w)
		}
	}
	if got := proofs.Load() - base; got != 1 {
		t.Fatalf("%d older checkpoints from bob cost %d consistency proofs, want 1", len(notes), got)
	}
	// Another sender's older checkpoint is still checked.
	if w := a.ReceiveGossip(ctx, "carol", "talks", notes[0]); len(w) > 0 {
		t.Fatalf("warned: %q", w)
	}
	if got := proofs.Load() - base; got != 2 {
		t.Fatalf("carol's checkpoint: %d proofs in all, want 2", got)
	}
	// And bob's again once GossipOlderEvery has passed.
	mu.Lock()
	now = now.Add(client.GossipOlderEvery + time.Second)
	mu.Unlock()
	a.ReceiveGossip(ctx, "bob", "talks", notes[1])
	if got := proofs.Load() - base; got != 3 {
		t.Fatalf("after %v: %d proofs in all, want 3", client.GossipOlderEvery, got)
	}
	// A forked older checkpoint in an allowed slot is still a split view.
	mu.Lock()
	now = now.Add(client.GossipOlderEvery + time.Second)
	mu.Unlock()
	cp := a.LogCheckpoint(ctx)
	older := *cp
	older.Size--
	if w := a.ReceiveGossip(ctx, "bob", "talks", forkedCheckpoint(t, e, older)); len(w) == 0 {
		t.Fatal("a forked older checkpoint passed")
	}
}

func fetchCheckpoint(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("checkpoint: %d %v", resp.StatusCode, err)
	}
	return string(b)
}
