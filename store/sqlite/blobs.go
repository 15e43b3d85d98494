package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"

	"backchannel/store"
)

// CreateBlob implements store.Blobs.
func (s *Store) CreateBlob(ctx context.Context, id, owner string, now time.Time) error {
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO blobs (id, owner, created_at, touched_at) VALUES (?, ?, ?, ?)", id, owner, micros(now), micros(now))
		if isUniqueViolation(err) {
			return fmt.Errorf("create blob: %w", store.ErrExists)
		}
		if err != nil {
			return fmt.Errorf("create blob: %w", err)
		}
		return nil
	})
}

func ownedBlob(ctx context.Context, tx *wtx, id, owner string) (size int64, final bool, err error) {
	var o string
	err = tx.QueryRowContext(ctx, "SELECT owner, size, final FROM blobs WHERE id = ?", id).Scan(&o, &size, &final)
	if err != nil {
		return 0, false, notFound(err, "blob")
	}
	if o != owner {
		return 0, false, fmt.Errorf("blob of another owner: %w", store.ErrNotFound)
	}
	return size, final, nil
}

// PutBlobChunk implements store.Blobs.
func (s *Store) PutBlobChunk(ctx context.Context, id, owner string, index int, data []byte, lim store.BlobLimits, now time.Time) error {
	if index < 0 {
		return fmt.Errorf("put blob chunk: negative index: %w", store.ErrConflict)
	}
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		size, final, err := ownedBlob(ctx, tx, id, owner)
		if err != nil {
			return fmt.Errorf("put blob chunk: %w", err)
		}
		if final {
			return fmt.Errorf("put blob chunk: blob is finalized: %w", store.ErrConflict)
		}
		var old int64
		err = tx.QueryRowContext(ctx, "SELECT size FROM blob_chunks WHERE blob_id = ? AND idx = ?", id, index).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("put blob chunk: %w", err)
		}
		delta := int64(len(data)) - old
		if lim.MaxBlobBytes > 0 && size+delta > lim.MaxBlobBytes {
			return fmt.Errorf("put blob chunk: blob would exceed %d bytes: %w", lim.MaxBlobBytes, store.ErrQuota)
		}
		var used int64
		if err := tx.QueryRowContext(ctx, "SELECT blob_bytes FROM accounts WHERE name = ?", owner).Scan(&used); err != nil {
			return notFound(err, "put blob chunk: account")
		}
		if lim.QuotaBytes > 0 && used+delta > lim.QuotaBytes {
			return fmt.Errorf("put blob chunk: account quota of %d bytes: %w", lim.QuotaBytes, store.ErrQuota)
		}
		if _, err := tx.ExecContext(ctx,
			"INSERT OR REPLACE INTO blob_chunks (blob_id, idx, size, data) VALUES (?, ?, ?, ?)",
			id, index, len(data), nonNil(data)); err != nil {
			return fmt.Errorf("put blob chunk: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE blobs SET size = size + ?, touched_at = ? WHERE id = ?", delta, micros(now), id); err != nil {
			return fmt.Errorf("put blob chunk: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET blob_bytes = blob_bytes + ? WHERE name = ?", delta, owner); err != nil {
			return fmt.Errorf("put blob chunk: %w", err)
		}
		return nil
	})
}

// FinalizeBlob implements store.Blobs.
func (s *Store) FinalizeBlob(ctx context.Context, id, owner string, chunks int) (store.BlobInfo, error) {
	var info store.BlobInfo
	err := s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		_, final, err := ownedBlob(ctx, tx, id, owner)
		if err != nil {
			return fmt.Errorf("finalize blob: %w", err)
		}
		if final {
			return fmt.Errorf("finalize blob: already finalized: %w", store.ErrConflict)
		}
		rows, err := tx.QueryContext(ctx, "SELECT idx, size FROM blob_chunks WHERE blob_id = ? ORDER BY idx", id)
		if err != nil {
			return fmt.Errorf("finalize blob: %w", err)
		}
		var sizes []int64
		for rows.Next() {
			var idx int
			var size int64
			if err := rows.Scan(&idx, &size); err != nil {
				rows.Close()
				return fmt.Errorf("finalize blob: %w", err)
			}
			if idx != len(sizes) {
				rows.Close()
				return fmt.Errorf("finalize blob: chunk %d missing: %w", len(sizes), store.ErrConflict)
			}
			sizes = append(sizes, size)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("finalize blob: %w", err)
		}
		if len(sizes) != chunks {
			return fmt.Errorf("finalize blob: have %d chunks, want %d: %w", len(sizes), chunks, store.ErrConflict)
		}
		var off int64
		for i, size := range sizes {
			if _, err := tx.ExecContext(ctx, "UPDATE blob_chunks SET off = ? WHERE blob_id = ? AND idx = ?", off, id, i); err != nil {
				return fmt.Errorf("finalize blob: %w", err)
			}
			off += size
		}
		if _, err := tx.ExecContext(ctx, "UPDATE blobs SET final = 1, chunks = ?, size = ? WHERE id = ?", chunks, off, id); err != nil {
			return fmt.Errorf("finalize blob: %w", err)
		}
		var created int64
		if err := tx.QueryRowContext(ctx, "SELECT created_at FROM blobs WHERE id = ?", id).Scan(&created); err != nil {
			return fmt.Errorf("finalize blob: %w", err)
		}
		info = store.BlobInfo{ID: id, Owner: owner, Size: off, Chunks: chunks, Final: true, CreatedAt: fromMicros(created)}
		return nil
	})
	return info, err
}

