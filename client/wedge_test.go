package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"backchannel/client"
	"backchannel/envelope"
	"backchannel/ratchet"
	"backchannel/server/api"
	"backchannel/sessionrepair"
)

// kemFrontEnd sits between bob's client and the server and acts on the
// envelopes alice sends bob, judging each only by what the server sees: the
// ratchet header in clear (flags, ratchet key, message number) and the size.
// rule returns what to do with an envelope: pass it, withhold it (never
// delivered until release, never acknowledged), or rewrite it.
type kemFrontEnd struct {
	ts       *httptest.Server
	mu       gosync.Mutex
	rule     func(h *ratchet.Header, size int) action
	decided  map[int64]action
	released bool
	seen     map[string]int // what was done, for the test's own checks
}

type action int

const (
	pass action = iota
	withhold
	corruptKEMTarget // flip the first byte of the KEM fields: the ciphertext's target key id, or the advertised key
)

func newKEMFrontEnd(t *testing.T, e *env, from string) *kemFrontEnd {
	t.Helper()
	target, _ := url.Parse(e.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	f := &kemFrontEnd{decided: map[int64]action{}, seen: map[string]int{}}
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.Method != http.MethodGet || r.Request.URL.Path != "/v1/messages" || r.StatusCode != http.StatusOK {
			return nil
		}
		raw, _ := io.ReadAll(r.Body)
		var fr api.FetchResponse
		if err := json.Unmarshal(raw, &fr); err == nil {
			fr.Messages = f.filter(from, fr.Messages)
			raw, _ = json.Marshal(fr)
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
		r.ContentLength = int64(len(raw))
		r.Header.Set("Content-Length", "")
		return nil
	}
	f.ts = httptest.NewServer(proxy)
	t.Cleanup(f.ts.Close)
	return f
}

func (f *kemFrontEnd) setRule(rule func(h *ratchet.Header, size int) action) {
	f.mu.Lock()
	f.rule = rule
	f.mu.Unlock()
}

// release delivers the withheld envelopes from now on (late).
func (f *kemFrontEnd) release() {
	f.mu.Lock()
	f.released = true
	f.mu.Unlock()
}

func (f *kemFrontEnd) count(what string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[what]
}

func (f *kemFrontEnd) filter(from string, ms []api.Message) []api.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Message
	for _, m := range ms {
		a, ok := f.decided[m.ID]
		if !ok {
			a = pass
			if e, err := envelope.Parse(m.Data); err == nil && m.From == from && f.rule != nil {
				if h, _, err := ratchet.ParseHeader(e.Message); err == nil {
					a = f.rule(h, len(m.Data))
				}
			}
			f.decided[m.ID] = a
			f.seen[fmt.Sprint(a)]++
		}
		switch {
		case a == withhold && !f.released:
		case a == corruptKEMTarget:
			m.Data = bytes.Clone(m.Data)
			e, _ := envelope.Parse(m.Data)
			at := len(m.Data) - len(e.Message) + 1 + 32 + 4 + 4 // first byte of the KEM fields
			m.Data[at] ^= 0x01
			out = append(out, m)
		default:
			out = append(out, m)
		}
	}
	return out
}

func carriesKEM(h *ratchet.Header) bool { return h.KEMCiphertext != nil || h.KEMPublic != nil }

// roomTexts returns the texts of a room's messages from sender, normalised.
func roomTexts(t *testing.T, c *client.Client, room, sender string) []string {
	t.Helper()
	var out []string
	for _, s := range texts(t, c, room) {
		if strings.HasPrefix(s, sender+": ") {
			out = append(out, strings.TrimPrefix(s, sender+": "))
		}
	}
	return out
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// setUp: alice creates a room with bob (whose client fetches through f),
// and both have sent once, so alice's next chain carries a KEM ciphertext
// and her new KEM key.
func wedgeSetUp(t *testing.T, clk *fakeClock) (*env, *kemFrontEnd, *client.Client, *client.Client) {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t)
	f := newKEMFrontEnd(t, e, "alice")
	a := e.userVia("alice", e.srv.URL, clk)
	b := e.userVia("bob", f.ts.URL, clk)
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, b)
	if _, err := b.Send(ctx, "talks", "bob opens"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a)
	if got := roomTexts(t, a, "talks", "bob"); !containsAll(got, "bob opens") {
		t.Fatalf("set-up: alice sees %q", got)
	}
	return e, f, a, b
}

