package client_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"backchannel/client"
	"backchannel/vault"
)

func rawRecords(t *testing.T, path string) map[int64][]byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT rowid, value FROM records`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][]byte{}
	for rows.Next() {
		var id int64
		var v []byte
		rows.Scan(&id, &v)
		out[id] = v
	}
	return out
}

// TestRestoredOldRoomRecordIsRefused is issue 10's attack on the vault:
// with the profile file (not the passphrase), put back the sealed room
// record from before a member's removal. The profile must refuse to open
// — it must not send the removed member anything.
func TestRestoredOldRoomRecordIsRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	if _, err := a.CreateRoom(ctx, "board", []string{"bob", "carol"}, "", ""); err != nil {
		t.Fatal(err)
	}
	sync(t, b, c)
	dir := filepath.Join(e.dir, "alice")
	path := filepath.Join(dir, client.ProfileFile)
	a.Close()
	before := rawRecords(t, path)
	a, err := client.Open(ctx, dir, []byte("pw-alice"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveMember(ctx, "board", "carol"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	sync(t, c)
	after := rawRecords(t, path)
	saved, _ := os.ReadFile(path)

	changed := 0
	for id, old := range before {
		if cur, ok := after[id]; !ok || bytes.Equal(cur, old) {
			continue
		}
		changed++
		// One old record back (the room record is one of them).
		db, _ := sql.Open("sqlite", "file:"+path)
		if _, err := db.Exec(`UPDATE records SET value = ? WHERE rowid = ?`, old, id); err != nil {
			t.Fatal(err)
		}
		db.Close()
		a, err := client.Open(ctx, dir, []byte("pw-alice"), client.Options{})
		if err == nil {
			a.Send(ctx, "board", "our budget ceiling is 12 million")
			a.Close()
			t.Fatalf("record %d restored: the profile opened", id)
		}
		if !errors.Is(err, vault.ErrInconsistent) || !strings.Contains(err.Error(), "restore the profile from a backup") {
			t.Fatalf("record %d restored: err = %v", id, err)
		}
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
		os.WriteFile(path, saved, 0o600)
	}
	if changed == 0 {
		t.Fatal("the removal changed no record")
	}
	if n := len(pending(t, e, "carol")); n != 0 {
		t.Fatalf("carol, removed, has %d messages waiting", n)
	}
	// The untouched profile still opens and still knows carol is out.
	a, err = client.Open(ctx, dir, []byte("pw-alice"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rooms, _ := a.Rooms(ctx)
	if len(rooms) != 1 || len(rooms[0].State.Members) != 2 {
		t.Fatalf("rooms = %+v", rooms)
	}
}

func TestProfilePermissionsAreNarrowed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.user("alice")
	a.Close()
	dir := filepath.Join(e.dir, "alice")
	for _, p := range []string{dir, filepath.Join(dir, client.ProfileFile)} {
		st, _ := os.Stat(p)
		if st.Mode().Perm()&0o077 != 0 {
			t.Fatalf("%s is %v", p, st.Mode().Perm())
		}
	}
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Join(dir, client.ProfileFile), 0o644)
	a, err := client.Open(ctx, dir, []byte("pw-alice"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.RepairedFiles()) != 2 {
		t.Fatalf("repaired %v", a.RepairedFiles())
	}
	ents, _ := os.ReadDir(dir)
	for _, ent := range append(ents, nil) {
		p := dir
		if ent != nil {
			p = filepath.Join(dir, ent.Name())
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v after Open", p, st.Mode().Perm())
		}
	}
}

func TestChangePassphraseOfAProfile(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a := e.user("alice")
	dir := filepath.Join(e.dir, "alice")
	if err := client.ChangePassphrase(ctx, dir, []byte("pw-alice"), []byte("a much longer one"), fastVault); !errors.Is(err, client.ErrProfileInUse) {
		t.Fatalf("while the profile is open: err = %v", err)
	}
	a.Close()
	if err := client.ChangePassphrase(ctx, dir, []byte("wrong"), []byte("a much longer one"), fastVault); !errors.Is(err, vault.ErrWrongPassphrase) {
		t.Fatalf("wrong old passphrase: err = %v", err)
	}
	if err := client.ChangePassphrase(ctx, dir, []byte("pw-alice"), []byte("a much longer one"), fastVault); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Open(ctx, dir, []byte("pw-alice"), client.Options{}); !errors.Is(err, vault.ErrWrongPassphrase) {
		t.Fatalf("old passphrase: err = %v", err)
	}
	a, err := client.Open(ctx, dir, []byte("a much longer one"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}
