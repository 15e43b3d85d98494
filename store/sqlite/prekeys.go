package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"backchannel/store"
)

// Prekey kinds in fixed_prekeys and onetime_prekeys.
const (
	kindSigned     = 0 // fixed: signed X25519 prekey
	kindLastResort = 1 // fixed: last-resort KEM prekey
	kindOneTime    = 0 // one-time X25519 prekey
	kindOneTimeKEM = 1 // one-time KEM prekey
)

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func counts(ctx context.Context, q querier, dev store.Address) (store.PrekeyCounts, error) {
	var c store.PrekeyCounts
	err := q.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM onetime_prekeys WHERE user = ?1 AND device = ?2 AND kind = 0),
		(SELECT count(*) FROM onetime_prekeys WHERE user = ?1 AND device = ?2 AND kind = 1)`,
		dev.User, int64(dev.Device)).Scan(&c.OneTime, &c.OneTimeKEM)
	if err != nil {
		return c, fmt.Errorf("prekey counts %s/%d: %w", dev.User, dev.Device, err)
	}
	return c, nil
}

func deviceExists(ctx context.Context, q querier, dev store.Address) error {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM devices WHERE user = ? AND id = ?", dev.User, int64(dev.Device)).Scan(&one)
	if err != nil {
		return notFound(err, fmt.Sprintf("device %s/%d", dev.User, dev.Device))
	}
	return nil
}

// PutPrekeys implements store.Prekeys.
func (s *Store) PutPrekeys(ctx context.Context, dev store.Address, up store.PrekeyUpload) (store.PrekeyCounts, error) {
	var c store.PrekeyCounts
	err := s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		if err := deviceExists(ctx, tx, dev); err != nil {
			return err
		}
		before, err := counts(ctx, tx, dev)
		if err != nil {
			return err
		}
		if up.ReplaceOneTime {
			if _, err := tx.ExecContext(ctx, "DELETE FROM onetime_prekeys WHERE user = ? AND device = ?", dev.User, int64(dev.Device)); err != nil {
				return fmt.Errorf("replace one-time prekeys: %w", err)
			}
		}
		fixed := func(kind int, p *store.Prekey) error {
			if p == nil {
				return nil
			}
			_, err := tx.ExecContext(ctx,
				"INSERT OR REPLACE INTO fixed_prekeys (user, device, kind, id, data) VALUES (?, ?, ?, ?, ?)",
				dev.User, int64(dev.Device), kind, int64(p.ID), nonNil(p.Data))
			return err
		}
		onetime := func(kind int, ps []store.Prekey) error {
			for _, p := range ps {
				if _, err := tx.ExecContext(ctx,
					"INSERT OR REPLACE INTO onetime_prekeys (user, device, kind, id, data) VALUES (?, ?, ?, ?, ?)",
					dev.User, int64(dev.Device), kind, int64(p.ID), nonNil(p.Data)); err != nil {
					return err
				}
			}
			return nil
		}
		if err := fixed(kindSigned, up.SignedPrekey); err != nil {
			return fmt.Errorf("put signed prekey: %w", err)
		}
		if err := fixed(kindLastResort, up.LastResortKEM); err != nil {
			return fmt.Errorf("put last-resort prekey: %w", err)
		}
		if err := onetime(kindOneTime, up.OneTimePrekeys); err != nil {
			return fmt.Errorf("put one-time prekeys: %w", err)
		}
		if err := onetime(kindOneTimeKEM, up.OneTimeKEMPrekeys); err != nil {
			return fmt.Errorf("put one-time KEM prekeys: %w", err)
		}
		if c, err = counts(ctx, tx, dev); err != nil {
			return err
		}
		if up.MaxOneTime > 0 && (c.OneTime > up.MaxOneTime || c.OneTimeKEM > up.MaxOneTime) {
			// The operation's savepoint (or transaction) is rolled back.
			return &store.PrekeyLimitError{Stored: before, Max: up.MaxOneTime}
		}
		return nil
	})
	if err != nil {
		return store.PrekeyCounts{}, err
	}
	return c, nil
}

// PrekeyCounts implements store.Prekeys.
func (s *Store) PrekeyCounts(ctx context.Context, dev store.Address) (store.PrekeyCounts, error) {
	if err := deviceExists(ctx, s.rdb, dev); err != nil {
		return store.PrekeyCounts{}, err
	}
	return counts(ctx, s.rdb, dev)
}

// TakeBundle implements store.Prekeys. It runs on the writer, so pops are
// serialised and each one-time prekey is returned at most once.
func (s *Store) TakeBundle(ctx context.Context, dev store.Address) (store.Bundle, error) {
	var b store.Bundle
	err := s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		b = store.Bundle{Device: store.Device{User: dev.User, ID: dev.Device}}
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT d.signing_key, d.certificate, d.created_at, a.identity_key
			FROM devices d JOIN accounts a ON a.name = d.user WHERE d.user = ? AND d.id = ?`,
			dev.User, int64(dev.Device)).Scan(&b.Device.SigningKey, &b.Device.Certificate, &created, &b.IdentityKey)
		if err != nil {
			return notFound(err, fmt.Sprintf("bundle %s/%d", dev.User, dev.Device))
		}
		b.Device.CreatedAt = fromMicros(created)
		if len(b.Device.Certificate) == 0 {
			return fmt.Errorf("bundle %s/%d has no certificate yet: %w", dev.User, dev.Device, store.ErrNotFound)
		}
		fixed := func(kind int) (*store.Prekey, error) {
			var p store.Prekey
			var id int64
			err := tx.QueryRowContext(ctx, "SELECT id, data FROM fixed_prekeys WHERE user = ? AND device = ? AND kind = ?",
				dev.User, int64(dev.Device), kind).Scan(&id, &p.Data)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, nil
			}
			p.ID = uint32(id)
			return &p, err
		}
		pop := func(kind int) (*store.Prekey, error) {
			var p store.Prekey
			var id int64
			err := tx.QueryRowContext(ctx, `DELETE FROM onetime_prekeys WHERE rowid = (
				SELECT rowid FROM onetime_prekeys WHERE user = ? AND device = ? AND kind = ? ORDER BY id LIMIT 1)
				RETURNING id, data`, dev.User, int64(dev.Device), kind).Scan(&id, &p.Data)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, nil
			}
			p.ID = uint32(id)
			return &p, err
		}
		if b.SignedPrekey, err = fixed(kindSigned); err != nil {
			return fmt.Errorf("bundle signed prekey: %w", err)
		}
		if b.SignedPrekey == nil {
			return fmt.Errorf("bundle %s/%d has no signed prekey: %w", dev.User, dev.Device, store.ErrNotFound)
		}
		if b.OneTimePrekey, err = pop(kindOneTime); err != nil {
			return fmt.Errorf("bundle one-time prekey: %w", err)
		}
		if b.KEMPrekey, err = pop(kindOneTimeKEM); err != nil {
			return fmt.Errorf("bundle one-time KEM prekey: %w", err)
		}
		if b.KEMPrekey == nil {
			if b.KEMPrekey, err = fixed(kindLastResort); err != nil {
				return fmt.Errorf("bundle last-resort prekey: %w", err)
			}
			b.KEMLastResort = b.KEMPrekey != nil
		}
		b.Remaining, err = counts(ctx, tx, dev)
		return err
	})
	if err != nil {
		return store.Bundle{}, err
	}
	return b, nil
}
