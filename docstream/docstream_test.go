package docstream

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func seal(t testing.TB, k, plain []byte, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := newWriter(&out, k, chunk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func open(k, sealed []byte, chunk int) ([]byte, error) {
	r, err := newReader(bytes.NewReader(sealed), k, chunk)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestRoundTrip(t *testing.T) {
	k := key(1)
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3 * ChunkSize, 3*ChunkSize + 17} {
		plain := randBytes(n)
		var out bytes.Buffer
		w, err := NewWriter(&out, k)
		if err != nil {
			t.Fatal(err)
		}
		// Odd write sizes cross chunk boundaries.
		for p := plain; len(p) > 0; {
			k := min(len(p), 1000+len(p)%7919)
			if _, err := w.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := int64(out.Len()), EncryptedSize(int64(n)); got != want {
			t.Fatalf("%d bytes sealed to %d, EncryptedSize says %d", n, got, want)
		}
		r, err := NewReader(iotest.HalfReader(&out), k)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(iotest.OneByteReader(r))
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: round trip differs", n)
		}
	}
}

func TestByteAtATime(t *testing.T) {
	k := key(2)
	plain := randBytes(100)
	var out bytes.Buffer
	w, _ := newWriter(&out, k, 8)
	for i := range plain {
		w.Write(plain[i : i+1])
	}
	w.Close()
	if !bytes.Equal(out.Bytes(), seal(t, k, plain, 8)) {
		t.Fatal("sealing depends on write sizes")
	}
	r, _ := newReader(iotest.OneByteReader(&out), k, 8)
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip: %v", err)
	}
}

// chunks splits a sealed stream made with chunk size c.
func chunks(sealed []byte, c int) [][]byte {
	var out [][]byte
	for len(sealed) > c+Overhead {
		out = append(out, sealed[:c+Overhead])
		sealed = sealed[c+Overhead:]
	}
	return append(out, sealed)
}

func TestTampering(t *testing.T) {
	const c = 32
	k := key(3)
	plain := randBytes(5*c + 10) // six chunks, the last one short
	sealed := seal(t, k, plain, c)
	cs := chunks(sealed, c)
	if len(cs) != 6 {
		t.Fatalf("%d chunks", len(cs))
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	other := chunks(seal(t, key(4), randBytes(5*c+10), c), c)
	full := seal(t, k, randBytes(4*c), c) // final chunk full
	fullCs := chunks(full, c)

	cases := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"empty", nil, ErrTruncated},
		{"short", sealed[:Overhead-1], ErrTruncated},
		{"cut at a chunk boundary", join(cs[:3]...), ErrTruncated},
		{"final chunk dropped", join(cs[:5]...), ErrTruncated},
		{"cut inside a chunk", sealed[:2*(c+Overhead)+20], ErrCorrupt},
		{"cut inside the final chunk", sealed[:len(sealed)-1], ErrCorrupt},
		{"full final chunk dropped", join(fullCs[:3]...), ErrTruncated},
		{"chunks swapped", join(cs[0], cs[2], cs[1], cs[3], cs[4], cs[5]), ErrCorrupt},
		{"chunk repeated", join(cs[0], cs[0], cs[1], cs[2], cs[3], cs[4], cs[5]), ErrCorrupt},
		{"chunk from another stream", join(cs[0], other[1], cs[2], cs[3], cs[4], cs[5]), ErrCorrupt},
		{"final chunk moved", join(cs[0], cs[5]), ErrCorrupt},
		{"byte appended", append(bytes.Clone(sealed), 0), ErrCorrupt}, // after a short final chunk: indistinguishable from a modified one
		{"byte appended after full final chunk", append(bytes.Clone(full), 0), ErrTrailingData},
		{"chunk appended", join(sealed, cs[1]), ErrCorrupt},
		{"empty chunk appended", join(full, seal(t, k, nil, c)), ErrCorrupt},
	}
	for _, tc := range cases {
		_, err := open(k, tc.stream, c)
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	for i := range sealed {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= bit
			if _, err := open(k, bad, c); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flipped bit %#x of byte %d: err = %v", bit, i, err)
			}
		}
	}
	if _, err := open(key(9), sealed, c); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong key: err = %v", err)
	}
}

