// Package vault is the client's local store, encrypted at rest and
// authenticated as a whole.
//
// A vault is one SQLite file, created 0600 (its -wal and -shm files too;
// wider permissions found at Open are narrowed). A random 32-byte vault key
// encrypts everything; it is stored wrapped (AES-256-GCM) under a key that
// Argon2id derives from the user's passphrase, so the passphrase can change
// without re-encrypting the records (ChangePassphrase). Every record name is
// replaced by an HMAC under a key derived from the vault key and every value
// is sealed with AES-256-GCM, bound to its name, so the file reveals only
// how many records and log entries exist and their sizes.
//
// The record set is authenticated as a whole by a sealed root: a version
// counter, the number of rows and the sum modulo 2^256 of a keyed MAC of
// every row. Each Update adjusts the root by the rows it writes or deletes
// and stores it in the same SQLite transaction, so a crash leaves records
// and root consistent; Open recomputes the sum over every row and refuses a
// vault whose rows are not exactly those the root covers (ErrInconsistent):
// a record replaced by an older version of itself, a deleted or re-inserted
// row. A consistent copy of the whole file from an earlier time is not
// detectable here (the server's send counter catches it: docs/protocol.md
// section 12).
//
// Open with a wrong passphrase fails with ErrWrongPassphrase; a record that
// fails authentication fails with ErrCorrupt — never garbage. Writes that
// belong together go through Update, one SQLite transaction.
package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/url"
	"os"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Labels and parameters, as in docs/protocol.md section 12, "Local store".
const (
	KeyInfo     = "backchannel vault key v1"
	NameInfo    = "backchannel vault names v1"
	RootInfo    = "backchannel vault root v1"
	RecordLabel = "backchannel vault record v1"
	WrapLabel   = "backchannel vault key wrap v1"
	// RowLabel prefixes the MAC of one row in the root's sum.
	RowLabel   = "backchannel vault row v1"
	checkPlain = "backchannel vault check v1"
	// rootName is the record name the sealed root is bound to.
	rootName = "meta/root"
	saltSize = 16
	// KeySize is the vault key's size.
	KeySize = 32
	// formatV1: keys derived directly from the passphrase, no root (read
	// and upgraded at Open). formatV2: a wrapped vault key and a root.
	formatV1 = 1
	formatV2 = 2
	// rootSize: counter (8) || rows (8) || sum (32).
	rootSize = 48
	// A row's MAC covers, of its sealed value, the nonce and the GCM tag,
	// which together identify one authenticated ciphertext.
	nonceSize = 12
	tagSize   = 16
)

