package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"backchannel/localserver"
	"backchannel/server"
	"backchannel/session"
	"backchannel/vault"
)

// Every client test checks each session handed back from memory against
// the stored one: a session changed after it was saved, or kept past a
// write that replaced it, fails the test that caused it.
func init() {
	checkKeptSessions = func(ctx context.Context, v *vault.Vault, name string, s *session.Session) {
		raw, err := v.Get(ctx, name)
		if err != nil {
			panic(fmt.Sprintf("session %s was kept in memory but cannot be read: %v", name, err))
		}
		if !bytes.Equal(raw, s.Marshal()) {
			panic(fmt.Sprintf("session %s kept in memory differs from the stored one", name))
		}
	}
}

func keptTestClients(t testing.TB) (alice, bob *Client) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := localserver.Start(ctx, filepath.Join(dir, "server"), "127.0.0.1:0", server.Config{OpenRegistration: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	for _, p := range []struct {
		name string
		c    **Client
	}{{"alice", &alice}, {"bob", &bob}} {
		c, err := Init(ctx, filepath.Join(dir, p.name), srv.URL, p.name, "", []byte("pw-"+p.name), Options{Params: vault.Params{Time: 1, Memory: 64, Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		*p.c = c
	}
	if _, err := alice.CreateRoom(ctx, "talks", []string{"bob"}, ModeDeniable, ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{bob, alice} {
		if rep, err := c.Sync(ctx); err != nil || rep.Dropped > 0 {
			t.Fatalf("sync %s: %v %v", c.User(), err, rep)
		}
	}
	return alice, bob
}

// kept takes c's session with peer out of memory, checking it against the
// stored one, and puts it back.
func kept(t *testing.T, c *Client, peer *Client) bool {
	t.Helper()
	ctx := context.Background()
	name := c.sessionName(peer.User(), peer.DeviceID())
	obj, ok := c.v.Take(name)
	if !ok {
		return false
	}
	raw, err := c.v.Get(ctx, name)
	if err != nil || !bytes.Equal(raw, obj.Marshal()) {
		t.Fatalf("%s's session with %s in memory differs from the stored one (%v)", c.User(), peer.User(), err)
	}
	if err := c.v.Update(ctx, func(tx *vault.Tx) error { return tx.PutObject(ctx, name, obj) }); err != nil {
		t.Fatal(err)
	}
	return true
}

func TestSessionsStayInMemoryBetweenMessages(t *testing.T) {
	ctx := context.Background()
	alice, bob := keptTestClients(t)
	for i := range 4 {
		from, to := alice, bob
		if i%2 == 1 {
			from, to = bob, alice
		}
		if _, err := from.Send(ctx, "talks", fmt.Sprintf("turn %d", i)); err != nil {
			t.Fatal(err)
		}
		if !kept(t, from, to) {
			t.Fatalf("turn %d: %s's session with %s was not kept after sending", i, from.User(), to.User())
		}
		if rep, err := to.Sync(ctx); err != nil || rep.Dropped > 0 || rep.Received == 0 {
			t.Fatalf("turn %d: sync %s: %v %+v", i, to.User(), err, rep)
		}
		if !kept(t, to, from) {
			t.Fatalf("turn %d: %s's session with %s was not kept after receiving", i, to.User(), from.User())
		}
	}
	_, msgs, err := alice.History(ctx, "talks")
	if err != nil {
		t.Fatal(err)
	}
	if n := countTexts(msgs); n != 4 {
		t.Fatalf("alice sees %d messages, want 4", n)
	}
}

// TestFailedSaveKeepsNoSession: a send whose transaction fails has
// advanced the sessions in memory; none of them may be used again, or the
// next message would skip chain keys the peer never saw being used (and
// what the vault holds would no longer be what the client runs on).
func TestFailedSaveKeepsNoSession(t *testing.T) {
	ctx := context.Background()
	alice, bob := keptTestClients(t)
	if _, err := alice.Send(ctx, "talks", "first"); err != nil {
		t.Fatal(err)
	}
	name := alice.sessionName("bob", bob.DeviceID())
	before, err := alice.v.Get(ctx, name)
	if err != nil || !kept(t, alice, bob) {
		t.Fatalf("the session was not stored and kept: %v", err)
	}
	boom := errors.New("disk full")
	alice.mu.Lock()
	err = alice.fanOutLeaving(ctx, func(string) ([]byte, error) { return []byte("never stored"), nil }, []string{"bob"}, nil, false,
		func(context.Context, *vault.Tx) error { return boom })
	alice.mu.Unlock()
	if !errors.Is(err, boom) {
		t.Fatalf("send with a failing save: %v", err)
	}
	if kept(t, alice, bob) {
		t.Fatal("a session advanced by a send that was not saved is still in memory")
	}
	after, _ := alice.v.Get(ctx, name)
	if !bytes.Equal(before, after) {
		t.Fatal("the failed send changed the stored session")
	}
	if _, err := alice.Send(ctx, "talks", "second"); err != nil {
		t.Fatal(err)
	}
	if rep, err := bob.Sync(ctx); err != nil || rep.Dropped > 0 {
		t.Fatalf("sync bob: %v %+v", err, rep)
	}
	_, msgs, err := bob.History(ctx, "talks")
	if err != nil {
		t.Fatal(err)
	}
	if n := countTexts(msgs); n != 2 {
		t.Fatalf("bob sees %d messages, want 2", n)
	}
}

func countTexts(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		if m.Kind == KindText {
			n++
		}
	}
	return n
}

// BenchmarkConversationTurn is one round trip of a two-member room over a
// real server on loopback: alice sends, bob syncs, bob answers, alice
// syncs. "kept" is the client as it runs; "reread" drops the sessions kept
// in memory before every send and sync, so each is read from the vault and
// decoded, as before they were kept.
func BenchmarkConversationTurn(b *testing.B) {
	defer func(check func(context.Context, *vault.Vault, string, *session.Session)) { checkKeptSessions = check }(checkKeptSessions)
	checkKeptSessions = nil // the tests' check reads the stored session on every hit
	for _, reread := range []bool{false, true} {
		name := "kept"
		if reread {
			name = "reread"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			alice, bob := keptTestClients(b)
			step := func(c *Client, send bool) {
				if reread {
					c.v.Forget()
				}
				if send {
					if _, err := c.Send(ctx, "talks", "A short line of a negotiation, about as long as most are."); err != nil {
						b.Fatal(err)
					}
					return
				}
				if rep, err := c.Sync(ctx); err != nil || rep.Dropped > 0 {
					b.Fatalf("sync: %v %+v", err, rep)
				}
			}
			b.ResetTimer()
			for range b.N {
				step(alice, true)
				step(bob, false)
				step(bob, true)
				step(alice, false)
			}
		})
	}
}

// BenchmarkLoadSession: what each message saved by keeping its session:
// "stored" reads the session from the vault and decodes it (every load
// before), "kept" takes it from memory. A round trip of a two-member room
// loads four sessions (each send and each received message one).
func BenchmarkLoadSession(b *testing.B) {
	ctx := context.Background()
	alice, bob := keptTestClients(b)
	if _, err := alice.Send(ctx, "talks", "hello"); err != nil {
		b.Fatal(err)
	}
	name := alice.sessionName("bob", bob.DeviceID())
	// The tests' check reads the stored session on every hit: not here.
	defer func(check func(context.Context, *vault.Vault, string, *session.Session)) { checkKeptSessions = check }(checkKeptSessions)
	checkKeptSessions = nil
	for _, kept := range []bool{false, true} {
		label := "stored"
		if kept {
			label = "kept"
		}
		b.Run(label, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				alice.v.Forget()
				s, err := alice.loadSession(ctx, "bob", bob.DeviceID())
				if err != nil {
					b.Fatal(err)
				}
				if kept {
					if err := alice.v.Update(ctx, func(tx *vault.Tx) error { return tx.PutObject(ctx, name, s) }); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				if _, err := alice.loadSession(ctx, "bob", bob.DeviceID()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
