package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"backchannel/client"
	"backchannel/room"
	"backchannel/server/api"
)

// frontEnd sits between one client and the server and withholds, from
// that client's fetches, the envelopes a test chooses: the server's power
// to drop and hold. Withheld envelopes are never acknowledged, so release
// hands them over late (reordering).
type frontEnd struct {
	ts     *httptest.Server
	mu     gosync.Mutex
	passed map[int64]bool
	hidden map[int64]bool
	next   map[string]int  // sender -> envelopes still to withhold
	all    map[string]bool // sender -> withhold everything
	bundle map[string]bool // "user" or "user/device" -> serve a broken prekey bundle
}

func newFrontEnd(t *testing.T, e *env) *frontEnd {
	t.Helper()
	target, _ := url.Parse(e.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	f := &frontEnd{passed: map[int64]bool{}, hidden: map[int64]bool{}, next: map[string]int{}, all: map[string]bool{}, bundle: map[string]bool{}}
	proxy.ModifyResponse = func(r *http.Response) error {
		path := r.Request.URL.Path
		switch {
		case r.Request.Method == http.MethodGet && path == "/v1/messages" && r.StatusCode == http.StatusOK:
			raw, _ := io.ReadAll(r.Body)
			var fr api.FetchResponse
			if err := json.Unmarshal(raw, &fr); err == nil {
				fr.Messages = f.filter(fr.Messages)
				raw, _ = json.Marshal(fr)
			}
			setBody(r, raw)
		case strings.HasPrefix(path, "/v1/bundles/"):
			rest := strings.TrimPrefix(path, "/v1/bundles/")
			user := strings.Split(rest, "/")[0]
			f.mu.Lock()
			broken := f.bundle[user] || f.bundle[rest]
			f.mu.Unlock()
			if broken {
				r.StatusCode = http.StatusOK
				setBody(r, []byte(`{"user":"`+user+`","device":1}`))
			}
		}
		return nil
	}
	f.ts = httptest.NewServer(proxy)
	t.Cleanup(f.ts.Close)
	return f
}

func setBody(r *http.Response, raw []byte) {
	r.Body = io.NopCloser(bytes.NewReader(raw))
	r.ContentLength = int64(len(raw))
	r.Header.Set("Content-Length", "")
}

func (f *frontEnd) filter(ms []api.Message) []api.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Message
	for _, m := range ms {
		switch {
		case f.hidden[m.ID]:
		case f.passed[m.ID]:
			out = append(out, m)
		case f.all[m.From]:
			f.hidden[m.ID] = true
		case f.next[m.From] > 0:
			f.next[m.From]--
			f.hidden[m.ID] = true
		default:
			f.passed[m.ID] = true
			out = append(out, m)
		}
	}
	return out
}

// withholdNext withholds the next n envelopes from sender.
func (f *frontEnd) withholdNext(sender string, n int) {
	f.mu.Lock()
	f.next[sender] += n
	f.mu.Unlock()
}

func (f *frontEnd) withholdAll(sender string, on bool) {
	f.mu.Lock()
	f.all[sender] = on
	f.mu.Unlock()
}

// release delivers everything withheld so far, late.
func (f *frontEnd) release() {
	f.mu.Lock()
	f.hidden = map[int64]bool{}
	f.all = map[string]bool{}
	f.mu.Unlock()
}

func (f *frontEnd) withheld() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.hidden)
}

