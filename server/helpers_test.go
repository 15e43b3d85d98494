package server_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"backchannel/devicelist"
	"backchannel/identity"
	"backchannel/server"
	"backchannel/server/api"
	"backchannel/server/apiclient"
	"backchannel/store/sqlite"
)

// testServer is a real server on 127.0.0.1 with an SQLite store in a
// temporary directory.
type testServer struct {
	t    testing.TB
	dir  string
	cfg  server.Config
	URL  string
	st   *sqlite.Store
	srv  *server.Server
	stop context.CancelFunc
	done chan error
	// logTo, if set, receives the server's info-level log.
	logTo io.Writer
}

func startServer(t testing.TB, cfg server.Config) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: t.TempDir(), cfg: cfg}
	ts.start()
	t.Cleanup(ts.shutdown)
	return ts
}

func (ts *testServer) start() {
	ts.t.Helper()
	st, err := sqlite.OpenDir(context.Background(), ts.dir, sqlite.Options{})
	if err != nil {
		ts.t.Fatal(err)
	}
	addr := "127.0.0.1:0"
	if ts.URL != "" { // restart on the same address so clients reconnect
		addr = strings.TrimPrefix(ts.URL, "http://")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		ts.t.Fatal(err)
	}
	level := slog.LevelWarn
	if os.Getenv("BACKCHANNEL_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if ts.logTo != nil {
		logger = slog.New(slog.NewTextHandler(ts.logTo, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ts.st = st
	ts.srv = server.New(ts.cfg, st, logger)
	ctx, cancel := context.WithCancel(context.Background())
	ts.stop = cancel
	ts.done = make(chan error, 1)
	ts.URL = "http://" + ln.Addr().String()
	go func() { ts.done <- ts.srv.Serve(ctx, ln) }()
}

// shutdown stops the server gracefully and closes the store.
func (ts *testServer) shutdown() {
	if ts.stop == nil {
		return
	}
	ts.stop()
	if err := <-ts.done; err != nil {
		ts.t.Errorf("Serve: %v", err)
	}
	if err := ts.st.Close(); err != nil {
		ts.t.Errorf("store close: %v", err)
	}
	ts.stop = nil
}

func (ts *testServer) restart() {
	ts.shutdown()
	ts.start()
}

type user struct {
	*apiclient.Client
	name string
	key  ed25519.PrivateKey // device 1's signing key
	ik   ed25519.PrivateKey // the account (identity) key
	list *devicelist.List   // the newest list the test made
}

// accountKey wraps an Ed25519 key as an identity.User (the account key
// that signs device lists).
func accountKey(t testing.TB, ik ed25519.PrivateKey) *identity.User {
	t.Helper()
	u, err := identity.UserFromSeed(ik.Seed())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// entry makes the device-signed list entry of device id with signing key
// key (and a random X25519 key).
func entry(t testing.TB, name string, ik, key ed25519.PrivateKey, id uint32) devicelist.Entry {
	t.Helper()
	dh, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e, err := devicelist.NewEntry(name, ik.Public().(ed25519.PublicKey), id, key, dh.PublicKey().Bytes(), fmt.Sprint("device ", id), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// genesis makes version 1 of name's device list holding device 1 with
// signing key key, signed by the account key ik.
func genesis(t testing.TB, name string, ik, key ed25519.PrivateKey) *devicelist.List {
	t.Helper()
	l, err := devicelist.Genesis(name, accountKey(t, ik), []devicelist.Entry{entry(t, name, ik, key, 1)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// registerWith registers c (device 1) under the account key ik with a
// genesis list; c's key must be key.
func registerWith(ctx context.Context, t testing.TB, c *apiclient.Client, ik, key ed25519.PrivateKey, cert []byte, invite string) error {
	t.Helper()
	list := genesis(t, c.Identity().User, ik, key)
	_, err := c.Register(ctx, ik.Public().(ed25519.PublicKey), cert, list.Marshal(), invite)
	return err
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func clientFor(t testing.TB, url, name string, device uint32, key ed25519.PrivateKey, opts ...apiclient.Option) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(url, apiclient.Identity{User: name, Device: device, Key: key}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// register creates a user with device 1 (the server must allow open
// registration unless invite is set).
func register(t testing.TB, url, name, invite string) *user {
	t.Helper()
	u := &user{name: name, key: newKey(t), ik: newKey(t)}
	u.Client = clientFor(t, url, name, 1, u.key)
	u.list = genesis(t, name, u.ik, u.key)
	if _, err := u.Register(context.Background(), u.ik.Public().(ed25519.PublicKey), []byte("cert:"+name), u.list.Marshal(), invite); err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	return u
}

// next makes and uploads the next version of u's list, adding a device per
// key in add (ids from MaxID+1 on) and dropping the ids in remove. It
// returns the added entries' ids.
func (u *user) next(t testing.TB, add []ed25519.PrivateKey, remove ...uint32) []uint32 {
	t.Helper()
	l, ids := u.makeNext(t, add, remove...)
	v, err := u.PutDeviceList(context.Background(), l.Marshal())
	if err != nil {
		t.Fatalf("put device list v%d: %v", l.Version, err)
	}
	if uint64(v) != l.Version {
		t.Fatalf("put device list: version %d, want %d", v, l.Version)
	}
	u.list = l
	return ids
}

// makeNext makes the next version of u's list without uploading it.
func (u *user) makeNext(t testing.TB, add []ed25519.PrivateKey, remove ...uint32) (*devicelist.List, []uint32) {
	t.Helper()
	var entries []devicelist.Entry
	var ids []uint32
	for i, k := range add {
		id := u.list.MaxID + 1 + uint32(i)
		entries = append(entries, entry(t, u.name, u.ik, k, id))
		ids = append(ids, id)
	}
	l, err := devicelist.Next(u.list, accountKey(t, u.ik), entries, remove, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return l, ids
}

// rawRequest sends a request signed by key (if non-nil) at time now and
// returns the status and decoded error body.
func rawRequest(t *testing.T, method, url string, body []byte, name string, device uint32, key ed25519.PrivateKey, now time.Time) (int, api.ErrorResponse) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != nil {
		api.SignRequest(req, body, name, device, key, now)
	}
	return doRaw(t, req)
}

func doRaw(t *testing.T, req *http.Request) (int, api.ErrorResponse) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var er api.ErrorResponse
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(b, &er); err != nil || er.Code == "" || er.Error == "" {
			t.Fatalf("%s %s: status %d with non-JSON error body %q", req.Method, req.URL, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, er
}

func wantAPIError(t *testing.T, err error, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got %v, want %v", err, target)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
