package keylog_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"backchannel/keylog"
	"backchannel/store"
	"backchannel/store/sqlite"
)

func TestPublicPath(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		kind    int
		partial bool
	}{
		{"checkpoint", true, keylog.ResourceCheckpoint, false},
		{"tile/0/000", true, keylog.ResourceTile, false},
		{"tile/0/001.p/5", true, keylog.ResourceTile, true},
		{"tile/3/x001/x234/067", true, keylog.ResourceTile, false},
		{"tile/63/x001/234.p/255", true, keylog.ResourceTile, true},
		{"tile/entries/000", true, keylog.ResourceEntries, false},
		{"tile/entries/x001/000.p/17", true, keylog.ResourceEntries, true},
		{"tile/64/000", false, 0, false},
		{"tile/01/000", false, 0, false},
		{"tile/0/0000", false, 0, false},
		{"tile/0/00", false, 0, false},
		{"tile/0/x000/001", false, 0, false},
		{"tile/0/000.p/0", false, 0, false},
		{"tile/0/000.p/256", false, 0, false},
		{"tile/0/000.p/05", false, 0, false},
		{"tile/0/000.p", false, 0, false},
		{"tile/0/000.p/5/6", false, 0, false},
		{"tile/0/x001.p/000", false, 0, false},
		{"tile/0/000/", false, 0, false},
		{"tile/0//000", false, 0, false},
		{"tile/0/../000", false, 0, false},
		{"tile/entries/../../log.key", false, 0, false},
		{"tile/../log.key", false, 0, false},
		{"log.key", false, 0, false},
		{".state/treeState", false, 0, false},
		{"checkpoint/", false, 0, false},
		{"tile/0", false, 0, false},
		{"tile/", false, 0, false},
		{"", false, 0, false},
		{"tile/0/x999/x999/x999/x999/x999/x999/x999/999", false, 0, false},
		{"tile/0/-01", false, 0, false},
		{"tile/0/+01", false, 0, false},
	}
	for _, tc := range tests {
		p, kind, partial, ok := keylog.PublicPath(tc.in)
		if ok != tc.ok || kind != tc.kind || partial != tc.partial || (ok && p != tc.in) {
			t.Errorf("PublicPath(%q) = %q %d %v %v, want ok %v kind %d partial %v", tc.in, p, kind, partial, ok, tc.ok, tc.kind, tc.partial)
		}
	}
}

func FuzzPublicPath(f *testing.F) {
	for _, s := range []string{"checkpoint", "tile/0/000", "tile/entries/x001/000.p/17", "tile/0/../x", "tile/9/x1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, _, _, ok := keylog.PublicPath(s)
		if !ok {
			return
		}
		if p != s || strings.Contains(p, "..") || strings.Trim(p, "0123456789abcdefghijklmnopqrstuvwxyz./") != "" || filepath.Clean(p) != p {
			t.Fatalf("PublicPath(%q) accepted an unsafe path %q", s, p)
		}
	})
}

type env struct {
	t   testing.TB
	dir string
	st  *sqlite.Store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.OpenDir(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{t: t, dir: dir, st: st}
}

func (e *env) open(cfg keylog.Config) (*keylog.Log, error) {
	cfg.Dir = filepath.Join(e.dir, "keylog")
	if cfg.Store == nil {
		cfg.Store = e.st
	}
	if cfg.DefaultOrigin == "" {
		cfg.DefaultOrigin = keylog.Origin("default.example")
	}
	if cfg.EpochDelay == 0 {
		cfg.EpochDelay = 20 * time.Millisecond
	}
	return keylog.Open(context.Background(), cfg)
}

func (e *env) mustOpen(cfg keylog.Config) *keylog.Log {
	e.t.Helper()
	l, err := e.open(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { closeLog(e.t, l) })
	return l
}

func closeLog(t testing.TB, l *keylog.Log) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// account creates name in the store with opaque device lists v1..n (the
// log never parses them on lookups).
func (e *env) account(name string, n uint64) {
	e.t.Helper()
	ctx := context.Background()
	a := store.Account{Name: name, IdentityKey: []byte("ik"), CreatedAt: time.Now()}
	d := store.Device{User: name, ID: 1, SigningKey: []byte("k"), CreatedAt: time.Now()}
	if err := e.st.CreateAccount(ctx, a, d, []byte(name+" v1"), nil, time.Now()); err != nil {
		e.t.Fatal(err)
	}
	for v := uint64(2); v <= n; v++ {
		if err := e.st.PutDeviceList(ctx, name, v, fmt.Appendf(nil, "%s v%d", name, v), nil, nil); err != nil {
			e.t.Fatal(err)
		}
	}
}

func listHash(name string, v uint64) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "%s v%d", name, v))
}