func TestOutputBeforeErrorIsAPrefix(t *testing.T) {
	// A reader sees authenticated chunks before it learns the stream was
	// cut: the documented reason callers must discard output on error.
	const c = 16
	k := key(5)
	plain := randBytes(4 * c)
	cut := seal(t, k, plain, c)[:2*(c+Overhead)]
	r, _ := newReader(bytes.NewReader(cut), k, c)
	got, err := io.ReadAll(r)
	if !errors.Is(err, ErrTruncated) || !bytes.Equal(got, plain[:c]) {
		t.Fatalf("got %d bytes, err %v", len(got), err)
	}
	// Errors are sticky.
	if n, err2 := r.Read(make([]byte, 10)); n != 0 || err2 != err {
		t.Fatalf("read after error: %d, %v", n, err2)
	}
}

func TestEmpty(t *testing.T) {
	k := key(6)
	sealed := seal(t, k, nil, ChunkSize)
	if len(sealed) != Overhead || EncryptedSize(0) != Overhead {
		t.Fatalf("empty plaintext sealed to %d bytes", len(sealed))
	}
	got, err := open(k, sealed, ChunkSize)
	if err != nil || len(got) != 0 {
		t.Fatalf("open empty: %q, %v", got, err)
	}
}

func TestMisuse(t *testing.T) {
	if _, err := NewWriter(io.Discard, make([]byte, 16)); !errors.Is(err, ErrKeySize) {
		t.Fatalf("short key: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(nil), nil); !errors.Is(err, ErrKeySize) {
		t.Fatalf("no key: %v", err)
	}
	w, _ := NewWriter(io.Discard, key(7))
	w.Write([]byte("x"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := w.Write([]byte("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	failing := errors.New("disk full")
	w, _ = newWriter(writerFunc(func([]byte) (int, error) { return 0, failing }), key(7), 4)
	if _, err := w.Write(make([]byte, 9)); !errors.Is(err, failing) {
		t.Fatalf("failing destination: %v", err)
	}
	if err := w.Close(); !errors.Is(err, failing) {
		t.Fatalf("close after failure: %v", err)
	}
	r, _ := NewReader(iotest.ErrReader(failing), key(7))
	if _, err := io.ReadAll(r); !errors.Is(err, failing) {
		t.Fatalf("failing source: %v", err)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestEncryptedSize(t *testing.T) {
	for _, tc := range []struct{ n, want int64 }{
		{0, 16}, {1, 17}, {ChunkSize, ChunkSize + 16}, {ChunkSize + 1, ChunkSize + 33}, {100 << 20, 100<<20 + 1600*16},
	} {
		if got := EncryptedSize(tc.n); got != tc.want {
			t.Errorf("EncryptedSize(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// FuzzReader feeds arbitrary streams to the decoder under a fixed key. It
// must not panic, and whatever it accepts must be exactly the stream the
// writer produces for that plaintext (the encoding is canonical).
func FuzzReader(f *testing.F) {
	const c = 16
	k := key(8)
	for _, n := range []int{0, 1, c - 1, c, c + 1, 3 * c, 3*c + 5} {
		sealed := seal(f, k, randBytes(n), c)
		f.Add(sealed)
		f.Add(sealed[:len(sealed)/2])
		f.Add(append(bytes.Clone(sealed), 1))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, err := open(k, data, c)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error that is not ErrCorrupt: %v", err)
			}
			return
		}
		if !bytes.Equal(seal(t, k, plain, c), data) {
			t.Fatal("accepted a stream the writer would not produce")
		}
	})
}
