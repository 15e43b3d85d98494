package client_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"backchannel/client"
	"backchannel/handshake"
	"backchannel/store"
)

// clock is a test clock shared by several clients.
type clock struct{ t atomic.Int64 }

func newClock() *clock { c := &clock{}; c.t.Store(time.Now().UnixNano()); return c }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }

func (e *env) userAt(name string, clk *clock) *client.Client {
	e.t.Helper()
	c, err := client.Init(context.Background(), filepath.Join(e.dir, name), e.srv.URL, name, "", []byte("pw-"+name), client.Options{Params: fastVault, Now: clk.now})
	if err != nil {
		e.t.Fatalf("init %s: %v", name, err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func signedPrekeyID(t *testing.T, e *env, user string) uint32 {
	t.Helper()
	b, err := e.srv.Store.TakeBundle(context.Background(), store.Address{User: user, Device: 1})
	if err != nil {
		t.Fatal(err)
	}
	return b.SignedPrekey.ID
}

// The signed and last-resort prekeys rotate every week; a session started
// before the rotation goes on, a new one uses the new prekeys, and a device
// that stayed away for longer than the prekey lifetime is not trusted with
// a first flight under its old keys.
func TestPrekeysRotateAndStaleOnesAreRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := newClock()
	a, b := e.userAt("alice", clk), e.userAt("bob", clk)
	if _, err := a.CreateRoom(ctx, "r", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	before := signedPrekeyID(t, e, "bob")
	clk.advance(8 * 24 * time.Hour)
	sync(t, b) // bob's sync rotates
	if after := signedPrekeyID(t, e, "bob"); after == before {
		t.Fatal("bob's signed prekey did not rotate after 8 days")
	}
	if _, err := a.Send(ctx, "r", "the old session goes on"); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	carol := e.userAt("carol", clk)
	if _, err := carol.CreateRoom(ctx, "c", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.Send(ctx, "c", "new session"); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	if got := texts(t, b, "c"); len(got) == 0 {
		t.Fatal("a session started after the rotation did not reach bob")
	}
	// Dave's device goes quiet for 40 days: its prekeys are too old to use.
	dave := e.userAt("dave", clk)
	clk.advance(40 * 24 * time.Hour)
	_, err := a.CreateRoom(ctx, "d", []string{"dave"}, client.ModeDeniable, "off")
	if err == nil || !strings.Contains(err.Error(), "outside their lifetime") {
		t.Fatalf("a session with 40-day-old prekeys: %v", err)
	}
	sync(t, dave) // dave comes back and rotates
	if _, err := a.CreateRoom(ctx, "d2", []string{"dave"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
}

// Someone drains bob's one-time prekeys again and again. The pools never
// grow past their cap (the store stays small and fast to load), and once the
// drained keys expire, refills resume.
func TestDrainedPrekeysNeverDisableRefills(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := newClock()
	b := e.userAt("bob", clk)
	addr := store.Address{User: "bob", Device: 1}
	for range 12 {
		for {
			bd, err := e.srv.Store.TakeBundle(ctx, addr)
			if err != nil {
				t.Fatal(err)
			}
			if bd.OneTimePrekey == nil {
				break
			}
		}
		sync(t, b)
		counts, err := e.srv.Store.PrekeyCounts(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		if counts.OneTime > 200 || counts.OneTimeKEM > 200 {
			t.Fatalf("the server holds %+v one-time prekeys", counts)
		}
	}
	st, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.PrekeysLeft != 0 {
		t.Fatalf("after the local pool filled, %d one-time prekeys are still offered", st.PrekeysLeft)
	}
	if n, k := b.LocalPrekeyCounts(); n > handshake.MaxOneTime || k > handshake.MaxOneTime {
		t.Fatalf("the local pools hold %d and %d keys (cap %d)", n, k, handshake.MaxOneTime)
	}
	clk.advance(15 * 24 * time.Hour)
	sync(t, b)
	counts, err := e.srv.Store.PrekeyCounts(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if counts.OneTime == 0 || counts.OneTimeKEM == 0 {
		t.Fatalf("refills did not resume once the drained keys expired: %+v", counts)
	}
}