type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// userVia creates a user whose client talks to the server through url.
func (e *env) userVia(name, serverURL string, clk *fakeClock) *client.Client {
	e.t.Helper()
	opts := client.Options{Params: fastVault}
	if clk != nil {
		opts.Now = clk.now
	}
	c, err := client.Init(context.Background(), filepath.Join(e.dir, name), serverURL, name, "", []byte("pw-"+name), opts)
	if err != nil {
		e.t.Fatalf("init %s: %v", name, err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// syncAll syncs and returns every warning, tolerating refused envelopes
// (the attacks make some).
func syncAll(t *testing.T, cs ...*client.Client) []string {
	t.Helper()
	var out []string
	for _, c := range cs {
		rep, err := c.Sync(context.Background())
		if err != nil {
			t.Fatalf("sync %s: %v", c.User(), err)
		}
		out = append(out, rep.Warnings...)
	}
	return out
}

func notices(t *testing.T, c *client.Client, roomRef string) []string {
	t.Helper()
	_, msgs, err := c.History(context.Background(), roomRef)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.Kind == client.KindNotice {
			out = append(out, m.Text)
		}
	}
	return out
}

func anyContains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// Item 1: alice removes carol and the server withholds the new state from
// bob only. What bob sends before he can know reaches carol's mailbox, but
// carol's client (which knows she was removed) shows nothing and alice is
// warned; once any message tells bob of the newer state he stops sending
// until he has it, and asks alice, whose answer brings it.
func TestWithheldRemoval(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	fe := newFrontEnd(t, e)
	alice, carol := e.user("alice"), e.user("carol")
	bob := e.userVia("bob", fe.ts.URL, nil)
	if _, err := alice.CreateRoom(ctx, "board", []string{"bob", "carol"}, client.ModeOnRecord, ""); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, carol)
	fe.withholdNext("alice", 1) // the state without carol
	if err := alice.RemoveMember(ctx, "board", "carol"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol, bob)
	if fe.withheld() != 1 {
		t.Fatalf("the front end withheld %d envelopes", fe.withheld())
	}
	// Bob cannot know yet: his message goes to carol as well.
	if _, err := bob.Send(ctx, "board", "early thoughts on the budget"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol, alice)
	if got := texts(t, carol, "board"); anyContains(got, "early thoughts") {
		t.Fatalf("carol's client shows a message sent after her removal: %q", got)
	}
	if n := notices(t, alice, "board"); !anyContains(n, "bob sent this message to carol as well, who had been removed") {
		t.Fatalf("alice was not warned: %q", n)
	}
	// Alice writes under the new state: bob learns it exists.
	if _, err := alice.Send(ctx, "board", "next item"); err != nil {
		t.Fatal(err)
	}
	w := syncAll(t, bob)
	if !anyContains(w, "waits for room version 2") {
		t.Fatalf("bob was not told a message waits: %q", w)
	}
	_, err := bob.Send(ctx, "board", "our budget ceiling is 12 million")
	if !errors.Is(err, room.ErrBehind) {
		t.Fatalf("bob sent with a stale membership: %v", err)
	}
	// Alice answers bob's request with the state; the held message shows.
	syncAll(t, alice)
	syncAll(t, bob)
	if got := texts(t, bob, "board"); !anyContains(got, "alice: next item") {
		t.Fatalf("bob lost the held message: %q", got)
	}
	if _, err := bob.Send(ctx, "board", "our budget ceiling is 12 million"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol, alice)
	if got := texts(t, carol, "board"); anyContains(got, "budget ceiling") {
		t.Fatalf("carol reads the budget ceiling: %q", got)
	}
	if got := texts(t, alice, "board"); !anyContains(got, "bob: our budget ceiling is 12 million") {
		t.Fatalf("alice did not get bob's message: %q", got)
	}
}

// Item 2: dave's first message reaches bob before the state that adds
// dave: it is kept, not lost, and shown once the state arrives; dave sees
// no "missing" warnings for what predates his join.
func TestWithheldAddition(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	fe := newFrontEnd(t, e)
	alice, dave := e.user("alice"), e.user("dave")
	bob := e.userVia("bob", fe.ts.URL, nil)
	if _, err := alice.CreateRoom(ctx, "plan", []string{"bob"}, client.ModeOnRecord, ""); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	for _, s := range []struct {
		c    *client.Client
		text string
	}{{alice, "one"}, {bob, "two"}, {alice, "three"}} {
		if _, err := s.c.Send(ctx, "plan", s.text); err != nil {
			t.Fatal(err)
		}
		syncAll(t, alice, bob)
	}
	fe.withholdNext("alice", 1) // the state that adds dave
	if err := alice.AddMember(ctx, "plan", "dave"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, dave, bob)
	if _, err := dave.Send(ctx, "plan", "hello from dave"); err != nil {
		t.Fatal(err)
	}
	w := syncAll(t, bob)
	if anyContains(w, "not a member") || !anyContains(w, "waits for room version 2") {
		t.Fatalf("bob's sync: %q", w)
	}
	syncAll(t, alice) // answers bob's request
	syncAll(t, bob)
	if got := texts(t, bob, "plan"); !anyContains(got, "dave: hello from dave") {
		t.Fatalf("dave's message was lost: %q", got)
	}
	if _, err := bob.Send(ctx, "plan", "welcome"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, dave)
	warns, err := dave.TranscriptWarnings(ctx, "plan")
	if err != nil {
		t.Fatal(err)
	}
	if anyContains(warns, "missing") || anyContains(warns, "held") || anyContains(warns, "did not reach") {
		t.Fatalf("false warnings for entries before dave joined: %q", warns)
	}
	if got := texts(t, dave, "plan"); !equal(got, []string{"dave: hello from dave", "bob: welcome"}) {
		t.Fatalf("dave's history: %q", got)
	}
}

// Item 3: the server stops delivering to bob. Bob is warned within
// room.PartitionAfter plus one sync; and a dropped last message is noticed
// from the sender's next heartbeat.
func TestPartitionAndDroppedTail(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	fe := newFrontEnd(t, e)
	clk := newFakeClock()
	alice := e.userVia("alice", e.srv.URL, clk)
	bob := e.userVia("bob", fe.ts.URL, clk)
	if _, err := alice.CreateRoom(ctx, "ops", []string{"bob"}, client.ModeDeniable, ""); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	if _, err := alice.Send(ctx, "ops", "first"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	// A dropped last message: noticed from alice's next heartbeat.
	fe.withholdNext("alice", 1)
	if _, err := alice.Send(ctx, "ops", "second, dropped"); err != nil {
		t.Fatal(err)
	}
	if w := syncAll(t, bob); anyContains(w, "did not reach you") {
		t.Fatalf("warned before anything could tell: %q", w)
	}
	clk.advance(room.BeatInterval + time.Second)
	syncAll(t, alice) // heartbeat
	w := syncAll(t, bob)
	if !anyContains(w, "1 message from alice did not reach you") {
		t.Fatalf("dropped tail not noticed: %q", w)
	}
	// Partition: nothing more from alice reaches bob.
	fe.withholdAll("alice", true)
	for i := 0; i < 3; i++ {
		clk.advance(room.BeatInterval + time.Second)
		syncAll(t, alice)
		w = syncAll(t, bob)
	}
	if !anyContains(w, "nothing from alice since") {
		t.Fatalf("bob not warned of the partition after %v: %q", 3*(room.BeatInterval+time.Second), w)
	}
	fe.release()
	syncAll(t, bob)
	clk.advance(time.Second)
	w = syncAll(t, bob)
	if anyContains(w, "nothing from alice") || anyContains(w, "did not reach you") {
		t.Fatalf("warnings stay after delivery resumed: %q", w)
	}
}

// Item 4: carol's answer reaches bob before alice's question it answers:
// bob's history shows the question first, with a notice.
func TestCausalOrder(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	fe := newFrontEnd(t, e)
	alice, carol := e.user("alice"), e.user("carol")
	bob := e.userVia("bob", fe.ts.URL, nil)
	if _, err := alice.CreateRoom(ctx, "q", []string{"bob", "carol"}, client.ModeOnRecord, ""); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, carol)
	fe.withholdNext("alice", 1)
	if _, err := alice.Send(ctx, "q", "shall we sign?"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, carol)
	if _, err := carol.Send(ctx, "q", "yes, today"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	fe.release()
	syncAll(t, bob)
	if got := texts(t, bob, "q"); !equal(got, []string{"alice: shall we sign?", "carol: yes, today"}) {
		t.Fatalf("bob's history: %q", got)
	}
	if n := notices(t, bob, "q"); !anyContains(n, "carol's message of") || !anyContains(n, "arrived before alice's message") {
		t.Fatalf("no order notice: %q", n)
	}
}

// Item 7: a member links a device of her own whose prekeys are unusable (a
// bad bundle). Sends still reach everyone else, her working device
// included, with a warning; a member none of whose devices can be reached
// is skipped with a warning; and the creator can remove either.
func TestUnreachableMemberDoesNotBlockTheRoom(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	fe := newFrontEnd(t, e)
	carol, bob := e.user("carol"), e.user("bob")
	alice := e.userVia("alice", fe.ts.URL, nil)
	if _, err := alice.CreateRoom(ctx, "budget", []string{"bob", "carol"}, client.ModeDeniable, ""); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, carol)
	carol2, _, _, err := link(t, e, carol, filepath.Join(e.dir, "carol2"), "laptop", true)
	if err != nil {
		t.Fatal(err)
	}
	syncAll(t, carol, carol2)
	fe.mu.Lock()
	fe.bundle["carol/2"] = true
	fe.mu.Unlock()
	m, err := alice.Send(ctx, "budget", "still works")
	if err != nil {
		t.Fatalf("a member's unreachable device failed the room: %v", err)
	}
	if !anyContains(m.Warnings, `carol's device "laptop" was skipped`) {
		t.Fatalf("no warning: %q", m.Warnings)
	}
	syncAll(t, bob, carol)
	for _, c := range []*client.Client{bob, carol} {
		if got := texts(t, c, "budget"); !equal(got, []string{"alice: still works"}) {
			t.Fatalf("%s: %q", c.User(), got)
		}
	}
	// None of dave's devices can be reached: he is skipped, bob is not.
	e.user("dave")
	fe.mu.Lock()
	fe.bundle["dave"] = true
	fe.mu.Unlock()
	r, err := alice.CreateRoom(ctx, "budget 2", []string{"bob", "dave"}, client.ModeDeniable, "")
	if err != nil {
		t.Fatalf("a member with no reachable device failed the room: %v", err)
	}
	if !anyContains(r.Warnings, "dave did not get this message") {
		t.Fatalf("no warning: %q", r.Warnings)
	}
	// Removals never depend on the member removed.
	if err := alice.RemoveMember(ctx, "budget", "carol"); err != nil {
		t.Fatalf("removing the member: %v", err)
	}
	if err := alice.RemoveMember(ctx, "budget 2", "dave"); err != nil {
		t.Fatalf("removing the unreachable member: %v", err)
	}
	syncAll(t, bob)
	rooms, _ := bob.Rooms(ctx)
	if len(rooms) != 2 || len(rooms[0].State.Members) != 2 || len(rooms[1].State.Members) != 2 {
		t.Fatalf("bob's rooms after the removals: %+v", rooms)
	}
}

// Item 10: a deniable room's states carry no signature a third party could
// check, in what members receive or export; on-record rooms keep theirs.
func TestDeniableRoomStateUnsigned(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	alice, bob := e.user("alice"), e.user("bob")
	for _, mode := range []string{client.ModeDeniable, client.ModeOnRecord} {
		r, err := alice.CreateRoom(ctx, mode, []string{"bob"}, mode, "")
		if err != nil {
			t.Fatal(err)
		}
		syncAll(t, bob)
		if _, err := bob.Send(ctx, r.State.ID, "hello"); err != nil {
			t.Fatal(err)
		}
		syncAll(t, alice)
		exp, err := bob.ExportTranscript(ctx, r.State.ID, time.Time{}, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sigs := client.SignaturesIn(exp)
		if mode == client.ModeDeniable && len(sigs) != 0 {
			t.Fatalf("a deniable room's export carries %d signature-sized values", len(sigs))
		}
		if mode == client.ModeOnRecord && len(sigs) == 0 {
			t.Fatal("the on-record export carries no signatures: the check finds nothing")
		}
		if client.VerifiesAny(sigs, alice.IdentityKey(), client.StateSignedBytes(&r.State)) {
			t.Fatalf("%s room: the export carries the creator's signature of the room state", mode)
		}
		// What members receive: a deniable state with a signature is refused,
		// an on-record one without.
		fake := make([]byte, 64)
		if mode == client.ModeDeniable && client.DecodeStatePayload(&r.State, fake) == nil {
			t.Fatal("a signed deniable room state was accepted")
		}
		if mode == client.ModeOnRecord && client.DecodeStatePayload(&r.State, nil) == nil {
			t.Fatal("an unsigned on-record room state was accepted")
		}
	}
}

// Issue 10, item 14 (the client's half): a stranger sends payloads for
// rooms that do not exist. The receiver keeps at most
// room.MaxOrphansPerSender of them (the state might still come), says so,
// and expires them after room.OrphanTTL.
func TestPayloadsForUnknownRoomsAreBounded(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := newFakeClock()
	mallory := e.userVia("mallory", e.srv.URL, clk)
	bob := e.userVia("bob", e.srv.URL, clk)
	if err := mallory.SendForUnknownRooms(ctx, "bob", room.MaxOrphansPerSender+8); err != nil {
		t.Fatal(err)
	}
	w := syncAll(t, bob)
	if n := bob.OrphansKept(ctx); n != room.MaxOrphansPerSender {
		t.Fatalf("bob keeps %d payloads for unknown rooms", n)
	}
	if !anyContains(w, "mallory has sent too many of them") {
		t.Fatalf("no warning: %q", w)
	}
	clk.advance(room.OrphanTTL + time.Hour)
	if err := mallory.SendForUnknownRooms(ctx, "bob", 1); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	if n := bob.OrphansKept(ctx); n != 1 {
		t.Fatalf("expired payloads kept: %d", n)
	}
}

// A member's modified client names a room version that does not exist:
// its message is held (and the creator asked), but nobody stops sending.
// The creator's word alone pauses a room.
func TestMemberCannotPauseTheRoomWithAFalseVersion(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := newFakeClock()
	alice, mallory := e.user("alice"), e.user("mallory")
	bob := e.userVia("bob", e.srv.URL, clk)
	if _, err := alice.CreateRoom(ctx, "r", []string{"bob", "mallory"}, client.ModeDeniable, ""); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, mallory)
	client.ClaimRoomVersion("mallory", 99)
	defer client.ClaimRoomVersion("mallory", 0)
	if _, err := mallory.Send(ctx, "r", "stop everything"); err != nil {
		t.Fatal(err)
	}
	w := syncAll(t, bob)
	if !anyContains(w, "waits for room version 99") {
		t.Fatalf("bob's sync: %q", w)
	}
	if _, err := bob.Send(ctx, "r", "still talking"); err != nil {
		t.Fatalf("a member's false version paused the room: %v", err)
	}
	syncAll(t, alice)
	if got := texts(t, alice, "r"); !equal(got, []string{"bob: still talking"}) {
		t.Fatalf("alice: %q", got)
	}
	// The held message expires, and bob is told.
	clk.advance(room.HeldTTL + time.Hour)
	if w := syncAll(t, bob); !anyContains(w, "dropped a message from mallory that waited a week for room version 99") {
		t.Fatalf("bob's sync a week later: %q", w)
	}
}

// A member's modified client has the removal and its sequel, yet names the
// older version in its next message: every member who gets it is told.
func TestIgnoringASeenRemovalIsFlagged(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	alice, bob, carol := e.user("alice"), e.user("bob"), e.user("carol")
	if _, err := alice.CreateRoom(ctx, "r", []string{"bob", "carol"}, client.ModeDeniable, ""); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob, carol)
	if err := alice.RemoveMember(ctx, "r", "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "r", "after the removal"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, bob)
	client.ClaimRoomVersion("bob", 1)
	defer client.ClaimRoomVersion("bob", 0)
	if _, err := bob.Send(ctx, "r", "as if nothing happened"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, alice)
	if n := notices(t, alice, "r"); !anyContains(n, "bob's message follows one written under room version 2 yet names version 1") {
		t.Fatalf("alice was not told: %q", n)
	}
}
