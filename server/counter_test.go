package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"backchannel/server"
	"backchannel/server/api"
	"backchannel/server/apiclient"
)

func TestSendCounter(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice, bob := register(t, ts.URL, "alice", ""), register(t, ts.URL, "bob", "")
	batch := func(text string) []api.OutgoingEnvelope {
		return []api.OutgoingEnvelope{{To: "bob", Device: 1, Data: []byte(text)}}
	}
	pending := func() int {
		t.Helper()
		r, err := bob.Fetch(ctx, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(r.Messages)
	}
	self, err := alice.Self(ctx)
	if err != nil || self.ID != 1 || self.User != "alice" || self.Counter != 0 {
		t.Fatalf("self = %+v, %v", self, err)
	}
	steps := []struct {
		name    string
		counter uint64
		text    string
		stored  uint64 // 0: accepted; else the counter a rollback reports
	}{
		{"uncounted", 0, "a", 0},
		{"first counted", 3, "three", 0},
		{"retransmission", 3, "three", 0},
		{"same counter, other messages", 3, "tampered", 3},
		{"lower", 2, "two", 3},
		{"zero after counting", 0, "zero", 3},
		{"next", 4, "four", 0},
	}
	for _, st := range steps {
		before := pending()
		_, err := alice.Send(ctx, st.counter, batch(st.text))
		if st.stored == 0 {
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if pending() != before+1 {
				t.Fatalf("%s: not enqueued", st.name)
			}
			continue
		}
		var rb *apiclient.RollbackError
		var ae *apiclient.Error
		if !errors.Is(err, apiclient.ErrRollback) || !errors.As(err, &rb) || rb.Counter != st.stored ||
			!errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Code != api.CodeRollback {
			t.Fatalf("%s: got %v, want rollback at %d", st.name, err, st.stored)
		}
		if pending() != before {
			t.Fatalf("%s: refused batch was enqueued", st.name)
		}
	}
	if self, err = alice.Self(ctx); err != nil || self.Counter != 4 {
		t.Fatalf("self after sends = %+v, %v", self, err)
	}
	// The counter survives a restart.
	ts.restart()
	_, err = alice.Send(ctx, 4, batch("other"))
	wantAPIError(t, err, apiclient.ErrRollback)
	// Out of range is a bad request, not a rollback.
	body := mustJSON(t, map[string]any{"messages": batch("x"), "counter": uint64(1 << 63)})
	status, er := rawRequest(t, "POST", ts.URL+"/v1/messages", body, "alice", 1, alice.key, time.Now())
	if status != http.StatusBadRequest || er.Code != api.CodeBadRequest {
		t.Fatalf("counter 2^63: %d %+v", status, er)
	}
}

// Two different batches sent at once under the same counter: exactly one
// is stored, the other refused as a rollback.
func TestSendCounterConcurrent(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice, bob := register(t, ts.URL, "alice", ""), register(t, ts.URL, "bob", "")
	const rounds, racers = 5, 4
	for round := uint64(1); round <= rounds; round++ {
		var wg sync.WaitGroup
		errs := make([]error, racers)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = alice.Send(ctx, round, []api.OutgoingEnvelope{{To: "bob", Device: 1, Data: []byte(fmt.Sprint(round, "/", i))}})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else if !errors.Is(err, apiclient.ErrRollback) {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d batches accepted", round, won)
		}
	}
	r, err := bob.Fetch(ctx, 0, 0)
	if err != nil || len(r.Messages) != rounds {
		t.Fatalf("bob holds %d messages (%v), want %d", len(r.Messages), err, rounds)
	}
}

func TestPrekeyPoolCap(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	keys := func(first, n int) []api.Prekey {
		out := make([]api.Prekey, n)
		for i := range out {
			out[i] = api.Prekey{ID: uint32(first + i), Data: []byte(fmt.Sprint("k", first+i))}
		}
		return out
	}
	c, err := alice.UploadPrekeys(ctx, api.PrekeyUpload{SignedPrekey: &api.Prekey{ID: 1, Data: []byte("s")},
		OneTimePrekeys: keys(0, api.MaxStoredOneTime), OneTimeKEMPrekeys: keys(0, 50)})
	if err != nil || c.OneTime != api.MaxStoredOneTime || c.OneTimeKEM != 50 {
		t.Fatalf("upload to the cap: %+v %v", c, err)
	}
	_, err = alice.UploadPrekeys(ctx, api.PrekeyUpload{OneTimePrekeys: keys(1000, 1), OneTimeKEMPrekeys: keys(1000, 10)})
	wantAPIError(t, err, apiclient.ErrTooLarge)
	var ae *apiclient.Error
	want := fmt.Sprintf("too many one-time prekeys: %d X25519 and 50 ML-KEM stored, at most %d of each", api.MaxStoredOneTime, api.MaxStoredOneTime)
	if !errors.As(err, &ae) || ae.Status != http.StatusRequestEntityTooLarge || ae.Message != want {
		t.Fatalf("refusal = %v", err)
	}
	if c, _ := alice.PrekeyCounts(ctx); c.OneTimeKEM != 50 {
		t.Fatalf("refused upload applied: %+v", c)
	}
	c, err = alice.UploadPrekeys(ctx, api.PrekeyUpload{ReplaceOneTime: true, OneTimePrekeys: keys(2000, 5), OneTimeKEMPrekeys: keys(2000, 5)})
	if err != nil || c != (api.PrekeyCounts{OneTime: 5, OneTimeKEM: 5}) {
		t.Fatalf("replace: %+v %v", c, err)
	}
}
