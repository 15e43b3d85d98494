package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"backchannel/client"
	"backchannel/room"
)

// roomByLabel returns c's room with that label.
func roomByLabel(t *testing.T, c *client.Client, label string) client.Room {
	t.Helper()
	rooms, err := c.Rooms(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if r.Label == label {
			return r
		}
	}
	var have []string
	for _, r := range rooms {
		have = append(have, r.Label)
	}
	t.Fatalf("%s has no room %q (has %q)", c.User(), label, have)
	return client.Room{}
}

// A name already used by one of your rooms is refused; someone else's room
// of the same name stays reachable by its label or an id prefix, and the
// bare name means your own.
func TestDuplicateRoomNames(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	mine, err := a.CreateRoom(ctx, "talks", []string{"bob"}, "", "off")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"talks", "TALKS", "talks"} {
		if _, err := a.CreateRoom(ctx, name, []string{"carol"}, "", "off"); !errors.Is(err, client.ErrRoomNameTaken) {
			t.Fatalf("a second room %q: %v", name, err)
		}
	}
	bobs, err := b.CreateRoom(ctx, "Talks", []string{"alice"}, "", "off")
	if err != nil {
		t.Fatal(err)
	}
	sync(t, a)
	if got := roomByLabel(t, a, "Talks (bob's)"); got.State.ID != bobs.State.ID {
		t.Fatalf("the label names %s", got.State.ID)
	}
	if got := roomByLabel(t, a, "talks"); got.State.ID != mine.State.ID {
		t.Fatalf("the plain name is %s", got.State.ID)
	}
	for ref, want := range map[string]string{"talks": mine.State.ID, "Talks (bob's)": bobs.State.ID, bobs.State.ID[:6]: bobs.State.ID} {
		m, err := a.Send(ctx, ref, "to "+ref)
		if err != nil {
			t.Fatalf("send to %q: %v", ref, err)
		}
		if m.Room != want {
			t.Fatalf("send to %q went to %s, want %s", ref, m.Room, want)
		}
	}
	// Two rooms of others with one name: the name alone is ambiguous.
	if _, err := c.CreateRoom(ctx, "talks", []string{"alice"}, "", "off"); err != nil {
		t.Fatal(err)
	}
	sync(t, a)
	if _, err := a.Room(ctx, "talks"); err != nil {
		t.Fatalf("alice's own room stopped being 'talks': %v", err)
	}
	if _, err := a.Room(ctx, "talks (carol's)"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateRoom(ctx, "board", []string{"alice"}, "", "off"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateRoom(ctx, "board", []string{"alice"}, "", "off"); err != nil {
		t.Fatal(err)
	}
	sync(t, a)
	if _, err := a.Room(ctx, "board"); !errors.Is(err, room.ErrAmbiguousRef) || !strings.Contains(err.Error(), "board (bob's)") {
		t.Fatalf("an ambiguous name: %v", err)
	}
}

// A rename is a signed state: every member shows the line and the new
// name, the room keeps working, and only its creator can rename it.
func TestRenameRoom(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, "", "off"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateRoom(ctx, "board", []string{"bob"}, "", "off"); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	if _, err := b.RenameRoom(ctx, "talks", "mine now"); !errors.Is(err, client.ErrNotCreator) {
		t.Fatalf("bob renamed alice's room: %v", err)
	}
	if _, err := a.RenameRoom(ctx, "talks", "Board"); !errors.Is(err, client.ErrRoomNameTaken) {
		t.Fatalf("renamed to a name in use: %v", err)
	}
	r, err := a.RenameRoom(ctx, "talks", "talks 2027")
	if err != nil {
		t.Fatal(err)
	}
	if r.State.Name != "talks 2027" || r.State.Version != 2 {
		t.Fatalf("renamed state %+v", r.State)
	}
	sync(t, b)
	if _, err := b.Room(ctx, "talks"); !errors.Is(err, client.ErrUnknownRoom) {
		t.Fatalf("the old name still names the room: %v", err)
	}
	_, msgs, err := b.History(ctx, "talks 2027")
	if err != nil {
		t.Fatal(err)
	}
	if last := msgs[len(msgs)-1]; last.Kind != "system" || last.Text != `alice renamed the room to "talks 2027"` {
		t.Fatalf("bob's last line: %+v", last)
	}
	if _, err := b.Send(ctx, "talks 2027", "fine by me"); err != nil {
		t.Fatal(err)
	}
	sync(t, a)
	if got := texts(t, a, "talks 2027"); !equal(got, []string{"bob: fine by me"}) {
		t.Fatalf("alice sees %q", got)
	}
}

// Unread counts what arrived from others since the device last showed the
// room; an archived room comes back when someone else writes in it.
func TestUnreadAndArchive(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, "", "off"); err != nil {
		t.Fatal(err)
	}
	first, err := a.Send(ctx, "talks", "one")
	if err != nil {
		t.Fatal(err)
	}
	a.Send(ctx, "talks", "two")
	sync(t, b)
	for _, step := range []struct {
		do   func() error
		want int
	}{
		{func() error { return nil }, 3}, // the room's creation and two messages
		{func() error { return b.MarkRead(ctx, "talks", first.ID) }, 1},
		{func() error { _, err := b.Send(ctx, "talks", "mine"); return err }, 1}, // one's own never counts
		{func() error { return b.MarkRead(ctx, "talks", "") }, 0},
		{func() error { return b.MarkRead(ctx, "talks", first.ID) }, 0}, // never moves back
	} {
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		if got := roomByLabel(t, b, "talks").Unread; got != step.want {
			t.Fatalf("unread %d, want %d", got, step.want)
		}
	}
	if err := b.MarkRead(ctx, "talks", "nosuchid"); !errors.Is(err, client.ErrUnknownMessage) {
		t.Fatalf("marking an unknown message: %v", err)
	}
	if _, err := b.Archive(ctx, "talks", true); err != nil {
		t.Fatal(err)
	}
	if !roomByLabel(t, b, "talks").Archived {
		t.Fatal("not archived")
	}
	if _, err := b.Send(ctx, "talks", "still writable"); err != nil {
		t.Fatal(err)
	}
	if !roomByLabel(t, b, "talks").Archived {
		t.Fatal("one's own message brought the room back")
	}
	a.Send(ctx, "talks", "are you there?")
	sync(t, b)
	if r := roomByLabel(t, b, "talks"); r.Archived || r.Unread != 1 {
		t.Fatalf("after a new message: archived %v, unread %d", r.Archived, r.Unread)
	}
	b.Archive(ctx, "talks", true)
	if _, err := b.Archive(ctx, "talks", false); err != nil || roomByLabel(t, b, "talks").Archived {
		t.Fatalf("unarchive: %v", err)
	}
}

