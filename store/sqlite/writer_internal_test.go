package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"backchannel/store"
)

// A panicking operation fails its batch but leaves the writer working.
func TestWriterSurvivesPanic(t *testing.T) {
	ctx := context.Background()
	s, err := OpenDir(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.w.do(ctx, func(ctx context.Context, tx *wtx) error { panic("boom") })
	if err == nil {
		t.Fatal("panicking operation reported success")
	}
	err = s.w.do(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO invites (hash, expires_at) VALUES (?, ?)", []byte("h"), 1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateInvite(ctx, []byte("h"), "", time.Now()); !errors.Is(err, store.ErrExists) {
		t.Fatalf("writer state after panic: %v", err)
	}
}