// waitVersion polls until the published epoch shows name at version v.
func waitVersion(t testing.TB, l *keylog.Log, name string, v uint64) *keylog.Lookup {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		lk, err := l.Lookup(context.Background(), name)
		if err == nil && lk.Version == v {
			return lk
		}
		if err != nil && !errors.Is(err, keylog.ErrNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached version %d (%v)", name, v, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestOriginIsFixedAtFirstStart(t *testing.T) {
	e := newEnv(t)
	l, err := e.open(keylog.Config{Origin: keylog.Origin("a.example")})
	if err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	if _, err := e.open(keylog.Config{Origin: keylog.Origin("b.example")}); !errors.Is(err, keylog.ErrIdentity) {
		t.Fatalf("another origin: %v, want ErrIdentity", err)
	}
	l = e.mustOpen(keylog.Config{DefaultOrigin: keylog.Origin("c.example")})
	if got := l.Info().Origin; got != keylog.Origin("a.example") {
		t.Fatalf("origin %q after a restart without one", got)
	}
}

func TestUpdatesInOrder(t *testing.T) {
	e := newEnv(t)
	e.account("alice", 3)
	l := e.mustOpen(keylog.Config{Heartbeat: time.Hour})
	ctx := context.Background()
	if _, err := l.Lookup(ctx, "alice"); !errors.Is(err, keylog.ErrNotFound) {
		t.Fatalf("lookup before any update: %v", err)
	}
	for _, v := range []uint64{1, 3, 2, 1} { // late, older updates change nothing
		if err := l.Update(ctx, "alice", v, listHash("alice", v)); err != nil {
			t.Fatal(err)
		}
	}
	lk := waitVersion(t, l, "alice", 3)
	if lk.Updates != 3 || string(lk.DeviceList) != "alice v3" || len(lk.VRFProof) != 80 || len(lk.Nonce) != 32 {
		t.Fatalf("lookup %+v", lk)
	}
	// Heartbeat an hour away: nothing else is published on its own.
	ep, _ := l.Latest()
	time.Sleep(100 * time.Millisecond)
	if ep2, _ := l.Latest(); ep2.Entry.Epoch != ep.Entry.Epoch {
		t.Fatalf("epoch %d -> %d with no update", ep.Entry.Epoch, ep2.Entry.Epoch)
	}
}

// flaky fails PutKeyLogLeaf while fail is set.
type flaky struct {
	*sqlite.Store
	fail atomic.Bool
}

func (f *flaky) PutKeyLogLeaf(ctx context.Context, l store.KeyLogLeaf) (store.KeyLogLeaf, bool, error) {
	if f.fail.Load() {
		return store.KeyLogLeaf{}, false, errors.New("injected failure")
	}
	return f.Store.PutKeyLogLeaf(ctx, l)
}

func TestFailedUpdateIsRecordedFromTheStore(t *testing.T) {
	e := newEnv(t)
	fs := &flaky{Store: e.st}
	// catchUp parses stored lists: use real ones.
	ctx := context.Background()
	list1, list2 := realLists(t, "alice")
	a := store.Account{Name: "alice", IdentityKey: list1.AccountKey, CreatedAt: time.Now()}
	d := store.Device{User: "alice", ID: 1, SigningKey: list1.Devices[0].SigningKey, CreatedAt: time.Now()}
	if err := e.st.CreateAccount(ctx, a, d, list1.Marshal(), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	l := e.mustOpen(keylog.Config{Store: fs, Heartbeat: time.Hour})
	waitVersion(t, l, "alice", 1) // recorded at open: the store had it, the log did not
	if err := e.st.PutDeviceList(ctx, "alice", 2, list2.Marshal(), nil, nil); err != nil {
		t.Fatal(err)
	}
	fs.fail.Store(true)
	if err := l.Update(ctx, "alice", 2, list2.Hash()); err == nil {
		t.Fatal("injected failure not reported")
	}
	fs.fail.Store(false)
	lk := waitVersion(t, l, "alice", 2)
	if lk.Updates != 2 {
		t.Fatalf("updates %d", lk.Updates)
	}
}

func TestConcurrentUpdatesAndLookups(t *testing.T) {
	e := newEnv(t)
	const users, versions = 8, 5
	for i := range users {
		e.account(fmt.Sprintf("u%d", i), versions)
	}
	l := e.mustOpen(keylog.Config{Heartbeat: 30 * time.Millisecond})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range users {
		wg.Add(2)
		name := fmt.Sprintf("u%d", i)
		go func() {
			defer wg.Done()
			for v := uint64(1); v <= versions; v++ {
				if err := l.Update(ctx, name, v, listHash(name, v)); err != nil {
					t.Error(err)
				}
				time.Sleep(time.Millisecond)
			}
		}()
		go func() {
			defer wg.Done()
			for range 50 {
				lk, err := l.Lookup(ctx, name)
				if err != nil && !errors.Is(err, keylog.ErrNotFound) {
					t.Error(err)
					return
				}
				if err == nil && string(lk.DeviceList) != fmt.Sprintf("%s v%d", name, lk.Version) {
					t.Errorf("lookup of %s v%d carries list %q", name, lk.Version, lk.DeviceList)
				}
			}
		}()
	}
	wg.Wait()
	for i := range users {
		waitVersion(t, l, fmt.Sprintf("u%d", i), versions)
	}
}
