package vault

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

// rowsOf returns every row of table as (rowid, value).
func rowsOf(t *testing.T, db *sql.DB, table string) map[int64][]byte {
	t.Helper()
	rows, err := db.Query(`SELECT rowid, value FROM ` + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64][]byte{}
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			t.Fatal(err)
		}
		out[id] = b
	}
	return out
}

func exec1(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func wantInconsistent(t *testing.T, path, what string) {
	t.Helper()
	v, err := Open(context.Background(), path, []byte("pw"))
	if err == nil {
		v.Close()
		t.Fatalf("%s: the vault opened", what)
	}
	if !errors.Is(err, ErrInconsistent) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: err = %v, want ErrInconsistent", what, err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("restore the profile from a backup")) {
		t.Fatalf("%s: the error does not say what to do: %v", what, err)
	}
}

// TestAttacksOnTheRecordSet performs each attack with direct writes to the
// SQLite file, as someone holding the file (not the passphrase) can.
func TestAttacksOnTheRecordSet(t *testing.T) {
	ctx := context.Background()
	type setup struct {
		path string
		old  map[int64][]byte // records' sealed values after the first round
		root []byte           // the sealed root after the first round
	}
	build := func(t *testing.T) setup {
		path := filepath.Join(t.TempDir(), "profile.db")
		v, err := Create(ctx, path, []byte("pw"), fast)
		if err != nil {
			t.Fatal(err)
		}
		v.Put(ctx, "room/r1", []byte(`{"members":["alice","bob","carol"]}`))
		v.Put(ctx, "session/bob", []byte("state 1"))
		for _, m := range []string{"m1", "m2", "m3"} {
			v.Update(ctx, func(tx *Tx) error { _, err := tx.Append(ctx, "history/r1", []byte(m)); return err })
		}
		v.Close()
		db := rawDB(t, path)
		s := setup{path: path, old: rowsOf(t, db, "records")}
		db.QueryRow(`SELECT v FROM meta WHERE k = 'root'`).Scan(&s.root)
		db.Close()
		v, err = Open(ctx, path, []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		// Carol is removed; the session moves on.
		v.Update(ctx, func(tx *Tx) error {
			if err := tx.Put(ctx, "room/r1", []byte(`{"members":["alice","bob"]}`)); err != nil {
				return err
			}
			return tx.Put(ctx, "session/bob", []byte("state 2"))
		})
		v.Close()
		return s
	}
	cases := []struct {
		name   string
		attack func(t *testing.T, db *sql.DB, s setup)
	}{
		{"restore the old room record (a removed member back in)", func(t *testing.T, db *sql.DB, s setup) {
			for id, old := range s.old {
				var cur []byte
				db.QueryRow(`SELECT value FROM records WHERE rowid = ?`, id).Scan(&cur)
				if !bytes.Equal(cur, old) {
					exec1(t, db, `UPDATE records SET value = ? WHERE rowid = ?`, old, id)
					return // one record only
				}
			}
			t.Fatal("no record changed")
		}},
		{"restore every changed record", func(t *testing.T, db *sql.DB, s setup) {
			for id, old := range s.old {
				exec1(t, db, `UPDATE records SET value = ? WHERE rowid = ?`, old, id)
			}
		}},
		{"restore the old root alone", func(t *testing.T, db *sql.DB, s setup) {
			exec1(t, db, `UPDATE meta SET v = ? WHERE k = 'root'`, s.root)
		}},
		{"delete the last history entry", func(t *testing.T, db *sql.DB, s setup) {
			exec1(t, db, `DELETE FROM logs WHERE seq = (SELECT MAX(seq) FROM logs)`)
		}},
		{"delete a history entry in the middle", func(t *testing.T, db *sql.DB, s setup) {
			exec1(t, db, `DELETE FROM logs WHERE seq = 2`)
		}},
		{"delete a record", func(t *testing.T, db *sql.DB, s setup) {
			exec1(t, db, `DELETE FROM records WHERE rowid = (SELECT MIN(rowid) FROM records)`)
		}},
		{"delete the root", func(t *testing.T, db *sql.DB, s setup) {
			exec1(t, db, `DELETE FROM meta WHERE k = 'root'`)
		}},
		{"re-insert a history entry under a new sequence number", func(t *testing.T, db *sql.DB, s setup) {
			exec1(t, db, `INSERT INTO logs (log, seq, value) SELECT log, 4, value FROM logs WHERE seq = 1`)
		}},
		{"add the old room record twice beside the new one (no primary key)", func(t *testing.T, db *sql.DB, s setup) {
			// Two equal terms would cancel in a XOR; the sum counts them.
			exec1(t, db, `CREATE TABLE r2 (name BLOB NOT NULL, value BLOB NOT NULL)`)
			exec1(t, db, `INSERT INTO r2 SELECT name, value FROM records`)
			for id, old := range s.old {
				var name []byte
				db.QueryRow(`SELECT name FROM records WHERE rowid = ?`, id).Scan(&name)
				exec1(t, db, `INSERT INTO r2 (name, value) VALUES (?, ?)`, name, old)
				exec1(t, db, `INSERT INTO r2 (name, value) VALUES (?, ?)`, name, old)
			}
			exec1(t, db, `DROP TABLE records`)
			exec1(t, db, `ALTER TABLE r2 RENAME TO records`)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := build(t)
			db := rawDB(t, s.path)
			c.attack(t, db, s)
			db.Close()
			wantInconsistent(t, s.path, c.name)
		})
	}
	t.Run("untouched", func(t *testing.T) {
		s := build(t)
		v, err := Open(ctx, s.path, []byte("pw"))
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if got, _ := v.Get(ctx, "room/r1"); string(got) != `{"members":["alice","bob"]}` {
			t.Fatalf("room = %s", got)
		}
		if v.Counter() != 6 {
			t.Fatalf("counter = %d, want 6 (one per writing transaction)", v.Counter())
		}
	})
}

func TestRootFollowsEveryKindOfWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "profile.db")
	v, err := Create(ctx, path, []byte("pw"), fast)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		err := v.Update(ctx, func(tx *Tx) error {
			for j := 0; j < 1+rnd.IntN(4); j++ {
				name := fmt.Sprintf("r%d", rnd.IntN(20))
				var err error
				switch rnd.IntN(4) {
				case 0:
					err = tx.Delete(ctx, name)
				case 1:
					_, err = tx.Append(ctx, name, []byte("entry"))
				default:
					err = tx.Put(ctx, name, bytes.Repeat([]byte{byte(i)}, rnd.IntN(3000)))
				}
				if err != nil {
					return err
				}
			}
			if rnd.IntN(5) == 0 {
				return errors.New("abandoned")
			}
			return nil
		})
		if err != nil && err.Error() != "abandoned" {
			t.Fatal(err)
		}
	}
	v.Close()
	if v, err = Open(ctx, path, []byte("pw")); err != nil {
		t.Fatalf("after random writes and abandoned transactions: %v", err)
	}
	v.Close()
}

func TestFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0) // the most permissive environment
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "profile.db")
	v, err := Create(ctx, path, []byte("pw"), fast)
	if err != nil {
		t.Fatal(err)
	}
	v.Put(ctx, "a", []byte("alpha"))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		st, err := os.Stat(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", path+suffix, st.Mode().Perm())
		}
	}
	v.Close()
	// Someone (a copy, a careless chmod) made them world-readable.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Chmod(path+suffix, 0o644)
	}
	v, err = Open(ctx, path, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if len(v.Repaired()) == 0 {
		t.Error("Open did not report the files it narrowed")
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if st, err := os.Stat(path + suffix); err == nil && st.Mode().Perm() != 0o600 {
			t.Errorf("after Open %s is %v, want 0600", path+suffix, st.Mode().Perm())
		}
	}
	snap := filepath.Join(dir, "snap.db")
	if err := v.Snapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(snap); st.Mode().Perm() != 0o600 {
		t.Errorf("snapshot is %v, want 0600", st.Mode().Perm())
	}

	// SecureDir: the profile directory and the profile's files in it, and
	// nothing else (--home may be a directory with other files).
	os.Chmod(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "profile.lock"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "script.sh"), nil, 0o755)
	os.Chmod(path, 0o640)
	fixed, err := SecureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(fixed) != 3 {
		t.Errorf("fixed %v, want the directory, profile.db and profile.lock", fixed)
	}
	for p, want := range map[string]fs.FileMode{dir: 0o700, path: 0o600, filepath.Join(dir, "profile.lock"): 0o600, filepath.Join(dir, "script.sh"): 0o755} {
		if st, _ := os.Stat(p); st.Mode().Perm() != want {
			t.Errorf("%s is %v, want %v", p, st.Mode().Perm(), want)
		}
	}
}

func TestChangePassphrase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "profile.db")
	v, err := Create(ctx, path, []byte("old passphrase"), fast)
	if err != nil {
		t.Fatal(err)
	}
	v.Put(ctx, "identity", []byte("seed"))
	var oldWrap []byte
	v.db.QueryRow(`SELECT v FROM meta WHERE k = 'wrap'`).Scan(&oldWrap)
	if err := v.ChangePassphrase(ctx, []byte("new passphrase"), Params{Time: 1, Memory: 128, Threads: 2}); err != nil {
		t.Fatal(err)
	}
	v.Put(ctx, "after", []byte("x"))
	v.Close()
	if _, err := Open(ctx, path, []byte("old passphrase")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("old passphrase after the change: err = %v", err)
	}
	v, err = Open(ctx, path, []byte("new passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Get(ctx, "identity"); err != nil || string(got) != "seed" {
		t.Fatalf("record after the change: %q, %v", got, err)
	}
	v.Close()
	// The old wrapped key is gone from the file and its WAL: whoever later
	// learns the old passphrase cannot unwrap it from this file.
	for _, suffix := range []string{"", "-wal"} {
		raw, _ := os.ReadFile(path + suffix)
		if bytes.Contains(raw, oldWrap) {
			t.Errorf("the old wrapped key is still in %s", path+suffix)
		}
	}
}

