package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"backchannel/devicelist"
	"backchannel/keylog"
	"backchannel/keylog/prefix"
	"backchannel/server"
	"backchannel/server/apiclient"
	"backchannel/store/sqlite"
)

// klServer is a real server with a key log on 127.0.0.1, data in a
// temporary directory; restart keeps the directory and the address.
type klServer struct {
	t     testing.TB
	dir   string
	cfg   server.Config
	kcfg  keylog.Config
	URL   string
	st    *sqlite.Store
	kl    *keylog.Log
	stop  context.CancelFunc
	done  chan error
	alive bool
}

func startKeyLogServer(t testing.TB, cfg server.Config, heartbeat time.Duration) *klServer {
	t.Helper()
	cfg.OpenRegistration = true
	ks := &klServer{t: t, dir: t.TempDir(), cfg: cfg, kcfg: keylog.Config{Heartbeat: heartbeat, EpochDelay: 50 * time.Millisecond}}
	ks.start()
	t.Cleanup(ks.shutdown)
	return ks
}

func (ks *klServer) start() {
	ks.t.Helper()
	st, err := sqlite.OpenDir(context.Background(), ks.dir, sqlite.Options{})
	if err != nil {
		ks.t.Fatal(err)
	}
	addr := "127.0.0.1:0"
	if ks.URL != "" {
		addr = strings.TrimPrefix(ks.URL, "http://")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		ks.t.Fatal(err)
	}
	level := slog.LevelWarn
	if os.Getenv("BACKCHANNEL_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	kc := ks.kcfg
	kc.Dir, kc.Store, kc.DefaultOrigin, kc.Logger = filepath.Join(ks.dir, "keylog"), st, keylog.Origin("test.example"), logger
	kl, err := keylog.Open(context.Background(), kc)
	if err != nil {
		ks.t.Fatal(err)
	}
	cfg := ks.cfg
	cfg.KeyLog = kl
	ks.st, ks.kl = st, kl
	srv := server.New(cfg, st, logger)
	ctx, cancel := context.WithCancel(context.Background())
	ks.stop, ks.done, ks.URL, ks.alive = cancel, make(chan error, 1), "http://"+ln.Addr().String(), true
	go func() { ks.done <- srv.Serve(ctx, ln) }()
}

func (ks *klServer) shutdown() {
	if !ks.alive {
		return
	}
	ks.alive = false
	ks.stop()
	if err := <-ks.done; err != nil {
		ks.t.Errorf("Serve: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ks.kl.Close(ctx); err != nil {
		ks.t.Errorf("key log close: %v", err)
	}
	if err := ks.st.Close(); err != nil {
		ks.t.Errorf("store close: %v", err)
	}
}

func (ks *klServer) restart() { ks.shutdown(); ks.start() }

func httpGet(t testing.TB, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// independent checks the key log with code that is not ours: the served
// checkpoint's signature under the served vkey (x/mod/sumdb/note), the
// tree hash recomputed from the served tiles (x/mod/sumdb/tlog over HTTP).
type independent struct {
	t      testing.TB
	url    string
	vkey   string
	origin string
}

func newIndependent(t testing.TB, url string) *independent {
	t.Helper()
	code, h, key := httpGet(t, url+"/log/key")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("/log/key: %d %q", code, h.Get("Content-Type"))
	}
	vkey := strings.TrimSpace(string(key))
	var info keylog.Info
	code, _, b := httpGet(t, url+"/v1/keylog/info")
	if code != 200 {
		t.Fatalf("/v1/keylog/info: %d %s", code, b)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if info.LogKey != vkey || len(info.VRFKey) != 32 || info.Origin != keylog.Origin("test.example") {
		t.Fatalf("info %+v does not match /log/key %q", info, vkey)
	}
	return &independent{t: t, url: url, vkey: vkey, origin: info.Origin}
}

// checkpoint opens a signed note and returns its size and root hash.
func (in *independent) checkpoint(text []byte) (int64, tlog.Hash) {
	in.t.Helper()
	v, err := note.NewVerifier(in.vkey)
	if err != nil {
		in.t.Fatal(err)
	}
	n, err := note.Open(text, note.VerifierList(v))
	if err != nil {
		in.t.Fatalf("checkpoint does not verify under the served key: %v\n%s", err, text)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != in.origin {
		in.t.Fatalf("checkpoint body %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		in.t.Fatal(err)
	}
	rb, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rb) != tlog.HashSize {
		in.t.Fatalf("checkpoint root %q", lines[2])
	}
	var h tlog.Hash
	copy(h[:], rb)
	return size, h
}

// httpTiles is a tlog.TileReader over the server's /log/tile/ (C2SP
// tlog-tiles paths: x/mod's path without its height element).
type httpTiles struct {
	t   testing.TB
	url string
}

func (h httpTiles) Height() int { return 8 }

func (h httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tile := range tiles {
		p := strings.Replace(tile.Path(), "tile/8/", "tile/", 1)
		resp, err := http.Get(h.url + "/log/" + p)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("GET %s: %d", p, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
			return nil, fmt.Errorf("GET %s: content type %q", p, ct)
		}
		out[i] = b
	}
	return out, nil
}

func (h httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

// verifyLookup checks a lookup: the checkpoint and the tree from the
// tiles (x/mod), the entry in the entry bundle and its inclusion proof
// (x/mod), then the prefix-tree part (VRF, commitment, path).
func (in *independent) verifyLookup(user string, raw []byte) keylog.Lookup {
	in.t.Helper()
	var l keylog.Lookup
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		in.t.Fatalf("lookup JSON: %v\n%s", err, raw)
	}
	size, root := in.checkpoint([]byte(l.Checkpoint))
	if uint64(size) != l.Epoch+1 {
		in.t.Fatalf("epoch %d in a checkpoint of size %d", l.Epoch, size)
	}
	hr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, httpTiles{in.t, in.url})
	th, err := tlog.TreeHash(size, hr)
	if err != nil || th != root {
		in.t.Fatalf("tree hash from the served tiles: %v (%v, checkpoint %v)", err, th, root)
	}
	var rp tlog.RecordProof
	for _, h := range l.Inclusion {
		var x tlog.Hash
		copy(x[:], h)
		rp = append(rp, x)
	}
	if err := tlog.CheckRecord(rp, size, root, int64(l.Epoch), tlog.RecordHash(l.Entry)); err != nil {
		in.t.Fatalf("inclusion proof of the entry: %v", err)
	}
	// The same entry is in the served entry bundle.
	bundlePath := "tile/entries/" + strings.TrimPrefix(tlog.Tile{H: 8, L: 0, N: int64(l.Epoch / 256), W: int(min(256, uint64(size)-l.Epoch/256*256))}.Path(), "tile/8/0/")
	if size%256 == 0 || uint64(size)-l.Epoch/256*256 >= 256 {
		bundlePath = strings.Split(bundlePath, ".p/")[0]
	}
	code, _, bundle := httpGet(in.t, in.url+"/log/"+bundlePath)
	if code != 200 {
		in.t.Fatalf("GET %s: %d", bundlePath, code)
	}
	want := l.Epoch % 256
	for i := uint64(0); ; i++ {
		if len(bundle) < 2 {
			in.t.Fatalf("entry %d not in its bundle", l.Epoch)
		}
		n := int(binary.BigEndian.Uint16(bundle))
		if len(bundle) < 2+n {
			in.t.Fatal("truncated bundle")
		}
		if i == want {
			if !bytes.Equal(bundle[2:2+n], l.Entry) {
				in.t.Fatalf("bundle entry %x, lookup entry %x", bundle[2:2+n], l.Entry)
			}
			break
		}
		bundle = bundle[2+n:]
	}
	e, err := prefix.ParseEntry(l.Entry)
	if err != nil || e.Epoch != l.Epoch {
		in.t.Fatalf("entry %+v: %v", e, err)
	}
	var info keylog.Info
	_, _, b := httpGet(in.t, in.url+"/v1/keylog/info")
	_ = json.Unmarshal(b, &info)
	index, err := prefix.VerifyVRF(info.VRFKey, user, l.VRFProof)
	if err != nil {
		in.t.Fatalf("VRF: %v", err)
	}
	dl := parseListT(in.t, l.DeviceList)
	if dl.Account != user || dl.Version != l.Version {
		in.t.Fatalf("device list of %s v%d in a lookup of %s v%d", dl.Account, dl.Version, user, l.Version)
	}
	c := prefix.Commitment(l.Nonce, l.Version, dl.Hash())
	var path []prefix.Hash
	for _, p := range l.Path {
		h, err := prefix.HashFromBytes(p)
		if err != nil {
			in.t.Fatal(err)
		}
		path = append(path, h)
	}
	if err := prefix.VerifyInclusion(e.Root, index, l.Updates, c, path); err != nil {
		in.t.Fatalf("prefix path: %v", err)
	}
	in.verifyChanged(l, size, root, prefix.Change{Index: index, Leaf: prefix.LeafHash(index, l.Updates, c)})
	return l
}

// consistent checks a consistency proof between two checkpoints (x/mod).
func (in *independent) consistent(c *apiclient.Client, older, newer string) {
	in.t.Helper()
	n, nh := in.checkpoint([]byte(older))
	t, th := in.checkpoint([]byte(newer))
	proof, err := c.KeyLogConsistency(context.Background(), uint64(n), uint64(t))
	if err != nil {
		in.t.Fatal(err)
	}
	var tp tlog.TreeProof
	for _, h := range proof {
		var x tlog.Hash
		copy(x[:], h)
		tp = append(tp, x)
	}
	if err := tlog.CheckTree(tp, t, th, n, nh); err != nil {
		in.t.Fatalf("consistency %d -> %d: %v", n, t, err)
	}
}

// waitVersion polls the lookup of user (as c) until it shows version.
func waitVersion(t testing.TB, in *independent, c *apiclient.Client, user string, version uint64) keylog.Lookup {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		raw, err := c.KeyLogLookup(context.Background(), user)
		if err == nil {
			l := in.verifyLookup(user, raw)
			if l.Version == version {
				return l
			}
		} else if !errors.Is(err, apiclient.ErrNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("lookup of %s never showed version %d (last: %v)", user, version, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestKeyLogLookupFollowsDeviceLists(t *testing.T) {
	ks := startKeyLogServer(t, server.Config{}, time.Hour)
	in := newIndependent(t, ks.URL)
	alice := register(t, ks.URL, "alice", "")
	bob := register(t, ks.URL, "bob", "")

	l1 := waitVersion(t, in, bob.Client, "alice", 1)
	if l1.Updates != 1 {
		t.Fatalf("updates %d after registration", l1.Updates)
	}
	alice.next(t, []ed25519.PrivateKey{newKey(t)})
	l2 := waitVersion(t, in, bob.Client, "alice", 2)
	if l2.Updates != 2 || l2.Epoch <= l1.Epoch || bytes.Equal(l1.Nonce, l2.Nonce) {
		t.Fatalf("after a list update: updates %d, epochs %d -> %d", l2.Updates, l1.Epoch, l2.Epoch)
	}
	in.consistent(bob.Client, l1.Checkpoint, l2.Checkpoint)
	// An account looks itself up too (self-monitoring), and bob is there.
	waitVersion(t, in, alice.Client, "alice", 2)
	waitVersion(t, in, alice.Client, "bob", 1)

	// Unknown and malformed names.
	if _, err := bob.KeyLogLookup(context.Background(), "nobody"); !errors.Is(err, apiclient.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := bob.KeyLogLookup(context.Background(), "Not_A-Name!"); !errors.Is(err, apiclient.ErrBadRequest) {
		t.Fatalf("bad name: %v", err)
	}
	// Lookups and consistency proofs need authentication; info does not.
	for _, p := range []string{"/v1/keylog/lookup/alice", "/v1/keylog/consistency?from=1&to=2"} {
		if code, _, _ := httpGet(t, ks.URL+p); code != http.StatusUnauthorized {
			t.Fatalf("unauthenticated %s: %d", p, code)
		}
	}
}

func TestKeyLogConsistencyParams(t *testing.T) {
	ks := startKeyLogServer(t, server.Config{}, time.Hour)
	in := newIndependent(t, ks.URL)
	alice := register(t, ks.URL, "alice", "")
	l := waitVersion(t, in, alice.Client, "alice", 1)
	size := l.Epoch + 1
	tests := []struct {
		query string
		code  int
	}{
		{"", 400},
		{"from=1", 400},
		{"to=1", 400},
		{"from=x&to=1", 400},
		{"from=1&to=1e3", 400},
		{"from=-1&to=1", 400},
		{"from=2&to=1", 400},
		{fmt.Sprintf("from=1&to=%d", size+1), 400},
		{"from=1&to=99999999999999999999", 400},
		{fmt.Sprintf("from=1&to=%d", size), 200},
		{fmt.Sprintf("from=%d&to=%d", size, size), 200},
	}
	for _, tc := range tests {
		code, er := rawRequest(t, "GET", ks.URL+"/v1/keylog/consistency?"+tc.query, nil, "alice", 1, alice.key, time.Now())
		if code != tc.code {
			t.Errorf("consistency?%s: %d %+v, want %d", tc.query, code, er, tc.code)
		}
	}
}

func TestKeyLogHeartbeat(t *testing.T) {
	ks := startKeyLogServer(t, server.Config{}, 150*time.Millisecond)
	in := newIndependent(t, ks.URL)
	deadline := time.Now().Add(20 * time.Second)
	var first int64 = -1
	for {
		code, h, cp := httpGet(t, ks.URL+"/log/checkpoint")
		if code != 200 || h.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("/log/checkpoint: %d %q", code, h.Get("Content-Type"))
		}
		size, _ := in.checkpoint(cp)
		if first < 0 {
			first = size
		}
		if size >= first+3 {
			break // three heartbeat epochs with no update at all
		}
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat epochs: size stayed %d", size)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestKeyLogRestartContinuesTheLog(t *testing.T) {
	ks := startKeyLogServer(t, server.Config{}, time.Hour)
	in := newIndependent(t, ks.URL)
	alice := register(t, ks.URL, "alice", "")
	alice.next(t, []ed25519.PrivateKey{newKey(t)})
	before := waitVersion(t, in, alice.Client, "alice", 2)
	info := ks.kl.Info()

	// A device list the store accepted but the log never recorded (as if
	// the process died between the two writes) is recorded after restart.
	l3, _ := alice.makeNext(t, []ed25519.PrivateKey{newKey(t)})
	if err := ks.st.PutDeviceList(context.Background(), "alice", l3.Version, l3.Marshal(), nil, nil); err != nil {
		t.Fatal(err)
	}
	ks.restart()
	if got := ks.kl.Info(); got.LogKey != info.LogKey || !bytes.Equal(got.VRFKey, info.VRFKey) || got.Origin != info.Origin {
		t.Fatalf("identity changed over a restart: %+v -> %+v", info, got)
	}
	after := waitVersion(t, in, alice.Client, "alice", 3)
	if after.Updates != 3 || after.Epoch <= before.Epoch {
		t.Fatalf("after restart: updates %d epoch %d (before: epoch %d)", after.Updates, after.Epoch, before.Epoch)
	}
	in.consistent(alice.Client, before.Checkpoint, after.Checkpoint)
	for _, f := range []string{keylog.LogKeyFile, keylog.VRFKeyFile} {
		st, err := os.Stat(filepath.Join(ks.dir, "keylog", f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st.Mode(), err)
		}
	}
}

func TestKeyLogRateLimit(t *testing.T) {
	ks := startKeyLogServer(t, server.Config{Limits: server.Limits{KeyLogPerMin: 3}}, time.Hour)
	in := newIndependent(t, ks.URL)
	alice := register(t, ks.URL, "alice", "")
	bob := register(t, ks.URL, "bob", "")
	_ = in
	var err error
	n := 0
	for ; n < 10; n++ {
		if _, err = alice.KeyLogLookup(context.Background(), "bob"); errors.Is(err, apiclient.ErrRateLimited) {
			break
		}
	}
	if n != 3 || !errors.Is(err, apiclient.ErrRateLimited) {
		t.Fatalf("rate limited after %d lookups (%v), want 3", n, err)
	}
	// The budget is per caller.
	if _, err := bob.KeyLogLookup(context.Background(), "alice"); errors.Is(err, apiclient.ErrRateLimited) {
		t.Fatalf("bob limited by alice's lookups: %v", err)
	}
}

func TestKeyLogPublicFiles(t *testing.T) {
	ks := startKeyLogServer(t, server.Config{}, time.Hour)
	tests := []struct {
		path string
		code int
	}{
		{"/log/checkpoint", 200},
		{"/log/tile/0/000.p/1", 200},
		{"/log/tile/entries/000.p/1", 200},
		{"/log/tile/0/000", 404},       // no full tile yet
		{"/log/tile/0/0000", 404},      // not canonical
		{"/log/tile/00/000.p/1", 404},  // not canonical
		{"/log/tile/0/000.p/01", 404},  // not canonical
		{"/log/tile/0/000.p/0", 404},   // width 0
		{"/log/tile/0/000.p/256", 404}, // width too large
		{"/log/tile/0/x000/000", 404},  // leading zero group
		{"/log/tile/64/000", 404},      // level too large
		{"/log/tile/0/..%2f..%2flog.key", 404},
		{"/log/tile/../../log.key", 404},
		{"/log/tile/entries/../../vrf.key", 404},
		{"/log/.state/treeState", 404},
		{"/log/tile/", 404},
		{"/log/", 404},
	}
	for _, tc := range tests {
		code, h, b := httpGet(t, ks.URL+tc.path)
		if code != tc.code {
			t.Errorf("GET %s: %d, want %d (%q)", tc.path, code, tc.code, b)
		}
		if code == 200 && strings.Contains(tc.path, "/tile/") && h.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("GET %s: content type %q", tc.path, h.Get("Content-Type"))
		}
		if bytes.Contains(b, []byte("PRIVATE")) {
			t.Fatalf("GET %s served a private key", tc.path)
		}
	}
}

func TestKeyLogAbsentWithoutLog(t *testing.T) {
	ts := startServer(t, server.Config{OpenRegistration: true})
	for _, p := range []string{"/log/checkpoint", "/log/key", "/v1/keylog/info"} {
		if code, _, _ := httpGet(t, ts.URL+p); code != http.StatusNotFound {
			t.Fatalf("%s without a key log: %d", p, code)
		}
	}
	// Registration and device lists work as before.
	u := register(t, ts.URL, "alice", "")
	u.next(t, []ed25519.PrivateKey{newKey(t)})
}

func parseListT(t testing.TB, b []byte) *devicelist.List {
	t.Helper()
	l, err := devicelist.Parse(b)
	if err != nil {
		t.Fatalf("device list in a lookup: %v", err)
	}
	return l
}
