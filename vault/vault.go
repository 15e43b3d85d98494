// Package vault is the client's local store, encrypted at rest.
//
// A vault is one SQLite file. Its key comes from the user's passphrase via
// Argon2id; every record name is replaced by an HMAC under a key derived
// from it and every value is sealed with AES-256-GCM, bound to its name, so
// the file reveals only how many records and log entries exist and their
// sizes. Open with a wrong passphrase fails with ErrWrongPassphrase; a record
// that fails authentication fails with ErrCorrupt — never garbage. Writes
// that belong together go through Update, one SQLite transaction.
package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"

	"golang.org/x/crypto/argon2"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Labels and parameters, as in docs/protocol.md section "Local store".
const (
	KeyInfo       = "backchannel vault key v1"
	NameInfo      = "backchannel vault names v1"
	RecordLabel   = "backchannel vault record v1"
	checkPlain    = "backchannel vault check v1"
	saltSize      = 16
	formatVersion = 1
)

// Params are the Argon2id cost parameters.
type Params struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultParams follow RFC 9106's second recommended option (64 MiB, t=3).
var DefaultParams = Params{Time: 3, Memory: 64 * 1024, Threads: 2}

// Errors callers branch on.
var (
	ErrWrongPassphrase = errors.New("vault: wrong passphrase")
	ErrCorrupt         = errors.New("vault: local store is corrupted or was tampered with")
	ErrNotFound        = errors.New("vault: no such record")
	ErrExists          = errors.New("vault: a profile already exists here")
	ErrNoVault         = errors.New("vault: no profile here")
)

// Vault is an open encrypted store. It is safe for concurrent use.
type Vault struct {
	db      *sql.DB
	aead    cipher.AEAD
	nameKey []byte
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS records (name BLOB PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS logs (log BLOB NOT NULL, seq INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (log, seq));
`

func openDB(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Create makes a new vault at path protected by passphrase.
func Create(ctx context.Context, path string, passphrase []byte, p Params) (*Vault, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, path)
	}
	if len(passphrase) == 0 {
		return nil, errors.New("vault: the passphrase must not be empty")
	}
	db, err := openDB(path)
	if err != nil {
		return nil, fmt.Errorf("create vault: %w", err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create vault: %w", err)
	}
	salt := make([]byte, saltSize)
	rand.Read(salt)
	params := make([]byte, 0, 10)
	params = append(params, formatVersion)
	params = binary.BigEndian.AppendUint32(params, p.Time)
	params = binary.BigEndian.AppendUint32(params, p.Memory)
	params = append(params, p.Threads)
	v, err := newVault(db, passphrase, salt, p)
	if err != nil {
		db.Close()
		return nil, err
	}
	check, err := v.seal("meta/check", []byte(checkPlain))
	if err != nil {
		db.Close()
		return nil, err
	}
	for k, val := range map[string][]byte{"salt": salt, "params": params, "check": check} {
		if _, err := db.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?)`, k, val); err != nil {
			db.Close()
			return nil, fmt.Errorf("create vault: %w", err)
		}
	}
	return v, nil
}

// Open opens an existing vault.
func Open(ctx context.Context, path string, passphrase []byte) (*Vault, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNoVault, path)
	}
	db, err := openDB(path)
	if err != nil {
		return nil, fmt.Errorf("open vault: %w", err)
	}
	meta := map[string][]byte{}
	rows, err := db.QueryContext(ctx, `SELECT k, v FROM meta`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open vault %s: %w: %v", path, ErrCorrupt, err)
	}
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			db.Close()
			return nil, fmt.Errorf("open vault: %w", err)
		}
		meta[k] = v
	}
	rows.Close()
	pb := meta["params"]
	if len(meta["salt"]) != saltSize || len(pb) != 10 || len(meta["check"]) == 0 {
		db.Close()
		return nil, fmt.Errorf("open vault %s: %w: header missing", path, ErrCorrupt)
	}
	if pb[0] != formatVersion {
		db.Close()
		return nil, fmt.Errorf("open vault %s: unsupported format %d", path, pb[0])
	}
	p := Params{Time: binary.BigEndian.Uint32(pb[1:5]), Memory: binary.BigEndian.Uint32(pb[5:9]), Threads: pb[9]}
	if p.Time == 0 || p.Time > 100 || p.Memory < 8 || p.Memory > 4<<20 || p.Threads == 0 {
		db.Close()
		return nil, fmt.Errorf("open vault %s: %w: implausible key-derivation parameters", path, ErrCorrupt)
	}
	v, err := newVault(db, passphrase, meta["salt"], p)
	if err != nil {
		db.Close()
		return nil, err
	}
	if pt, err := v.open("meta/check", meta["check"]); err != nil || string(pt) != checkPlain {
		db.Close()
		return nil, ErrWrongPassphrase
	}
	return v, nil
}

