package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"backchannel/client"
	"backchannel/devicelist"
	"backchannel/server/api"
	"backchannel/store"
)

// Attacks found by a review of the accounts work, kept as regression tests.

// A thief with the account key adds a device: the account's own primary
// raises the alarm AND sends it nothing, in any room.
func TestOwnDevicesSendNothingToADeviceTheyDidNotLink(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := b.CreateRoom(ctx, "talks", []string{"alice"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateRoom(ctx, "chat", []string{"alice"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	lists, _, err := e.srv.Store.DeviceLists(ctx, "bob", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := devicelist.Parse(lists[len(lists)-1])
	thief := newDeviceEntry(t, "bob", b.IdentityKey(), cur.MaxID+1, "bob phone")
	next, err := devicelist.Next(cur, b.AccountUser(), []devicelist.Entry{thief}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	putList(t, e, next, thief)
	for _, room := range []string{"talks", "chat"} {
		if _, err := b.Send(ctx, room, "secret after the alarm"); err != nil {
			t.Fatal(err)
		}
	}
	if n := mailboxSize(t, e, "bob", thief.ID); n != 0 {
		t.Fatalf("bob's own primary sent %d envelopes to a device it did not link", n)
	}
	st, _ := b.Status(ctx)
	if !strings.Contains(strings.Join(st.Attention, "\n"), "ALARM") {
		t.Fatalf("no alarm: %q", st.Attention)
	}
	_ = a
}

// A removed device gets nothing from the account's other devices, even when
// the server keeps its row; and a device linked a moment ago gets its
// account's messages from the other linked devices.
func TestOwnDevicesFollowTheNewestList(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "chat", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	laptop, _, _, err := link(t, e, a, filepath.Join(e.dir, "laptop"), "laptop", true)
	if err != nil {
		t.Fatal(err)
	}
	tablet, _, _, err := link(t, e, a, filepath.Join(e.dir, "tablet"), "tablet", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.Send(ctx, "chat", "right after the tablet was linked"); err != nil {
		t.Fatal(err)
	}
	sync(t, tablet)
	if got := texts(t, tablet, "chat"); !slices.Contains(got, "alice: right after the tablet was linked") {
		t.Fatalf("the new tablet missed its own account's message: %q", got)
	}
	if err := a.RemoveDevice(ctx, tablet.DeviceID()); err != nil {
		t.Fatal(err)
	}
	_, latest, _ := e.srv.Store.DeviceLists(ctx, "alice", 0, 1)
	waitLogged(t, e, "alice", latest)
	// A compelled server keeps the removed tablet's row.
	if err := e.srv.Store.AddDevice(ctx, store.Device{User: "alice", ID: tablet.DeviceID(), SigningKey: make([]byte, 32), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := laptop.Send(ctx, "chat", "after the tablet was removed"); err != nil {
		t.Fatal(err)
	}
	if n := mailboxSize(t, e, "alice", tablet.DeviceID()); n != 0 {
		t.Fatalf("the removed tablet has %d envelopes from the laptop", n)
	}
	_ = b
}

// keys accept accepts what the user was shown, not a device published
// between the notice and the decision.
func TestAcceptOnlyWhatWasShown(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	add := func(name string) {
		lists, _, _ := e.srv.Store.DeviceLists(ctx, "bob", 0, 10)
		cur, _ := devicelist.Parse(lists[len(lists)-1])
		d := newDeviceEntry(t, "bob", b.IdentityKey(), cur.MaxID+1, name)
		next, err := devicelist.Next(cur, b.AccountUser(), []devicelist.Entry{d}, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		putList(t, e, next, d)
	}
	add("laptop")
	if _, err := a.Send(ctx, "talks", "x"); !errors.Is(err, client.ErrUnverifiedChange) {
		t.Fatal(err)
	}
	add("laptop ") // published while alice checks with bob
	if _, err := a.AcceptChange(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	_, err := a.Send(ctx, "talks", "y")
	if !errors.Is(err, client.ErrUnverifiedChange) || !strings.Contains(err.Error(), `"laptop "`) {
		t.Fatalf("the unseen device was accepted too: %v", err)
	}
}

// A server that pages device lists forever is refused, not followed.
func TestEndlessDeviceListPagesAreRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.user("bob")
	a := e.user("alice")
	target, _ := url.Parse(e.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var first [][]byte
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != "/v1/accounts/bob/devicelists" {
			return nil
		}
		var resp api.DeviceListsResponse
		raw, _ := io.ReadAll(r.Body)
		json.Unmarshal(raw, &resp)
		if first == nil {
			first = resp.Lists
		}
		resp.Lists, resp.More = first, true // the same page, again and again
		raw, _ = json.Marshal(resp)
		r.Body = io.NopCloser(strings.NewReader(string(raw)))
		r.ContentLength = int64(len(raw))
		r.Header.Set("Content-Length", "")
		return nil
	}
	ts := httptest.NewServer(proxy)
	defer ts.Close()
	a.Close()
	c, err := client.Open(ctx, filepath.Join(e.dir, "alice"), []byte("pw-alice"), client.Options{ServerURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		_, err := c.CreateRoom(ctx, "r", []string{"bob"}, client.ModeDeniable, "off")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "do not advance") {
			t.Fatalf("endless pages: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the client followed endless pages")
	}
}
