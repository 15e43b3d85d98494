package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"backchannel/store"
)

// Mailbox sizes are kept in memory by the writer goroutine, which alone
// reads and changes them (inside write operations), so they cost no SQL. An
// operation records its changes in its transaction's log; the log entries of
// an operation that fails are dropped with its savepoint, and the log is
// applied to the counts only once the transaction has committed.

type countDelta struct {
	to    store.Address
	n     int
	reset bool // the mailbox was deleted: its count restarts at zero
}

// loadMailboxCounts counts the stored messages of every mailbox.
func loadMailboxCounts(ctx context.Context, db *sql.DB) (map[store.Address]int, error) {
	rows, err := db.QueryContext(ctx, "SELECT to_user, to_device, count(*) FROM messages GROUP BY to_user, to_device")
	if err != nil {
		return nil, fmt.Errorf("sqlite: count mailboxes: %w", err)
	}
	defer rows.Close()
	counts := make(map[store.Address]int)
	for rows.Next() {
		var a store.Address
		var dev int64
		var n int
		if err := rows.Scan(&a.User, &dev, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count mailboxes: %w", err)
		}
		a.Device = uint32(dev)
		counts[a] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count mailboxes: %w", err)
	}
	return counts, nil
}

// count returns the mailbox size as this transaction sees it.
func (t *wtx) count(a store.Address) int {
	n := t.counts[a]
	for _, d := range t.log {
		if d.to != a {
			continue
		}
		if d.reset {
			n = 0
		}
		n += d.n
	}
	return max(n, 0)
}

func (t *wtx) addCount(a store.Address, n int) {
	if n != 0 {
		t.log = append(t.log, countDelta{to: a, n: n})
	}
}

func (t *wtx) resetCount(a store.Address) {
	t.log = append(t.log, countDelta{to: a, reset: true})
}

// applyCounts folds a committed transaction's log into counts.
func applyCounts(counts map[store.Address]int, log []countDelta) {
	for _, d := range log {
		if d.reset {
			delete(counts, d.to)
			continue
		}
		if n := counts[d.to] + d.n; n > 0 {
			counts[d.to] = n
		} else {
			delete(counts, d.to)
		}
	}
}
