package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
)

// stmtCache keeps one prepared statement per query text, so hot queries are
// parsed once per connection instead of once per call.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: make(map[string]*sql.Stmt)}
}

// lookup returns the cached statement for query, if any.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// get returns the cached statement for query, preparing it if needed. It
// needs a free connection of c.db: the writer must not call it inside a
// transaction (the write pool has a single connection).
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := c.lookup(query); st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		st.Close()
		return nil, fmt.Errorf("prepare: statement cache closed")
	}
	if prev, ok := c.m[query]; ok {
		st.Close()
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// reader runs cached statements on the read pool.
type reader struct{ c *stmtCache }

func (r reader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := r.c.get(ctx, query)
	if err != nil {
		return r.c.db.QueryRowContext(ctx, query, args...) // reports the error on Scan
	}
	return st.QueryRowContext(ctx, args...)
}

func (r reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := r.c.get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// wtx is a write transaction that runs cached statements. A query that is
// not cached yet runs unprepared and is remembered in missed; the writer
// prepares missed queries between transactions, when its single connection
// is free.
type wtx struct {
	tx     *sql.Tx
	c      *stmtCache
	missed map[string]bool
	counts *mailboxCounts // committed mailbox sizes (owned by the writer)
	log    []countDelta   // this transaction's changes to them
	// waiters are Scrub calls to answer once this transaction has
	// committed and the write-ahead log is truncated.
	waiters []chan error
}

// stmt returns a transaction-bound cached statement, or nil.
func (t *wtx) stmt(ctx context.Context, query string) *sql.Stmt {
	st := t.c.lookup(query)
	if st == nil {
		if !strings.Contains(query, "IN (?") { // variable-length lists are not cached
			if t.missed == nil {
				t.missed = make(map[string]bool)
			}
			t.missed[query] = true
		}
		return nil
	}
	return t.tx.StmtContext(ctx, st)
}

func (t *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

func (t *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

// prepareMissed prepares the queries a finished transaction ran unprepared.
func (t *wtx) prepareMissed(ctx context.Context) {
	for q := range t.missed {
		_, _ = t.c.get(ctx, q) // a failure just leaves the query unprepared
	}
}