// Search finds every copy of a message whatever marks it carries, in the
// canonical form the transcript commits to; SyncReport.New names what a
// sync stored.
func TestSearchAndNew(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, "", "all"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateRoom(ctx, "board", []string{"bob"}, "", "all"); err != nil {
		t.Fatal(err)
	}
	m1, _ := a.Send(ctx, "talks", "Opening.\nIt's the second clause — agreed, organise the signing.")
	m2, _ := a.Send(ctx, "board", "The second clause is open.")
	rep, err := b.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Received != len(rep.New) || rep.Received != 4 {
		t.Fatalf("received %d, new %+v", rep.Received, rep.New)
	}
	got, err := b.Lookup(ctx, rep.New[2:])
	if err != nil || len(got) != 2 || got[0].ID != m1.ID || got[1].ID != m2.ID || got[0].Sender != "alice" {
		t.Fatalf("lookup: %v %+v", err, got)
	}
	for _, c := range []struct {
		query, room string
		want        []string // message ids
	}{
		{"it is the SECOND clause", "", []string{m1.ID}},
		{"second clause", "", []string{m2.ID, m1.ID}}, // rooms by label: board, talks
		{"second clause", "talks", []string{m1.ID}},
		{"clause -- agreed, organize", "", []string{m1.ID}},
		{"second agreed", "", nil},
		{"claus", "", nil}, // whole words only
	} {
		hits, err := b.Search(ctx, c.query, c.room)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range hits {
			ids = append(ids, h.Message.ID)
			if strings.HasPrefix(h.Line, "Opening") {
				t.Errorf("%q: the line shown is not the one that matched: %q", c.query, h.Line)
			}
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("search %q in %q: %q, want %q", c.query, c.room, ids, c.want)
		}
	}
	if _, err := b.Search(ctx, " — ", ""); !errors.Is(err, client.ErrEmptySearch) {
		t.Fatalf("a search without words: %v", err)
	}
}

