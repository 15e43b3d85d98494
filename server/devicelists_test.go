package server_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"backchannel/devicelist"
	"backchannel/server"
	"backchannel/server/api"
	"backchannel/server/apiclient"
	"backchannel/store"
)

// fakeCertificate has the size and key position of a device certificate:
// all the server checks (clients verify the signature).
func fakeCertificate(key ed25519.PrivateKey) []byte {
	c := make([]byte, api.CertificateBytes)
	copy(c[api.CertificateKeyOffset:], key.Public().(ed25519.PublicKey))
	return c
}

func wantConflict(t *testing.T, err error, mention string) {
	t.Helper()
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Code != api.CodeConflict || !strings.Contains(ae.Message, mention) {
		t.Fatalf("got %v, want 409 conflict mentioning %q", err, mention)
	}
}

func TestRegistrationNeedsGenesisList(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	ik, key := newKey(t), newKey(t)
	c := clientFor(t, ts.URL, "alice", 1, key)
	pub := ik.Public().(ed25519.PublicKey)
	good := genesis(t, "alice", ik, key)
	user := accountKey(t, ik)
	v2, err := devicelist.Next(good, user, []devicelist.Entry{entry(t, "alice", ik, newKey(t), 2)}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	two, err := devicelist.Genesis("alice", user, []devicelist.Entry{entry(t, "alice", ik, key, 1), entry(t, "alice", ik, newKey(t), 2)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tampered := good.Marshal()
	tampered[len(tampered)-1] ^= 1
	cases := []struct {
		name string
		list []byte
	}{
		{"no list", nil},
		{"garbage", []byte("not a device list")},
		{"bad signature", tampered},
		{"another name's list", genesis(t, "bob", ik, key).Marshal()},
		{"under another identity key", genesis(t, "alice", newKey(t), key).Marshal()},
		{"another device key", genesis(t, "alice", ik, newKey(t)).Marshal()},
		{"version 2", v2.Marshal()},
		{"two devices", two.Marshal()},
	}
	for _, tc := range cases {
		_, err := c.Register(ctx, pub, nil, tc.list, "")
		wantAPIError(t, err, apiclient.ErrBadRequest)
		if _, err := ts.st.Account(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: registered: %v", tc.name, err)
		}
	}
	if _, err := c.Register(ctx, pub, nil, good.Marshal(), ""); err != nil {
		t.Fatal(err)
	}
	r, err := c.DeviceLists(ctx, "alice", 0)
	if err != nil || r.Latest != 1 || len(r.Lists) != 1 || string(r.Lists[0]) != string(good.Marshal()) || r.More {
		t.Fatalf("lists after registration = %+v, %v", r, err)
	}
}

func TestDeviceListUpdates(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice, bob := register(t, ts.URL, "alice", ""), register(t, ts.URL, "bob", "")
	v1 := alice.list

	// Version 2 adds device 2: it can authenticate at once, has no
	// certificate and so no bundle yet.
	k2 := newKey(t)
	ids := alice.next(t, []ed25519.PrivateKey{k2})
	alice2 := clientFor(t, ts.URL, "alice", ids[0], k2)
	self, err := alice2.Self(ctx)
	if err != nil || self.ID != 2 {
		t.Fatalf("new device: %+v %v", self, err)
	}
	devs, err := bob.Devices(ctx, "alice")
	if err != nil || len(devs) != 2 || devs[1].ID != 2 || devs[1].Certificate == nil || len(devs[1].Certificate) != 0 {
		t.Fatalf("devices = %+v %v (want device 2 with an empty, not null, certificate)", devs, err)
	}
	v2 := alice.list

	// Lists that do not extend the server's: 409 naming its version.
	_, err = alice.PutDeviceList(ctx, v2.Marshal())
	wantConflict(t, err, "server's version 2")
	_, err = alice.PutDeviceList(ctx, v1.Marshal())
	wantConflict(t, err, "server's version 2")
	v3, _ := alice.makeNext(t, nil)
	v4, err := devicelist.Next(v3, accountKey(t, alice.ik), nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.PutDeviceList(ctx, v4.Marshal())
	wantConflict(t, err, "server's version 2")
	// A fork of version 2 (another device 2 than the stored one).
	fork, err := devicelist.Next(v1, accountKey(t, alice.ik), []devicelist.Entry{entry(t, "alice", alice.ik, newKey(t), 2)}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.PutDeviceList(ctx, fork.Marshal())
	wantConflict(t, err, "server's version 2")

	// Lists the caller may not store: another account's, or signed under
	// another key than the account's (what a server-side forger would need).
	bobNext, _ := bob.makeNext(t, nil)
	_, err = alice.PutDeviceList(ctx, bobNext.Marshal())
	wantForbidden(t, err)
	forger := newKey(t)
	forged, err := devicelist.Genesis("alice", accountKey(t, forger), []devicelist.Entry{entry(t, "alice", forger, alice.key, 1)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.PutDeviceList(ctx, forged.Marshal())
	wantForbidden(t, err)
	tampered := v3.Marshal()
	tampered[40] ^= 1
	_, err = alice.PutDeviceList(ctx, tampered)
	wantAPIError(t, err, apiclient.ErrBadRequest)

	// Any device of the account may upload the list; version 3 removes
	// device 1, with its mailbox.
	if _, err := bob.Send(ctx, 0, []api.OutgoingEnvelope{{To: "alice", Device: 1, Data: []byte("to 1")}}); err != nil {
		t.Fatal(err)
	}
	v3, _ = alice.makeNext(t, nil, 1)
	if v, err := alice2.PutDeviceList(ctx, v3.Marshal()); err != nil || v != 3 {
		t.Fatalf("device 2 uploads v3: %d %v", v, err)
	}
	alice.list = v3
	_, err = alice.Self(ctx)
	wantAPIError(t, err, apiclient.ErrUnauthorized)
	_, err = bob.Send(ctx, 0, []api.OutgoingEnvelope{{To: "alice", Device: 1, Data: []byte("late")}})
	wantAPIError(t, err, apiclient.ErrNotFound)
	if msgs, err := ts.st.Pending(ctx, store.Address{User: "alice", Device: 1}, 0, 10); err != nil || len(msgs) != 0 {
		t.Fatalf("removed device's mailbox: %d, %v", len(msgs), err)
	}
	r, err := bob.DeviceLists(ctx, "alice", 0)
	if err != nil || r.Latest != 3 || len(r.Lists) != 3 || string(r.Lists[2]) != string(v3.Marshal()) {
		t.Fatalf("lists = %d latest %d, %v", len(r.Lists), r.Latest, err)
	}
	if _, err := devicelist.VerifyChain("alice", alice.ik.Public().(ed25519.PublicKey), nil, r.Lists); err != nil {
		t.Fatalf("served chain does not verify: %v", err)
	}
	r, err = bob.DeviceLists(ctx, "alice", 2)
	if err != nil || len(r.Lists) != 1 || r.Latest != 3 {
		t.Fatalf("lists after 2 = %+v, %v", r, err)
	}
	_, err = bob.DeviceLists(ctx, "nobody", 0)
	wantAPIError(t, err, apiclient.ErrNotFound)
	status, _ := rawRequest(t, "GET", ts.URL+"/v1/accounts/alice/devicelists?after=-1", nil, "bob", 1, bob.key, time.Now())
	if status != http.StatusBadRequest {
		t.Fatalf("after=-1: %d", status)
	}
}

func wantForbidden(t *testing.T, err error) {
	t.Helper()
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != api.CodeForbidden {
		t.Fatalf("got %v, want 403 forbidden", err)
	}
}

// Two devices upload different versions 2 at once: one is stored, the
// other gets 409, and the stored chain has no fork.
func TestDeviceListConcurrentPut(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	for round := range 4 {
		var lists [2]*devicelist.List
		for i := range lists {
			lists[i], _ = alice.makeNext(t, []ed25519.PrivateKey{newKey(t)})
		}
		var wg sync.WaitGroup
		var errs [2]error
		for i := range lists {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = alice.PutDeviceList(ctx, lists[i].Marshal())
			}()
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			if err == nil {
				if won >= 0 {
					t.Fatalf("round %d: both versions stored", round)
				}
				won = i
			} else if !errors.Is(err, apiclient.ErrConflict) {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: neither stored", round)
		}
		alice.list = lists[won]
	}
	r, err := alice.DeviceLists(ctx, "alice", 0)
	if err != nil || r.Latest != 5 {
		t.Fatalf("lists: %+v %v", r, err)
	}
	last, err := devicelist.VerifyChain("alice", alice.ik.Public().(ed25519.PublicKey), nil, r.Lists)
	if err != nil || last.Hash() != alice.list.Hash() {
		t.Fatalf("stored chain: %v", err)
	}
	devs, err := alice.Devices(ctx, "alice")
	if err != nil || len(devs) != 5 {
		t.Fatalf("devices: %d %v (only the winners' devices exist)", len(devs), err)
	}
}

func TestDeviceListPaging(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	const versions = api.MaxDeviceListsPerFetch + 6
	for alice.list.Version < versions {
		alice.next(t, nil)
	}
	var got [][]byte
	after := uint64(0)
	for pages := 0; ; pages++ {
		r, err := alice.DeviceLists(ctx, "alice", after)
		if err != nil || r.Latest != versions {
			t.Fatalf("page %d: latest %d, %v", pages, r.Latest, err)
		}
		if pages == 0 && (len(r.Lists) != api.MaxDeviceListsPerFetch || !r.More) {
			t.Fatalf("first page: %d lists, more %v", len(r.Lists), r.More)
		}
		got = append(got, r.Lists...)
		if !r.More {
			break
		}
		after += uint64(len(r.Lists))
	}
	if len(got) != versions {
		t.Fatalf("%d lists over all pages, want %d", len(got), versions)
	}
	if _, err := devicelist.VerifyChain("alice", alice.ik.Public().(ed25519.PublicKey), nil, got); err != nil {
		t.Fatal(err)
	}
}

func TestDeviceCertificateUpload(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice := register(t, ts.URL, "alice", "")
	k2 := newKey(t)
	alice.next(t, []ed25519.PrivateKey{k2})
	alice2 := clientFor(t, ts.URL, "alice", 2, k2)
	cert := fakeCertificate(k2)
	cases := []struct {
		name string
		cert []byte
	}{
		{"short", cert[:163]},
		{"long", append(append([]byte(nil), cert...), 0)},
		{"another device's key", fakeCertificate(alice.key)},
	}
	for _, tc := range cases {
		err := alice2.PutCertificate(ctx, tc.cert)
		if !errors.Is(err, apiclient.ErrBadRequest) {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	if err := alice2.PutCertificate(ctx, cert); err != nil {
		t.Fatal(err)
	}
	if err := alice2.PutCertificate(ctx, cert); err != nil {
		t.Fatalf("the same certificate again: %v", err)
	}
	other := fakeCertificate(k2)
	other[0] = 1
	err := alice2.PutCertificate(ctx, other)
	wantConflict(t, err, "another certificate")
	devs, err := alice.Devices(ctx, "alice")
	if err != nil || string(devs[1].Certificate) != string(cert) {
		t.Fatalf("devices = %+v %v", devs, err)
	}
}

// An account stored before device lists existed starts its chain with a
// version 1 upload.
func TestDeviceListForLegacyAccount(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	ik, key, old := newKey(t), newKey(t), newKey(t)
	now := time.Now()
	if err := ts.st.CreateAccount(ctx, store.Account{Name: "carol", IdentityKey: ik.Public().(ed25519.PublicKey), CreatedAt: now},
		store.Device{User: "carol", ID: 1, SigningKey: key.Public().(ed25519.PublicKey), Certificate: []byte("c"), CreatedAt: now}, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := ts.st.AddDevice(ctx, store.Device{User: "carol", ID: 7, SigningKey: old.Public().(ed25519.PublicKey), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	carol := &user{Client: clientFor(t, ts.URL, "carol", 1, key), name: "carol", key: key, ik: ik, list: genesis(t, "carol", ik, key)}
	v2, _ := carol.makeNext(t, nil)
	_, err := carol.PutDeviceList(ctx, v2.Marshal())
	wantConflict(t, err, "send version 1")
	if v, err := carol.PutDeviceList(ctx, carol.list.Marshal()); err != nil || v != 1 {
		t.Fatalf("legacy genesis: %d %v", v, err)
	}
	// Device 7, not in the list, is gone.
	_, err = clientFor(t, ts.URL, "carol", 7, old).Self(ctx)
	wantAPIError(t, err, apiclient.ErrUnauthorized)
	if _, err := carol.Self(ctx); err != nil {
		t.Fatal(err)
	}
}