// Params are the Argon2id cost parameters.
type Params struct {
	Time    uint32
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultParams are RFC 9106's second recommended option: t = 3,
// m = 64 MiB, p = 4.
var DefaultParams = Params{Time: 3, Memory: 64 * 1024, Threads: 4}

// UpgradeParams are the parameters a format-1 vault is re-wrapped with when
// Open upgrades it (tests lower them).
var UpgradeParams = DefaultParams

// Errors callers branch on.
var (
	ErrWrongPassphrase = errors.New("wrong passphrase")
	ErrCorrupt         = errors.New("local store is corrupted or was tampered with")
	// ErrInconsistent: the rows are not those the sealed root covers. It
	// also matches ErrCorrupt.
	ErrInconsistent = errors.New("the profile's records do not match its integrity record: a record was replaced by an older version of itself, or records were deleted or added outside backchannel; do not use this copy — restore the profile from a backup ('backchannel restore') or set up this device again")
	ErrNotFound     = errors.New("no such record")
	ErrExists       = errors.New("a profile already exists here")
	ErrNoVault      = errors.New("no profile here")
)

// Vault is an open encrypted store. It is safe for concurrent use.
type Vault struct {
	db       *sql.DB
	path     string
	aead     cipher.AEAD
	nameKey  []byte
	rootKey  []byte
	vaultKey []byte
	repaired []string
	counter  atomic.Uint64 // the root's counter as of the last Open or Update
	objs     objects       // decoded records kept in memory (objects.go)
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
	// Freed pages are zeroed: an overwritten ratchet state or a replaced
	// wrapped key does not linger in the file.
	q.Add("_pragma", "secure_delete(on)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Create makes a new vault at path protected by passphrase. The file is
// created 0600; the directory must exist.
func Create(ctx context.Context, path string, passphrase []byte, p Params) (*Vault, error) {
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, path)
	}
	if len(passphrase) == 0 {
		return nil, errors.New("the passphrase must not be empty")
	}
	if err := checkParams(p); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create vault: %w", err)
	}
	f.Close()
	db, err := openDB(path)
	if err != nil {
		return nil, fmt.Errorf("create vault: %w", err)
	}
	fail := func(err error) (*Vault, error) {
		db.Close()
		return nil, err
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fail(fmt.Errorf("create vault: %w", err))
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return fail(err)
	}
	v, err := newVault(db, key)
	if err != nil {
		return fail(err)
	}
	v.path = path
	salt, params, wrapped, err := wrapKey(key, passphrase, p)
	if err != nil {
		return fail(err)
	}
	root, err := v.sealRoot(rootState{})
	if err != nil {
		return fail(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("create vault: %w", err))
	}
	for _, kv := range []struct {
		k string
		v []byte
	}{{"salt", salt}, {"params", params}, {"wrap", wrapped}, {"root", root}} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (k, v) VALUES (?, ?)`, kv.k, kv.v); err != nil {
			tx.Rollback()
			return fail(fmt.Errorf("create vault: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("create vault: %w", err))
	}
	v.repaired, _ = SecureFiles(path)
	return v, nil
}

// Open opens an existing vault, narrows its files' permissions to 0600,
// upgrades a format-1 vault (keys derived straight from the passphrase) to
// the current format, and checks the whole record set against the sealed
// root (ErrInconsistent).
func Open(ctx context.Context, path string, passphrase []byte) (*Vault, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNoVault, path)
	}
	repaired, err := SecureFiles(path)
	if err != nil {
		return nil, fmt.Errorf("open vault %s: %w", path, err)
	}
	db, err := openDB(path)
	if err != nil {
		return nil, fmt.Errorf("open vault: %w", err)
	}
	fail := func(err error) (*Vault, error) {
		db.Close()
		return nil, err
	}
	meta, err := readMeta(ctx, db)
	if err != nil {
		return fail(fmt.Errorf("open vault %s: %w: %v", path, ErrCorrupt, err))
	}
	pb := meta["params"]
	p, err := headerParams(meta)
	if err != nil {
		return fail(fmt.Errorf("open vault %s: %w", path, err))
	}
	var v *Vault
	switch pb[0] {
	case formatV1:
		if v, err = openV1(ctx, db, meta, passphrase, p); err != nil {
			return fail(err)
		}
	case formatV2:
		kek := argon2.IDKey(passphrase, meta["salt"], p.Time, p.Memory, p.Threads, KeySize)
		key, err := unwrap(kek, meta["wrap"])
		if err != nil {
			return fail(err)
		}
		if v, err = newVault(db, key); err != nil {
			return fail(err)
		}
		st, err := v.openRoot(meta["root"])
		if err != nil {
			return fail(fmt.Errorf("open vault %s: %w (%w)", path, ErrInconsistent, ErrCorrupt))
		}
		got, err := v.scan(ctx, db)
		if err != nil {
			return fail(fmt.Errorf("open vault %s: %w", path, err))
		}
		if got.rows != st.rows || subtle.ConstantTimeCompare(got.sum[:], st.sum[:]) != 1 {
			return fail(fmt.Errorf("open vault %s: %w (%w)", path, ErrInconsistent, ErrCorrupt))
		}
		v.counter.Store(st.counter)
	default:
		return fail(fmt.Errorf("open vault %s: unsupported format %d (upgrade backchannel)", path, pb[0]))
	}
	v.path = path
	more, _ := SecureFiles(path) // -wal and -shm exist now
	v.repaired = appendNew(repaired, more)
	return v, nil
}

// openV1 opens a format-1 vault and upgrades it in one transaction: its
// Argon2id output becomes the vault key (the records stay as they are), now
// wrapped under UpgradeParams, and a root over the rows as they are now is
// stored. The check value and the old salt are deleted.
func openV1(ctx context.Context, db *sql.DB, meta map[string][]byte, passphrase []byte, p Params) (*Vault, error) {
	if len(meta["check"]) == 0 {
		return nil, fmt.Errorf("%w: header missing", ErrCorrupt)
	}
	key := argon2.IDKey(passphrase, meta["salt"], p.Time, p.Memory, p.Threads, KeySize)
	v, err := newVault(db, key)
	if err != nil {
		return nil, err
	}
	if pt, err := v.open("meta/check", meta["check"]); err != nil || string(pt) != checkPlain {
		return nil, ErrWrongPassphrase
	}
	salt, params, wrapped, err := wrapKey(key, passphrase, UpgradeParams)
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("upgrade vault: %w", err)
	}
	defer tx.Rollback()
	st, err := v.scan(ctx, tx)
	if err != nil {
		return nil, err
	}
	st.counter = 1
	root, err := v.sealRoot(st)
	if err != nil {
		return nil, err
	}
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM meta WHERE k = 'check'`, nil},
		{`UPDATE meta SET v = ? WHERE k = 'salt'`, []any{salt}},
		{`UPDATE meta SET v = ? WHERE k = 'params'`, []any{params}},
		{`INSERT INTO meta (k, v) VALUES ('wrap', ?)`, []any{wrapped}},
		{`INSERT INTO meta (k, v) VALUES ('root', ?)`, []any{root}},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.args...); err != nil {
			return nil, fmt.Errorf("upgrade vault: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("upgrade vault: %w", err)
	}
	v.counter.Store(st.counter)
	v.checkpoint(ctx)
	return v, nil
}