func TestChangePassphraseInterrupted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "profile.db")
	v, _ := Create(ctx, path, []byte("old passphrase"), fast)
	v.Put(ctx, "identity", []byte("seed"))
	cctx, cancel := context.WithCancel(ctx)
	testHookBeforeCommit = cancel // Ctrl-C just before the commit
	defer func() { testHookBeforeCommit = nil }()
	if err := v.ChangePassphrase(cctx, []byte("new passphrase"), fast); err == nil {
		t.Fatal("an interrupted change reported success")
	}
	v.Close()
	v, err := Open(ctx, path, []byte("old passphrase"))
	if err != nil {
		t.Fatalf("after an interrupted change the old passphrase fails: %v", err)
	}
	v.Close()
}

// TestKilledWritersNeverBrickTheVault kills a process in the middle of
// writes and passphrase changes, many times: every time, the vault opens
// with exactly one of the two passphrases and its root matches.
func TestKilledWritersNeverBrickTheVault(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "profile.db")
	v, _ := Create(ctx, path, []byte("pass-0"), fast)
	v.Close()
	pass := []string{"pass-0", "pass-1"}
	rnd := rand.New(rand.NewPCG(3, 4))
	var counter uint64
	for round := 0; round < 12; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
		cmd.Env = append(os.Environ(), "VAULT_HELPER="+path)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rnd.IntN(120)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		opened := 0
		for _, p := range pass {
			v, err := Open(ctx, path, []byte(p))
			if err == nil {
				opened++
				counter = v.Counter()
				v.Close()
			} else if !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("round %d: after a kill: %v (helper said %q)", round, err, out.String())
			}
		}
		if opened != 1 {
			t.Fatalf("round %d: %d passphrases open the vault", round, opened)
		}
	}
	if counter < 50 {
		t.Fatalf("the writers committed only %d transactions: the kills did not land among writes", counter)
	}
	t.Logf("%d transactions committed across the kills", counter)
}

