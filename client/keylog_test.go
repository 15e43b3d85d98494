package client_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"backchannel/client"
	"backchannel/entropy"
	"backchannel/identity"
	"backchannel/keylog"
	"backchannel/keylog/verify"
	"backchannel/keylog/witness"
)

// Malicious-server tests of the key log (docs/protocol.md section 16).

// The compelled server logs an impostor for bob before alice's first
// contact. Alice pins the impostor (she cannot know) but bob is unverified
// everywhere, and the real bob's own device catches it in the log.
func TestImpostorLoggedAtFirstContactIsCaughtByTheOwner(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.user("bob")
	impostor, _ := identity.NewUser(entropy.System{})
	front := compelledSwap(t, e, "bob", impostor)
	a, err := client.Init(ctx, filepath.Join(e.dir, "alice"), front, "alice", "", []byte("pw"), client.Options{Params: fastVault})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ci, err := a.Contact(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if ci.Verified {
		t.Fatal("an impostor pinned at first contact counts as verified")
	}
	audit, err := b.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(audit.Alerts, "\n"), "not yours") {
		t.Fatalf("the real bob's audit: %+v", audit)
	}
}

// logSigner reads the server's log key: what a compelled operator holds.
func logSigner(t *testing.T, e *env) note.Signer {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(e.srv.Dir, "keylog", keylog.LogKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(string(bytes.TrimSpace(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forkedCheckpoint signs, with the server's own log key, a checkpoint of
// the same size as cp but another root: a split view.
func forkedCheckpoint(t *testing.T, e *env, cp verify.Checkpoint) []byte {
	t.Helper()
	root := cp.Root
	root[0] ^= 1
	text := fmt.Sprintf("%s\n%d\n%s\n", cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(root[:]))
	msg, err := note.Sign(&note.Note{Text: text}, logSigner(t, e))
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// The server shows bob a forked log. Bob's messages carry his checkpoint;
// alice's client finds it contradicts her own: a split view in the room,
// with both signed checkpoints kept.
func TestForkedLogIsCaughtByGossip(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	if _, err := b.Send(ctx, "talks", "before the fork"); err != nil {
		t.Fatal(err)
	}
	sync(t, a)
	cp := a.LogCheckpoint(ctx)
	if cp == nil {
		t.Fatal("alice holds no checkpoint")
	}
	forked := forkedCheckpoint(t, e, *cp)
	// Bob's client carries the forked checkpoint in what it sends; alice's
	// client checks it against her own view.
	warnings := a.ReceiveGossip(ctx, "bob", "talks", forked)
	if !strings.Contains(strings.Join(warnings, "\n"), "split view") {
		t.Fatalf("alice's warnings: %q", warnings)
	}
	if got := noticesIn(t, a, "talks"); !strings.Contains(strings.Join(got, "\n"), "split view") {
		t.Fatalf("notices %q", got)
	}
	if n := a.LogEvidence(ctx); n == 0 {
		t.Fatal("no evidence kept")
	}
	// Bob's own client, shown the fork, stops at its next lookup.
	if err := b.SetCheckpoint(ctx, forked); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Send(ctx, "talks", "after the fork"); !errors.Is(err, client.ErrLogSplit) {
		t.Fatalf("bob's send on a forked view: %v", err)
	}
}

// A front end replays an old lookup after alice has seen a newer
// checkpoint: a rollback stops sending to the contact.
func TestRolledBackCheckpointStopsSending(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.user("bob")
	target, _ := url.Parse(e.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu gosync.Mutex
	var first []byte
	var replay atomic.Bool
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != "/v1/keylog/lookup/bob" {
			return nil
		}
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		if first == nil && r.StatusCode == http.StatusOK {
			first = raw
		}
		if replay.Load() {
			raw = first
		}
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(raw))
		r.ContentLength = int64(len(raw))
		r.Header.Set("Content-Length", "")
		return nil
	}
	ts := httptest.NewServer(proxy)
	defer ts.Close()
	a, err := client.Init(ctx, filepath.Join(e.dir, "alice"), ts.URL, "alice", "", []byte("pw"), client.Options{Params: fastVault})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.CreateRoom(ctx, "r", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	// The log grows (carol registers); alice sees the newer checkpoint.
	e.user("carol")
	waitLogged(t, e, "carol", 1)
	if _, err := a.Send(ctx, "r", "seen the newer log"); err != nil {
		t.Fatal(err)
	}
	replay.Store(true)
	_, err = a.Send(ctx, "r", "must not go out")
	if !errors.Is(err, client.ErrLogSplit) {
		t.Fatalf("send after a rolled-back lookup: %v", err)
	}
}

// countingTransport counts the bytes of every response body.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{resp.Body, &c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// The owner's periodic self-check: what it costs on the wire (recorded in
// docs/benchmarks.md; the figure depends on the log's size, so it is
// logged, not asserted).
func TestMonitoringTraffic(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := newClock()
	for i := range 20 {
		e.user(fmt.Sprintf("u%d", i))
	}
	ct := &countingTransport{}
	dir := filepath.Join(e.dir, "owner")
	c, err := client.Init(ctx, dir, e.srv.URL, "owner", "", []byte("pw"), client.Options{Params: fastVault, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// A first self-check pins a checkpoint; the measured one then also
	// fetches a consistency proof, as every later check does.
	clk.advance(client.MonitorInterval + 1)
	waitLogged(t, e, "owner", 1)
	if c, err = client.Open(ctx, dir, []byte("pw"), client.Options{Now: clk.now}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for i := range 5 {
		e.user(fmt.Sprintf("later%d", i))
	}
	waitLogged(t, e, "later4", 1)
	clk.advance(client.MonitorInterval + 1)
	c, err = client.Open(ctx, dir, []byte("pw"), client.Options{Now: clk.now, HTTPClient: &http.Client{Transport: ct}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	perCheck := ct.n.Load() // the open: a send-counter check and the self-check
	perDay := perCheck * int64(24/client.MonitorInterval.Hours())
	t.Logf("one self-check at open: %d bytes received; every %v: %d bytes a day", perCheck, client.MonitorInterval, perDay)
	if st, err := c.Status(ctx); err != nil || len(st.Attention) != 0 {
		t.Fatalf("a clean account raised: %+v %v", st, err)
	}
}

// A client that requires a witness the server's log does not have refuses
// the log's checkpoints, and so every lookup: nothing is sent.
func TestWitnessPolicyRefusesUncosignedCheckpoints(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.user("alice")
	e.user("bob")
	k, _, err := witness.LoadOrCreateKey(t.TempDir(), "witness.example", entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetSetting(ctx, client.SettingWitnesses, k.VerifierKey()); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSetting(ctx, client.SettingWitnessQuorum, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateRoom(ctx, "r", []string{"bob"}, client.ModeDeniable, "off"); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a lookup without the required cosignature: %v", err)
	}
	if err := a.SetSetting(ctx, client.SettingWitnessQuorum, "2"); !errors.Is(err, client.ErrBadSetting) {
		t.Fatalf("a quorum above the witnesses: %v", err)
	}
}

// refusing is a front end that answers 503 to the paths refuse selects.
func refusing(t *testing.T, e *env, refuse func(path string) bool) string {
	t.Helper()
	target, _ := url.Parse(e.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse(r.URL.Path) {
			http.Error(w, `{"error":"unavailable","code":"unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// A server that hides its key log at init does not get a profile that
// trusts it blindly: init fails, and the name is not used up.
func TestInitRefusesAServerWithoutItsKeyLog(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	front := refusing(t, e, func(p string) bool { return p == "/v1/keylog/info" })
	dir := filepath.Join(e.dir, "alice")
	if _, err := client.Init(ctx, dir, front, "alice", "", []byte("pw"), client.Options{Params: fastVault}); err == nil {
		t.Fatal("init succeeded without the key log")
	}
	if _, err := os.Stat(filepath.Join(dir, client.ProfileFile)); err == nil {
		t.Fatal("a profile was left behind")
	}
	e.user("alice") // the name is still free
}

// A server that refuses the consistency proof a gossip check needs does not
// make the check pass: it stays pending, and after a few refusals the room
// is warned.
func TestGossipWithoutProofIsNeverCountedAsChecked(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	cp := a.LogCheckpoint(ctx)
	a.Close()
	front := refusing(t, e, func(p string) bool { return p == "/v1/keylog/consistency" })
	a, err := client.Open(ctx, filepath.Join(e.dir, "alice"), []byte("pw-alice"), client.Options{ServerURL: front})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	bigger := *cp
	bigger.Size += 5
	note := forkedCheckpoint(t, e, bigger)
	var last []string
	for range 3 {
		last = a.ReceiveGossip(ctx, "bob", "talks", note)
		if len(last) == 0 {
			t.Fatal("an unchecked checkpoint passed silently")
		}
	}
	if !strings.Contains(strings.Join(last, "\n"), "could not be checked 3 times") {
		t.Fatalf("warnings after 3 refusals: %q", last)
	}
	if got := noticesIn(t, a, "talks"); !strings.Contains(strings.Join(got, "\n"), "hiding a split view") {
		t.Fatalf("notices %q", got)
	}
	_ = b
}

// A server that refuses exactly the owner's own lookups cannot keep a
// substitution out of sight: once no self-check has succeeded for two
// intervals, the owner is alarmed.
func TestRefusedSelfChecksRaiseAnAlarm(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := newClock()
	dir := filepath.Join(e.dir, "alice")
	a, err := client.Init(ctx, dir, e.srv.URL, "alice", "", []byte("pw"), client.Options{Params: fastVault, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	front := refusing(t, e, func(p string) bool { return p == "/v1/keylog/lookup/alice" })
	clk.advance(3 * client.MonitorInterval)
	a, err = client.Open(ctx, dir, []byte("pw"), client.Options{ServerURL: front, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rep, err := a.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), "could not be checked for") {
		t.Fatalf("sync warnings: %q", rep.Warnings)
	}
	st, _ := a.Status(ctx)
	if !strings.Contains(strings.Join(st.Attention, "\n"), "ALARM: your own entry") {
		t.Fatalf("status: %q", st.Attention)
	}
}

// A peer's message carries a checkpoint newer than the last epoch the owner
// read: her self-check is brought forward (at most once per
// GossipScanInterval) and reads every change list up to it, so an
// impostor's leaf that her peers were shown is an alarm now, not at the
// next periodic check; her contacts are warned.
func TestGossipBringsTheOwnersCheckForward(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, c := e.user("alice"), e.user("carol")
	if _, err := a.CreateRoom(ctx, "talks", []string{"carol"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	sync(t, c)
	if _, err := a.AuditLog(ctx); err != nil { // a fresh self-check: the periodic one will not run
		t.Fatal(err)
	}
	before := a.LogCheckpoint(ctx)
	impostor, _ := identity.NewUser(entropy.System{})
	compelledSwap(t, e, "alice", impostor)
	// A peer's lookups were answered at the impostor's epoch; its checkpoint.
	l, err := e.srv.Log.Lookup(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	peers := []byte(l.Checkpoint)
	if cp := a.LogCheckpoint(ctx); cp.Size != before.Size {
		t.Fatal("alice already saw the newer log")
	}
	warnings := a.ReceiveGossip(ctx, "carol", "talks", peers)
	want := fmt.Sprintf("at epoch %d", l.Changed.Epoch)
	if !strings.Contains(strings.Join(warnings, "\n"), "ALARM: checking the key log up to epoch") {
		t.Fatalf("alice's warnings: %q", warnings)
	}
	st, _ := a.Status(ctx)
	if !strings.Contains(strings.Join(st.Attention, "\n"), "none of your devices published, "+want) {
		t.Fatalf("alice's status: %q", st.Attention)
	}
	// A second newer checkpoint within the interval does not cost another check.
	e.user("bob")
	waitLogged(t, e, "bob", 1)
	l2, _ := e.srv.Log.Lookup(ctx, "bob")
	if w := a.ReceiveGossip(ctx, "carol", "talks", []byte(l2.Checkpoint)); len(w) != 0 {
		t.Fatalf("a second checkpoint within the interval: %q", w)
	}
}