func readMeta(ctx context.Context, db *sql.DB) (map[string][]byte, error) {
	meta := map[string][]byte{}
	rows, err := db.QueryContext(ctx, `SELECT k, v FROM meta`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		meta[k] = v
	}
	return meta, rows.Err()
}

func checkParams(p Params) error {
	if p.Time == 0 || p.Time > 100 || p.Threads == 0 || p.Memory < 8*uint32(p.Threads) || p.Memory > 4<<20 {
		return fmt.Errorf("implausible key-derivation parameters t=%d m=%d KiB p=%d", p.Time, p.Memory, p.Threads)
	}
	return nil
}

// wrapKey draws a fresh salt and seals key under Argon2id(passphrase).
func wrapKey(key, passphrase []byte, p Params) (salt, params, wrapped []byte, err error) {
	if err := checkParams(p); err != nil {
		return nil, nil, nil, err
	}
	salt = make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, nil, err
	}
	params = make([]byte, 0, 10)
	params = append(params, formatV2)
	params = binary.BigEndian.AppendUint32(params, p.Time)
	params = binary.BigEndian.AppendUint32(params, p.Memory)
	params = append(params, p.Threads)
	kek := argon2.IDKey(passphrase, salt, p.Time, p.Memory, p.Threads, KeySize)
	aead, err := gcm(kek)
	if err != nil {
		return nil, nil, nil, err
	}
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, nil, err
	}
	return salt, params, aead.Seal(nonce, nonce, key, []byte(WrapLabel)), nil
}

func unwrap(kek, wrapped []byte) ([]byte, error) {
	aead, err := gcm(kek)
	if err != nil {
		return nil, err
	}
	if len(wrapped) != nonceSize+KeySize+tagSize {
		return nil, fmt.Errorf("%w: the wrapped key is missing", ErrCorrupt)
	}
	key, err := aead.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], []byte(WrapLabel))
	if err != nil {
		// A wrong passphrase and an altered wrapped key look the same.
		return nil, ErrWrongPassphrase
	}
	return key, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func newVault(db *sql.DB, key []byte) (*Vault, error) {
	encKey, err := hkdf.Key(sha256.New, key, nil, KeyInfo, 32)
	if err != nil {
		return nil, err
	}
	nameKey, err := hkdf.Key(sha256.New, key, nil, NameInfo, 32)
	if err != nil {
		return nil, err
	}
	rootKey, err := hkdf.Key(sha256.New, key, nil, RootInfo, 32)
	if err != nil {
		return nil, err
	}
	aead, err := gcm(encKey)
	if err != nil {
		return nil, err
	}
	return &Vault{db: db, aead: aead, nameKey: nameKey, rootKey: rootKey, vaultKey: key}, nil
}

