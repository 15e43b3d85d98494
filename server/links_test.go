package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"backchannel/devicelink"
	"backchannel/entropy"
	"backchannel/server"
	"backchannel/server/api"
	"backchannel/server/apiclient"
)

func linkID(t *testing.T) []byte {
	t.Helper()
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return id
}

func anonymous(t *testing.T, url string) *apiclient.Client {
	t.Helper()
	c, err := apiclient.NewAnonymous(url)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func linkURL(ts *testServer, id []byte, rest string) string {
	return ts.URL + "/v1/links/" + hex.EncodeToString(id) + rest
}

// TestLinkRelayFullRun links a device through the relay with the real
// devicelink messages: the joiner waits on each slot before it is written.
func TestLinkRelayFullRun(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	src := entropy.System{}

	code, err := devicelink.NewCode(src, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.CreateLink(ctx, code.LinkID()); err != nil {
		t.Fatal(err)
	}
	_, devKey, _ := ed25519.GenerateKey(rand.Reader)
	dh, _ := src.X25519()
	newDev := anonymous(t, ts.URL)

	type joinResult struct {
		sas     string
		payload []byte
		err     error
	}
	joined := make(chan joinResult, 1)
	sasSeen := make(chan string, 1)
	go func() {
		parsed, err := devicelink.ParseCode(code.String())
		if err != nil {
			joined <- joinResult{err: err}
			return
		}
		hello, err := newDev.WaitLink(ctx, parsed.LinkID(), apiclient.LinkHello)
		if err != nil {
			joined <- joinResult{err: fmt.Errorf("wait hello: %w", err)}
			return
		}
		j, req, sas, err := devicelink.NewJoiner(src, parsed, hello, "laptop", devicelink.JoinKeys{SigningKey: devKey, DHPublic: dh.PublicKey()})
		if err != nil {
			joined <- joinResult{err: err}
			return
		}
		sasSeen <- sas
		if err := newDev.PutLink(ctx, parsed.LinkID(), apiclient.LinkRequest, req); err != nil {
			joined <- joinResult{err: fmt.Errorf("put request: %w", err)}
			return
		}
		resp, err := newDev.WaitLink(ctx, parsed.LinkID(), apiclient.LinkResponse)
		if err != nil {
			joined <- joinResult{err: fmt.Errorf("wait response: %w", err)}
			return
		}
		payload, err := j.OpenResponse(resp)
		joined <- joinResult{sas: sas, payload: payload, err: err}
	}()

	time.Sleep(100 * time.Millisecond) // let the joiner's long-poll start first
	primary, hello, err := devicelink.NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.PutLink(ctx, code.LinkID(), apiclient.LinkHello, hello); err != nil {
		t.Fatal(err)
	}
	req, err := alice.WaitLink(ctx, code.LinkID(), apiclient.LinkRequest)
	if err != nil {
		t.Fatal(err)
	}
	got, sas, err := primary.OpenRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if joinerSAS := <-sasSeen; joinerSAS != sas {
		t.Fatalf("SAS differ: %q and %q", sas, joinerSAS)
	}
	if got.Name != "laptop" || !bytes.Equal(got.SigningKey, devKey.Public().(ed25519.PublicKey)) {
		t.Fatalf("request: %+v", got)
	}
	payload := bytes.Repeat([]byte("provisioning "), 100_000) // 1.3 MB
	resp, err := primary.SealResponse(payload)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the joiner is waiting on the response
	if err := alice.PutLink(ctx, code.LinkID(), apiclient.LinkResponse, resp); err != nil {
		t.Fatal(err)
	}
	res := <-joined
	if res.err != nil {
		t.Fatal(res.err)
	}
	if !bytes.Equal(res.payload, payload) {
		t.Fatal("payload differs")
	}
	// Reading the response deleted the link.
	if _, err := newDev.WaitLink(ctx, code.LinkID(), apiclient.LinkResponse); !errors.Is(err, apiclient.ErrNotFound) {
		t.Fatalf("response read twice: %v", err)
	}
	if err := alice.DeleteLink(ctx, code.LinkID()); !errors.Is(err, apiclient.ErrNotFound) {
		t.Fatalf("delete after the response was read: %v", err)
	}
}

// setupLink creates a link owned by u with its hello written.
func setupLink(t *testing.T, u *user, hello bool) []byte {
	t.Helper()
	id := linkID(t)
	if err := u.CreateLink(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if hello {
		if err := u.PutLink(context.Background(), id, apiclient.LinkHello, bytes.Repeat([]byte{1}, 32)); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func TestLinkSlotsOnceAndInOrder(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	anon := anonymous(t, ts.URL)
	ctx := context.Background()
	id := setupLink(t, alice, false)

	if err := anon.PutLink(ctx, id, apiclient.LinkRequest, []byte("early")); !errors.Is(err, apiclient.ErrConflict) {
		t.Fatalf("request before the hello: %v", err)
	}
	if err := alice.PutLink(ctx, id, apiclient.LinkResponse, []byte("early")); !errors.Is(err, apiclient.ErrConflict) {
		t.Fatalf("response before the request: %v", err)
	}
	if err := alice.PutLink(ctx, id, apiclient.LinkHello, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := alice.PutLink(ctx, id, apiclient.LinkHello, []byte("hello2")); !errors.Is(err, apiclient.ErrConflict) {
		t.Fatalf("second hello: %v", err)
	}
	if err := anon.PutLink(ctx, id, apiclient.LinkRequest, nil); !errors.Is(err, apiclient.ErrBadRequest) {
		t.Fatalf("empty request: %v", err)
	}
	if err := anon.PutLink(ctx, id, apiclient.LinkRequest, []byte("first")); err != nil {
		t.Fatal(err)
	}
	// A second request (an attacker who saw the id, or a replay) is refused
	// and the first one stays.
	if err := anon.PutLink(ctx, id, apiclient.LinkRequest, []byte("second")); !errors.Is(err, apiclient.ErrConflict) {
		t.Fatalf("second request: %v", err)
	}
	got, err := alice.WaitLink(ctx, id, apiclient.LinkRequest)
	if err != nil || string(got) != "first" {
		t.Fatalf("request = %q, %v", got, err)
	}
	// Reading the request or the hello does not consume it.
	for range 2 {
		if got, err := anon.WaitLink(ctx, id, apiclient.LinkHello); err != nil || string(got) != "hello" {
			t.Fatalf("hello = %q, %v", got, err)
		}
	}
	if err := alice.PutLink(ctx, id, apiclient.LinkResponse, []byte("resp")); err != nil {
		t.Fatal(err)
	}
	if err := alice.PutLink(ctx, id, apiclient.LinkResponse, []byte("resp2")); !errors.Is(err, apiclient.ErrConflict) {
		t.Fatalf("second response: %v", err)
	}
	if err := alice.CreateLink(ctx, id); !errors.Is(err, apiclient.ErrConflict) {
		t.Fatalf("id taken: %v", err)
	}
}

func TestLinkAccessControl(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	mallory := register(t, ts.URL, "mallory", "")
	anon := anonymous(t, ts.URL)
	ctx := context.Background()
	id := setupLink(t, alice, true)
	if err := anon.PutLink(ctx, id, apiclient.LinkRequest, []byte("the new device's request")); err != nil {
		t.Fatal(err)
	}

	// The request is readable only by its creator: unsigned reads are
	// refused (401), other accounts' too (403).
	status, er := rawRequest(t, http.MethodGet, linkURL(ts, id, "/request"), nil, "", 0, nil, time.Now())
	if status != http.StatusUnauthorized {
		t.Fatalf("unsigned GET request: %d %v", status, er)
	}
	if _, err := anon.WaitLink(ctx, id, apiclient.LinkRequest); !errors.Is(err, apiclient.ErrUnauthorized) {
		t.Fatalf("anonymous client reading the request: %v", err)
	}
	if _, err := mallory.WaitLink(ctx, id, apiclient.LinkRequest); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("another account reading the request: %v", err)
	}
	// Another device of the same account is not the creator either.
	alice2 := clientFor(t, ts.URL, "alice", 2, newKey(t))
	if _, err := alice2.WaitLink(ctx, id, apiclient.LinkRequest); !errors.Is(err, apiclient.ErrUnauthorized) {
		t.Fatalf("an unregistered device of alice: %v", err)
	}
	// Only the creator writes the hello and the response and deletes.
	status, er = rawRequest(t, http.MethodPut, linkURL(ts, id, "/response"), []byte("fake"), "", 0, nil, time.Now())
	if status != http.StatusUnauthorized {
		t.Fatalf("unsigned PUT response: %d %v", status, er)
	}
	if err := anon.PutLink(ctx, id, apiclient.LinkResponse, []byte("fake")); !errors.Is(err, apiclient.ErrUnauthorized) {
		t.Fatalf("anonymous PUT response: %v", err)
	}
	if err := mallory.PutLink(ctx, id, apiclient.LinkResponse, []byte("fake")); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("mallory PUT response: %v", err)
	}
	if err := mallory.DeleteLink(ctx, id); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("mallory DELETE: %v", err)
	}
	id2 := setupLink(t, alice, false)
	if err := mallory.PutLink(ctx, id2, apiclient.LinkHello, []byte("fake")); !isStatus(err, http.StatusForbidden) {
		t.Fatalf("mallory PUT hello: %v", err)
	}
	// The link is intact.
	if err := alice.PutLink(ctx, id, apiclient.LinkResponse, []byte("real")); err != nil {
		t.Fatal(err)
	}
	// A HEAD shows nothing and consumes nothing.
	head, err := http.Head(linkURL(ts, id, "/response"))
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != http.StatusOK {
		t.Fatalf("HEAD response: %d", head.StatusCode)
	}
	if got, err := anon.WaitLink(ctx, id, apiclient.LinkResponse); err != nil || string(got) != "real" {
		t.Fatalf("response = %q, %v", got, err)
	}
	// Delete by the creator.
	if err := alice.DeleteLink(ctx, id2); err != nil {
		t.Fatal(err)
	}
	if _, err := anon.WaitLink(ctx, id2, apiclient.LinkHello); !errors.Is(err, apiclient.ErrNotFound) {
		t.Fatalf("hello of a deleted link: %v", err)
	}
}

func isStatus(err error, status int) bool {
	var e *apiclient.Error
	return errors.As(err, &e) && e.Status == status
}

// rawPut sends only the headers of a PUT declaring length bytes (with proof
// headers signed by u if u is not nil: the server reads the body before it
// checks the signature) and returns the status the server answers with
// before any body byte is sent, or 0 if it is waiting for the body. The
// connection is returned open (the caller closes it).
func rawPut(t *testing.T, ts *testServer, path string, length int64, u *user) (int, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	var proof strings.Builder
	if u != nil {
		req, _ := http.NewRequest(http.MethodPut, ts.URL+path, nil)
		api.SignRequest(req, nil, u.name, 1, u.key, time.Now())
		for k, v := range req.Header {
			fmt.Fprintf(&proof, "%s: %s\r\n", k, v[0])
		}
	}
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n%s\r\n", path, length, proof.String())
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, conn // the server is reading the body
		}
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, conn
}

func TestLinkSizeLimits(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	anon := anonymous(t, ts.URL)
	ctx := context.Background()
	id := setupLink(t, alice, false)

	if err := alice.PutLink(ctx, id, apiclient.LinkHello, make([]byte, server.MaxLinkHello+1)); !errors.Is(err, apiclient.ErrTooLarge) {
		t.Fatalf("oversize hello: %v", err)
	}
	if err := alice.PutLink(ctx, id, apiclient.LinkHello, make([]byte, server.MaxLinkHello)); err != nil {
		t.Fatal(err)
	}
	if err := anon.PutLink(ctx, id, apiclient.LinkRequest, make([]byte, server.MaxLinkRequest+1)); !errors.Is(err, apiclient.ErrTooLarge) {
		t.Fatalf("oversize request: %v", err)
	}
	if err := anon.PutLink(ctx, id, apiclient.LinkRequest, make([]byte, server.MaxLinkRequest)); err != nil {
		t.Fatal(err)
	}
	// An oversize response is refused from its declared length, before a
	// byte of it is read or its signature checked.
	path := "/v1/links/" + hex.EncodeToString(id) + "/response"
	status, conn := rawPut(t, ts, path, server.MaxLinkResponse+1, alice)
	conn.Close()
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversize response: status %d", status)
	}
}

// TestLinkPayloadBudget: bodies being received count against the relay's
// total before they are read; a declared length that does not fit is
// refused at once (503), and fits again once the first upload is gone.
func TestLinkPayloadBudget(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	anon := anonymous(t, ts.URL)
	ctx := context.Background()
	a, b := setupLink(t, alice, true), setupLink(t, alice, true)
	for _, id := range [][]byte{a, b} {
		if err := anon.PutLink(ctx, id, apiclient.LinkRequest, []byte("req")); err != nil {
			t.Fatal(err)
		}
	}
	pathA := "/v1/links/" + hex.EncodeToString(a) + "/response"
	pathB := "/v1/links/" + hex.EncodeToString(b) + "/response"
	status, slow := rawPut(t, ts, pathA, 40<<20, alice) // headers only: the server waits for 40 MiB
	if status != 0 {
		t.Fatalf("first upload answered %d before its body", status)
	}
	status, conn := rawPut(t, ts, pathB, 30<<20, nil)
	conn.Close()
	if status != http.StatusServiceUnavailable {
		t.Fatalf("upload beyond the budget: status %d, want 503", status)
	}
	slow.Close() // the first upload ends; its reservation is released
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, conn = rawPut(t, ts, pathB, 30<<20, nil)
		conn.Close()
		if status != http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the budget was not released")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Within the budget, the unsigned upload reaches authentication (and is
	// refused there) or is read.
	if status != 0 && status != http.StatusUnauthorized {
		t.Fatalf("upload within the budget: status %d", status)
	}
}

func TestLinkCountLimits(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true, Limits: server.Limits{RegisterPerMin: 1e6}})
	ctx := context.Background()
	var users []*user
	for i := range server.MaxLinks / server.MaxLinksPerAccount {
		u := register(t, ts.URL, fmt.Sprintf("user%d", i), "")
		users = append(users, u)
		for range server.MaxLinksPerAccount {
			if err := u.CreateLink(ctx, linkID(t)); err != nil {
				t.Fatalf("user %d: %v", i, err)
			}
		}
		if i == 0 {
			if err := u.CreateLink(ctx, linkID(t)); !errors.Is(err, apiclient.ErrRateLimited) {
				t.Fatalf("link beyond the account's cap: %v", err)
			}
		}
	}
	extra := register(t, ts.URL, "extra", "")
	if err := extra.CreateLink(ctx, linkID(t)); !errors.Is(err, apiclient.ErrUnavailable) {
		t.Fatalf("link beyond the server's cap: %v", err)
	}
	// The server's cap is reached before the account's: a user with fewer
	// links is refused too, until one is deleted.
	if err := users[1].DeleteLink(ctx, nil); err == nil {
		t.Fatal("DeleteLink accepted a nil id")
	}
}