func newVault(db *sql.DB, passphrase, salt []byte, p Params) (*Vault, error) {
	master := argon2.IDKey(passphrase, salt, p.Time, p.Memory, p.Threads, 32)
	encKey, err := hkdf.Key(sha256.New, master, nil, KeyInfo, 32)
	if err != nil {
		return nil, err
	}
	nameKey, err := hkdf.Key(sha256.New, master, nil, NameInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Vault{db: db, aead: aead, nameKey: nameKey}, nil
}

// Snapshot writes a consistent copy of the whole vault (still encrypted
// record by record under the same passphrase) to a new file at path.
func (v *Vault) Snapshot(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if _, err := v.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("vault: snapshot: %w", err)
	}
	return nil
}

// Close closes the vault.
func (v *Vault) Close() error { return v.db.Close() }

func (v *Vault) hashName(name string) []byte {
	m := hmac.New(sha256.New, v.nameKey)
	m.Write([]byte(name))
	return m.Sum(nil)
}

func (v *Vault) ad(name string) []byte { return append([]byte(RecordLabel+"\x00"), name...) }

func (v *Vault) seal(name string, value []byte) ([]byte, error) {
	nonce := make([]byte, v.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return v.aead.Seal(nonce, nonce, value, v.ad(name)), nil
}

func (v *Vault) open(name string, sealed []byte) ([]byte, error) {
	ns := v.aead.NonceSize()
	if len(sealed) < ns+v.aead.Overhead() {
		return nil, fmt.Errorf("%w: record %q truncated", ErrCorrupt, name)
	}
	pt, err := v.aead.Open(nil, sealed[:ns], sealed[ns:], v.ad(name))
	if err != nil {
		return nil, fmt.Errorf("%w: record %q does not authenticate", ErrCorrupt, name)
	}
	return pt, nil
}

// Tx is a set of writes and reads applied atomically by Update.
type Tx struct {
	v  *Vault
	tx *sql.Tx
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (v *Vault) get(ctx context.Context, q querier, name string) ([]byte, error) {
	var sealed []byte
	err := q.QueryRowContext(ctx, `SELECT value FROM records WHERE name = ?`, v.hashName(name)).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return v.open(name, sealed)
}

// Get returns the record called name, or ErrNotFound.
func (v *Vault) Get(ctx context.Context, name string) ([]byte, error) { return v.get(ctx, v.db, name) }

// Get reads inside the transaction.
func (t *Tx) Get(ctx context.Context, name string) ([]byte, error) { return t.v.get(ctx, t.tx, name) }

// Put writes the record called name.
func (t *Tx) Put(ctx context.Context, name string, value []byte) error {
	sealed, err := t.v.seal(name, value)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO records (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, t.v.hashName(name), sealed)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// Delete removes the record called name (no error if absent).
func (t *Tx) Delete(ctx context.Context, name string) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM records WHERE name = ?`, t.v.hashName(name))
	return err
}

// Append adds value to the end of the log called log and returns its
// sequence number (from 1).
func (t *Tx) Append(ctx context.Context, log string, value []byte) (int64, error) {
	h := t.v.hashName("log/" + log)
	var seq int64
	if err := t.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM logs WHERE log = ?`, h).Scan(&seq); err != nil {
		return 0, fmt.Errorf("append to %s: %w", log, err)
	}
	sealed, err := t.v.seal(fmt.Sprintf("log/%s/%d", log, seq), value)
	if err != nil {
		return 0, err
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO logs (log, seq, value) VALUES (?, ?, ?)`, h, seq, sealed); err != nil {
		return 0, fmt.Errorf("append to %s: %w", log, err)
	}
	return seq, nil
}

// Put writes one record in its own transaction.
func (v *Vault) Put(ctx context.Context, name string, value []byte) error {
	return v.Update(ctx, func(tx *Tx) error { return tx.Put(ctx, name, value) })
}

// Update runs fn in one transaction: all of its writes land, or none.
func (v *Vault) Update(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("vault: begin: %w", err)
	}
	if err := fn(&Tx{v: v, tx: sqlTx}); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("vault: commit: %w", err)
	}
	return nil
}

// Log returns every entry of the log called log, oldest first.
func (v *Vault) Log(ctx context.Context, log string) ([][]byte, error) { return v.log(ctx, v.db, log) }

// Log reads a log inside the transaction.
func (t *Tx) Log(ctx context.Context, log string) ([][]byte, error) { return t.v.log(ctx, t.tx, log) }

func (v *Vault) log(ctx context.Context, q querier, log string) ([][]byte, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, value FROM logs WHERE log = ? ORDER BY seq`, v.hashName("log/"+log))
	if err != nil {
		return nil, fmt.Errorf("read log %s: %w", log, err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var seq int64
		var sealed []byte
		if err := rows.Scan(&seq, &sealed); err != nil {
			return nil, err
		}
		pt, err := v.open(fmt.Sprintf("log/%s/%d", log, seq), sealed)
		if err != nil {
			return nil, err
		}
		out = append(out, pt)
	}
	return out, rows.Err()
}
