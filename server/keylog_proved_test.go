package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"backchannel/keylog"
	"backchannel/keylog/prefix"
	"backchannel/keylog/verify"
	"backchannel/server"
	"backchannel/server/api"
)

// GET /v1/keylog/changes?proof=1 (docs/api.md "Key log"): the page comes
// with the latest checkpoint, its latest entry and that entry's inclusion
// proof, and with size=S the consistency proof from S; all of it verifies
// with package verify and the lists fold into the entry's head.
func TestKeyLogChangesWithProof(t *testing.T) {
	ctx := context.Background()
	ks := startKeyLogServer(t, server.Config{}, time.Hour)
	in := newIndependent(t, ks.URL)
	alice := register(t, ks.URL, "alice", "")
	bob := register(t, ks.URL, "bob", "")
	waitVersion(t, in, bob.Client, "bob", 1)
	info, err := bob.KeyLogInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	trust := verify.Trust{Origin: info.Origin, LogKey: info.LogKey, VRFKey: info.VRFKey}
	latestOf := func(p *keylog.ProvedChangesPage) *verify.LatestEntry {
		return &verify.LatestEntry{Checkpoint: p.Checkpoint, Epoch: p.Epoch, Entry: p.Entry, Inclusion: p.Inclusion}
	}

	page, err := bob.KeyLogChangesProved(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	cp, e, err := verify.VerifyLatest(trust, latestOf(page), nil, nil)
	if err != nil {
		t.Fatalf("the proof of the latest entry: %v", err)
	}
	if page.Consistency != nil || page.Through != page.Epoch {
		t.Fatalf("page through %d of epoch %d, consistency %v", page.Through, page.Epoch, page.Consistency)
	}
	head := prefix.Empty
	for _, r := range page.Records {
		var cs []prefix.Change
		for _, b := range r.Changes {
			c, err := prefix.ParseChange(b)
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		head = prefix.NextHead(head, r.Epoch, cs)
	}
	if head != e.Head {
		t.Fatal("the page's lists do not fold into the proved entry's head")
	}

	// Nothing published since: an empty page from one past the latest epoch.
	if empty, err := bob.KeyLogChangesProved(ctx, page.Epoch+1, cp.Size); err != nil || len(empty.Records) != 0 || empty.Through != empty.Epoch || empty.Epoch < page.Epoch {
		t.Fatalf("from one past the latest epoch: %+v %v", empty, err)
	}

	// A later epoch, read from the anchor, with the consistency proof inline.
	alice.next(t, []ed25519.PrivateKey{newKey(t)})
	waitVersion(t, in, bob.Client, "alice", 2)
	next, err := bob.KeyLogChangesProved(ctx, page.Epoch+1, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	fetched := 0
	cp2, e2, err := verify.VerifyLatest(trust, latestOf(next), &cp, func(from, to uint64) ([][]byte, error) {
		if from == cp.Size && next.Consistency != nil {
			return next.Consistency, nil
		}
		fetched++
		return nil, fmt.Errorf("asked for a proof from %d to %d: the page carries it", from, to)
	})
	if err != nil || fetched != 0 || next.Consistency == nil {
		t.Fatalf("the later page: %v (consistency %d hashes)", err, len(next.Consistency))
	}
	recs := make([]verify.Record, 0, len(next.Records))
	for _, r := range next.Records {
		recs = append(recs, verify.Record{Epoch: r.Epoch, Changes: r.Changes})
	}
	idx, _ := prefix.VerifyVRF(info.VRFKey, "alice", mustLookup(t, bob, "alice").VRFProof)
	listings, err := verify.ScanChanges(verify.AnchorOf(e), recs, e2, idx)
	if err != nil || len(listings) != 1 || cp2.Size <= cp.Size {
		t.Fatalf("alice's listings since the anchor: %+v %v", listings, err)
	}

	// Parameters.
	for _, tc := range []struct {
		query string
		code  int
	}{
		{"proof=1", 400},
		{"proof=2&from=0", 400},
		{"proof=1&from=x", 400},
		{fmt.Sprintf("proof=1&from=%d", next.Epoch+2), 400},
		{"proof=1&from=3&to=1", 400},
		{fmt.Sprintf("proof=1&from=0&to=%d", next.Epoch+1), 400},
		{"proof=1&from=0&size=x", 400},
		{"proof=1&from=0", 200},
		{"proof=1&from=0&to=0", 200},
		{fmt.Sprintf("proof=1&from=0&size=%d", next.Epoch+5), 200}, // no proof to a larger size: the client sees the rollback
	} {
		code, er := rawRequest(t, "GET", ks.URL+"/v1/keylog/changes?"+tc.query, nil, "alice", 1, alice.key, time.Now())
		if code != tc.code {
			t.Errorf("changes?%s: %d %+v, want %d", tc.query, code, er, tc.code)
		}
	}
	if code, _, _ := httpGet(t, ks.URL+"/v1/keylog/changes?proof=1&from=0"); code != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: %d", code)
	}
}

func mustLookup(t *testing.T, u *user, name string) keylog.Lookup {
	t.Helper()
	raw, err := u.KeyLogLookup(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var l keylog.Lookup
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// The key log's replies are gzip-compressed for a client that accepts
// gzip, and decompress to exactly the uncompressed reply; the owner's own
// states never are, nor is a reply to a client that refuses gzip.
func TestKeyLogRepliesCompressed(t *testing.T) {
	ks := startKeyLogServer(t, server.Config{}, time.Hour)
	in := newIndependent(t, ks.URL)
	alice := register(t, ks.URL, "alice", "")
	waitVersion(t, in, alice.Client, "alice", 1)
	get := func(path, accept string) (http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", ks.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		api.SignRequest(req, nil, "alice", 1, alice.key, time.Now())
		req.Header.Set("Accept-Encoding", accept) // set by hand: the transport leaves the body as sent
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		return resp.Header, b
	}
	compressed := 0
	for _, tc := range []struct {
		path       string
		compressed bool
	}{
		{"/v1/keylog/lookup/alice", true},
		{"/v1/keylog/changes?from=0&to=0", true}, // under 256 bytes: plain
		{"/v1/keylog/consistency?from=1&to=1", true},
		{"/v1/keylog/changes?proof=1&from=0", true},
		{"/v1/keylog/entries?from=0", true},
		{"/v1/keylog/own", false},
	} {
		hPlain, plain := get(tc.path, "identity")
		if hPlain.Get("Content-Encoding") != "" {
			t.Fatalf("%s compressed for a client that refuses gzip", tc.path)
		}
		if h, b := get(tc.path, "gzip;q=0"); h.Get("Content-Encoding") != "" || !json.Valid(b) {
			t.Fatalf("%s compressed for gzip;q=0", tc.path)
		}
		h, b := get(tc.path, "br, gzip")
		want := tc.compressed && len(plain) >= 256 // a short reply is not worth it
		if got := h.Get("Content-Encoding") == "gzip"; got != want {
			t.Fatalf("%s (%d bytes): compressed %v, want %v", tc.path, len(plain), got, want)
		}
		if !want {
			continue
		}
		compressed++
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		unz, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(unz, plain) {
			t.Fatalf("%s: decompressed %d bytes (%v), the plain reply has %d", tc.path, len(unz), err, len(plain))
		}
		if !json.Valid(unz) || len(b) >= len(unz) {
			t.Fatalf("%s: %d compressed bytes for %d", tc.path, len(b), len(unz))
		}
	}
	if compressed < 2 { // the lookup and the proved page at least
		t.Fatalf("%d replies compressed", compressed)
	}
}
