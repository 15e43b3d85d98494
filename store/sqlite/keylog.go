package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"backchannel/store"
)

var _ store.KeyLog = (*Store)(nil)

const keyLogSchema = `
CREATE TABLE IF NOT EXISTS keylog_leaves (
	account TEXT PRIMARY KEY,
	idx BLOB NOT NULL,
	updates INTEGER NOT NULL,
	version INTEGER NOT NULL,
	nonce BLOB NOT NULL,
	list_hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS keylog_states (
	account TEXT NOT NULL,
	updates INTEGER NOT NULL,
	idx BLOB NOT NULL,
	version INTEGER NOT NULL,
	nonce BLOB NOT NULL,
	list_hash BLOB NOT NULL,
	PRIMARY KEY (account, updates)
) WITHOUT ROWID;
INSERT OR IGNORE INTO keylog_states (account, updates, idx, version, nonce, list_hash)
	SELECT account, updates, idx, version, nonce, list_hash FROM keylog_leaves;
CREATE TABLE IF NOT EXISTS keylog_changes (
	epoch INTEGER PRIMARY KEY,
	changes BLOB NOT NULL
);
`

func scanLeaf(sc interface{ Scan(...any) error }) (store.KeyLogLeaf, error) {
	var l store.KeyLogLeaf
	var updates, version int64
	if err := sc.Scan(&l.Account, &l.Index, &updates, &version, &l.Nonce, &l.ListHash); err != nil {
		return l, err
	}
	l.Updates, l.Version = uint64(updates), uint64(version)
	return l, nil
}