// Issue 10, item 6, as reproduced: the server withholds the first four
// messages of alice's chain, the only ones that used to carry the chain's
// KEM fields (flags in clear, 2,280 bytes larger). Now every message of the
// chain carries them: bob reads the later ones at once, the session keeps
// working both ways, and the withheld ones are read when they come.
func TestWithheldKEMCarriersDoNotWedgeTheSession(t *testing.T) {
	ctx := context.Background()
	e, f, a, b := wedgeSetUp(t, nil)
	f.setRule(func(h *ratchet.Header, size int) action {
		if carriesKEM(h) && h.N < 4 && size > 2280 {
			return withhold
		}
		return pass
	})
	var sent []string
	for i := range 7 {
		text := fmt.Sprintf("alice %d", i)
		if _, err := a.Send(ctx, "talks", text); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, text)
	}
	warnings := syncAll(t, b)
	if n := f.count(fmt.Sprint(withhold)); n != 4 {
		t.Fatalf("the front end withheld %d envelopes, want the chain's first 4", n)
	}
	if got := roomTexts(t, b, "talks", "alice"); !containsAll(got, sent[4:]...) {
		t.Fatalf("bob cannot read the chain after its first four were withheld: he sees %q; warnings %q", got, warnings)
	}
	if anyContains(warnings, "could not be decrypted") || anyContains(notices(t, b, "talks"), "could not be decrypted") {
		t.Fatalf("a decryption failure was reported: %q", warnings)
	}
	// The session works both ways: bob's answer opens his next chain, and
	// alice's next chain (its first four withheld again) is read too.
	if _, err := b.Send(ctx, "talks", "bob answers"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a)
	if got := roomTexts(t, a, "talks", "bob"); !containsAll(got, "bob answers") {
		t.Fatalf("alice does not read bob's answer: %q", got)
	}
	for i := 7; i < 12; i++ {
		text := fmt.Sprintf("alice %d", i)
		if _, err := a.Send(ctx, "talks", text); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, text)
	}
	syncAll(t, b)
	if got := roomTexts(t, b, "talks", "alice"); !containsAll(got, sent[11]) {
		t.Fatalf("alice's next chain is not read: bob sees %q", got)
	}
	// Released late, the withheld messages are read, each once.
	f.release()
	syncAll(t, b)
	syncAll(t, b)
	got := roomTexts(t, b, "talks", "alice")
	if !containsAll(got, sent...) || len(got) != len(sent) {
		t.Fatalf("after the release bob sees %q, want each of %q once", got, sent)
	}
	if p := pending(t, e, "bob"); len(p) != 0 {
		t.Fatalf("%d envelopes left unacknowledged on the server", len(p))
	}
}