func TestLinkCountFreedByDelete(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	ctx := context.Background()
	var ids [][]byte
	for range server.MaxLinksPerAccount {
		ids = append(ids, setupLink(t, alice, false))
	}
	if err := alice.CreateLink(ctx, linkID(t)); !errors.Is(err, apiclient.ErrRateLimited) {
		t.Fatalf("fifth link: %v", err)
	}
	if err := alice.DeleteLink(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := alice.CreateLink(ctx, linkID(t)); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestLinkExpiry(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	t.Cleanup(server.SetLinkClock(clock.Now))
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	anon := anonymous(t, ts.URL)
	ctx := context.Background()
	var ids [][]byte
	for range server.MaxLinksPerAccount {
		ids = append(ids, setupLink(t, alice, true))
	}
	clock.Add(server.LinkTTL - time.Second)
	if got, err := anon.WaitLink(ctx, ids[0], apiclient.LinkHello); err != nil || len(got) != 32 {
		t.Fatalf("hello just before expiry: %v", err)
	}
	clock.Add(time.Second)
	if _, err := anon.WaitLink(ctx, ids[0], apiclient.LinkHello); !errors.Is(err, apiclient.ErrNotFound) {
		t.Fatalf("hello after expiry: %v", err)
	}
	if err := anon.PutLink(ctx, ids[1], apiclient.LinkRequest, []byte("late")); !errors.Is(err, apiclient.ErrNotFound) {
		t.Fatalf("request after expiry: %v", err)
	}
	if err := alice.DeleteLink(ctx, ids[2]); !errors.Is(err, apiclient.ErrNotFound) {
		t.Fatalf("delete after expiry: %v", err)
	}
	// Expired links no longer count against the account, and an expired id
	// may be created again.
	if err := alice.CreateLink(ctx, ids[3]); err != nil {
		t.Fatalf("re-create an expired id: %v", err)
	}
	for range server.MaxLinksPerAccount - 1 {
		setupLink(t, alice, false)
	}
}

func TestLinkLongPoll(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	id := setupLink(t, alice, false)
	get := func(query string) (*http.Response, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := http.Get(linkURL(ts, id, "/hello"+query))
		if err != nil {
			t.Fatal(err)
		}
		return resp, time.Since(start)
	}
	resp, _ := get("")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("empty slot, no wait: %d", resp.StatusCode)
	}
	resp, took := get("?wait=150ms")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || took < 150*time.Millisecond || took > 5*time.Second {
		t.Fatalf("empty slot, wait 150ms: %d after %s", resp.StatusCode, took)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		alice.PutLink(context.Background(), id, apiclient.LinkHello, []byte("woken"))
	}()
	resp, took = get("?wait=30s")
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body.String() != "woken" || took > 10*time.Second {
		t.Fatalf("long-poll: %d %q after %s", resp.StatusCode, body.String(), took)
	}
	for _, tc := range []struct {
		url    string
		status int
	}{
		{linkURL(ts, id, "/hello?wait=soon"), http.StatusBadRequest},
		{linkURL(ts, id, "/hello?wait=-1s"), http.StatusBadRequest},
		{linkURL(ts, id, "/other"), http.StatusNotFound},
		{ts.URL + "/v1/links/ABCDEF0123456789abcdef0123456789/hello", http.StatusBadRequest},
		{ts.URL + "/v1/links/abc/hello", http.StatusBadRequest},
		{linkURL(ts, linkID(t), "/hello"), http.StatusNotFound},
	} {
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		if status, er := doRaw(t, req); status != tc.status {
			t.Errorf("GET %s: %d %v, want %d", tc.url, status, er, tc.status)
		}
	}
}

// TestLinkLongPollEndsOnShutdown: a waiting poll does not hold up shutdown.
func TestLinkLongPollEndsOnShutdown(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	id := setupLink(t, alice, false)
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(linkURL(ts, id, "/hello?wait=30s"))
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	ts.shutdown()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %s with a long-poll open", took)
	}
	if status := <-done; status != http.StatusNoContent {
		t.Fatalf("poll during shutdown: %d", status)
	}
}

func TestLinkAnonymousRateLimit(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	id := setupLink(t, alice, true)
	limited := 0
	for range server.LinkAnonBurst + 5 {
		req, _ := http.NewRequest(http.MethodGet, linkURL(ts, id, "/hello"), nil)
		status, er := doRaw(t, req)
		if status == http.StatusTooManyRequests {
			if er.Code != api.CodeRateLimited {
				t.Fatalf("429 with code %q", er.Code)
			}
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("unauthenticated link requests are not rate limited")
	}
	// The creator's authenticated calls are not charged to the address.
	if err := alice.DeleteLink(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}
