package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"math"

	"backchannel/store"
)

func insertList(ctx context.Context, tx *wtx, user string, version uint64, list []byte) error {
	if _, err := tx.ExecContext(ctx, "INSERT INTO device_lists (user, version, list) VALUES (?, ?, ?)",
		user, int64(version), nonNil(list)); err != nil {
		return fmt.Errorf("store device list %s v%d: %w", user, version, err)
	}
	return nil
}

func latestList(ctx context.Context, q querier, user string) (uint64, error) {
	var v int64
	if err := q.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM device_lists WHERE user = ?", user).Scan(&v); err != nil {
		return 0, fmt.Errorf("device lists of %s: %w", user, err)
	}
	return uint64(v), nil
}

// PutDeviceList implements store.DeviceLists.
func (s *Store) PutDeviceList(ctx context.Context, user string, version uint64, list []byte, devices []store.Device, removed []uint32) error {
	if version == 0 || version > math.MaxInt64 {
		return fmt.Errorf("device list %s v%d: version out of range: %w", user, version, store.ErrConflict)
	}
	list = clone(list)
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1 FROM accounts WHERE name = ?", user).Scan(&one); err != nil {
			return notFound(err, "device list: account "+user)
		}
		latest, err := latestList(ctx, tx, user)
		if err != nil {
			return err
		}
		if latest != version-1 {
			return fmt.Errorf("device list %s v%d: the newest stored version is %d: %w", user, version, latest, store.ErrConflict)
		}
		if err := insertList(ctx, tx, user, version, list); err != nil {
			return err
		}
		for _, id := range removed {
			if _, err := deleteDevice(ctx, tx, user, id); err != nil {
				return err
			}
		}
		for _, d := range devices {
			if d.User != user {
				return fmt.Errorf("device list %s: device of %q: %w", user, d.User, store.ErrConflict)
			}
			if err := insertDevice(ctx, tx, d); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeviceLists implements store.DeviceLists. The newest version and the
// lists come from one read transaction (one WAL snapshot), so latest is
// never below a returned list.
func (s *Store) DeviceLists(ctx context.Context, user string, after uint64, limit int) ([][]byte, uint64, error) {
	if _, err := s.Account(ctx, user); err != nil {
		return nil, 0, err
	}
	if after > math.MaxInt64 {
		after = math.MaxInt64
	}
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("device lists of %s: %w", user, err)
	}
	defer tx.Rollback()
	latest, err := latestList(ctx, tx, user)
	if err != nil {
		return nil, 0, err
	}
	if limit <= 0 {
		return nil, latest, nil
	}
	rows, err := tx.QueryContext(ctx, "SELECT list FROM device_lists WHERE user = ? AND version > ? ORDER BY version LIMIT ?",
		user, int64(after), limit)
	if err != nil {
		return nil, 0, fmt.Errorf("device lists of %s: %w", user, err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, 0, fmt.Errorf("device lists of %s: %w", user, err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("device lists of %s: %w", user, err)
	}
	return out, latest, nil
}

// SetCertificate implements store.DeviceLists.
func (s *Store) SetCertificate(ctx context.Context, user string, id uint32, cert []byte) error {
	cert = clone(cert)
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		var cur []byte
		err := tx.QueryRowContext(ctx, "SELECT certificate FROM devices WHERE user = ? AND id = ?", user, int64(id)).Scan(&cur)
		if err != nil {
			return notFound(err, fmt.Sprintf("certificate of %s/%d", user, id))
		}
		if len(cur) > 0 {
			if bytes.Equal(cur, cert) {
				return nil
			}
			return fmt.Errorf("certificate of %s/%d: the device has another certificate: %w", user, id, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE devices SET certificate = ? WHERE user = ? AND id = ?", nonNil(cert), user, int64(id)); err != nil {
			return fmt.Errorf("certificate of %s/%d: %w", user, id, err)
		}
		return nil
	})
}
