package vault

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var fast = Params{Time: 1, Memory: 64, Threads: 1}

// rawDB opens a vault file the way an attacker with the file would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

func TestCreateOpenAndWrongPassphrase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "profile.db")
	v, err := Create(ctx, path, []byte("correct horse"), fast)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Put(ctx, "identity", []byte("secret seed")); err != nil {
		t.Fatal(err)
	}
	v.Close()
	if _, err := Create(ctx, path, []byte("x"), fast); !errors.Is(err, ErrExists) {
		t.Fatalf("create over an existing vault: %v", err)
	}
	if _, err := Open(ctx, path, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: err = %v", err)
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "none.db"), []byte("x")); !errors.Is(err, ErrNoVault) {
		t.Fatalf("missing vault: err = %v", err)
	}
	v, err = Open(ctx, path, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	got, err := v.Get(ctx, "identity")
	if err != nil || string(got) != "secret seed" {
		t.Fatalf("get = %q, %v", got, err)
	}
	if _, err := v.Get(ctx, "nothing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing record: err = %v", err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "secret seed") || strings.Contains(string(raw), "identity") {
		t.Fatal("plaintext name or value found in the vault file")
	}
}

func TestTamperedRecordIsCorruptNotGarbage(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "profile.db")
	v, _ := Create(ctx, path, []byte("pw"), fast)
	v.Put(ctx, "a", []byte("alpha"))
	v.Put(ctx, "b", []byte("beta"))
	v.Update(ctx, func(tx *Tx) error { _, err := tx.Append(ctx, "room", []byte("m1")); return err })
	v.Close()

	// Flip one ciphertext byte of every value, keeping its nonce and tag:
	// the root still matches (it covers nonce and tag), reading fails.
	db := rawDB(t, path)
	for _, table := range []string{"records", "logs"} {
		rows, err := db.Query(`SELECT rowid, value FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		vals := map[int64][]byte{}
		for rows.Next() {
			var id int64
			var b []byte
			rows.Scan(&id, &b)
			b[12] ^= 1
			vals[id] = b
		}
		rows.Close()
		for id, b := range vals {
			if _, err := db.Exec(`UPDATE `+table+` SET value = ? WHERE rowid = ?`, b, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()
	v, err := Open(ctx, path, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if _, err := v.Get(ctx, "a"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("altered record: err = %v, want ErrCorrupt", err)
	}
	if _, err := v.Log(ctx, "room"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("altered log entry: err = %v, want ErrCorrupt", err)
	}
}

func TestSwappedRecordsAreRefusedAtOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "profile.db")
	v, _ := Create(ctx, path, []byte("pw"), fast)
	v.Put(ctx, "a", []byte("alpha"))
	v.Put(ctx, "b", []byte("beta"))
	v.Close()
	db := rawDB(t, path)
	// Swap the two records' values: each is authenticated to its own name.
	if _, err := db.Exec(`UPDATE records SET value = (SELECT value FROM records r2 WHERE r2.name != records.name)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, path, []byte("pw")); !errors.Is(err, ErrInconsistent) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("swapped records: err = %v, want ErrInconsistent", err)
	}
}

func TestUpdateIsAtomicAndLogsKeepOrder(t *testing.T) {
	ctx := context.Background()
	v, err := Create(ctx, filepath.Join(t.TempDir(), "p.db"), []byte("pw"), fast)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	boom := errors.New("boom")
	err = v.Update(ctx, func(tx *Tx) error {
		tx.Put(ctx, "session", []byte("advanced"))
		tx.Append(ctx, "room", []byte("m"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := v.Get(ctx, "session"); !errors.Is(err, ErrNotFound) {
		t.Fatal("a failed update left a write behind")
	}
	for _, m := range []string{"one", "two", "three"} {
		if err := v.Update(ctx, func(tx *Tx) error { _, err := tx.Append(ctx, "room", []byte(m)); return err }); err != nil {
			t.Fatal(err)
		}
	}
	log, err := v.Log(ctx, "room")
	if err != nil || len(log) != 3 || string(log[0]) != "one" || string(log[2]) != "three" {
		t.Fatalf("log = %q, %v", log, err)
	}
}

func TestPassphraseRule(t *testing.T) {
	for _, c := range []struct {
		p  string
		ok bool
	}{
		{"x", false},
		{"elevenchars", false},
		{"aaaaaaaaaaaaaaaa", false},
		{"abababababababab", false},
		{"correct horse battery staple", true},
		{"Zwölf Zeichen", true},
		{"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4", false},
	} {
		err := CheckPassphrase([]byte(c.p))
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrWeakPassphrase)) {
			t.Errorf("CheckPassphrase(%q) = %v, want ok=%v", c.p, err, c.ok)
		}
	}
	seen := map[string]bool{}
	for range 50 {
		g, err := GeneratePassphrase()
		if err != nil || len(g) != 29 || CheckPassphrase([]byte(g)) != nil || seen[g] {
			t.Fatalf("generated %q, %v", g, err)
		}
		seen[g] = true
	}
}