// The server withholds everything of alice's chain from its first message
// on (it recognises the chain by the ratchet key in clear), for good. Bob
// sees nothing to complain about; alice sees bob keep writing on his old
// chain, never acknowledging hers. After BlockedMessages such messages over
// BlockedAfter she is told, starts a new session with bob's device and sends
// what bob never got again; bob is told too, and nothing is lost.
func TestWithheldChainIsStartedAgain(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	_, f, a, b := wedgeSetUp(t, clk)
	var chain []byte
	f.setRule(func(h *ratchet.Header, size int) action {
		if chain == nil && h.N == 0 && h.PN > 0 {
			chain = bytes.Clone(h.DH) // the start of alice's next chain
		}
		if chain != nil && bytes.Equal(h.DH, chain) {
			return withhold
		}
		return pass
	})
	var sent []string
	for i := range 3 {
		text := fmt.Sprintf("alice %d", i)
		if _, err := a.Send(ctx, "talks", text); err != nil {
			t.Fatal(err)
		}
		sent = append(sent, text)
	}
	// Bob keeps writing (he never got alice's chain); alice reads him.
	var aliceWarnings []string
	for i, wait := range []time.Duration{0, 4 * time.Minute, 7 * time.Minute} {
		clk.advance(wait)
		syncAll(t, b)
		if _, err := b.Send(ctx, "talks", fmt.Sprintf("bob %d", i)); err != nil {
			t.Fatal(err)
		}
		aliceWarnings = append(aliceWarnings, syncAll(t, a)...)
	}
	if n := f.count(fmt.Sprint(withhold)); n < 3 {
		t.Fatalf("the front end withheld %d envelopes", n)
	}
	if got := roomTexts(t, b, "talks", "alice"); len(got) != 0 {
		t.Fatalf("set-up: bob already reads %q", got)
	}
	const aliceTold = "have not been received for over 10 minutes"
	if !anyContains(aliceWarnings, aliceTold) || !anyContains(notices(t, a, "talks"), aliceTold) {
		t.Fatalf("alice was not told; warnings %q, notices %q", aliceWarnings, notices(t, a, "talks"))
	}
	// The new session is another chain: the front end lets it through.
	bobWarnings := syncAll(t, b)
	const bobTold = "started a new session with this device"
	if !anyContains(bobWarnings, bobTold) || !anyContains(notices(t, b, "talks"), bobTold) {
		t.Fatalf("bob was not told; warnings %q, notices %q", bobWarnings, notices(t, b, "talks"))
	}
	if anyContains(notices(t, b, "talks"), "restore from a backup") {
		t.Fatalf("bob was told a restore story: %q", notices(t, b, "talks"))
	}
	if got := roomTexts(t, b, "talks", "alice"); !containsAll(got, sent...) {
		t.Fatalf("alice's withheld messages are lost: bob sees %q", got)
	}
	// Both ways in the new session, and the stragglers stay hidden.
	if _, err := b.Send(ctx, "talks", "bob after"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a)
	if _, err := a.Send(ctx, "talks", "alice after"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, b)
	if got := roomTexts(t, b, "talks", "alice"); !containsAll(got, append(sent, "alice after")...) || len(got) != len(sent)+1 {
		t.Fatalf("bob sees %q", got)
	}
	if got := roomTexts(t, a, "talks", "bob"); !containsAll(got, "bob 0", "bob 1", "bob 2", "bob after") {
		t.Fatalf("alice sees %q", got)
	}
}