// flakyFront passes requests to the server, refusing sends while down.
func flakyFront(t *testing.T, e *env) (string, *atomic.Bool) {
	t.Helper()
	target, _ := url.Parse(e.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var down atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() && r.Method == http.MethodPost && r.URL.Path == "/v1/messages" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts.URL, &down
}

func deliveryOf(t *testing.T, c *client.Client, roomRef, id string) client.Delivery {
	t.Helper()
	_, msgs, err := c.History(context.Background(), roomRef)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.ID == id {
			if m.Delivery == nil {
				t.Fatalf("message %s has no delivery state", id)
			}
			return *m.Delivery
		}
	}
	t.Fatalf("no message %s", id)
	return client.Delivery{}
}

// Delivery state: queued while the server has not taken the envelopes,
// sent once it has, delivered to a member once that member's own later
// message or heartbeat shows it holds the message. The server's word never
// counts.
func TestDeliveryState(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := newFakeClock()
	front, down := flakyFront(t, e)
	a := e.userVia("alice", front, clk)
	b, c := e.userVia("bob", e.srv.URL, clk), e.userVia("carol", e.srv.URL, clk)
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob", "carol"}, "", "off"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, b, c)
	down.Store(true)
	_, err := a.Send(ctx, "talks", "offer")
	if !errors.Is(err, client.ErrNotDelivered) {
		t.Fatalf("send while the server refuses: %v", err)
	}
	_, msgs, _ := a.History(ctx, "talks")
	m := &msgs[len(msgs)-1]
	if d := deliveryOf(t, a, "talks", m.ID); d.State != client.DeliveryQueued || d.Of != 2 || len(d.DeliveredTo) != 0 {
		t.Fatalf("while queued: %+v", d)
	}
	down.Store(false)
	syncAll(t, a) // flushes the outbox
	if d := deliveryOf(t, a, "talks", m.ID); d.State != client.DeliverySent {
		t.Fatalf("after the server took it: %+v", d)
	}
	// Bob fetches it: the server knows, alice does not yet.
	syncAll(t, b)
	syncAll(t, a)
	if d := deliveryOf(t, a, "talks", m.ID); d.State != client.DeliverySent {
		t.Fatalf("fetching alone made it delivered: %+v", d)
	}
	// Bob's next message follows it.
	if _, err := b.Send(ctx, "talks", "counter-offer"); err != nil {
		t.Fatal(err)
	}
	syncAll(t, a)
	if d := deliveryOf(t, a, "talks", m.ID); d.State != client.DeliveryDelivered || !slices.Equal(d.DeliveredTo, []string{"bob"}) {
		t.Fatalf("after bob's reply: %+v", d)
	}
	// Carol only reads; her heartbeat names alice's entry as seen.
	syncAll(t, c)
	clk.advance(room.BeatInterval + 1)
	syncAll(t, c)
	syncAll(t, a)
	if d := deliveryOf(t, a, "talks", m.ID); !slices.Equal(d.DeliveredTo, []string{"bob", "carol"}) {
		t.Fatalf("after carol's heartbeat: %+v", d)
	}
}