// ChangePassphrase re-wraps the vault key under a new passphrase with p
// (fresh salt). The salt, parameters and wrapped key change in one SQLite
// transaction, so an interruption leaves either the old passphrase or the
// new one working, never neither; afterwards the old passphrase no longer
// opens this file (the old wrapped key is zeroed in the file and the WAL is
// truncated). Copies of the file made before the change — backups,
// snapshots — still open with the old passphrase.
func (v *Vault) ChangePassphrase(ctx context.Context, passphrase []byte, p Params) error {
	if len(passphrase) == 0 {
		return errors.New("the passphrase must not be empty")
	}
	salt, params, wrapped, err := wrapKey(v.vaultKey, passphrase, p)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("change passphrase: %w", err)
	}
	defer tx.Rollback()
	for k, val := range map[string][]byte{"salt": salt, "params": params, "wrap": wrapped} {
		res, err := tx.ExecContext(ctx, `UPDATE meta SET v = ? WHERE k = ?`, val, k)
		if err != nil {
			return fmt.Errorf("change passphrase: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("change passphrase: %w: %s missing", ErrCorrupt, k)
		}
	}
	if testHookBeforeCommit != nil {
		testHookBeforeCommit()
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("change passphrase: %w", err)
	}
	v.checkpoint(ctx)
	return nil
}

