package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"backchannel/store"
)

// Mailbox sizes are kept in memory by the writer goroutine, which alone
// reads and changes them (inside write operations), so they cost no SQL:
// per device mailbox the unacknowledged messages and their bytes, and per
// (sender account, recipient account) the unacknowledged bytes, which the
// sender quota of store.MailboxLimits bounds. An operation records its
// changes in its transaction's log; the log entries of an operation that
// fails are dropped with its savepoint, and the log is applied to the
// counts only once the transaction has committed.

type boxSize struct {
	n     int
	bytes int64
}

type pairKey struct{ from, to string } // sender account, recipient account

type mailboxCounts struct {
	boxes map[store.Address]boxSize
	pairs map[pairKey]int64
}

// countDelta changes the mailbox to by n messages of bytes bytes, sent by
// the account from ("" when unknown: the pair totals are left alone).
type countDelta struct {
	to    store.Address
	from  string
	n     int
	bytes int64
	reset bool // the mailbox was deleted: its size restarts at zero
}

// loadMailboxCounts measures the stored messages of every mailbox.
func loadMailboxCounts(ctx context.Context, db *sql.DB) (*mailboxCounts, error) {
	c := &mailboxCounts{boxes: make(map[store.Address]boxSize), pairs: make(map[pairKey]int64)}
	rows, err := db.QueryContext(ctx, "SELECT to_user, to_device, count(*), coalesce(sum(length(data)), 0) FROM messages GROUP BY to_user, to_device")
	if err != nil {
		return nil, fmt.Errorf("count mailboxes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a store.Address
		var dev int64
		var b boxSize
		if err := rows.Scan(&a.User, &dev, &b.n, &b.bytes); err != nil {
			return nil, fmt.Errorf("count mailboxes: %w", err)
		}
		a.Device = uint32(dev)
		c.boxes[a] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count mailboxes: %w", err)
	}
	prow, err := db.QueryContext(ctx, "SELECT from_user, to_user, coalesce(sum(length(data)), 0) FROM messages GROUP BY from_user, to_user")
	if err != nil {
		return nil, fmt.Errorf("count mailboxes by sender: %w", err)
	}
	defer prow.Close()
	for prow.Next() {
		var k pairKey
		var n int64
		if err := prow.Scan(&k.from, &k.to, &n); err != nil {
			return nil, fmt.Errorf("count mailboxes by sender: %w", err)
		}
		c.pairs[k] = n
	}
	if err := prow.Err(); err != nil {
		return nil, fmt.Errorf("count mailboxes by sender: %w", err)
	}
	return c, nil
}

// box returns the mailbox size as this transaction sees it.
func (t *wtx) box(a store.Address) boxSize {
	b := t.counts.boxes[a]
	for _, d := range t.log {
		if d.to != a {
			continue
		}
		if d.reset {
			b = boxSize{}
		}
		b.n += d.n
		b.bytes += d.bytes
	}
	return boxSize{n: max(b.n, 0), bytes: max(b.bytes, 0)}
}

// pair returns the unacknowledged bytes from the account from in the
// mailboxes of the account to, as this transaction sees them.
func (t *wtx) pair(from, to string) int64 {
	n := t.counts.pairs[pairKey{from, to}]
	for _, d := range t.log {
		if d.from == from && d.to.User == to {
			n += d.bytes
		}
	}
	return max(n, 0)
}

// addMail records n messages of bytes bytes from the account from added to
// (negative: removed from) the mailbox to.
func (t *wtx) addMail(to store.Address, from string, n int, bytes int64) {
	if n != 0 || bytes != 0 {
		t.log = append(t.log, countDelta{to: to, from: from, n: n, bytes: bytes})
	}
}

func (t *wtx) resetCount(a store.Address) {
	t.log = append(t.log, countDelta{to: a, reset: true})
}

// applyCounts folds a committed transaction's log into c.
func applyCounts(c *mailboxCounts, log []countDelta) {
	for _, d := range log {
		if d.reset {
			delete(c.boxes, d.to)
			continue
		}
		b := c.boxes[d.to]
		b.n += d.n
		b.bytes += d.bytes
		if b.n > 0 {
			c.boxes[d.to] = b
		} else {
			delete(c.boxes, d.to)
		}
		if d.from == "" {
			continue
		}
		k := pairKey{d.from, d.to.User}
		if n := c.pairs[k] + d.bytes; n > 0 {
			c.pairs[k] = n
		} else {
			delete(c.pairs, k)
		}
	}
}
