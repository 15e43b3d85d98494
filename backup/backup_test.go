package backup

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"backchannel/docstream"
	"backchannel/entropy"
	"backchannel/entropy/entropytest"
	"backchannel/vault"
)

// fast Argon2id parameters keep the tests quick; one test uses the defaults.
var fast = vault.Params{Time: 1, Memory: 64, Threads: 1}

func pass(p string) Key { return PassphraseKey([]byte(p), fast) }

func seal(t testing.TB, data []byte, key Key) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(entropy.System{}, &buf, bytes.NewReader(data), key); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func unlockWith(k Key) func(Kind) (Key, error) {
	return func(Kind) (Key, error) { return k, nil }
}

func open(file []byte, key Key) ([]byte, error) {
	var out bytes.Buffer
	err := Read(&out, bytes.NewReader(file), unlockWith(key))
	return out.Bytes(), err
}

func mustRecoveryKey(t testing.TB) RecoveryKey {
	t.Helper()
	r, err := NewRecoveryKey(entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	rk := mustRecoveryKey(t)
	c := docstream.ChunkSize
	for _, size := range []int{0, 1, 100, c - 1, c, c + 1, 3*c + 17} {
		data := make([]byte, size)
		entropytest.New("backup data").Bytes(data)
		for _, key := range []Key{pass("correct horse battery staple"), rk.Key()} {
			file := seal(t, data, key)
			if want := int64(HeaderSize) + docstream.EncryptedSize(int64(size)); int64(len(file)) != want {
				t.Fatalf("%d bytes sealed to %d, want %d", size, len(file), want)
			}
			if !strings.HasPrefix(string(file), MagicLine) {
				t.Fatal("no magic line")
			}
			got, err := open(file, key)
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", key.Kind(), size, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("%s, %d bytes: data differs", key.Kind(), size)
			}
		}
	}
}