// headerParams reads the Argon2id parameters from the vault's header
// (meta: its salt and params rows), checking both.
func headerParams(meta map[string][]byte) (Params, error) {
	pb := meta["params"]
	if len(meta["salt"]) != saltSize || len(pb) != 10 {
		return Params{}, fmt.Errorf("%w: header missing", ErrCorrupt)
	}
	p := Params{Time: binary.BigEndian.Uint32(pb[1:5]), Memory: binary.BigEndian.Uint32(pb[5:9]), Threads: pb[9]}
	if err := checkParams(p); err != nil {
		return Params{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return p, nil
}

// CheckPassphrase reports whether passphrase opens this vault (nil) or not
// (ErrWrongPassphrase), without changing anything: for asking the user
// again before an action that must not rest on an unlocked profile alone.
// It costs one Argon2id derivation.
func (v *Vault) CheckPassphrase(ctx context.Context, passphrase []byte) error {
	meta := map[string][]byte{}
	for _, k := range []string{"salt", "params", "wrap"} {
		var b []byte
		if err := v.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = ?`, k).Scan(&b); err != nil {
			return fmt.Errorf("check the passphrase: %w: %s missing", ErrCorrupt, k)
		}
		meta[k] = b
	}
	p, err := headerParams(meta)
	if err == nil && meta["params"][0] != formatV2 {
		err = fmt.Errorf("%w: header missing", ErrCorrupt)
	}
	if err != nil {
		return fmt.Errorf("check the passphrase: %w", err)
	}
	key, err := unwrap(argon2.IDKey(passphrase, meta["salt"], p.Time, p.Memory, p.Threads, KeySize), meta["wrap"])
	if err != nil {
		return err
	}
	defer clear(key)
	if subtle.ConstantTimeCompare(key, v.vaultKey) != 1 {
		return ErrWrongPassphrase
	}
	return nil
}

// testHookBeforeCommit, when set (tests), runs just before
// ChangePassphrase commits.
var testHookBeforeCommit func()

// checkpoint copies the WAL into the main file and truncates it, so that
// what a transaction replaced is gone from both (secure_delete zeroes it
// in the main file).
func (v *Vault) checkpoint(ctx context.Context) {
	v.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
}

// Repaired lists the files whose permissions Create or Open narrowed.
func (v *Vault) Repaired() []string { return v.repaired }

// Counter is the root's version counter: how many writing transactions
// the vault has committed. It only grows; a caller that remembers it
// elsewhere can tell an older copy of the whole file.
func (v *Vault) Counter() uint64 { return v.counter.Load() }

// Snapshot writes a consistent copy of the whole vault (still encrypted
// record by record under the same key, wrapped under the same passphrase)
// to a new file at path, created 0600.
func (v *Vault) Snapshot(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if _, err := v.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// Close closes the vault and drops the objects it kept.
func (v *Vault) Close() error {
	v.objs.clear()
	return v.db.Close()
}

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

// ---- the root --------------------------------------------------------------------------

// sum256 is a number modulo 2^256, big-endian limbs.
type sum256 [32]byte

func (s *sum256) add(t []byte, sub bool) {
	var carry uint64
	for i := 3; i >= 0; i-- {
		a := binary.BigEndian.Uint64(s[i*8:])
		b := binary.BigEndian.Uint64(t[i*8:])
		var r uint64
		if sub {
			r, carry = bits.Sub64(a, b, carry)
		} else {
			r, carry = bits.Add64(a, b, carry)
		}
		binary.BigEndian.PutUint64(s[i*8:], r)
	}
}

// rootState is what the sealed root says.
type rootState struct {
	counter uint64
	rows    uint64
	sum     sum256
}

func (v *Vault) sealRoot(st rootState) ([]byte, error) {
	b := make([]byte, 0, rootSize)
	b = binary.BigEndian.AppendUint64(b, st.counter)
	b = binary.BigEndian.AppendUint64(b, st.rows)
	b = append(b, st.sum[:]...)
	return v.seal(rootName, b)
}

func (v *Vault) openRoot(sealed []byte) (rootState, error) {
	b, err := v.open(rootName, sealed)
	if err != nil || len(b) != rootSize {
		return rootState{}, fmt.Errorf("%w: the root", ErrCorrupt)
	}
	var st rootState
	st.counter = binary.BigEndian.Uint64(b)
	st.rows = binary.BigEndian.Uint64(b[8:])
	copy(st.sum[:], b[16:])
	return st, nil
}

// rowMAC is one row's term of the root's sum:
//
//	HMAC-SHA256(root_key, RowLabel || 0x00 || table || key || u64(seq) || u32(len) || nonce || tag)
//
// table is 'r' (records, seq 0) or 'l' (logs); key the hashed name; nonce
// and tag the first 12 and last 16 bytes of the sealed value (for a value
// shorter than 28 bytes, which never authenticates, whatever SQLite's
// substr returns). A nonce and tag name one authenticated ciphertext: a
// different value under the same pair fails when it is read.
func (v *Vault) rowMAC(table byte, key []byte, seq int64, length int64, nonce, tag []byte) []byte {
	m := hmac.New(sha256.New, v.rootKey)
	m.Write([]byte(RowLabel + "\x00"))
	m.Write([]byte{table})
	m.Write(key)
	var n [12]byte
	binary.BigEndian.PutUint64(n[:8], uint64(seq))
	binary.BigEndian.PutUint32(n[8:], uint32(length))
	m.Write(n[:])
	m.Write(nonce)
	m.Write(tag)
	return m.Sum(nil)
}

func (v *Vault) sealedMAC(table byte, key []byte, seq int64, sealed []byte) []byte {
	n := len(sealed)
	nonce, tag := sealed, sealed
	if n >= nonceSize {
		nonce = sealed[:nonceSize]
	}
	if n >= tagSize {
		tag = sealed[n-tagSize:]
	}
	return v.rowMAC(table, key, seq, int64(n), nonce, tag)
}

// The parts of a sealed value a row's MAC covers, as SQLite extracts them.
const macColumns = `length(value), substr(value, 1, 12), substr(value, -16, 16)`

// scan recomputes the row count and the sum over every row.
func (v *Vault) scan(ctx context.Context, q querier) (rootState, error) {
	var st rootState
	for _, t := range []struct {
		table byte
		query string
	}{
		{'r', `SELECT name, 0, ` + macColumns + ` FROM records`},
		{'l', `SELECT log, seq, ` + macColumns + ` FROM logs`},
	} {
		rows, err := q.QueryContext(ctx, t.query)
		if err != nil {
			return st, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		for rows.Next() {
			var key, nonce, tag []byte
			var seq, length int64
			if err := rows.Scan(&key, &seq, &length, &nonce, &tag); err != nil {
				rows.Close()
				return st, fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			st.sum.add(v.rowMAC(t.table, key, seq, length, nonce, tag), false)
			st.rows++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return st, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	return st, nil
}

// ---- transactions ----------------------------------------------------------------------

// Tx is a set of writes and reads applied atomically by Update.
type Tx struct {
	v  *Vault
	tx *sql.Tx
	// The root's change: rows added minus removed, and the sum's delta.
	dirty bool
	rows  int64
	sum   sum256
	// objs is what the transaction wrote, for the kept objects (objects.go).
	objs map[string]pendingObject
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

// drop takes an existing record's row out of the root, if there is one.
func (t *Tx) drop(ctx context.Context, key []byte) error {
	var nonce, tag []byte
	var length int64
	err := t.tx.QueryRowContext(ctx, `SELECT `+macColumns+` FROM records WHERE name = ?`, key).Scan(&length, &nonce, &tag)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	t.sum.add(t.v.rowMAC('r', key, 0, length, nonce, tag), true)
	t.rows--
	t.dirty = true
	return nil
}

// Put writes the record called name.
func (t *Tx) Put(ctx context.Context, name string, value []byte) error {
	sealed, err := t.v.seal(name, value)
	if err != nil {
		return err
	}
	key := t.v.hashName(name)
	if err := t.drop(ctx, key); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO records (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, key, sealed)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	t.sum.add(t.v.sealedMAC('r', key, 0, sealed), false)
	t.rows++
	t.dirty = true
	t.wrote(name)
	return nil
}

// Delete removes the record called name (no error if absent).
func (t *Tx) Delete(ctx context.Context, name string) error {
	key := t.v.hashName(name)
	if err := t.drop(ctx, key); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM records WHERE name = ?`, key); err != nil {
		return err
	}
	t.wrote(name)
	return nil
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
	t.sum.add(t.v.sealedMAC('l', h, seq, sealed), false)
	t.rows++
	t.dirty = true
	return seq, nil
}

// Put writes one record in its own transaction.
func (v *Vault) Put(ctx context.Context, name string, value []byte) error {
	return v.Update(ctx, func(tx *Tx) error { return tx.Put(ctx, name, value) })
}

// Update runs fn in one transaction: all of its writes land, or none. A
// transaction that wrote anything also moves the root (counter + 1, the
// rows it added and removed), in the same SQLite transaction.
func (v *Vault) Update(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := v.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	t := &Tx{v: v, tx: sqlTx}
	committed := false
	defer func() {
		// Also when fn panics: an open transaction would hold the vault's
		// connection for good.
		if !committed {
			sqlTx.Rollback()
		}
		t.settleObjects(committed)
	}()
	if err := fn(t); err != nil {
		return err
	}
	var counter uint64
	if t.dirty {
		if counter, err = t.commitRoot(ctx); err != nil {
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	if t.dirty {
		v.counter.Store(counter)
	}
	return nil
}

// commitRoot applies the transaction's delta to the stored root.
func (t *Tx) commitRoot(ctx context.Context) (uint64, error) {
	var sealed []byte
	if err := t.tx.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'root'`).Scan(&sealed); err != nil {
		return 0, fmt.Errorf("%w (%w): the root is missing", ErrInconsistent, ErrCorrupt)
	}
	st, err := t.v.openRoot(sealed)
	if err != nil {
		return 0, fmt.Errorf("%w (%w)", ErrInconsistent, ErrCorrupt)
	}
	st.counter++
	st.rows = uint64(int64(st.rows) + t.rows)
	st.sum.add(t.sum[:], false)
	root, err := t.v.sealRoot(st)
	if err != nil {
		return 0, err
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE meta SET v = ? WHERE k = 'root'`, root); err != nil {
		return 0, fmt.Errorf("write the root: %w", err)
	}
	return st.counter, nil
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
	var want int64 = 1
	for rows.Next() {
		var seq int64
		var sealed []byte
		if err := rows.Scan(&seq, &sealed); err != nil {
			return nil, err
		}
		if seq != want {
			return nil, fmt.Errorf("%w: log %q skips from %d to %d", ErrCorrupt, log, want-1, seq)
		}
		want++
		pt, err := v.open(fmt.Sprintf("log/%s/%d", log, seq), sealed)
		if err != nil {
			return nil, err
		}
		out = append(out, pt)
	}
	return out, rows.Err()
}
