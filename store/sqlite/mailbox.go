package sqlite

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"backchannel/store"
)

// Enqueue implements store.Mailboxes. The batch is one operation of a group
// commit: it is all or nothing and returns once fsync'd.
func (s *Store) Enqueue(ctx context.Context, from store.Address, envs []store.Envelope, now time.Time, maxPending int) ([]store.Message, error) {
	out := newMessages(from, envs, now)
	err := s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		return enqueue(ctx, tx, from, out, now, store.MailboxLimits{MaxPending: maxPending})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EnqueueCounted implements store.Mailboxes: the counter check, its update
// and the enqueue are one operation, so they commit or fail together, and
// the writer serialises concurrent sends of one device.
func (s *Store) EnqueueCounted(ctx context.Context, from store.Address, counter uint64, digest []byte, envs []store.Envelope, now time.Time, maxPending int) ([]store.Message, error) {
	return s.EnqueueLimited(ctx, from, counter, digest, envs, now, store.MailboxLimits{MaxPending: maxPending})
}

var _ store.MailboxQuotas = (*Store)(nil)

// EnqueueLimited implements store.MailboxQuotas.
func (s *Store) EnqueueLimited(ctx context.Context, from store.Address, counter uint64, digest []byte, envs []store.Envelope, now time.Time, lim store.MailboxLimits) ([]store.Message, error) {
	if counter > math.MaxInt64 {
		return nil, fmt.Errorf("enqueue: counter %d out of range: %w", counter, store.ErrConflict)
	}
	out := newMessages(from, envs, now)
	digest = clone(digest)
	err := s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		if err := checkCounter(ctx, tx, from, int64(counter), digest); err != nil {
			return err
		}
		return enqueue(ctx, tx, from, out, now, lim)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkCounter applies the rollback rule of store.Mailboxes.EnqueueCounted.
// The common case, a counter above the stored one, is a single upsert.
func checkCounter(ctx context.Context, tx *wtx, from store.Address, counter int64, digest []byte) error {
	if counter > 0 {
		res, err := tx.ExecContext(ctx, `INSERT INTO send_counters (user, device, counter, digest) VALUES (?, ?, ?, ?)
			ON CONFLICT (user, device) DO UPDATE SET counter = excluded.counter, digest = excluded.digest
			WHERE excluded.counter > send_counters.counter`,
			from.User, int64(from.Device), counter, nonNil(digest))
		if err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed") {
			return fmt.Errorf("enqueue: sender %s/%d: %w", from.User, from.Device, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("enqueue: store counter: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
	}
	var stored int64
	var storedDigest []byte
	err := tx.QueryRowContext(ctx, "SELECT counter, digest FROM send_counters WHERE user = ? AND device = ?",
		from.User, int64(from.Device)).Scan(&stored, &storedDigest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("enqueue: read counter: %w", err)
	}
	switch {
	case counter == 0 && stored == 0: // a device that does not count yet
		return nil
	case counter > 0 && counter == stored && subtle.ConstantTimeCompare(digest, storedDigest) == 1: // a retransmission
		return nil
	}
	return &store.RollbackError{Counter: uint64(stored)}
}

// SendCounter implements store.Mailboxes.
func (s *Store) SendCounter(ctx context.Context, dev store.Address) (uint64, error) {
	var c int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce((SELECT counter FROM send_counters s WHERE s.user = d.user AND s.device = d.id), 0)
		FROM devices d WHERE d.user = ? AND d.id = ?`, dev.User, int64(dev.Device)).Scan(&c)
	if err != nil {
		return 0, notFound(err, fmt.Sprintf("send counter of %s/%d", dev.User, dev.Device))
	}
	return uint64(c), nil
}

func newMessages(from store.Address, envs []store.Envelope, now time.Time) []store.Message {
	out := make([]store.Message, len(envs))
	for i, e := range envs {
		out[i] = store.Message{From: from, To: e.To, Data: clone(e.Data), ReceivedAt: fromMicros(micros(now))}
	}
	return out
}

// enqueue checks the mailbox limits, then inserts out (filling in the ids).
func enqueue(ctx context.Context, tx *wtx, from store.Address, out []store.Message, now time.Time, lim store.MailboxLimits) error {
	added := make(map[store.Address]boxSize, 1)
	var order []store.Address
	perAccount := make(map[string]int64, 1)
	for i := range out {
		m := &out[i]
		b, ok := added[m.To]
		if !ok {
			if err := deviceExists(ctx, tx, m.To); err != nil {
				return fmt.Errorf("enqueue: %w", err)
			}
			order = append(order, m.To)
		}
		b.n++
		b.bytes += int64(len(m.Data))
		added[m.To] = b
		perAccount[m.To.User] += int64(len(m.Data))
	}
	for _, to := range order {
		have, k := tx.box(to), added[to]
		if lim.MaxPending > 0 && have.n+k.n > lim.MaxPending {
			return fmt.Errorf("enqueue: %s/%d holds %d messages: %w", to.User, to.Device, lim.MaxPending, store.ErrMailboxFull)
		}
		if lim.MaxBytes > 0 && have.bytes+k.bytes > lim.MaxBytes {
			return fmt.Errorf("enqueue: %s/%d holds %d bytes: %w", to.User, to.Device, lim.MaxBytes, store.ErrMailboxFull)
		}
	}
	if lim.MaxSenderBytes > 0 {
		for _, to := range order {
			n, ok := perAccount[to.User]
			if !ok {
				continue
			}
			delete(perAccount, to.User)
			if used := tx.pair(from.User, to.User); used+n > lim.MaxSenderBytes {
				return fmt.Errorf("enqueue: %w", &store.MailboxQuotaError{Recipient: to.User, Used: used, Max: lim.MaxSenderBytes})
			}
		}
	}
	for i := range out {
		m := &out[i]
		err := tx.QueryRowContext(ctx, `INSERT INTO messages (to_user, to_device, from_user, from_device, data, received_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			m.To.User, int64(m.To.Device), from.User, int64(from.Device), nonNil(m.Data), micros(now)).Scan(&m.ID)
		if err != nil {
			return fmt.Errorf("enqueue: %w", err)
		}
	}
	for _, to := range order {
		tx.addMail(to, from.User, added[to].n, added[to].bytes)
	}
	return nil
}

// deleteMessages runs a DELETE on messages that returns from_user and
// length(data) of every deleted row, records the removals against the
// mailbox to. It returns how many rows went.
func deleteMessages(ctx context.Context, tx *wtx, to store.Address, query string, args ...any) (int, error) {
	rows, err := tx.QueryContext(ctx, query+" RETURNING from_user, length(data)", args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	bySender := make(map[string]boxSize)
	var senders []string
	total := 0
	for rows.Next() {
		var from string
		var n int64
		if err := rows.Scan(&from, &n); err != nil {
			return 0, err
		}
		b, ok := bySender[from]
		if !ok {
			senders = append(senders, from)
		}
		b.n++
		b.bytes += n
		bySender[from] = b
		total++
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, from := range senders {
		tx.addMail(to, from, -bySender[from].n, -bySender[from].bytes)
	}
	return total, nil
}

// Pending implements store.Mailboxes.
func (s *Store) Pending(ctx context.Context, to store.Address, after int64, limit int) ([]store.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, from_user, from_device, data, received_at FROM messages
		WHERE to_user = ? AND to_device = ? AND id > ? ORDER BY id LIMIT ?`,
		to.User, int64(to.Device), after, limit)
	if err != nil {
		return nil, fmt.Errorf("pending %s/%d: %w", to.User, to.Device, err)
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m := store.Message{To: to}
		var fromDev, at int64
		if err := rows.Scan(&m.ID, &m.From.User, &fromDev, &m.Data, &at); err != nil {
			return nil, fmt.Errorf("pending %s/%d: %w", to.User, to.Device, err)
		}
		m.From.Device, m.ReceivedAt = uint32(fromDev), fromMicros(at)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending %s/%d: %w", to.User, to.Device, err)
	}
	return out, nil
}

// Ack implements store.Mailboxes.
func (s *Store) Ack(ctx context.Context, to store.Address, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		n = 0
		const chunk = 500
		for start := 0; start < len(ids); start += chunk {
			part := ids[start:min(start+chunk, len(ids))]
			args := make([]any, 0, len(part)+2)
			args = append(args, to.User, int64(to.Device))
			for _, id := range part {
				args = append(args, id)
			}
			q := "DELETE FROM messages WHERE to_user = ? AND to_device = ? AND id IN (?" +
				strings.Repeat(", ?", len(part)-1) + ")"
			k, err := deleteMessages(ctx, tx, to, q, args...)
			if err != nil {
				return fmt.Errorf("ack %s/%d: %w", to.User, to.Device, err)
			}
			n += k
		}
		return nil
	})
	return n, err
}