// PutKeyLogLeaf implements store.KeyLog.
func (s *Store) PutKeyLogLeaf(ctx context.Context, l store.KeyLogLeaf) (store.KeyLogLeaf, bool, error) {
	if l.Version == 0 || l.Version > math.MaxInt64 {
		return store.KeyLogLeaf{}, false, fmt.Errorf("key log leaf of %s: version %d out of range: %w", l.Account, l.Version, store.ErrConflict)
	}
	if len(l.Index) != 32 || len(l.Nonce) != 32 || len(l.ListHash) != 32 {
		return store.KeyLogLeaf{}, false, fmt.Errorf("key log leaf of %s: index, nonce and list hash must be 32 bytes", l.Account)
	}
	l.Index, l.Nonce, l.ListHash = clone(l.Index), clone(l.Nonce), clone(l.ListHash)
	var out store.KeyLogLeaf
	var changed bool
	err := s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		changed = false
		row := tx.QueryRowContext(ctx, `INSERT INTO keylog_leaves (account, idx, updates, version, nonce, list_hash)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (account) DO UPDATE SET
				updates = updates + excluded.version - version,
				version = excluded.version, idx = excluded.idx, nonce = excluded.nonce, list_hash = excluded.list_hash
			WHERE excluded.version > version
			RETURNING account, idx, updates, version, nonce, list_hash`,
			l.Account, l.Index, int64(l.Version), int64(l.Version), l.Nonce, l.ListHash)
		got, err := scanLeaf(row)
		if err == nil {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO keylog_states (account, updates, idx, version, nonce, list_hash)
				VALUES (?, ?, ?, ?, ?, ?)`, got.Account, int64(got.Updates), got.Index, int64(got.Version), got.Nonce, got.ListHash); err != nil {
				return fmt.Errorf("key log state of %s: %w", l.Account, err)
			}
			out, changed = got, true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("key log leaf of %s: %w", l.Account, err)
		}
		// Not newer: report what is stored.
		got, err = scanLeaf(tx.QueryRowContext(ctx, "SELECT account, idx, updates, version, nonce, list_hash FROM keylog_leaves WHERE account = ?", l.Account))
		if err != nil {
			return fmt.Errorf("key log leaf of %s: %w", l.Account, err)
		}
		out = got
		return nil
	})
	if err != nil {
		return store.KeyLogLeaf{}, false, err
	}
	return out, changed, nil
}

// KeyLogLeaves implements store.KeyLog.
func (s *Store) KeyLogLeaves(ctx context.Context, after string, limit int) ([]store.KeyLogLeaf, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, "SELECT account, idx, updates, version, nonce, list_hash FROM keylog_leaves WHERE account > ? ORDER BY account LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("key log leaves: %w", err)
	}
	defer rows.Close()
	var out []store.KeyLogLeaf
	for rows.Next() {
		l, err := scanLeaf(rows)
		if err != nil {
			return nil, fmt.Errorf("key log leaves: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("key log leaves: %w", err)
	}
	return out, nil
}

// KeyLogStale implements store.KeyLog.
func (s *Store) KeyLogStale(ctx context.Context, limit int) ([]store.KeyLogStale, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT d.user, d.version, d.list
		FROM (SELECT user, max(version) AS v FROM device_lists GROUP BY user) m
		JOIN device_lists d ON d.user = m.user AND d.version = m.v
		LEFT JOIN keylog_leaves k ON k.account = m.user
		WHERE k.version IS NULL OR k.version != m.v
		ORDER BY d.user LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("stale key log leaves: %w", err)
	}
	defer rows.Close()
	var out []store.KeyLogStale
	for rows.Next() {
		var st store.KeyLogStale
		var v int64
		if err := rows.Scan(&st.Account, &v, &st.List); err != nil {
			return nil, fmt.Errorf("stale key log leaves: %w", err)
		}
		st.Version = uint64(v)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("stale key log leaves: %w", err)
	}
	return out, nil
}

// KeyLogStates implements store.KeyLog.
func (s *Store) KeyLogStates(ctx context.Context, account string) ([]store.KeyLogLeaf, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT account, idx, updates, version, nonce, list_hash FROM keylog_states WHERE account = ? ORDER BY updates", account)
	if err != nil {
		return nil, fmt.Errorf("key log states of %s: %w", account, err)
	}
	defer rows.Close()
	var out []store.KeyLogLeaf
	for rows.Next() {
		l, err := scanLeaf(rows)
		if err != nil {
			return nil, fmt.Errorf("key log states of %s: %w", account, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("key log states of %s: %w", account, err)
	}
	return out, nil
}

// PutKeyLogChanges implements store.KeyLog.
func (s *Store) PutKeyLogChanges(ctx context.Context, epoch uint64, changes []byte) error {
	if epoch > math.MaxInt64 {
		return fmt.Errorf("key log changes of epoch %d: epoch out of range: %w", epoch, store.ErrConflict)
	}
	if len(changes) == 0 || len(changes)%store.KeyLogChangeSize != 0 {
		return fmt.Errorf("key log changes of epoch %d: %d bytes is not a list of %d-byte changes", epoch, len(changes), store.KeyLogChangeSize)
	}
	changes = clone(changes)
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO keylog_changes (epoch, changes) VALUES (?, ?)", int64(epoch), changes); err != nil {
			return fmt.Errorf("key log changes of epoch %d: %w", epoch, err)
		}
		return nil
	})
}

// KeyLogChanges implements store.KeyLog.
func (s *Store) KeyLogChanges(ctx context.Context, from, to uint64, maxChanges int) ([]store.KeyLogChangeRecord, error) {
	if maxChanges <= 0 || from > to || from > math.MaxInt64 {
		return nil, nil
	}
	to = min(to, math.MaxInt64)
	rows, err := s.r.QueryContext(ctx, "SELECT epoch, changes FROM keylog_changes WHERE epoch >= ? AND epoch <= ? ORDER BY epoch", int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("key log changes %d to %d: %w", from, to, err)
	}
	defer rows.Close()
	var out []store.KeyLogChangeRecord
	n := 0
	for n < maxChanges && rows.Next() {
		var r store.KeyLogChangeRecord
		var e int64
		if err := rows.Scan(&e, &r.Changes); err != nil {
			return nil, fmt.Errorf("key log changes %d to %d: %w", from, to, err)
		}
		r.Epoch = uint64(e)
		n += len(r.Changes) / store.KeyLogChangeSize
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("key log changes %d to %d: %w", from, to, err)
	}
	return out, nil
}

// DeleteKeyLogChanges implements store.KeyLog.
func (s *Store) DeleteKeyLogChanges(ctx context.Context, from uint64) error {
	if from > math.MaxInt64 {
		return nil
	}
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM keylog_changes WHERE epoch >= ?", int64(from)); err != nil {
			return fmt.Errorf("delete key log changes from epoch %d: %w", from, err)
		}
		return nil
	})
}