func TestDefaultParams(t *testing.T) {
	file := seal(t, []byte("profile.db bytes"), PassphraseKey([]byte("pw"), vault.Params{}))
	b, err := Open(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if b.h.params != vault.DefaultParams || b.Kind() != KindPassphrase {
		t.Fatalf("header params %+v", b.h.params)
	}
	if err := b.Unlock(PassphraseKey([]byte("pw"), vault.Params{})); err != nil {
		t.Fatal(err)
	}
}

// TestFreshKeyPerFile: the same key and data seal to unrelated files.
func TestFreshKeyPerFile(t *testing.T) {
	rk := mustRecoveryKey(t)
	data := bytes.Repeat([]byte("same"), 1000)
	a, b := seal(t, data, rk.Key()), seal(t, data, rk.Key())
	if bytes.Equal(a[:HeaderSize], b[:HeaderSize]) || bytes.Equal(a[HeaderSize:HeaderSize+64], b[HeaderSize:HeaderSize+64]) {
		t.Fatal("two backups under one key share a header or a keystream")
	}
}

func TestWrongKeys(t *testing.T) {
	rk, other := mustRecoveryKey(t), mustRecoveryKey(t)
	data := []byte("secret profile")
	byPass := seal(t, data, pass("right"))
	byKey := seal(t, data, rk.Key())
	for _, tc := range []struct {
		name string
		file []byte
		key  Key
		want error
	}{
		{"wrong passphrase", byPass, pass("wrong"), ErrWrongPassphrase},
		{"empty passphrase", byPass, pass(""), ErrWrongPassphrase},
		{"wrong recovery key", byKey, other.Key(), ErrWrongRecoveryKey},
		{"recovery key for a passphrase backup", byPass, rk.Key(), ErrKind},
		{"passphrase for a recovery-key backup", byKey, pass("right"), ErrKind},
		{"zero key", byKey, Key{}, ErrKind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := open(tc.file, tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if len(got) != 0 {
				t.Fatalf("%d bytes written under a wrong key", len(got))
			}
		})
	}
	if !errors.Is(ErrWrongPassphrase, ErrWrongKey) || !errors.Is(ErrWrongRecoveryKey, ErrWrongKey) {
		t.Fatal("wrong-key sentinels do not match ErrWrongKey")
	}
}

// TestRetryUnlock: a Backup can be unlocked again after a wrong passphrase.
func TestRetryUnlock(t *testing.T) {
	file := seal(t, []byte("data"), pass("right"))
	b, err := Open(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteTo(io.Discard); !errors.Is(err, ErrLocked) {
		t.Fatalf("WriteTo before Unlock: %v", err)
	}
	if err := b.Unlock(pass("wrong")); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatal(err)
	}
	if err := b.Unlock(pass("right")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := b.WriteTo(&out); err != nil || out.String() != "data" {
		t.Fatalf("%q, %v", out.String(), err)
	}
	if _, err := b.WriteTo(&out); !errors.Is(err, ErrUsed) {
		t.Fatalf("second WriteTo: %v", err)
	}
}

func TestTruncated(t *testing.T) {
	rk := mustRecoveryKey(t)
	data := make([]byte, 2*docstream.ChunkSize+100)
	file := seal(t, data, rk.Key())
	chunk := docstream.ChunkSize + docstream.Overhead
	for _, n := range []int{1, len(MagicLine) - 1, len(MagicLine), len(MagicLine) + 1, HeaderSize - 1, HeaderSize, HeaderSize + 10,
		HeaderSize + chunk, HeaderSize + chunk + 1, HeaderSize + 2*chunk, len(file) - 1} {
		got, err := open(file[:n], rk.Key())
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d of %d bytes: got %v, want ErrTruncated", n, len(file), err)
		}
		if !bytes.HasPrefix(data, got) {
			t.Fatalf("cut at %d: wrote bytes that are not a prefix of the data", n)
		}
	}
	if _, err := open(nil, rk.Key()); !errors.Is(err, ErrNotBackup) {
		t.Fatalf("empty file: %v", err)
	}
}

// onlyRead hides a reader's Len, so Write cannot know the length.
type onlyRead struct{ r io.Reader }

func (o onlyRead) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestTruncatedUnknownLength: data streamed from a pipe has no recorded
// length; a cut at a chunk boundary is still ErrTruncated, a cut inside a
// chunk reads as ErrTampered.
func TestTruncatedUnknownLength(t *testing.T) {
	rk := mustRecoveryKey(t)
	data := make([]byte, 2*docstream.ChunkSize+100)
	var buf bytes.Buffer
	if err := Write(entropy.System{}, &buf, onlyRead{bytes.NewReader(data)}, rk.Key()); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	h, err := parseHeader(file[:HeaderSize])
	if err != nil || h.length != UnknownLength {
		t.Fatalf("length %d recorded for a stream, %v", h.length, err)
	}
	if got, err := open(file, rk.Key()); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("round trip: %v", err)
	}
	chunk := docstream.ChunkSize + docstream.Overhead
	for _, tc := range []struct {
		n    int
		want error
	}{
		{HeaderSize, ErrTruncated},
		{HeaderSize + chunk, ErrTruncated},
		{HeaderSize + 2*chunk, ErrTruncated},
		{HeaderSize + chunk + 1000, ErrTampered},
		{len(file) - 1, ErrTampered},
	} {
		if _, err := open(file[:tc.n], rk.Key()); !errors.Is(err, tc.want) {
			t.Errorf("cut at %d: got %v, want %v", tc.n, err, tc.want)
		}
	}
}