// TestHelperWriter is the process TestKilledWritersNeverBrickTheVault kills.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv("VAULT_HELPER")
	if path == "" {
		t.Skip("helper process only")
	}
	ctx := context.Background()
	var v *Vault
	cur := 0
	for i := range 2 {
		var err error
		if v, err = Open(ctx, path, []byte("pass-"+strconv.Itoa(i))); err == nil {
			cur = i
			break
		}
	}
	if v == nil {
		t.Fatal("cannot open")
	}
	for i := 0; ; i++ {
		v.Update(ctx, func(tx *Tx) error {
			tx.Put(ctx, fmt.Sprintf("r%d", i%7), make([]byte, 100*(i%9)))
			_, err := tx.Append(ctx, "log", []byte("e"))
			if i%5 == 0 {
				tx.Delete(ctx, fmt.Sprintf("r%d", (i+3)%7))
			}
			return err
		})
		if i%4 == 0 {
			cur = 1 - cur
			if err := v.ChangePassphrase(ctx, []byte("pass-"+strconv.Itoa(cur)), fast); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// makeV1 writes a vault the way format 1 did: keys straight from the
// passphrase (p = 2), a check value, no root.
func makeV1(t *testing.T, path string, passphrase []byte, p Params) {
	t.Helper()
	ctx := context.Background()
	db, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec1(t, db, schema)
	salt := []byte("0123456789abcdef")
	params := []byte{formatV1}
	params = binary.BigEndian.AppendUint32(params, p.Time)
	params = binary.BigEndian.AppendUint32(params, p.Memory)
	params = append(params, p.Threads)
	master := argonKey(passphrase, salt, p)
	v, _ := newVault(db, master)
	check, _ := v.seal("meta/check", []byte(checkPlain))
	for k, val := range map[string][]byte{"salt": salt, "params": params, "check": check} {
		exec1(t, db, `INSERT INTO meta (k, v) VALUES (?, ?)`, k, val)
	}
	sealed, _ := v.seal("identity", []byte("seed"))
	exec1(t, db, `INSERT INTO records (name, value) VALUES (?, ?)`, v.hashName("identity"), sealed)
	for i := 1; i <= 2; i++ {
		sealed, _ := v.seal(fmt.Sprintf("log/room/%d", i), []byte("m"))
		exec1(t, db, `INSERT INTO logs (log, seq, value) VALUES (?, ?, ?)`, v.hashName("log/room"), i, sealed)
	}
	_ = ctx
}

func TestFormat1IsUpgraded(t *testing.T) {
	ctx := context.Background()
	saved := UpgradeParams
	UpgradeParams = Params{Time: 1, Memory: 256, Threads: 4}
	defer func() { UpgradeParams = saved }()
	path := filepath.Join(t.TempDir(), "profile.db")
	makeV1(t, path, []byte("pw"), Params{Time: 1, Memory: 64, Threads: 2})
	if _, err := Open(ctx, path, []byte("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("format 1, wrong passphrase: %v", err)
	}
	v, err := Open(ctx, path, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Get(ctx, "identity"); err != nil || string(got) != "seed" {
		t.Fatalf("after the upgrade: %q, %v", got, err)
	}
	if l, err := v.Log(ctx, "room"); err != nil || len(l) != 2 {
		t.Fatalf("log after the upgrade: %d, %v", len(l), err)
	}
	v.Close()
	db := rawDB(t, path)
	var params, check []byte
	db.QueryRow(`SELECT v FROM meta WHERE k = 'params'`).Scan(&params)
	err = db.QueryRow(`SELECT v FROM meta WHERE k = 'check'`).Scan(&check)
	if params[0] != formatV2 || params[9] != 4 || !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("params %x, check %v", params, err)
	}
	// From now on the root covers the rows.
	exec1(t, db, `DELETE FROM logs WHERE seq = 2`)
	db.Close()
	wantInconsistent(t, path, "a log entry deleted after the upgrade")
}

func argonKey(passphrase, salt []byte, p Params) []byte {
	return argon2.IDKey(passphrase, salt, p.Time, p.Memory, p.Threads, KeySize)
}

// BenchmarkPut measures one Put in its own transaction (root included)
// against the same sealed upsert without the root.
func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{100, 10000} {
		v, err := Create(ctx, filepath.Join(b.TempDir(), "p.db"), []byte("pw"), fast)
		if err != nil {
			b.Fatal(err)
		}
		value := make([]byte, 1024)
		v.Update(ctx, func(tx *Tx) error {
			for i := range n {
				tx.Put(ctx, fmt.Sprintf("r%d", i), value)
			}
			return nil
		})
		b.Run(fmt.Sprintf("with-root/rows=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if err := v.Put(ctx, fmt.Sprintf("r%d", i%n), value); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("without-root/rows=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				tx, _ := v.db.BeginTx(ctx, nil)
				name := fmt.Sprintf("r%d", i%n)
				sealed, _ := v.seal(name, value)
				if _, err := tx.ExecContext(ctx, `INSERT INTO records (name, value) VALUES (?, ?)
					ON CONFLICT (name) DO UPDATE SET value = excluded.value`, v.hashName(name), sealed); err != nil {
					b.Fatal(err)
				}
				tx.Commit()
			}
		})
		v.Close()
	}
}

// BenchmarkOpenCheck measures the root check at Open (Argon2id excluded:
// the fast parameters) for a vault of 10,000 rows of 1 KiB.
func BenchmarkOpenCheck(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "p.db")
	v, err := Create(ctx, path, []byte("pw"), fast)
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 1024)
	v.Update(ctx, func(tx *Tx) error {
		for range 10000 {
			tx.Append(ctx, "history", value)
		}
		return nil
	})
	v.Close()
	for b.Loop() {
		v, err = Open(ctx, path, []byte("pw"))
		if err != nil {
			b.Fatal(err)
		}
		v.Close()
	}
}

func TestCheckPassphrase(t *testing.T) {
	ctx := context.Background()
	v, err := Create(ctx, filepath.Join(t.TempDir(), "profile.db"), []byte("right passphrase"), fast)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, tc := range []struct {
		pass string
		want error
	}{
		{"right passphrase", nil},
		{"wrong passphrase", ErrWrongPassphrase},
		{"", ErrWrongPassphrase},
	} {
		if err := v.CheckPassphrase(ctx, []byte(tc.pass)); !errors.Is(err, tc.want) {
			t.Errorf("CheckPassphrase(%q) = %v, want %v", tc.pass, err, tc.want)
		}
	}
	if err := v.ChangePassphrase(ctx, []byte("new passphrase"), fast); err != nil {
		t.Fatal(err)
	}
	if err := v.CheckPassphrase(ctx, []byte("right passphrase")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("the old passphrase after a change: %v", err)
	}
	if err := v.CheckPassphrase(ctx, []byte("new passphrase")); err != nil {
		t.Errorf("the new passphrase after a change: %v", err)
	}
}
