package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"backchannel/client"
	"backchannel/localserver"
	"backchannel/server/api"
	"backchannel/store"
)

// pending returns what the server holds for user's device, as the API
// would deliver it.
func pending(t *testing.T, e *env, user string) []api.Message {
	t.Helper()
	ms, err := e.srv.Store.Pending(context.Background(), store.Address{User: user, Device: 1}, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []api.Message
	for _, m := range ms {
		out = append(out, api.Message{ID: m.ID, From: m.From.User, FromDevice: m.From.Device, Data: m.Data, ReceivedAt: m.ReceivedAt})
	}
	return out
}

func TestDuplicateDeliveriesAreShownOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	a.CreateRoom(ctx, "r", []string{"bob"}, "", "")
	for i := range 3 {
		a.Send(ctx, "r", fmt.Sprintf("m%d", i))
	}
	msgs := pending(t, e, "bob")
	// The server (or a lost ack) delivers everything twice, then again.
	for range 3 {
		if _, err := b.Handle(ctx, append(msgs, msgs...)); err != nil {
			t.Fatal(err)
		}
	}
	sync(t, b)
	if got := texts(t, b, "r"); !equal(got, []string{"alice: m0", "alice: m1", "alice: m2"}) {
		t.Fatalf("bob sees %q", got)
	}
}

func TestWithheldMessageIsShownAsAGap(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	a.CreateRoom(ctx, "r", []string{"bob"}, "", "")
	sync(t, b)
	for i := range 3 {
		a.Send(ctx, "r", fmt.Sprintf("m%d", i))
	}
	// A malicious server drops the middle message.
	msgs := pending(t, e, "bob")
	if len(msgs) != 3 {
		t.Fatalf("%d pending", len(msgs))
	}
	if _, err := e.srv.Store.Ack(ctx, store.Address{User: "bob", Device: 1}, []int64{msgs[1].ID}); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	w, err := b.TranscriptWarnings(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(w) == 0 || !strings.Contains(strings.Join(w, "\n"), "missing") {
		t.Fatalf("withheld message not reported; warnings: %q", w)
	}
	// When the message finally arrives the warning clears.
	_ = a
}

func TestSixtyFourMemberRoom(t *testing.T) {
	if testing.Short() {
		t.Skip("64 profiles")
	}
	ctx := context.Background()
	e := newEnv(t)
	creator := e.user("u00")
	var members []string
	var cs []*client.Client
	for i := 1; i < client.MaxRoomMembers; i++ {
		name := fmt.Sprintf("u%02d", i)
		cs = append(cs, e.user(name))
		members = append(members, name)
	}
	if _, err := creator.CreateRoom(ctx, "plenary", members, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	if _, err := creator.CreateRoom(ctx, "too-big", append(members, "u64"), "", ""); err == nil {
		t.Fatal("a 65-member room was created")
	}
	if _, err := creator.Send(ctx, "plenary", "Opening statement."); err != nil {
		t.Fatal(err)
	}
	sync(t, cs...)
	if _, err := cs[40].Send(ctx, "plenary", "A question from the floor."); err != nil {
		t.Fatal(err)
	}
	sync(t, append(cs, creator)...)
	for _, c := range append(cs, creator) {
		if got := texts(t, c, "plenary"); len(got) != 2 {
			t.Fatalf("%s sees %q", c.User(), got)
		}
	}
}

func TestLongestMessageFitsTheServerLimit(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	a.CreateRoom(ctx, "r", []string{"bob"}, "", "all")
	text := strings.Repeat("We don't accept the proposal as drafted. ", client.MaxTextBytes/41)
	if _, err := a.Send(ctx, "r", text); err != nil {
		t.Fatalf("a message of %d bytes: %v", len(text), err)
	}
	if _, err := a.Send(ctx, "r", text+strings.Repeat("x", client.MaxTextBytes)); err == nil {
		t.Fatal("an oversized message was sent")
	}
	sync(t, b)
	if got := texts(t, b, "r"); len(got) != 1 {
		t.Fatalf("bob sees %d messages", len(got))
	}
}

func TestMessagesSentDuringAnOutageAreQueuedAndDelivered(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	a.CreateRoom(ctx, "r", []string{"bob"}, "", "")
	sync(t, b)
	a.Send(ctx, "r", "before")
	sync(t, b)
	if _, err := b.Send(ctx, "r", "bob's turn"); err != nil { // alice's next chain starts fresh
		t.Fatal(err)
	}
	sync(t, a)
	dir, url := e.srv.Dir, e.srv.URL
	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	// Six messages while the server is down: a whole new chain, its first
	// message (which opens the chain at bob's) included.
	var want []string
	for i := range 6 {
		m := fmt.Sprintf("during outage %d", i)
		if _, err := a.Send(ctx, "r", m); !errors.Is(err, client.ErrNotDelivered) {
			t.Fatalf("send during an outage: err = %v, want ErrNotDelivered", err)
		}
		want = append(want, "alice: "+m)
	}
	if n, err := a.Queued(ctx); err != nil || n != 6 {
		t.Fatalf("queued = %d, %v; want 6", n, err)
	}
	srv, err := localserver.Start(ctx, dir, url[len("http://"):], testConfig, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() { srv.Stop() })
	if _, err := a.Send(ctx, "r", "after"); err != nil {
		t.Fatal(err)
	}
	want = append(want, "alice: after")
	if n, _ := a.Queued(ctx); n != 0 {
		t.Fatalf("%d batches still queued after the server came back", n)
	}
	sync(t, b)
	got := texts(t, b, "r")
	if len(got) < 2 || !equal(got[2:], want) {
		t.Fatalf("bob sees %q, want %q after the first two", got, want)
	}
}