func TestLengthOf(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, make([]byte, 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := lengthOf(f); n != 1000 {
		t.Fatalf("file: %d", n)
	}
	f.Seek(300, io.SeekStart)
	if n := lengthOf(f); n != 700 {
		t.Fatalf("file at offset 300: %d", n)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if n := lengthOf(pr); n != UnknownLength {
		t.Fatalf("pipe: %d", n)
	}
	if n := lengthOf(strings.NewReader("abc")); n != 3 {
		t.Fatalf("strings.Reader: %d", n)
	}
	// A file that grows while it is backed up is refused, not sealed with
	// a wrong length.
	grow, _ := os.Open(path)
	defer grow.Close()
	var buf bytes.Buffer
	if err := Write(entropy.System{}, &buf, &growingFile{f: grow, extra: 10}, mustRecoveryKey(t).Key()); err == nil || !strings.Contains(err.Error(), "changed size") {
		t.Fatalf("growing input: %v", err)
	}
}

// growingFile is a regular file that yields extra bytes beyond its size.
type growingFile struct {
	f     *os.File
	extra int
}

func (g *growingFile) Stat() (os.FileInfo, error)            { return g.f.Stat() }
func (g *growingFile) Seek(off int64, wh int) (int64, error) { return g.f.Seek(off, wh) }

func (g *growingFile) Read(p []byte) (int, error) {
	n, err := g.f.Read(p)
	if err == io.EOF && g.extra > 0 {
		k := min(g.extra, len(p))
		g.extra -= k
		return k, nil
	}
	return n, err
}

func TestTamperedHeader(t *testing.T) {
	key := pass("pw")
	file := seal(t, []byte("data"), key)
	m := len(MagicLine)
	for i := range HeaderSize {
		bad := bytes.Clone(file)
		bad[i] ^= 0x01
		_, err := open(bad, key)
		var want error
		switch {
		case i < m:
			want = ErrNotBackup
		case i == m:
			want = ErrVersion
		default:
			want = ErrCorrupt // the checksum catches damage anywhere else
		}
		if !errors.Is(err, want) {
			t.Fatalf("header byte %d flipped: got %v, want %v", i, err, want)
		}
	}
}

// resum recomputes the header checksum, as a deliberate tamperer would.
func resum(file []byte) {
	copy(file[HeaderSize-sumSize:HeaderSize], headerSum(file[:HeaderSize-sumSize]))
}

func TestTamperedHeaderResummed(t *testing.T) {
	key := pass("pw")
	file := seal(t, []byte("data"), key)
	m := len(MagicLine)
	for _, tc := range []struct {
		name string
		at   int
		want error
	}{
		{"kind", m + 1, ErrKind},
		{"params", m + 2 + 3, ErrWrongPassphrase}, // t=3 → t=2
		{"salt", m + 11, ErrWrongPassphrase},
		{"length", m + 11 + SaltSize + 7, ErrWrongPassphrase},
		{"check", m + 11 + SaltSize + 8, ErrWrongPassphrase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(file)
			bad[tc.at] ^= 0x03
			resum(bad)
			got, err := open(bad, key)
			if !errors.Is(err, tc.want) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if len(got) != 0 {
				t.Fatal("data written")
			}
		})
	}
}

// TestSplicedHeader: the header of another backup under the same key (valid
// checksum, valid check value) on this backup's data: the stream key covers
// the header, so the data does not open.
func TestSplicedHeader(t *testing.T) {
	rk := mustRecoveryKey(t)
	a := seal(t, []byte("backup A"), rk.Key())
	b := seal(t, []byte("backup B"), rk.Key())
	spliced := append(bytes.Clone(a[:HeaderSize]), b[HeaderSize:]...)
	got, err := open(spliced, rk.Key())
	if !errors.Is(err, ErrTampered) || len(got) != 0 {
		t.Fatalf("spliced header: %v, %q", err, got)
	}
	// The stream key depends on every header byte, not only the salt: a
	// different header hash gives a different key.
	h, err := parseHeader(a[:HeaderSize])
	if err != nil {
		t.Fatal(err)
	}
	other := bytes.Clone(a[:HeaderSize])
	other[HeaderSize-1] ^= 1
	k1, _ := streamKey(&h, rk.k[:], a[:HeaderSize])
	k2, _ := streamKey(&h, rk.k[:], other)
	if bytes.Equal(k1, k2) {
		t.Fatal("the stream key does not cover the whole header")
	}
}

func TestTamperedData(t *testing.T) {
	rk := mustRecoveryKey(t)
	data := make([]byte, 3*docstream.ChunkSize)
	entropytest.New("tamper").Bytes(data)
	file := seal(t, data, rk.Key())
	chunk := docstream.ChunkSize + docstream.Overhead
	for _, at := range []int{HeaderSize, HeaderSize + 100, HeaderSize + chunk - 1, HeaderSize + chunk + 5, HeaderSize + 2*chunk + 3, len(file) - 1} {
		bad := bytes.Clone(file)
		bad[at] ^= 0x40
		got, err := open(bad, rk.Key())
		if !errors.Is(err, ErrTampered) {
			t.Fatalf("byte %d flipped: got %v, want ErrTampered", at, err)
		}
		// Only chunks before the damaged one reach w.
		if want := (at - HeaderSize) / chunk * docstream.ChunkSize; len(got) != want || !bytes.Equal(got, data[:want]) {
			t.Fatalf("byte %d flipped: %d bytes written, want the %d authenticated ones", at, len(got), want)
		}
	}
	// Appended data and swapped chunks.
	if _, err := open(append(bytes.Clone(file), 0), rk.Key()); !errors.Is(err, ErrTampered) {
		t.Fatalf("appended byte: %v", err)
	}
	swapped := bytes.Clone(file)
	c0 := bytes.Clone(file[HeaderSize : HeaderSize+chunk])
	copy(swapped[HeaderSize:], file[HeaderSize+chunk:HeaderSize+2*chunk])
	copy(swapped[HeaderSize+chunk:], c0)
	if _, err := open(swapped, rk.Key()); !errors.Is(err, ErrTampered) {
		t.Fatalf("swapped chunks: %v", err)
	}
}

func TestWriteRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  Key
		want error
	}{
		{"empty passphrase", pass(""), ErrEmptyPassphrase},
		{"zero time", PassphraseKey([]byte("p"), vault.Params{Time: 0, Memory: 64, Threads: 1}), ErrParams},
		{"huge memory", PassphraseKey([]byte("p"), vault.Params{Time: 1, Memory: MaxMemoryKiB + 1, Threads: 1}), ErrParams},
		{"memory below 8p", PassphraseKey([]byte("p"), vault.Params{Time: 1, Memory: 15, Threads: 2}), ErrParams},
		{"zero threads", PassphraseKey([]byte("p"), vault.Params{Time: 1, Memory: 64}), ErrParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(entropy.System{}, &buf, strings.NewReader("x"), tc.key); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	var buf bytes.Buffer
	if err := Write(entropy.System{}, &buf, strings.NewReader("x"), Key{}); err == nil {
		t.Fatal("the zero Key sealed")
	}
}

// TestHostileParams: a file asking for absurd Argon2id costs is refused
// before any key derivation.
func TestHostileParams(t *testing.T) {
	file := seal(t, []byte("x"), pass("pw"))
	m := len(MagicLine)
	for _, p := range []vault.Params{{Time: 1 << 30, Memory: 64, Threads: 1}, {Time: 1, Memory: 1 << 31, Threads: 1}, {Time: 1, Memory: 64, Threads: 0}} {
		bad := bytes.Clone(file)
		h := header{kind: KindPassphrase, params: p}
		copy(h.salt[:], bad[m+11:])
		copy(bad, h.marshal())
		if _, err := Open(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrParams) {
			t.Fatalf("params %+v: %v", p, err)
		}
	}
}

func TestUnlockError(t *testing.T) {
	file := seal(t, []byte("x"), pass("pw"))
	cancelled := errors.New("user cancelled")
	var asked Kind
	err := Read(io.Discard, bytes.NewReader(file), func(k Kind) (Key, error) { asked = k; return Key{}, cancelled })
	if !errors.Is(err, cancelled) || asked != KindPassphrase {
		t.Fatalf("got %v, asked %v", err, asked)
	}
}

// countingReader yields n deterministic bytes without holding them.
type countingReader struct{ left int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	n = min(n, c.left)
	for i := range p[:n] {
		p[i] = byte(c.left - int64(i))
	}
	c.left -= n
	return int(n), nil
}

// TestLargeBackupBoundedMemory seals and opens 100 MiB through files with
// allocations bounded by a few chunks, not by the data.
func TestLargeBackupBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB")
	}
	const size = 100 << 20
	rk := mustRecoveryKey(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "backup")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	allocs := func() uint64 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.TotalAlloc
	}
	before := allocs()
	if err := Write(entropy.System{}, f, &countingReader{left: size}, rk.Key()); err != nil {
		t.Fatal(err)
	}
	wrote := allocs() - before
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	h := sha256.New()
	before = allocs()
	if err := Read(h, in, unlockWith(rk.Key())); err != nil {
		t.Fatal(err)
	}
	read := allocs() - before
	want := sha256.New()
	io.Copy(want, &countingReader{left: size})
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatal("100 MiB round trip differs")
	}
	t.Logf("allocated %d KiB writing and %d KiB reading 100 MiB", wrote>>10, read>>10)
	if wrote > 4<<20 || read > 4<<20 {
		t.Fatalf("allocated %d and %d bytes for 100 MiB: not streaming", wrote, read)
	}
}

