package server_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"testing"
	"time"

	"backchannel/keylog/verify"
	"backchannel/server"
	"backchannel/server/api"
	"backchannel/server/apiclient"
)

// GET /v1/keylog/entries: from the epoch that listed alice's leaf, with
// the frontier, the page verifies with verify.ScanEntries (the owner's
// first anchor); a later page continues from the new anchor; bad query
// parameters are refused; the endpoint shares the key log's rate limit.
func TestKeyLogEntries(t *testing.T) {
	ctx := context.Background()
	ks := startKeyLogServer(t, server.Config{}, time.Hour)
	in := newIndependent(t, ks.URL)
	alice := register(t, ks.URL, "alice", "")
	lk := waitVersion(t, in, alice.Client, "alice", 1)
	info, err := alice.KeyLogInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	trust := verify.Trust{Origin: info.Origin, LogKey: info.LogKey, VRFKey: info.VRFKey}
	u := lk.Changed.Epoch
	page, err := alice.KeyLogEntries(ctx, u, true)
	if err != nil {
		t.Fatal(err)
	}
	first, err := verify.FirstAnchor(lk.Changed.Entry, page.Frontier)
	if err != nil {
		t.Fatal(err)
	}
	var none [32]byte
	s, err := verify.ScanEntries(trust, first, []*verify.EntriesPage{page}, nil, none)
	if err != nil {
		t.Fatalf("first scan: %v", err)
	}
	alice.next(t, []ed25519.PrivateKey{newKey(t)})
	waitVersion(t, in, alice.Client, "alice", 2)
	next, err := alice.KeyLogEntries(ctx, s.Anchor.Epoch+1, false)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := verify.ScanEntries(trust, s.Anchor, []*verify.EntriesPage{next}, &s.Checkpoint, none)
	if err != nil {
		t.Fatalf("next scan: %v", err)
	}
	if s2.Checkpoint.Size <= s.Checkpoint.Size || len(next.Entries) == 0 {
		t.Fatalf("the next scan reached size %d from %d", s2.Checkpoint.Size, s.Checkpoint.Size)
	}
	// Nothing new: an empty page from one past the latest epoch.
	if p, err := alice.KeyLogEntries(ctx, s2.Anchor.Epoch+1, false); err != nil || len(p.Entries) != 0 {
		t.Fatalf("from one past the latest: %+v %v", p, err)
	}
	for _, q := range []string{"", "?from=x", "?from=-1", "?from=0&frontier=2", "?from=99999"} {
		req, err := http.NewRequest("GET", ks.URL+"/v1/keylog/entries"+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		api.SignRequest(req, nil, "alice", 1, alice.key, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if code := resp.StatusCode; code != 400 {
			t.Errorf("entries%s: status %d, want 400", q, code)
		}
	}
}

func TestKeyLogEntriesRateLimited(t *testing.T) {
	ks := startKeyLogServer(t, server.Config{Limits: server.Limits{KeyLogPerMin: 3}}, time.Hour)
	alice := register(t, ks.URL, "alice", "")
	n := 0
	var err error
	for ; n < 10; n++ {
		if _, err = alice.KeyLogEntries(context.Background(), 0, n%2 == 0); errors.Is(err, apiclient.ErrRateLimited) {
			break
		}
	}
	if n != 3 {
		t.Fatalf("rate limited after %d requests (%v), want 3", n, err)
	}
}