// The server rewrites the first message of alice's next chain and every
// one after it so that its KEM ciphertext names a key bob does not have:
// a chain opener failing with an unknown-KEM-key error. Bob is told at the
// first one, keeps the envelopes (not acknowledged), and at the third starts
// a new session asking alice to send again; alice is told and does; bob
// reads everything, and the undecryptable envelopes are acknowledged only
// then.
func TestUndecryptableChainIsStartedAgain(t *testing.T) {
	ctx := context.Background()
	e, f, a, b := wedgeSetUp(t, nil)
	var chain []byte
	f.setRule(func(h *ratchet.Header, size int) action {
		if chain == nil && h.N == 0 && h.KEMCiphertext != nil {
			chain = bytes.Clone(h.DH)
		}
		if chain != nil && bytes.Equal(h.DH, chain) {
			return corruptKEMTarget
		}
		return pass
	})
	if _, err := a.Send(ctx, "talks", "alice 0"); err != nil {
		t.Fatal(err)
	}
	rep, err := b.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const failed = "could not be decrypted (it is encrypted to a key this device does not have)"
	if !anyContains(rep.Warnings, failed) || !anyContains(notices(t, b, "talks"), failed) {
		t.Fatalf("bob was not told in the room: warnings %q, notices %q", rep.Warnings, notices(t, b, "talks"))
	}
	if p := pending(t, e, "bob"); len(p) != 1 {
		t.Fatalf("the undecryptable envelope was acknowledged: %d pending", len(p))
	}
	for _, text := range []string{"alice 1", "alice 2"} {
		if _, err := a.Send(ctx, "talks", text); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = b.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const restarted = "was started again: 3 message(s) from it could not be decrypted"
	if !anyContains(rep.Warnings, restarted) || !anyContains(notices(t, b, "talks"), restarted) {
		t.Fatalf("bob did not start the session again: warnings %q", rep.Warnings)
	}
	if n := len(notices(t, b, "talks")); n != 2 {
		t.Fatalf("bob's room shows %d notices, want 2 (first failure, restart): %q", n, notices(t, b, "talks"))
	}
	// Alice is told, and sends her three messages again in the new session.
	rep, err = a.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const aliceTold = "could not decrypt 3 of your messages and started a new session"
	if !anyContains(rep.Warnings, aliceTold) || !anyContains(notices(t, a, "talks"), aliceTold) {
		t.Fatalf("alice was not told: warnings %q", rep.Warnings)
	}
	syncAll(t, b)
	syncAll(t, b)
	if got := roomTexts(t, b, "talks", "alice"); !containsAll(got, "alice 0", "alice 1", "alice 2") || len(got) != 3 {
		t.Fatalf("bob sees %q", got)
	}
	if p := pending(t, e, "bob"); len(p) != 0 {
		t.Fatalf("%d envelopes still pending for bob", len(p))
	}
	if f.count(fmt.Sprint(corruptKEMTarget)) != 3 {
		t.Fatalf("the front end rewrote %d envelopes", f.count(fmt.Sprint(corruptKEMTarget)))
	}
	// The new session works both ways.
	if _, err := b.Send(ctx, "talks", "bob reads you"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a)
	if got := roomTexts(t, a, "talks", "bob"); !containsAll(got, "bob reads you") {
		t.Fatalf("alice sees %q", got)
	}
}

// Bob's device lost its session with alice's (a record lost, or a profile
// restored from an older copy) while alice keeps writing in it. Her plain
// messages belong to no session bob has: he is told, keeps them, and at
// the third starts a new session; alice sends them again.
func TestLostSessionIsStartedAgain(t *testing.T) {
	ctx := context.Background()
	e, _, a, b := wedgeSetUp(t, nil)
	if err := b.ForgetSession(ctx, "alice", 1); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	for _, text := range []string{"alice 0", "alice 1", "alice 2"} {
		if _, err := a.Send(ctx, "talks", text); err != nil {
			t.Fatal(err)
		}
		warnings = append(warnings, syncAll(t, b)...)
	}
	if !anyContains(warnings, "could not be decrypted (this device has no session with it any more)") ||
		!anyContains(warnings, "was started again: 3 message(s) from it could not be decrypted") {
		t.Fatalf("bob's warnings: %q", warnings)
	}
	syncAll(t, a)
	syncAll(t, b)
	syncAll(t, b)
	if got := roomTexts(t, b, "talks", "alice"); !containsAll(got, "alice 0", "alice 1", "alice 2") || len(got) != 3 {
		t.Fatalf("bob sees %q", got)
	}
	if p := pending(t, e, "bob"); len(p) != 0 {
		t.Fatalf("%d envelopes still pending for bob", len(p))
	}
}

// A server that corrupts every chain alice starts, the new sessions'
// included, can make bob start the session again only twice, at least
// BlockedAfter apart; then bob is told once that the server may be blocking
// that device, and no more sessions are started.
func TestRestartsAreBounded(t *testing.T) {
	ctx := context.Background()
	clk := newFakeClock()
	e, f, a, b := wedgeSetUp(t, clk)
	f.setRule(func(h *ratchet.Header, size int) action {
		if carriesKEM(h) { // every session's first KEM step, whichever side makes it
			return corruptKEMTarget
		}
		return pass
	})
	for _, text := range []string{"alice 0", "alice 1", "alice 2"} {
		if _, err := a.Send(ctx, "talks", text); err != nil {
			t.Fatal(err)
		}
	}
	restarts, gaveUp := 0, 0
	for round := range 6 {
		for _, w := range syncAll(t, b) {
			switch {
			case strings.Contains(w, "the server may be blocking them"):
				gaveUp++
			case strings.Contains(w, "was started again"):
				restarts++
			}
		}
		syncAll(t, a) // alice answers every new session by sending again
		if round%2 == 1 {
			clk.advance(sessionrepair.BlockedAfter + time.Minute)
		}
	}
	if restarts != 2 || gaveUp != 1 {
		t.Fatalf("%d restarts and %d give-up notices, want 2 and 1", restarts, gaveUp)
	}
	if !anyContains(notices(t, b, "talks"), "Check with alice another way") {
		t.Fatalf("bob's room does not say so: %q", notices(t, b, "talks"))
	}
	// Once told, bob no longer keeps what does not decrypt.
	syncAll(t, b)
	if p := pending(t, e, "bob"); len(p) != 0 {
		t.Fatalf("%d envelopes still held for bob after he was told", len(p))
	}
}