func TestRestoreFile(t *testing.T) {
	dir := t.TempDir()
	rk := mustRecoveryKey(t)
	data := make([]byte, 2*docstream.ChunkSize+9)
	entropytest.New("restore").Bytes(data)
	file := seal(t, data, rk.Key())
	dst := filepath.Join(dir, "profile.db")

	// Failures leave nothing behind: not dst, not a temporary file.
	for _, bad := range [][]byte{file[:len(file)-1], append(bytes.Clone(file[:HeaderSize+10]), file[HeaderSize+11:]...)} {
		if err := RestoreFile(dst, bytes.NewReader(bad), unlockWith(rk.Key())); err == nil {
			t.Fatal("a damaged backup restored")
		}
	}
	if err := RestoreFile(dst, bytes.NewReader(file), unlockWith(mustRecoveryKey(t).Key())); !errors.Is(err, ErrWrongRecoveryKey) {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("failed restores left %v", entries)
	}
	if err := RestoreFile(dst, bytes.NewReader(file), unlockWith(rk.Key())); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("restored file differs: %v", err)
	}
	if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	// Never over an existing file.
	if err := RestoreFile(dst, bytes.NewReader(file), unlockWith(rk.Key())); !errors.Is(err, ErrExists) {
		t.Fatalf("restore over an existing file: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %v", entries)
	}
}

