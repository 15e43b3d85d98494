package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"backchannel/store"
)

func isUniqueViolation(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") ||
		strings.Contains(err.Error(), "PRIMARY KEY constraint failed"))
}

// CreateAccount implements store.Accounts.
func (s *Store) CreateAccount(ctx context.Context, a store.Account, first store.Device, list []byte, inviteHash []byte, now time.Time) error {
	if first.User != a.Name {
		return fmt.Errorf("create account %q: device belongs to %q: %w", a.Name, first.User, store.ErrConflict)
	}
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		var exists int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM accounts WHERE name = ?", a.Name).Scan(&exists)
		if err == nil {
			return fmt.Errorf("create account %q: %w", a.Name, store.ErrExists)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("create account %q: %w", a.Name, err)
		}
		if inviteHash != nil {
			if err := consumeInvite(ctx, tx, inviteHash, a.Name, now); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO accounts (name, identity_key, created_at) VALUES (?, ?, ?)",
			a.Name, nonNil(a.IdentityKey), micros(a.CreatedAt)); err != nil {
			return fmt.Errorf("create account %q: %w", a.Name, err)
		}
		if list != nil {
			if err := insertList(ctx, tx, a.Name, 1, list); err != nil {
				return err
			}
		}
		return insertDevice(ctx, tx, first)
	})
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func insertDevice(ctx context.Context, tx *wtx, d store.Device) error {
	_, err := tx.ExecContext(ctx,
		"INSERT INTO devices (user, id, signing_key, certificate, created_at) VALUES (?, ?, ?, ?, ?)",
		d.User, int64(d.ID), nonNil(d.SigningKey), nonNil(d.Certificate), micros(d.CreatedAt))
	if isUniqueViolation(err) {
		return fmt.Errorf("add device %s/%d: %w", d.User, d.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("add device %s/%d: %w", d.User, d.ID, err)
	}
	return nil
}

// Account implements store.Accounts.
func (s *Store) Account(ctx context.Context, name string) (store.Account, error) {
	a := store.Account{Name: name}
	var created int64
	err := s.r.QueryRowContext(ctx, "SELECT identity_key, created_at FROM accounts WHERE name = ?", name).
		Scan(&a.IdentityKey, &created)
	if err != nil {
		return store.Account{}, notFound(err, "account "+name)
	}
	a.CreatedAt = fromMicros(created)
	return a, nil
}

// AddDevice implements store.Devices.
func (s *Store) AddDevice(ctx context.Context, d store.Device) error {
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM accounts WHERE name = ?", d.User).Scan(&one); err != nil {
			return notFound(err, "add device: account "+d.User)
		}
		return insertDevice(ctx, tx, d)
	})
}

// Device implements store.Devices.
func (s *Store) Device(ctx context.Context, user string, id uint32) (store.Device, error) {
	d := store.Device{User: user, ID: id}
	var created int64
	err := s.r.QueryRowContext(ctx,
		"SELECT signing_key, certificate, created_at FROM devices WHERE user = ? AND id = ?", user, int64(id)).
		Scan(&d.SigningKey, &d.Certificate, &created)
	if err != nil {
		return store.Device{}, notFound(err, fmt.Sprintf("device %s/%d", user, id))
	}
	d.CreatedAt = fromMicros(created)
	return d, nil
}

// Devices implements store.Devices.
func (s *Store) Devices(ctx context.Context, user string) ([]store.Device, error) {
	if _, err := s.Account(ctx, user); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx,
		"SELECT id, signing_key, certificate, created_at FROM devices WHERE user = ? ORDER BY id", user)
	if err != nil {
		return nil, fmt.Errorf("list devices of %s: %w", user, err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d := store.Device{User: user}
		var id, created int64
		if err := rows.Scan(&id, &d.SigningKey, &d.Certificate, &created); err != nil {
			return nil, fmt.Errorf("list devices of %s: %w", user, err)
		}
		d.ID, d.CreatedAt = uint32(id), fromMicros(created)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices of %s: %w", user, err)
	}
	return out, nil
}

// RemoveDevice implements store.Devices.
func (s *Store) RemoveDevice(ctx context.Context, user string, id uint32) error {
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		removed, err := deleteDevice(ctx, tx, user, id)
		if err == nil && !removed {
			err = fmt.Errorf("remove device %s/%d: %w", user, id, store.ErrNotFound)
		}
		return err
	})
}

