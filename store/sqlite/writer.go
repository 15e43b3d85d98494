package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"backchannel/store"
)

// txFunc is one write operation. It must only use tx.
type txFunc func(ctx context.Context, tx *wtx) error

type op struct {
	ctx  context.Context
	fn   txFunc
	done chan error // nil: asynchronous, nobody waits
}

// writer is the single goroutine that owns the write connection. It drains
// its queue and commits everything queued so far in one transaction.
type writer struct {
	db       *sql.DB
	stmts    *stmtCache
	counts   *mailboxCounts // mailbox sizes; only the writer goroutine touches them
	maxBatch int
	ops      chan *op

	scrubEvery time.Duration // how soon deleted rows leave the write-ahead log (<0: only on Scrub)
	dirty      bool          // something was committed since the last truncation (writer goroutine only)

	mu     sync.RWMutex // guards closed against concurrent sends on ops
	closed bool
	done   chan struct{}

	commits, committed, failed atomic.Uint64
}

func newWriter(db *sql.DB, maxBatch int, counts *mailboxCounts, scrubEvery time.Duration) *writer {
	w := &writer{db: db, stmts: newStmtCache(db), counts: counts, maxBatch: maxBatch, ops: make(chan *op, 4*maxBatch), done: make(chan struct{}), scrubEvery: scrubEvery}
	go w.loop()
	return w
}

func (w *writer) isClosed() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.closed
}

// do queues fn and waits until it is committed (or failed). If ctx ends while
// waiting, do returns ctx.Err() and the operation may or may not commit.
func (w *writer) do(ctx context.Context, fn txFunc) error {
	o := &op{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if err := w.enqueue(ctx, o); err != nil {
		return err
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// async queues fn without waiting; errors are counted and dropped.
func (w *writer) async(fn txFunc) {
	_ = w.enqueue(context.Background(), &op{ctx: context.Background(), fn: fn})
}

func (w *writer) enqueue(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return store.ErrClosed
	}
	select {
	case w.ops <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *writer) close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.ops)
	}
	w.mu.Unlock()
	<-w.done
	w.stmts.close()
	return w.db.Close()
}

func (w *writer) stats() store.Stats {
	return store.Stats{
		Commits:      w.commits.Load(),
		CommittedOps: w.committed.Load(),
		FailedOps:    w.failed.Load(),
		QueueDepth:   len(w.ops),
	}
}

func (w *writer) loop() {
	defer close(w.done)
	batch := make([]*op, 0, w.maxBatch)
	var tick <-chan time.Time
	if w.scrubEvery > 0 {
		t := time.NewTicker(w.scrubEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		var o *op
		var ok bool
		select {
		case o, ok = <-w.ops:
		case <-tick:
			if w.dirty {
				_ = w.truncate() // a busy log stays dirty and is tried at the next tick
			}
			continue
		}
		if !ok {
			return
		}
		batch = append(batch[:0], o)
	drain:
		for len(batch) < w.maxBatch {
			select {
			case o, ok := <-w.ops:
				if !ok {
					break drain
				}
				batch = append(batch, o)
			default:
				break drain
			}
		}
		w.commit(batch)
		clear(batch)
	}
}

// run calls o.fn, turning a panic into an error so that the writer
// goroutine survives; the caller must then abandon the transaction.
func run(ctx context.Context, o *op, tx *wtx) (panicked bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			panicked, err = true, fmt.Errorf("write operation panicked: %v", v)
		}
	}()
	return false, o.fn(ctx, tx)
}

func (w *writer) commit(batch []*op) {
	results := make([]error, len(batch))
	finish := func(commitErr error) {
		for i, o := range batch {
			err := results[i]
			if commitErr != nil {
				err = commitErr
			}
			if err != nil {
				w.failed.Add(1)
			} else {
				w.committed.Add(1)
			}
			if o.done != nil {
				o.done <- err
			}
		}
	}
	ctx := context.Background()
	sqltx, err := w.db.BeginTx(ctx, nil)
	tx := &wtx{tx: sqltx, c: w.stmts, counts: w.counts}
	if err != nil {
		finish(fmt.Errorf("begin: %w", err))
		return
	}
	single := len(batch) == 1
	for i, o := range batch {
		if err := o.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if single {
			var panicked bool
			if panicked, results[i] = run(ctx, o, tx); panicked {
				_ = sqltx.Rollback()
				finish(results[i])
				return
			}
			continue
		}
		mark := len(tx.log)
		if _, err := tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
			_ = sqltx.Rollback()
			finish(fmt.Errorf("savepoint: %w", err))
			return
		}
		var panicked bool
		if panicked, results[i] = run(ctx, o, tx); panicked {
			_ = sqltx.Rollback()
			finish(results[i])
			return
		}
		if results[i] != nil {
			tx.log = tx.log[:mark]
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
				_ = sqltx.Rollback()
				finish(fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE op"); err != nil {
			_ = sqltx.Rollback()
			finish(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if single && results[0] != nil {
		_ = sqltx.Rollback()
		finish(nil)
		return
	}
	if err := sqltx.Commit(); err != nil {
		finish(fmt.Errorf("commit: %w", err))
		return
	}
	w.commits.Add(1)
	applyCounts(w.counts, tx.log)
	// Whatever this commit deleted or overwrote (acknowledged messages,
	// handed-out prekeys, expired nonces, deleted blobs) has older copies
	// in the write-ahead log until it is truncated, within scrubEvery.
	w.dirty = true
	finish(nil)
	if len(tx.waiters) > 0 {
		err := w.truncate()
		for _, ch := range tx.waiters {
			ch <- err
		}
	}
	tx.prepareMissed(ctx)
}

// truncate checkpoints the write-ahead log into the database and truncates
// it to zero bytes. With secure_delete on, the database pages of deleted
// rows are already zeroed; the truncation removes the log's older copies of
// those pages, so a deleted message is in neither file afterwards.
func (w *writer) truncate() error {
	var busy, logFrames, done int
	err := w.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	if err != nil {
		return fmt.Errorf("truncate the write-ahead log: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("truncate the write-ahead log: readers kept it busy")
	}
	w.dirty = false
	return nil
}

// notFound maps sql.ErrNoRows to store.ErrNotFound with context.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