var recoveryFormat = regexp.MustCompile(`^bcrk-([0-9a-hjkmnp-tv-z]{4}-){13}[0-9a-hjkmnp-tv-z]{4}$`)

func TestRecoveryKeyText(t *testing.T) {
	rk := mustRecoveryKey(t)
	s := rk.String()
	if !recoveryFormat.MatchString(s) {
		t.Fatalf("recovery key %q", s)
	}
	body := strings.TrimPrefix(s, RecoveryKeyPrefix)
	for _, typed := range []string{
		s,
		strings.ToUpper(s),
		body,
		strings.ReplaceAll(body, "-", " "),
		strings.ReplaceAll(body, "-", ""),
		"  " + s + "\n",
		strings.NewReplacer("0", "o", "1", "l").Replace(s),
		strings.NewReplacer("0", "O", "1", "I").Replace(s),
	} {
		got, err := ParseRecoveryKey(typed)
		if err != nil || got != rk {
			t.Fatalf("ParseRecoveryKey(%q): %v", typed, err)
		}
	}
}

// TestRecoveryKeyTypos: every single-character substitution and every swap
// of neighbours is caught by ParseRecoveryKey (deterministic key).
func TestRecoveryKeyTypos(t *testing.T) {
	rk, err := NewRecoveryKey(entropytest.New("typos"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.ReplaceAll(strings.TrimPrefix(rk.String(), RecoveryKeyPrefix), "-", "")
	caught := 0
	for i := range body {
		for _, c := range RecoveryAlphabet {
			if byte(c) == body[i] {
				continue
			}
			typo := body[:i] + string(c) + body[i+1:]
			if _, err := ParseRecoveryKey(typo); !errors.Is(err, ErrBadRecoveryKey) {
				t.Fatalf("substitution at %d (%c) not caught: %v", i, c, err)
			}
			caught++
		}
		if i+1 < len(body) && body[i] != body[i+1] {
			swap := body[:i] + string(body[i+1]) + string(body[i]) + body[i+2:]
			if _, err := ParseRecoveryKey(swap); !errors.Is(err, ErrBadRecoveryKey) {
				t.Fatalf("swap at %d not caught: %v", i, err)
			}
		}
	}
	if caught != len(body)*(len(RecoveryAlphabet)-1) {
		t.Fatalf("checked %d substitutions", caught)
	}
	for _, tc := range []struct{ in, say string }{
		{"", "0 characters"},
		{body[:55], "55 characters"},
		{body + "0", "57 characters"},
		{body[:10] + "u" + body[11:], "character 11"},
		{body[:10] + "!" + body[11:], "character 11"},
		{"bcl1-" + body, "character"},
	} {
		_, err := ParseRecoveryKey(tc.in)
		if !errors.Is(err, ErrBadRecoveryKey) || !strings.Contains(err.Error(), tc.say) {
			t.Errorf("ParseRecoveryKey(%q) = %v, want an error saying %q", tc.in, err, tc.say)
		}
	}
}
