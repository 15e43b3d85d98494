package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"backchannel/client"
	"backchannel/keylog/prefix"
	"backchannel/keylog/verify"
)

// The periodic self-check without the own lookup (docs/protocol.md section
// 16, "Self-monitoring"): GET /v1/keylog/entries against the latest
// checkpoint, the full check (the lookup) only at the first check, on a
// listing of the own index, and once a day. These tests attack that path.

// quickOwner is an account whose requests are counted by path, on a clock
// the test moves.
type quickOwner struct {
	name  string
	c     *client.Client
	clk   *clock
	mu    gosync.Mutex
	paths map[string]int
}

func newQuickOwner(t *testing.T, e *env, ev *evilLog, name string) *quickOwner {
	t.Helper()
	q := &quickOwner{name: name, clk: newClock(), paths: map[string]int{}}
	hc := &http.Client{Transport: pathCounter{func(p string, _ int64) { q.mu.Lock(); q.paths[p]++; q.mu.Unlock() }, http.DefaultTransport}}
	c, err := client.Init(context.Background(), filepath.Join(e.dir, name), ev.front(name), name, "", []byte("pw-"+name), client.Options{Params: fastVault, Now: q.clk.now, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	q.c = c
	return q
}

// check runs the periodic check one MonitorInterval later; looked reports
// whether it looked the account up (the full check).
func (q *quickOwner) check(t *testing.T) (a *client.Audit, looked bool, err error) {
	t.Helper()
	q.clk.advance(client.MonitorInterval + time.Second)
	q.mu.Lock()
	clear(q.paths)
	q.mu.Unlock()
	a, err = q.c.SelfCheck(context.Background())
	q.mu.Lock()
	defer q.mu.Unlock()
	return a, q.paths["/v1/keylog/lookup/"+q.name] > 0, err
}

// The alternating-epochs attack between two periodic checks: the check
// that reads the impostor's listing turns into the full check and raises
// both alarms; the checks before and after it look nobody up.
func TestAlternatingEpochsCaughtByThePeriodicCheck(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ev := newEvilLog(t, e)
	alice := newQuickOwner(t, e, ev, "alice")
	carol := e.userVia("carol", ev.front("carol"), nil)
	if _, err := alice.c.CreateRoom(ctx, "talks", []string{"carol"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	sync(t, carol)
	if a, err := alice.c.AuditLog(ctx); err != nil || len(a.Alerts) != 0 {
		t.Fatalf("alice's first check: %+v %v", a, err)
	}
	// No epoch since the last check: nothing to read, no lookup.
	ev.attack(func() { ev.ownCalls = 0 })
	if a, looked, err := alice.check(t); err != nil || a == nil || len(a.Alerts) != 0 || looked {
		t.Fatalf("a check with no new epoch: %+v looked up %v, %v", a, looked, err)
	}
	// Other accounts change: their listings are read, alice is not looked up.
	e.userVia("bob", ev.front("bob"), nil)
	waitLogged(t, e, "bob", 1)
	ev.step()
	if a, looked, err := alice.check(t); err != nil || len(a.Alerts) != 0 || looked {
		t.Fatalf("a check after bob's registration: %+v looked up %v, %v", a, looked, err)
	}
	if cp := alice.c.LogCheckpoint(ctx); cp == nil || cp.Size != ev.log.Size() {
		t.Fatalf("alice holds the checkpoint %+v, the log has size %d", cp, ev.log.Size())
	}
	m := ev.alternate("alice", "carol")
	a, looked, err := alice.check(t)
	if err != nil {
		t.Fatal(err)
	}
	if !looked {
		t.Fatal("a listing of alice's index did not bring the full check")
	}
	hasAll(t, "alice's periodic check", a.Alerts,
		fmt.Sprintf("none of your devices published, at epoch %d", m),
		fmt.Sprintf("older version of your account again, at epoch %d", m+1))
	st, _ := alice.c.Status(ctx)
	hasAll(t, "alice's status", st.Attention, fmt.Sprintf("ALARM: the key log listed a version of your account that none of your devices published, at epoch %d", m))
	hasAll(t, "carol's sync", append(syncAll(t, carol), noticesIn(t, carol, "talks")...), fmt.Sprintf("alice's devices warn about alice's account: the key log listed a version of your account that none of your devices published, at epoch %d", m))
	// The next check: nothing new to read, no repeated alarm, no lookup.
	a, looked, err = alice.check(t)
	if err != nil || looked || anyContains(a.Alerts, "at epoch") {
		t.Fatalf("the check after the alarm: %+v looked up %v, %v", a, looked, err)
	}
	ev.attack(func() {
		if ev.ownCalls > 1 {
			t.Errorf("the states were asked for %d times", ev.ownCalls)
		}
	})
}

// Withheld lists on the periodic path: the alarm, and the listing found
// once the lists are given (the anchor stayed).
func TestWithheldListOnThePeriodicCheck(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ev := newEvilLog(t, e)
	alice := newQuickOwner(t, e, ev, "alice")
	e.userVia("carol", ev.front("carol"), nil)
	if _, err := alice.c.AuditLog(ctx); err != nil {
		t.Fatal(err)
	}
	m := ev.alternate("alice", "carol")
	idx, _ := ev.vrf.Prove("alice")
	ev.attack(func() {
		ev.entries = func(viewer string, page *verify.EntriesPage) {
			if viewer == "alice" {
				for i, pe := range page.Entries {
					if slices.ContainsFunc(pe.C, func(c []byte) bool { return bytes.Equal(c[:32], idx[:]) }) {
						page.Entries[i].C = nil
					}
				}
			}
		}
	})
	a, _, err := alice.check(t)
	if err != nil {
		t.Fatal(err)
	}
	hasAll(t, "alice's check with a list withheld", a.Alerts, "did not give the key log's change lists after epoch")
	if anyContains(a.Alerts, fmt.Sprintf("at epoch %d", m)) {
		t.Fatalf("the withheld lists were read as lists: %q", a.Alerts)
	}
	ev.attack(func() { ev.entries = nil })
	a, _, err = alice.check(t)
	if err != nil {
		t.Fatal(err)
	}
	hasAll(t, "alice's check once the lists are given", a.Alerts, fmt.Sprintf("none of your devices published, at epoch %d", m))
}

// A rolled-back checkpoint, or a consistency proof that does not verify,
// in the periodic check's reply: the split is refused and kept as
// evidence, as it is from a lookup.
func TestPeriodicCheckRefusesARolledBackOrForkedLog(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(ev *evilLog, page *verify.EntriesPage)
	}{
		{"rolled back", func(ev *evilLog, page *verify.EntriesPage) {
			page.Checkpoint, page.Entries = string(ev.note(0)), []verify.PageEntry{}
		}},
		{"another root at the size held", func(ev *evilLog, page *verify.EntriesPage) {
			text := fmt.Sprintf("%s\n%d\n%s\n", ev.signer.Name(), page.From, base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
			n, err := note.Sign(&note.Note{Text: text}, ev.signer)
			if err != nil {
				ev.t.Error(err)
			}
			page.Checkpoint, page.Entries = string(n), []verify.PageEntry{}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			ev := newEvilLog(t, e)
			alice := newQuickOwner(t, e, ev, "alice")
			ev.step()
			ev.attack(func() { ev.publish(); ev.publish() })
			if _, err := alice.c.AuditLog(ctx); err != nil {
				t.Fatal(err)
			}
			if cp := alice.c.LogCheckpoint(ctx); cp.Size < 3 {
				t.Fatalf("alice holds a checkpoint of size %d", cp.Size)
			}
			ev.attack(func() {
				for range 5 {
					ev.publish()
				}
				ev.entries = func(viewer string, page *verify.EntriesPage) {
					if viewer == "alice" {
						tc.tamper(ev, page)
					}
				}
			})
			held := alice.c.LogCheckpoint(ctx)
			before := alice.c.LogEvidence(ctx)
			_, _, err := alice.check(t)
			if !errors.Is(err, client.ErrLogSplit) {
				t.Fatalf("the periodic check: %v, want the split", err)
			}
			if alice.c.LogEvidence(ctx) != before+1 {
				t.Fatal("no evidence kept")
			}
			if cp := alice.c.LogCheckpoint(ctx); cp.Size != held.Size || cp.Root != held.Root {
				t.Fatalf("the checkpoint held moved from %d to %d", held.Size, cp.Size)
			}
			st, _ := alice.c.Status(ctx)
			hasAll(t, "alice's status", st.Attention, "ALARM: the server's key log was rolled back or forked")
		})
	}
}

// Any other lie in the periodic check's reply (a checkpoint under another
// key, an altered entry or inclusion proof, an entry that is not the
// latest, a page that claims more than it holds) is not taken: the check
// falls back to the full check, which looks the account up and succeeds
// against the honest lookup.
func TestPeriodicCheckFallsBackToTheLookup(t *testing.T) {
	flip := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 1; return b }
	for _, tc := range []struct {
		name   string
		tamper func(ev *evilLog, page *verify.EntriesPage)
	}{
		{"checkpoint under another key", func(ev *evilLog, page *verify.EntriesPage) {
			sk, _, err := note.GenerateKey(rand.Reader, ev.signer.Name())
			if err != nil {
				ev.t.Fatal(err)
			}
			s, _ := note.NewSigner(sk)
			n, err := note.Open([]byte(page.Checkpoint), note.VerifierList(mustVerifier(ev.t, ev)))
			if err != nil {
				ev.t.Fatal(err)
			}
			forged, _ := note.Sign(&note.Note{Text: n.Text}, s)
			page.Checkpoint = string(forged)
		}},
		{"entry altered", func(_ *evilLog, page *verify.EntriesPage) {
			for i := range page.Entries {
				if e := page.Entries[i].E; len(e) > 0 {
					page.Entries[i].E = flip(e)
				}
			}
		}},
		{"an empty epoch's time altered", func(_ *evilLog, page *verify.EntriesPage) {
			for i := range page.Entries {
				if len(page.Entries[i].E) == 0 {
					page.Entries[i].D++
				}
			}
		}},
		{"an epoch dropped", func(_ *evilLog, page *verify.EntriesPage) { page.Entries = page.Entries[1:] }},
		{"through past the entries", func(_ *evilLog, page *verify.EntriesPage) {
			page.Through = page.From + uint64(len(page.Entries)) + 1
		}},
		{"a change list altered", func(_ *evilLog, page *verify.EntriesPage) {
			for _, pe := range page.Entries {
				if len(pe.C) > 0 {
					pe.C[0] = flip(pe.C[0])
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t)
			ev := newEvilLog(t, e)
			alice := newQuickOwner(t, e, ev, "alice")
			if _, err := alice.c.AuditLog(ctx); err != nil {
				t.Fatal(err)
			}
			e.userVia("bob", ev.front("bob"), nil)
			waitLogged(t, e, "bob", 1)
			ev.step() // an epoch with bob's listing since alice's check
			ev.attack(func() {
				ev.publish()
				once := true // the full check it falls back to is answered honestly
				ev.entries = func(viewer string, page *verify.EntriesPage) {
					if viewer == "alice" && once {
						once = false
						tc.tamper(ev, page)
					}
				}
			})
			a, looked, err := alice.check(t)
			if err != nil || len(a.Alerts) != 0 {
				t.Fatalf("the check: %+v %v", a, err)
			}
			if !looked {
				t.Fatal("the tampered reply was taken: no lookup")
			}
			if cp := alice.c.LogCheckpoint(ctx); cp.Size != ev.log.Size() {
				t.Fatalf("alice holds size %d, the log has %d", cp.Size, ev.log.Size())
			}
			// The honest reply again: the quick path, from the new anchor.
			ev.attack(func() { ev.entries = nil; ev.publish() })
			if a, looked, err := alice.check(t); err != nil || len(a.Alerts) != 0 || looked {
				t.Fatalf("the next check: %+v looked up %v, %v", a, looked, err)
			}
			if strings.Contains(fmt.Sprint(a), "ALARM") {
				t.Fatal("an alarm")
			}
		})
	}
}

// The first check and the check a day after the last full one are full
// checks (the own leaf compared with what the devices published).
func TestFullCheckOnceADay(t *testing.T) {
	e := newEnv(t)
	ev := newEvilLog(t, e)
	alice := newQuickOwner(t, e, ev, "alice")
	var looked []bool
	for range int(client.FullCheckInterval/client.MonitorInterval) + 1 {
		ev.attack(func() { ev.publish() })
		_, l, err := alice.check(t)
		if err != nil {
			t.Fatal(err)
		}
		looked = append(looked, l)
	}
	want := make([]bool, len(looked))
	want[0], want[len(want)-1] = true, true
	if !slices.Equal(looked, want) {
		t.Fatalf("checks that looked alice up: %v, want %v", looked, want)
	}
	_ = prefix.HashSize
}

// The unbound-head attack between two periodic checks: the check that reads
// the two epochs (listing the impostor in changes_root, the head of the
// epoch before, no change list stored) does not take them, turns into the
// full check, and that one raises the alarm.
func TestUnboundHeadOnThePeriodicCheck(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ev := newEvilLog(t, e)
	alice := newQuickOwner(t, e, ev, "alice")
	dave := e.userVia("dave", ev.front("dave"), nil)
	if a, err := alice.c.AuditLog(ctx); err != nil || len(a.Alerts) != 0 {
		t.Fatalf("alice's first check: %+v %v", a, err)
	}
	ev.step()
	if a, looked, err := alice.check(t); err != nil || len(a.Alerts) != 0 || looked {
		t.Fatalf("a quiet periodic check: %+v looked up %v, %v", a, looked, err)
	}
	ev.attack(func() { ev.unbound = true })
	ev.alternate("alice", "dave")
	ev.attack(func() { ev.unbound = false })
	if ci, err := dave.Contact(ctx, "alice"); err != nil || len(ci.Devices) != 2 {
		t.Fatalf("dave's first contact is not the impostor: %+v %v", ci, err)
	}
	a, looked, err := alice.check(t)
	if err != nil {
		t.Fatal(err)
	}
	if !looked {
		t.Fatal("the unbound epochs did not bring the full check")
	}
	hasAll(t, "alice's periodic check", a.Alerts, "did not give the key log's change lists after epoch")
}
