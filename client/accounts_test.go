package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"backchannel/client"
	"backchannel/devicelist"
	"backchannel/entropy"
	"backchannel/identity"
	"backchannel/server/api"
	"backchannel/store"
)

// mailboxSize counts what the server holds for one device of user.
func mailboxSize(t *testing.T, e *env, user string, device uint32) int {
	t.Helper()
	ms, err := e.srv.Store.Pending(context.Background(), store.Address{User: user, Device: device}, 0, 1000)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	return len(ms)
}

func noticesIn(t *testing.T, c *client.Client, room string) []string {
	t.Helper()
	_, msgs, err := c.History(context.Background(), room)
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

// newDeviceEntry makes the counter-signed entry of a fresh device for the
// account of owner (what a thief holding the account key can make).
func newDeviceEntry(t *testing.T, account string, accountKey []byte, id uint32, name string) devicelist.Entry {
	t.Helper()
	k, err := identity.NewDeviceKeys(entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := devicelist.NewEntry(account, accountKey, id, k.SigningKey(), k.DHPublic(), name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// A compelled server adds a device of its own to bob's account: it is in
// the server's device table, with a certificate and prekeys, but not in
// bob's signed device list. Alice never encrypts to it, and is told.
func TestServerAddedDeviceIsNeverEncryptedTo(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "r", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	ghost := newDeviceEntry(t, "bob", b.IdentityKey(), 9, "ghost")
	if err := e.srv.Store.AddDevice(ctx, store.Device{User: "bob", ID: 9, SigningKey: ghost.SigningKey, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	m, err := a.Send(ctx, "r", "the budget ceiling is twelve million")
	if err != nil {
		t.Fatal(err)
	}
	if n := mailboxSize(t, e, "bob", 9); n != 0 {
		t.Fatalf("the server's own device received %d envelopes", n)
	}
	if n := mailboxSize(t, e, "bob", 1); n != 1 {
		t.Fatalf("bob's real device holds %d envelopes, want 1", n)
	}
	if !strings.Contains(strings.Join(m.Warnings, "\n"), "not in bob's signed device list") {
		t.Fatalf("alice was not told; warnings %q", m.Warnings)
	}
}

// A thief with bob's account key publishes a new list with a device of its
// own. Every peer shows the notice, bob's own device raises the alarm, and
// in an on-record room nothing goes to the new device before alice accepts.
func TestDeviceAddedWithStolenAccountKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	if _, err := a.Send(ctx, "talks", "first"); err != nil {
		t.Fatal(err)
	}
	// The thief signs version 2 with the stolen key and the server takes it.
	lists, _, err := e.srv.Store.DeviceLists(ctx, "bob", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := devicelist.Parse(lists[len(lists)-1])
	if err != nil {
		t.Fatal(err)
	}
	thief := newDeviceEntry(t, "bob", b.IdentityKey(), cur.MaxID+1, "definitely bob")
	next, err := devicelist.Next(cur, b.AccountUser(), []devicelist.Entry{thief}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	putList(t, e, next, thief)

	_, err = a.Send(ctx, "talks", "our red line is the northern border")
	if !errors.Is(err, client.ErrUnverifiedChange) {
		t.Fatalf("send to an on-record room with an unaccepted device: %v", err)
	}
	if n := mailboxSize(t, e, "bob", thief.ID); n != 0 {
		t.Fatalf("the thief's device received %d envelopes", n)
	}
	if got := noticesIn(t, a, "talks"); len(got) != 1 || got[0] != `bob linked a new device "definitely bob"` {
		t.Fatalf("alice's notices: %q", got)
	}
	st, err := b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(st.Attention, "\n"), "ALARM") {
		t.Fatalf("bob's own device raised no alarm: %q", st.Attention)
	}
	// Alice checks with bob, then accepts: sending resumes.
	if _, err := a.AcceptChange(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "talks", "accepted"); err != nil {
		t.Fatal(err)
	}
}

func putList(t *testing.T, e *env, l *devicelist.List, added ...devicelist.Entry) {
	t.Helper()
	var devs []store.Device
	for _, d := range added {
		devs = append(devs, store.Device{User: l.Account, ID: d.ID, SigningKey: d.SigningKey, CreatedAt: time.Now()})
	}
	if err := e.srv.Store.PutDeviceList(context.Background(), l.Account, l.Version, l.Marshal(), devs, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Log.Update(context.Background(), l.Account, l.Version, l.Hash()); err != nil {
		t.Fatal(err)
	}
	waitLogged(t, e, l.Account, l.Version)
}

// waitLogged waits until the server's key log answers lookups of user with
// version (an epoch is published within a fraction of a second here).
func waitLogged(t *testing.T, e *env, user string, version uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := e.srv.Log.Lookup(context.Background(), user)
		if err == nil && l.Version >= version {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key log did not show version %d of %s: %v", version, user, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// compelledSwap makes the server (compelled) log an impostor's chain for
// user, as the newest version, and returns a front end URL that serves the
// impostor's chain of device lists. The impostor's list is signed by the
// impostor's key; the server only chooses what it logs and serves.
func compelledSwap(t *testing.T, e *env, user string, impostor *identity.User) string {
	t.Helper()
	ctx := context.Background()
	_, latest, err := e.srv.Store.DeviceLists(ctx, user, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var chain []*devicelist.List
	first, err := devicelist.Genesis(user, impostor, []devicelist.Entry{newDeviceEntry(t, user, impostor.Public(), 1, "new phone")}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	chain = append(chain, first)
	for uint64(len(chain)) < latest+1 {
		prev := chain[len(chain)-1]
		next, err := devicelist.Next(prev, impostor, []devicelist.Entry{newDeviceEntry(t, user, impostor.Public(), prev.MaxID+1, fmt.Sprintf("pad %d", prev.MaxID+1))}, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, next)
	}
	newest := chain[len(chain)-1]
	if err := e.srv.Store.PutDeviceList(ctx, user, newest.Version, newest.Marshal(), nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Log.Update(ctx, user, newest.Version, newest.Hash()); err != nil {
		t.Fatal(err)
	}
	waitLogged(t, e, user, newest.Version)
	var raw [][]byte
	for _, l := range chain {
		raw = append(raw, l.Marshal())
	}
	target, _ := url.Parse(e.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != "/v1/accounts/"+user+"/devicelists" {
			return nil
		}
		body, _ := json.Marshal(api.DeviceListsResponse{Lists: raw, Latest: newest.Version})
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", "")
		r.StatusCode = http.StatusOK
		return nil
	}
	ts := httptest.NewServer(proxy)
	t.Cleanup(ts.Close)
	return ts.URL
}

// Bob's key changes: a compelled server logs an impostor's key and device
// list for bob after alice pinned and verified the real one. Alice's sending
// stops until she accepts or verifies the new key, both safety numbers are
// shown, and bob's own device raises the alarm (self-monitoring).
func TestChangedKeyBlocksSendingUntilAccepted(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	b := e.user("bob")
	dir := filepath.Join(e.dir, "alice")
	a, err := client.Init(ctx, dir, e.srv.URL, "alice", "", []byte("pw"), client.Options{Params: fastVault})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.CreateRoom(ctx, "r", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkVerified(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	a.Close()
	impostor, _ := identity.NewUser(entropy.System{})
	front := compelledSwap(t, e, "bob", impostor)
	a, err = client.Open(ctx, dir, []byte("pw"), client.Options{ServerURL: front})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = a.Send(ctx, "r", "are you still there?")
	if !errors.Is(err, client.ErrUnverifiedChange) || !errors.Is(err, client.ErrIdentityChanged) || !strings.Contains(err.Error(), "account key changed") {
		t.Fatalf("send after a key change: %v", err)
	}
	n, old, err := a.SafetyNumber(ctx, "bob")
	if err != nil || old == "" || n == old {
		t.Fatalf("safety numbers new %q old %q: %v", n, old, err)
	}
	if v := a.Verified(ctx, []string{"bob"}); v["bob"] {
		t.Fatal("bob still shown as verified after his key changed")
	}
	if got := noticesIn(t, a, "r"); !strings.Contains(strings.Join(got, "\n"), "bob's account key changed") {
		t.Fatalf("notices %q", got)
	}
	// The real bob's device looks itself up in the log and raises the alarm.
	audit, err := b.AuditLog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(audit.Alerts) == 0 || !strings.Contains(strings.Join(audit.Alerts, "\n"), "not yours") {
		t.Fatalf("bob's audit: %+v", audit)
	}
	st, _ := b.Status(ctx)
	if !strings.Contains(strings.Join(st.Attention, "\n"), "ALARM") {
		t.Fatalf("bob's status: %q", st.Attention)
	}
	// Bob's devices warn the people he shares rooms with.
	a.Close()
	if a, err = client.Open(ctx, dir, []byte("pw"), client.Options{ServerURL: front}); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if rep, err := a.Sync(ctx); err != nil || !strings.Contains(strings.Join(rep.Warnings, "\n"), "bob's devices warn about bob's account") {
		t.Fatalf("alice was not warned by bob's devices: %+v %v", rep, err)
	}
	if _, err := a.AcceptChange(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if v := a.Verified(ctx, []string{"bob"}); v["bob"] {
		t.Fatal("an accepted new key counts as verified")
	}
}

// The server serves an impostor at alice's very first contact with bob.
// Bob is shown as unverified everywhere, the on-record room warns, and the
// export does not verify as VALID, even from alice's own profile.
func TestImpostorAtFirstContactStaysUnverified(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.user("alice")
	impostor := e.user("bob") // the impostor holds the name "bob" on this server
	r, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeOnRecord, "all")
	if err != nil {
		t.Fatal(err)
	}
	if r.Verified["bob"] || !strings.Contains(strings.Join(r.Warnings, "\n"), "bob is not verified") {
		t.Fatalf("room create: verified %v, warnings %q", r.Verified, r.Warnings)
	}
	m, err := a.Send(ctx, "talks", "we can accept a thirty-day pause")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(m.Warnings, "\n"), "bob is not verified") {
		t.Fatalf("send warnings %q", m.Warnings)
	}
	sync(t, impostor)
	if _, err := impostor.Send(ctx, "talks", "agreed, thirty days"); err != nil {
		t.Fatal(err)
	}
	sync(t, a)
	rooms, err := a.Rooms(ctx)
	if err != nil || len(rooms) != 1 || rooms[0].Verified["bob"] || !rooms[0].Verified["alice"] {
		t.Fatalf("room list verified = %v (%v)", rooms[0].Verified, err)
	}
	ex, err := a.ExportTranscript(ctx, "talks", time.Time{}, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := client.VerifyExport(ex, a.Trust(ctx, []string{"alice", "bob"}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Unverified) != 1 || rep.Unverified[0] != "bob" {
		t.Fatalf("export from alice's profile: ok=%v unverified=%v problems=%q", rep.OK, rep.Unverified, rep.Problems)
	}
	// Once alice compares safety numbers (here: with the real bob, who would
	// notice the mismatch, so she never confirms) nothing changes; a third
	// party with the fingerprint of the real bob's key sees a mismatch.
	realBob, _ := identity.NewUser(entropy.System{})
	fp := client.Trust{Fingerprints: map[string]string{"bob": client.FingerprintOf(realBob.Public())}}
	rep, err = client.VerifyExport(ex, fp)
	if err != nil || rep.OK {
		t.Fatalf("export with the real bob's fingerprint: ok=%v (%v)", rep.OK, err)
	}
}

// A whole conversation fabricated with two fresh profiles called alice and
// bob is reported as unverified identities, never VALID.
func TestFabricatedBundleIsUnverified(t *testing.T) {
	ctx := context.Background()
	real, forged := newEnv(t), newEnv(t)
	ra, rb := real.user("alice"), real.user("bob")
	if _, err := ra.CreateRoom(ctx, "r", []string{"bob"}, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := ra.MarkVerified(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	_ = rb
	fa, fb := forged.user("alice"), forged.user("bob")
	if _, err := fa.CreateRoom(ctx, "r", []string{"bob"}, client.ModeOnRecord, "off"); err != nil {
		t.Fatal(err)
	}
	if _, err := fa.Send(ctx, "r", "we will sign tomorrow"); err != nil {
		t.Fatal(err)
	}
	sync(t, fb)
	if _, err := fb.Send(ctx, "r", "agreed"); err != nil {
		t.Fatal(err)
	}
	ex, err := fb.ExportTranscript(ctx, "r", time.Time{}, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The real alice has pinned (not verified) a bob of her own: a bundle
	// naming another key for bob is a problem, not just unverified.
	if err := ra.Unverify(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	rep, err := client.VerifyExport(ex, ra.Trust(ctx, []string{"alice", "bob"}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rep.Problems, "\n"), "not the one your profile pinned for bob") {
		t.Fatalf("problems %q", rep.Problems)
	}
	for name, trust := range map[string]client.Trust{
		"no trust":             {},
		"the real alice's own": ra.Trust(ctx, []string{"alice", "bob"}),
	} {
		rep, err := client.VerifyExport(ex, trust)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK {
			t.Errorf("%s: a fabricated bundle verifies", name)
		}
	}
}

// With require-verified on, an on-record room with an unverified member is
// refused, before anything is sent; a deniable one is not.
func TestRequireVerifiedRefuses(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if err := a.SetSetting(ctx, client.SettingRequireVerified, "on"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeOnRecord, "all"); !errors.Is(err, client.ErrUnverifiedMembers) {
		t.Fatalf("on-record room with an unverified member: %v", err)
	}
	if n := mailboxSize(t, e, "bob", 1); n != 0 {
		t.Fatalf("a refused room still sent %d envelopes", n)
	}
	if _, err := a.CreateRoom(ctx, "chat", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkVerified(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSetting(ctx, "require-verified", "maybe"); !errors.Is(err, client.ErrBadSetting) {
		t.Fatalf("bad value: %v", err)
	}
	_ = b
}

// With device-changes auto, a verified contact's new device is used at once
// (the notice still shows); a changed key still blocks.
func TestDeviceChangesAuto(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkVerified(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSetting(ctx, client.SettingDeviceChanges, client.DeviceChangesAuto); err != nil {
		t.Fatal(err)
	}
	lists, _, err := e.srv.Store.DeviceLists(ctx, "bob", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := devicelist.Parse(lists[len(lists)-1])
	dev := newDeviceEntry(t, "bob", b.IdentityKey(), cur.MaxID+1, "tablet")
	next, err := devicelist.Next(cur, b.AccountUser(), []devicelist.Entry{dev}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	putList(t, e, next, dev)
	if _, err := a.Send(ctx, "talks", "goes out at once"); err != nil {
		t.Fatal(err)
	}
	if got := noticesIn(t, a, "talks"); !strings.Contains(strings.Join(got, "\n"), `bob linked a new device "tablet"`) {
		t.Fatalf("notices %q", got)
	}
}
