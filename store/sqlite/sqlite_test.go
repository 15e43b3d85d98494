package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"backchannel/store"
	"backchannel/store/sqlite"
	"backchannel/store/storetest"
)

func open(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.OpenDir(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir()) })
}

func TestReopenKeepsDataAndNonces(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	now := time.Now()
	a := store.Account{Name: "alice", IdentityKey: []byte("ik"), CreatedAt: now}
	d := store.Device{User: "alice", ID: 1, SigningKey: []byte("k"), CreatedAt: now}
	if err := s.CreateAccount(ctx, a, d, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	to := store.Address{User: "alice", Device: 1}
	if _, err := s.Enqueue(ctx, to, []store.Envelope{{To: to, Data: []byte("x")}}, now, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce(ctx, "alice/1", []byte("n"), now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Ping after Close = %v", err)
	}
	if _, err := s.Enqueue(ctx, to, nil, now, 0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Enqueue after Close = %v", err)
	}
	s = open(t, dir)
	defer s.Close()
	msgs, err := s.Pending(ctx, to, 0, 10)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("after reopen: %v %v", msgs, err)
	}
	if err := s.UseNonce(ctx, "alice/1", []byte("n"), now, now.Add(time.Minute)); !errors.Is(err, store.ErrReplay) {
		t.Fatalf("nonce forgotten across reopen: %v", err)
	}
	// Mailbox sizes are recounted on open.
	if _, err := s.Enqueue(ctx, to, []store.Envelope{{To: to, Data: []byte("y")}}, now, 1); !errors.Is(err, store.ErrMailboxFull) {
		t.Fatalf("mailbox size forgotten across reopen: %v", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	_, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "missing", "dir", "db"), sqlite.Options{})
	if err == nil {
		t.Fatal("opening a database in a missing directory succeeded")
	}
}

// BenchmarkGroupCommit measures durable single-message sends from concurrent
// senders (the load shape of the relay: each sender waits for its ack).
// Run: go test -run '^$' -bench GroupCommit -benchtime 10000x ./store/sqlite
func BenchmarkGroupCommit(b *testing.B) {
	for _, tc := range []struct {
		senders, maxBatch int
		counted           bool
	}{{1, 0, false}, {10, 1, false}, {10, 0, false}, {10, 0, true}, {100, 0, false}} {
		senders := tc.senders
		name := fmt.Sprintf("senders=%d", senders)
		if tc.maxBatch == 1 {
			name += "/no-group-commit"
		}
		if tc.counted {
			name += "/counted" // EnqueueCounted from one device per sender
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s, err := sqlite.OpenDir(ctx, b.TempDir(), sqlite.Options{MaxBatch: tc.maxBatch})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			now := time.Now()
			to := store.Address{User: "reader", Device: 1}
			if err := s.CreateAccount(ctx, store.Account{Name: "reader", IdentityKey: []byte("ik")},
				store.Device{User: "reader", ID: 1, SigningKey: []byte("k")}, nil, nil, now); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 256)
			var next atomic.Int64
			before := s.Stats()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i := range senders {
				from := store.Address{User: "reader", Device: uint32(100 + i)}
				if err := s.AddDevice(ctx, store.Device{User: "reader", ID: from.Device, SigningKey: []byte("k"), CreatedAt: now}); err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					digest := make([]byte, 32)
					for counter := uint64(1); next.Add(1) <= int64(b.N); counter++ {
						var err error
						if tc.counted {
							_, err = s.EnqueueCounted(ctx, from, counter, digest, []store.Envelope{{To: to, Data: payload}}, now, 0)
						} else {
							_, err = s.Enqueue(ctx, from, []store.Envelope{{To: to, Data: payload}}, now, 0)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			if c := st.Commits - before.Commits; c > 0 {
				b.ReportMetric(float64(st.CommittedOps-before.CommittedOps)/float64(c), "ops/commit")
			}
		})
	}
}

func TestBackup(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	now := time.Now()
	if err := s.CreateAccount(ctx, store.Account{Name: "alice", IdentityKey: []byte("ik")},
		store.Device{User: "alice", ID: 1, SigningKey: []byte("k")}, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	to := store.Address{User: "alice", Device: 1}
	if _, err := s.Enqueue(ctx, to, []store.Envelope{{To: to, Data: []byte("kept")}}, now, 0); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dest := filepath.Join(dir, sqlite.FileName)
	if err := s.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, dest); err == nil {
		t.Fatal("backup overwrote an existing file")
	}
	// The live store keeps working; the copy opens and has the data.
	if _, err := s.Enqueue(ctx, to, []store.Envelope{{To: to, Data: []byte("later")}}, now, 0); err != nil {
		t.Fatal(err)
	}
	c := open(t, dir)
	defer c.Close()
	msgs, err := c.Pending(ctx, to, 0, 10)
	if err != nil || len(msgs) != 1 || string(msgs[0].Data) != "kept" {
		t.Fatalf("backup holds %v, %v", msgs, err)
	}
}

// A database written before invites had names opens, gains the column, and
// its unnamed invites still register any name.
func TestMigrateOldInvites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE invites (hash BLOB PRIMARY KEY, expires_at INTEGER NOT NULL, used_at INTEGER);
		INSERT INTO invites (hash, expires_at) VALUES (x'01', ?)`, time.Now().Add(time.Hour).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := open(t, dir)
	defer s.Close()
	now := time.Now()
	if err := s.CreateAccount(ctx, store.Account{Name: "carol", IdentityKey: []byte("ik")},
		store.Device{User: "carol", ID: 1, SigningKey: []byte("k")}, nil, []byte{1}, now); err != nil {
		t.Fatalf("old invite after migration: %v", err)
	}
	if err := s.CreateInvite(ctx, []byte{2}, "dave", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// A database written before uploads recorded their last activity opens,
// gains the column, and an unfinalized upload it holds counts as idle since
// forever (freed by the first DropIdleUploads) while a finalized blob stays.
func TestMigrateOldBlobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE accounts (name TEXT PRIMARY KEY, identity_key BLOB NOT NULL, created_at INTEGER NOT NULL, blob_bytes INTEGER NOT NULL DEFAULT 0);
		CREATE TABLE blobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, size INTEGER NOT NULL DEFAULT 0, chunks INTEGER NOT NULL DEFAULT 0, final INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
		INSERT INTO accounts (name, identity_key, created_at, blob_bytes) VALUES ('alice', x'01', 0, 30);
		INSERT INTO blobs (id, owner, size, final, created_at) VALUES ('half', 'alice', 20, 0, ?), ('done', 'alice', 10, 1, ?)`,
		time.Now().UnixMicro(), time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := open(t, dir)
	defer s.Close()
	n, freed, err := s.DropIdleUploads(ctx, "alice", time.Now().Add(-time.Hour))
	if err != nil || n != 1 || freed != 20 {
		t.Fatalf("dropped %d blobs, %d bytes, %v; want 1, 20", n, freed, err)
	}
	if used, err := s.BlobUsage(ctx, "alice"); err != nil || used != 10 {
		t.Fatalf("usage %d, %v; want 10", used, err)
	}
	if _, err := s.Blob(ctx, "done"); err != nil {
		t.Fatalf("finalized blob: %v", err)
	}
}
