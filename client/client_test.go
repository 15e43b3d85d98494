package client_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"backchannel/canary"
	"backchannel/client"
	"backchannel/localserver"
	"backchannel/server"
	"backchannel/vault"
)

var fastVault = vault.Params{Time: 1, Memory: 64, Threads: 1}

// testConfig lets one test register a 64-member room from one address.
var testConfig = server.Config{OpenRegistration: true, Limits: server.Limits{RegisterPerMin: 6000}}

type env struct {
	t   *testing.T
	srv *localserver.Server
	dir string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	srv, err := localserver.Start(context.Background(), filepath.Join(dir, "server"), "127.0.0.1:0", testConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	return &env{t: t, srv: srv, dir: dir}
}

func (e *env) user(name string) *client.Client {
	e.t.Helper()
	c, err := client.Init(context.Background(), filepath.Join(e.dir, name), e.srv.URL, name, "", []byte("pw-"+name), client.Options{Params: fastVault})
	if err != nil {
		e.t.Fatalf("init %s: %v", name, err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func sync(t *testing.T, cs ...*client.Client) {
	t.Helper()
	for _, c := range cs {
		rep, err := c.Sync(context.Background())
		if err != nil {
			t.Fatalf("sync %s: %v", c.User(), err)
		}
		if rep.Dropped > 0 {
			t.Fatalf("sync %s dropped envelopes: %v", c.User(), rep.Warnings)
		}
	}
}

func texts(t *testing.T, c *client.Client, room string) []string {
	t.Helper()
	_, msgs, err := c.History(context.Background(), room)
	if err != nil {
		t.Fatalf("history of %s for %s: %v", room, c.User(), err)
	}
	var out []string
	for _, m := range msgs {
		if m.Kind == client.KindText {
			// Each recipient's copy carries canary marks: compare the
			// normalised text, which is the same for every copy.
			out = append(out, m.Sender+": "+canary.Normalize(m.Text))
		}
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRoomConversation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	envoy, aide, adviser := e.user("envoy"), e.user("aide"), e.user("adviser")
	room, err := envoy.CreateRoom(ctx, "ceasefire", []string{"aide", "adviser"}, client.ModeOnRecord, "")
	if err != nil {
		t.Fatal(err)
	}
	sync(t, aide, adviser)
	if _, err := aide.Send(ctx, "ceasefire", "Draft two is ready."); err != nil {
		t.Fatal(err)
	}
	if _, err := envoy.Send(ctx, room.State.ID, "Send it over."); err != nil {
		t.Fatal(err)
	}
	if _, err := adviser.Send(ctx, "ceasefire", "Clause 4 needs work."); err != nil {
		t.Fatal(err)
	}
	sync(t, envoy, aide, adviser)
	for _, c := range []*client.Client{envoy, aide, adviser} {
		got := texts(t, c, "ceasefire")
		if len(got) != 3 {
			t.Fatalf("%s sees %d messages: %q", c.User(), len(got), got)
		}
	}
	// The server holds nothing readable.
	rooms, _ := adviser.Rooms(ctx)
	if len(rooms) != 1 || rooms[0].State.Mode != client.ModeOnRecord || len(rooms[0].State.Members) != 3 {
		t.Fatalf("adviser's rooms: %+v", rooms)
	}
}

func TestExactlyOnceAcrossRestartAndRedelivery(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "deal", []string{"bob"}, client.ModeDeniable, ""); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		m := fmt.Sprintf("offer %d", i)
		if _, err := a.Send(ctx, "deal", m); err != nil {
			t.Fatal(err)
		}
		want = append(want, "alice: "+m)
	}
	// Restart the server mid-stream: acknowledged sends are durable.
	dir, url := e.srv.Dir, e.srv.URL
	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	srv, err := localserver.Start(ctx, dir, url[len("http://"):], testConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() { srv.Stop() })
	for i := 5; i < 8; i++ {
		m := fmt.Sprintf("offer %d", i)
		if _, err := a.Send(ctx, "deal", m); err != nil {
			t.Fatal(err)
		}
		want = append(want, "alice: "+m)
	}
	sync(t, b)
	sync(t, b) // a second sync finds nothing new
	if got := texts(t, b, "deal"); !equal(got, want) {
		t.Fatalf("bob sees %q, want %q", got, want)
	}
	// Reopen bob's profile from disk: the history is there, once.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := client.Open(ctx, filepath.Join(e.dir, "bob"), []byte("pw-bob"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if got := texts(t, b2, "deal"); !equal(got, want) {
		t.Fatalf("after reopening bob sees %q", got)
	}
	if _, err := b2.Send(ctx, "deal", "counter-offer"); err != nil {
		t.Fatal(err)
	}
	sync(t, a)
	if got := texts(t, a, "deal"); len(got) != 9 || got[8] != "bob: counter-offer" {
		t.Fatalf("alice sees %q", got)
	}
}

func TestRemovedMemberReceivesNothingNew(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	if _, err := a.CreateRoom(ctx, "board", []string{"bob", "carol"}, "", ""); err != nil {
		t.Fatal(err)
	}
	a.Send(ctx, "board", "before")
	sync(t, b, c)
	if err := b.RemoveMember(ctx, "board", "carol"); !errors.Is(err, client.ErrNotCreator) {
		t.Fatalf("non-creator removal: err = %v", err)
	}
	if err := a.RemoveMember(ctx, "board", "carol"); err != nil {
		t.Fatal(err)
	}
	a.Send(ctx, "board", "after")
	sync(t, b, c)
	if got := texts(t, c, "board"); !equal(got, []string{"alice: before"}) {
		t.Fatalf("removed carol sees %q", got)
	}
	if got := texts(t, b, "board"); !equal(got, []string{"alice: before", "alice: after"}) {
		t.Fatalf("bob sees %q", got)
	}
	if _, err := c.Send(ctx, "board", "still here?"); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("removed member sending: err = %v", err)
	}
	// Adding her back: she gets what is sent from then on.
	if err := a.AddMember(ctx, "board", "carol"); err != nil {
		t.Fatal(err)
	}
	a.Send(ctx, "board", "welcome back")
	sync(t, c)
	if got := texts(t, c, "board"); !equal(got, []string{"alice: before", "alice: welcome back"}) {
		t.Fatalf("re-added carol sees %q", got)
	}
}

func TestLeave(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	a.CreateRoom(ctx, "r", []string{"bob", "carol"}, "", "")
	sync(t, b, c)
	if err := b.Leave(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	sync(t, a, c) // alice answers the leave with a new state
	sync(t, c)
	rooms, _ := c.Rooms(ctx)
	if len(rooms[0].State.Members) != 2 {
		t.Fatalf("carol's members after bob left: %v", rooms[0].State.Members)
	}
	a.Send(ctx, "r", "without bob")
	sync(t, b)
	if got := texts(t, b, "r"); len(got) != 0 {
		t.Fatalf("bob, who left, sees %q", got)
	}
}

func TestWrongPassphraseAndUnknownRoom(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.user("alice")
	a.Close()
	if _, err := client.Open(ctx, filepath.Join(e.dir, "alice"), []byte("nope"), client.Options{}); !errors.Is(err, vault.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: err = %v", err)
	}
	a2, err := client.Open(ctx, filepath.Join(e.dir, "alice"), []byte("pw-alice"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if _, err := a2.Send(ctx, "no-such-room", "x"); !errors.Is(err, client.ErrUnknownRoom) {
		t.Fatalf("unknown room: err = %v", err)
	}
	if _, err := a2.CreateRoom(ctx, "r", []string{"ghost"}, "", ""); err == nil {
		t.Fatal("a room with an unknown user was created")
	}
}

func TestUnreachableServer(t *testing.T) {
	ctx := context.Background()
	_, err := client.Init(ctx, t.TempDir(), "http://127.0.0.1:1", "x", "", []byte("pw"), client.Options{Params: fastVault})
	if err == nil {
		t.Fatal("init against an unreachable server succeeded")
	}
}

func TestSafetyNumbersMatch(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	na, _, err := a.SafetyNumber(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	nb, _, err := b.SafetyNumber(ctx, "alice")
	if err != nil || na != nb {
		t.Fatalf("safety numbers differ: %s vs %s (%v)", na, nb, err)
	}
}

func TestEachRecipientGetsADistinctSignedCopy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	if _, err := a.CreateRoom(ctx, "r", []string{"bob", "carol"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	const text = "We don't accept the proposal as drafted, but we are ready to organise another round on Tuesday."
	if _, err := a.Send(ctx, "r", text); err != nil {
		t.Fatal(err)
	}
	sync(t, b, c)
	_, bm, _ := b.History(ctx, "r")
	_, cm, _ := c.History(ctx, "r")
	bt, ct := bm[len(bm)-1].Text, cm[len(cm)-1].Text
	if bt == ct {
		t.Fatal("bob and carol received identical copies")
	}
	if canary.Canonicalize(bt) != canary.Canonicalize(text) || canary.Canonicalize(ct) != canary.Canonicalize(text) {
		t.Fatalf("a marked copy changed the meaning:\n%q\n%q", bt, ct)
	}
	_, am, _ := a.History(ctx, "r")
	if am[len(am)-1].Text != text {
		t.Fatal("the sender's own history does not keep the original")
	}
	for _, cl := range []*client.Client{a, b, c} {
		if w, err := cl.TranscriptWarnings(ctx, "r"); err != nil || len(w) != 0 {
			t.Fatalf("%s transcript warnings: %v %v", cl.User(), w, err)
		}
	}
}

var timeZero time.Time

func TestOneProcessPerProfileAndInitBurnsNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	dir := filepath.Join(e.dir, "carol")
	if _, err := client.Init(ctx, dir, e.srv.URL, "carol", "", nil, client.Options{Params: fastVault}); err == nil {
		t.Fatal("init with an empty passphrase succeeded")
	}
	// The failed init neither registered the name nor left a profile behind.
	c, err := client.Init(ctx, dir, e.srv.URL, "carol", "", []byte("pw"), client.Options{Params: fastVault})
	if err != nil {
		t.Fatalf("init after a failed init: %v", err)
	}
	if _, err := client.Open(ctx, dir, []byte("pw"), client.Options{}); !errors.Is(err, client.ErrProfileInUse) {
		t.Fatalf("a second process on the profile: err = %v, want ErrProfileInUse", err)
	}
	c.Close()
	c2, err := client.Open(ctx, dir, []byte("pw"), client.Options{})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	c2.Close()
	if _, err := client.Init(ctx, dir, e.srv.URL, "carol2", "", []byte("pw"), client.Options{Params: fastVault}); !errors.Is(err, vault.ErrExists) {
		t.Fatalf("init over an existing profile: err = %v", err)
	}
}
