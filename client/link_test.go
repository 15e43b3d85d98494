package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"backchannel/client"
)

// link runs both sides of linking a new device to primary; it returns the
// new device's client and the SAS each side showed.
func link(t *testing.T, e *env, primary *client.Client, dir, name string, confirmPrimary bool) (*client.Client, string, string, error) {
	t.Helper()
	ctx := context.Background()
	codes := make(chan string, 1)
	var sasPrimary, sasNew string
	done := make(chan error, 1)
	go func() {
		_, err := primary.LinkDevice(ctx, func(code string) error { codes <- code; return nil },
			func(sas string) (bool, error) { sasPrimary = sas; return confirmPrimary, nil })
		if err != nil {
			close(codes)
		}
		done <- err
	}()
	code, ok := <-codes
	if !ok {
		return nil, "", "", <-done
	}
	joinCtx := ctx
	var cancel context.CancelFunc
	if !confirmPrimary {
		joinCtx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	type res struct {
		c   *client.Client
		err error
	}
	joined := make(chan res, 1)
	go func() {
		c, err := client.InitLinked(joinCtx, dir, code, name, []byte("pw-"+name), func(sas string) (bool, error) { sasNew = sas; return true, nil }, client.Options{Params: fastVault})
		joined <- res{c, err}
	}()
	perr := <-done
	if cancel != nil {
		cancel()
	}
	r := <-joined
	if perr != nil {
		return nil, sasPrimary, sasNew, perr
	}
	if r.err != nil {
		return nil, sasPrimary, sasNew, r.err
	}
	t.Cleanup(func() { r.c.Close() })
	_, latest, err := e.srv.Store.DeviceLists(ctx, primary.User(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	waitLogged(t, e, primary.User(), latest)
	return r.c, sasPrimary, sasNew, nil
}

func TestLinkedDeviceReceivesSendsAndIsRemoved(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "talks", "before the laptop"); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	laptop, sp, sn, err := link(t, e, a, filepath.Join(e.dir, "alice-laptop"), "laptop", true)
	if err != nil {
		t.Fatal(err)
	}
	if sp == "" || sp != sn {
		t.Fatalf("the two devices showed different codes: %q and %q", sp, sn)
	}
	if laptop.User() != "alice" || laptop.Primary() || laptop.DeviceID() != 2 {
		t.Fatalf("linked device: user %s primary %v id %d", laptop.User(), laptop.Primary(), laptop.DeviceID())
	}
	if got := texts(t, laptop, "talks"); !slices.Contains(got, "alice: before the laptop") {
		t.Fatalf("the laptop has no history: %q", got)
	}
	devs, err := laptop.Devices(ctx)
	if err != nil || len(devs) != 2 {
		t.Fatalf("devices on the laptop: %+v %v", devs, err)
	}
	// Bob sees the new device; in an on-record room he accepts it first.
	if _, err := b.Send(ctx, "talks", "hello"); !errors.Is(err, client.ErrUnverifiedChange) {
		t.Fatalf("bob sent to alice's unaccepted new device: %v", err)
	}
	if got := noticesIn(t, b, "talks"); !strings.Contains(strings.Join(got, "\n"), `alice linked a new device "laptop"`) {
		t.Fatalf("bob's notices: %q", got)
	}
	if _, err := b.AcceptChange(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Send(ctx, "talks", "hello both"); err != nil {
		t.Fatal(err)
	}
	sync(t, a, laptop)
	for _, c := range []*client.Client{a, laptop} {
		if got := texts(t, c, "talks"); !slices.Contains(got, "bob: hello both") {
			t.Fatalf("device %d of alice reads %q", c.DeviceID(), got)
		}
	}
	// The laptop sends, signed with its own device key: bob and the primary read it.
	if _, err := laptop.Send(ctx, "talks", "typed on the laptop"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "talks", "typed on the phone"); err != nil {
		t.Fatal(err)
	}
	sync(t, b, a, laptop)
	for _, c := range []*client.Client{b, a, laptop} {
		got := texts(t, c, "talks")
		if !slices.Contains(got, "alice: typed on the laptop") || !slices.Contains(got, "alice: typed on the phone") {
			t.Fatalf("%s/%d reads %q", c.User(), c.DeviceID(), got)
		}
		w, err := c.TranscriptWarnings(ctx, "talks")
		if err != nil || len(w) != 0 {
			t.Fatalf("%s/%d transcript warnings %q %v", c.User(), c.DeviceID(), w, err)
		}
	}
	// The primary removes the laptop: it receives nothing new.
	if err := laptop.RemoveDevice(ctx, 1); !errors.Is(err, client.ErrNotPrimary) {
		t.Fatalf("a linked device removed the primary: %v", err)
	}
	if err := a.RemoveDevice(ctx, 2); err != nil {
		t.Fatal(err)
	}
	_, latest, _ := e.srv.Store.DeviceLists(ctx, "alice", 0, 1)
	waitLogged(t, e, "alice", latest)
	if _, err := b.Send(ctx, "talks", "after the laptop was removed"); err != nil {
		t.Fatal(err)
	}
	if n := mailboxSize(t, e, "alice", 2); n != 0 {
		t.Fatalf("the removed laptop has %d envelopes waiting", n)
	}
	sync(t, a)
	if got := texts(t, a, "talks"); !slices.Contains(got, "bob: after the laptop was removed") {
		t.Fatalf("the primary reads %q", got)
	}
	if _, err := laptop.Sync(ctx); err == nil {
		if got := texts(t, laptop, "talks"); slices.Contains(got, "bob: after the laptop was removed") {
			t.Fatal("the removed laptop read a new message")
		}
	}
}

func TestLinkRefusedWhenCodesDoNotMatch(t *testing.T) {
	e := newEnv(t)
	a := e.user("alice")
	_, _, _, err := link(t, e, a, filepath.Join(e.dir, "alice-laptop"), "laptop", false)
	if !errors.Is(err, client.ErrLinkCancelled) {
		t.Fatalf("link with unconfirmed codes: %v", err)
	}
	devs, err := a.Devices(context.Background())
	if err != nil || len(devs) != 1 {
		t.Fatalf("devices after a refused link: %+v %v", devs, err)
	}
}
