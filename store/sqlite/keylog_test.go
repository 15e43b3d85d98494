package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"backchannel/store"
	"backchannel/store/sqlite"
)

// A database written before the key log kept every leaf state opens, and the
// current leaf of each account becomes its first recorded state; later
// updates add states after it.
func TestMigrateKeyLogStates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	h := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	if _, err := db.Exec(`CREATE TABLE keylog_leaves (account TEXT PRIMARY KEY, idx BLOB NOT NULL, updates INTEGER NOT NULL,
			version INTEGER NOT NULL, nonce BLOB NOT NULL, list_hash BLOB NOT NULL);
		INSERT INTO keylog_leaves VALUES ('alice', ?, 3, 3, ?, ?)`, h(1), h(2), h(3)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 2 { // opening twice copies nothing twice
		s := open(t, dir)
		states, err := s.KeyLogStates(ctx, "alice")
		if err != nil || len(states) != 1 || states[0].Updates != 3 || states[0].Version != 3 || !bytes.Equal(states[0].Nonce, h(2)) {
			t.Fatalf("migrated states = %+v, %v", states, err)
		}
		s.Close()
	}
	s := open(t, dir)
	defer s.Close()
	if _, _, err := s.PutKeyLogLeaf(ctx, store.KeyLogLeaf{Account: "alice", Index: h(1), Version: 4, Nonce: h(4), ListHash: h(4)}); err != nil {
		t.Fatal(err)
	}
	states, err := s.KeyLogStates(ctx, "alice")
	if err != nil || len(states) != 2 || states[1].Updates != 4 || !bytes.Equal(states[1].Nonce, h(4)) {
		t.Fatalf("states after an update = %+v, %v", states, err)
	}
}
