// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, pure Go, no cgo).
//
// The database runs in WAL mode with synchronous=FULL: a write that returns
// nil has been fsync'd. All writes go through one writer goroutine that drains
// a queue and commits everything queued so far in one transaction (group
// commit), so concurrent writers share one fsync. Each operation runs inside a
// savepoint, so a failing operation does not affect the others in its batch.
// Reads use a separate pool of read-only connections and see the latest
// committed state.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"backchannel/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file name used by OpenDir.
const FileName = "backchannel.db"

// Options tune a Store. The zero value is usable.
type Options struct {
	// MaxBatch caps the number of operations committed in one transaction
	// (default 1024).
	MaxBatch int
	// ReadConns is the size of the read connection pool (default 4).
	ReadConns int
	// ScrubInterval bounds how long a deleted or overwritten row (an
	// acknowledged message, a removed mailbox, a handed-out prekey, an
	// expired nonce, a deleted blob) stays readable in the database files:
	// at most this long after any commit the write-ahead log is
	// checkpointed and truncated (default DefaultScrubInterval; negative:
	// only when Scrub is called). Deleted rows are zeroed in the database
	// at once (secure_delete).
	ScrubInterval time.Duration
}

// DefaultScrubInterval is the default Options.ScrubInterval.
const DefaultScrubInterval = time.Second

// Store is a store.Store backed by SQLite.
type Store struct {
	rdb    *sql.DB
	r      reader // cached statements on rdb
	w      *writer
	nonces *nonceCache
	path   string

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)
var _ store.StatsReporter = (*Store)(nil)
var _ store.Backuper = (*Store)(nil)

// OpenDir opens (creating if needed) the database FileName in dir.
func OpenDir(ctx context.Context, dir string, opts Options) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	return Open(ctx, filepath.Join(dir, FileName), opts)
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		// Deleted content is overwritten with zeros, in tables, indexes
		// and freed pages (docs/threat-model.md, "What the operator keeps").
		q.Add("_pragma", "secure_delete(1)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1024
	}
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.ScrubInterval == 0 {
		opts.ScrubInterval = DefaultScrubInterval
	}
	wdb, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	var mode string
	if err := wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if mode != "wal" {
		wdb.Close()
		return nil, fmt.Errorf("open %s: journal mode is %q, want wal", path, mode)
	}
	if _, err := wdb.ExecContext(ctx, schema+keyLogSchema); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("create schema: %w", err)
	}
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	counts, err := loadMailboxCounts(ctx, wdb)
	if err != nil {
		wdb.Close()
		return nil, err
	}
	rdb, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	rdb.SetMaxOpenConns(opts.ReadConns)
	rdb.SetMaxIdleConns(opts.ReadConns)
	s := &Store{rdb: rdb, r: reader{newStmtCache(rdb)}, path: path}
	s.w = newWriter(wdb, opts.MaxBatch, counts, opts.ScrubInterval)
	s.nonces, err = loadNonces(ctx, rdb, time.Now())
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if s.w.isClosed() {
		return store.ErrClosed
	}
	if err := s.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// Scrub commits what is queued, then checkpoints the write-ahead log and
// truncates it, so that nothing deleted before the call (acknowledged
// messages, removed mailboxes, deleted blobs) is left in the database files.
// The writer does the same by itself within Options.ScrubInterval of a
// deletion.
func (s *Store) Scrub(ctx context.Context) error {
	ch := make(chan error, 1)
	err := s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		tx.waiters = append(tx.waiters, ch)
		return nil
	})
	if err != nil {
		return fmt.Errorf("scrub: %w", err)
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats implements store.StatsReporter.
func (s *Store) Stats() store.Stats { return s.w.stats() }

// Close drains the write queue, commits it and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		werr := s.w.close()
		s.r.c.close()
		rerr := s.rdb.Close()
		s.closeErr = errors.Join(werr, rerr)
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

const schema = `
CREATE TABLE IF NOT EXISTS accounts (
	name TEXT PRIMARY KEY,
	identity_key BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	blob_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS devices (
	user TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
	id INTEGER NOT NULL,
	signing_key BLOB NOT NULL,
	certificate BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user, id)
);
CREATE TABLE IF NOT EXISTS fixed_prekeys (
	user TEXT NOT NULL,
	device INTEGER NOT NULL,
	kind INTEGER NOT NULL,
	id INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (user, device, kind),
	FOREIGN KEY (user, device) REFERENCES devices(user, id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS onetime_prekeys (
	user TEXT NOT NULL,
	device INTEGER NOT NULL,
	kind INTEGER NOT NULL,
	id INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (user, device, kind, id),
	FOREIGN KEY (user, device) REFERENCES devices(user, id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS messages (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	to_user TEXT NOT NULL,
	to_device INTEGER NOT NULL,
	from_user TEXT NOT NULL,
	from_device INTEGER NOT NULL,
	data BLOB NOT NULL,
	received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_to ON messages (to_user, to_device, id);
DROP TABLE IF EXISTS mailbox_counts;
CREATE TABLE IF NOT EXISTS blobs (
	id TEXT PRIMARY KEY,
	owner TEXT NOT NULL,
	size INTEGER NOT NULL DEFAULT 0,
	chunks INTEGER NOT NULL DEFAULT 0,
	final INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	touched_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS blob_chunks (
	blob_id TEXT NOT NULL REFERENCES blobs(id) ON DELETE CASCADE,
	idx INTEGER NOT NULL,
	off INTEGER NOT NULL DEFAULT 0,
	size INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (blob_id, idx)
);
CREATE TABLE IF NOT EXISTS invites (
	hash BLOB PRIMARY KEY,
	expires_at INTEGER NOT NULL,
	used_at INTEGER,
	name TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS device_lists (
	user TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
	version INTEGER NOT NULL,
	list BLOB NOT NULL,
	PRIMARY KEY (user, version)
);
CREATE TABLE IF NOT EXISTS send_counters (
	user TEXT NOT NULL,
	device INTEGER NOT NULL,
	counter INTEGER NOT NULL,
	digest BLOB NOT NULL,
	PRIMARY KEY (user, device),
	FOREIGN KEY (user, device) REFERENCES devices(user, id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS nonces (
	key TEXT NOT NULL,
	nonce BLOB NOT NULL,
	expires_at INTEGER NOT NULL,
	PRIMARY KEY (key, nonce)
);
`

// columns adds to tables created by older versions the columns they lack
// (CREATE TABLE IF NOT EXISTS leaves an existing table as it is).
var columns = []struct{ table, column, decl string }{
	{"invites", "name", "TEXT NOT NULL DEFAULT ''"},
	{"blobs", "touched_at", "INTEGER NOT NULL DEFAULT 0"}, // 0: an old upload, idle since forever
}

func migrate(ctx context.Context, db *sql.DB) error {
	for _, c := range columns {
		var n int
		err := db.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info(?) WHERE name = ?", c.table, c.column).Scan(&n)
		if err != nil {
			return fmt.Errorf("migrate %s.%s: %w", c.table, c.column, err)
		}
		if n > 0 {
			continue
		}
		if _, err := db.ExecContext(ctx, "ALTER TABLE "+c.table+" ADD COLUMN "+c.column+" "+c.decl); err != nil {
			return fmt.Errorf("migrate %s.%s: %w", c.table, c.column, err)
		}
	}
	return nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// clone returns a copy of b that is never nil for non-empty input.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