// Blob implements store.Blobs.
func (s *Store) Blob(ctx context.Context, id string) (store.BlobInfo, error) {
	info := store.BlobInfo{ID: id}
	var created int64
	var chunks int
	err := s.r.QueryRowContext(ctx, `SELECT owner, size, final, created_at,
		(SELECT count(*) FROM blob_chunks WHERE blob_id = ?1) FROM blobs WHERE id = ?1`, id).
		Scan(&info.Owner, &info.Size, &info.Final, &created, &chunks)
	if err != nil {
		return store.BlobInfo{}, notFound(err, "blob")
	}
	info.Chunks, info.CreatedAt = chunks, fromMicros(created)
	return info, nil
}

// ReadBlob implements store.Blobs.
func (s *Store) ReadBlob(ctx context.Context, id string, offset, length int64, w io.Writer) error {
	info, err := s.Blob(ctx, id)
	if err != nil {
		return err
	}
	if !info.Final {
		return fmt.Errorf("read blob: not finalized: %w", store.ErrConflict)
	}
	if offset < 0 || length < 0 || offset+length > info.Size {
		return fmt.Errorf("read blob: range %d+%d outside %d bytes: %w", offset, length, info.Size, store.ErrConflict)
	}
	if length == 0 {
		return nil
	}
	var idx int
	var off int64
	err = s.r.QueryRowContext(ctx, `SELECT idx, off FROM blob_chunks WHERE blob_id = ? AND off <= ? AND size > 0
		ORDER BY off DESC, idx DESC LIMIT 1`, id, offset).Scan(&idx, &off)
	if err != nil {
		return notFound(err, "read blob: chunk")
	}
	skip := offset - off
	for length > 0 {
		var data []byte
		if err := s.r.QueryRowContext(ctx, "SELECT data FROM blob_chunks WHERE blob_id = ? AND idx = ?", id, idx).Scan(&data); err != nil {
			return notFound(err, fmt.Sprintf("read blob: chunk %d", idx))
		}
		if skip > int64(len(data)) {
			return fmt.Errorf("read blob: chunk offsets inconsistent: %w", store.ErrConflict)
		}
		data = data[skip:]
		skip = 0
		if int64(len(data)) > length {
			data = data[:length]
		}
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("read blob: write: %w", err)
		}
		length -= int64(len(data))
		idx++
	}
	return nil
}

// DeleteBlob implements store.Blobs.
func (s *Store) DeleteBlob(ctx context.Context, id, owner string) error {
	return s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		size, _, err := ownedBlob(ctx, tx, id, owner)
		if err != nil {
			return fmt.Errorf("delete blob: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM blob_chunks WHERE blob_id = ?", id); err != nil {
			return fmt.Errorf("delete blob: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM blobs WHERE id = ?", id); err != nil {
			return fmt.Errorf("delete blob: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET blob_bytes = max(0, blob_bytes - ?) WHERE name = ?", size, owner); err != nil {
			return fmt.Errorf("delete blob: %w", err)
		}
		return nil
	})
}

// BlobUsage implements store.Blobs.
func (s *Store) BlobUsage(ctx context.Context, owner string) (int64, error) {
	var used int64
	if err := s.r.QueryRowContext(ctx, "SELECT blob_bytes FROM accounts WHERE name = ?", owner).Scan(&used); err != nil {
		return 0, notFound(err, "blob usage")
	}
	return used, nil
}

// DropIdleUploads implements store.Blobs.
func (s *Store) DropIdleUploads(ctx context.Context, owner string, idleSince time.Time) (int, int64, error) {
	var n int
	var freed int64
	err := s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		n, freed = 0, 0
		rows, err := tx.QueryContext(ctx, "SELECT id, size FROM blobs WHERE owner = ? AND final = 0 AND touched_at < ?", owner, micros(idleSince))
		if err != nil {
			return fmt.Errorf("drop idle uploads: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			var size int64
			if err := rows.Scan(&id, &size); err != nil {
				rows.Close()
				return fmt.Errorf("drop idle uploads: %w", err)
			}
			ids = append(ids, id)
			freed += size
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("drop idle uploads: %w", err)
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, "DELETE FROM blob_chunks WHERE blob_id = ?", id); err != nil {
				return fmt.Errorf("drop idle uploads: %w", err)
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM blobs WHERE id = ?", id); err != nil {
				return fmt.Errorf("drop idle uploads: %w", err)
			}
		}
		if freed > 0 {
			if _, err := tx.ExecContext(ctx, "UPDATE accounts SET blob_bytes = max(0, blob_bytes - ?) WHERE name = ?", freed, owner); err != nil {
				return fmt.Errorf("drop idle uploads: %w", err)
			}
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return n, freed, nil
}