// deleteDevice deletes a device (its prekeys and send counter go by
// cascade) and its mailbox, and reports whether it existed.
func deleteDevice(ctx context.Context, tx *wtx, user string, id uint32) (bool, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM devices WHERE user = ? AND id = ?", user, int64(id))
	if err != nil {
		return false, fmt.Errorf("remove device %s/%d: %w", user, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	to := store.Address{User: user, Device: id}
	if _, err := deleteMessages(ctx, tx, to, "DELETE FROM messages WHERE to_user = ? AND to_device = ?", user, int64(id)); err != nil {
		return false, fmt.Errorf("remove device %s/%d mailbox: %w", user, id, err)
	}
	tx.resetCount(to)
	return true, nil
}

// consumeInvite marks the invite used for account name, or fails with
// ErrInvalidInvite (unknown, used, expired) or ErrInviteName (bound to
// another name; left unused).
func consumeInvite(ctx context.Context, tx *wtx, hash []byte, name string, now time.Time) error {
	var bound string
	err := tx.QueryRowContext(ctx,
		"SELECT name FROM invites WHERE hash = ? AND used_at IS NULL AND expires_at > ?",
		hash, micros(now)).Scan(&bound)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("consume invite: %w", store.ErrInvalidInvite)
	}
	if err != nil {
		return fmt.Errorf("consume invite: %w", err)
	}
	if bound != "" && bound != name {
		return fmt.Errorf("consume invite: %w: %w", store.ErrInvalidInvite, store.ErrInviteName)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE invites SET used_at = ? WHERE hash = ?", micros(now), hash); err != nil {
		return fmt.Errorf("consume invite: %w", err)
	}
	return nil
}

// CreateInvite implements store.Invites.
func (s *Store) CreateInvite(ctx context.Context, tokenHash []byte, name string, expiresAt time.Time) error {
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO invites (hash, name, expires_at) VALUES (?, ?, ?)", tokenHash, name, micros(expiresAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("create invite: %w", store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("create invite: %w", err)
		}
		return nil
	})
}

// nonceCache is the authoritative in-memory record of used nonces; rows in
// the nonces table make it survive restarts.
type nonceCache struct {
	mu        sync.Mutex
	seen      map[string]time.Time
	inserts   int
	pending   []nonceRow // not yet written
	scheduled bool       // a flush operation is queued
	sweepAt   time.Time  // non-zero: the next flush also deletes rows expired by then
}

type nonceRow struct {
	key     string
	nonce   []byte
	expires time.Time
}

func loadNonces(ctx context.Context, db *sql.DB, now time.Time) (*nonceCache, error) {
	c := &nonceCache{seen: make(map[string]time.Time)}
	rows, err := db.QueryContext(ctx, "SELECT key, nonce, expires_at FROM nonces WHERE expires_at > ?", micros(now))
	if err != nil {
		return nil, fmt.Errorf("load nonces: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var nonce []byte
		var exp int64
		if err := rows.Scan(&key, &nonce, &exp); err != nil {
			return nil, fmt.Errorf("load nonces: %w", err)
		}
		c.seen[key+"\x00"+string(nonce)] = fromMicros(exp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load nonces: %w", err)
	}
	return c, nil
}

// UseNonce implements store.Nonces. The in-memory check is authoritative;
// the row is written by the next group commit without waiting for it.
func (s *Store) UseNonce(ctx context.Context, key string, nonce []byte, now, expiresAt time.Time) error {
	if s.w.isClosed() {
		return store.ErrClosed
	}
	k := key + "\x00" + string(nonce)
	c := s.nonces
	c.mu.Lock()
	if exp, ok := c.seen[k]; ok && exp.After(now) {
		c.mu.Unlock()
		return fmt.Errorf("use nonce: %w", store.ErrReplay)
	}
	c.seen[k] = expiresAt
	c.inserts++
	if c.inserts%4096 == 0 {
		for k, exp := range c.seen {
			if !exp.After(now) {
				delete(c.seen, k)
			}
		}
		c.sweepAt = now
	}
	c.pending = append(c.pending, nonceRow{key: key, nonce: clone(nonce), expires: expiresAt})
	schedule := !c.scheduled
	c.scheduled = true
	c.mu.Unlock()
	if schedule {
		s.w.async(c.flush)
	}
	return nil
}

// flush writes the pending nonces in one write operation, so a group commit
// carries one nonce operation however many requests it serves.
func (c *nonceCache) flush(ctx context.Context, tx *wtx) error {
	c.mu.Lock()
	rows, sweepAt := c.pending, c.sweepAt
	c.pending, c.sweepAt, c.scheduled = nil, time.Time{}, false
	c.mu.Unlock()
	if !sweepAt.IsZero() {
		if _, err := tx.ExecContext(ctx, "DELETE FROM nonces WHERE expires_at <= ?", micros(sweepAt)); err != nil {
			return fmt.Errorf("sweep nonces: %w", err)
		}
	}
	for _, r := range rows {
		if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO nonces (key, nonce, expires_at) VALUES (?, ?, ?)",
			r.key, r.nonce, micros(r.expires)); err != nil {
			return fmt.Errorf("record nonce: %w", err)
		}
	}
	return nil
}
