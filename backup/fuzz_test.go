package backup

import (
	"bytes"
	"errors"
	"testing"

	"backchannel/entropy/entropytest"
)

// FuzzParseHeader: the header decoder never panics, fails only with its
// sentinels, and accepts only what it re-encodes byte for byte.
func FuzzParseHeader(f *testing.F) {
	rk, _ := NewRecoveryKey(entropytest.New("fuzz header"))
	for _, k := range []Key{rk.Key(), pass("pw")} {
		f.Add(seal(f, []byte("x"), k)[:HeaderSize])
	}
	f.Add([]byte(MagicLine))
	f.Add([]byte("backchannel"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			for _, s := range []error{ErrNotBackup, ErrVersion, ErrCorrupt, ErrTruncated} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error without a sentinel: %v", err)
		}
		if !bytes.Equal(h.marshal(), b) {
			t.Fatal("accepted a header that does not re-encode identically")
		}
	})
}

// FuzzRead: any file, opened with a fixed recovery key, fails cleanly; only
// the genuine file opens.
func FuzzRead(f *testing.F) {
	rk, _ := NewRecoveryKey(entropytest.New("fuzz read"))
	// Deterministic, so every fuzzing worker builds the same genuine file.
	var buf bytes.Buffer
	if err := Write(entropytest.New("fuzz read salt"), &buf, bytes.NewReader([]byte("the data")), rk.Key()); err != nil {
		f.Fatal(err)
	}
	genuine := buf.Bytes()
	f.Add(genuine)
	f.Add(genuine[:HeaderSize])
	f.Add(append(bytes.Clone(genuine[:HeaderSize]), make([]byte, 16)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var out bytes.Buffer
		err := Read(&out, bytes.NewReader(b), unlockWith(rk.Key()))
		if bytes.Equal(b, genuine) {
			if err != nil || out.String() != "the data" {
				t.Fatalf("genuine file: %v", err)
			}
			return
		}
		if err == nil && !bytes.HasPrefix(b, genuine[:HeaderSize]) {
			t.Fatal("a file with another header opened")
		}
		if err == nil && out.String() != "the data" {
			// Another file under the same header would need the stream key.
			t.Fatalf("forged data opened: %q", out.String())
		}
	})
}

// FuzzParseRecoveryKey: parsing never panics; whatever parses prints back to
// a string that parses to the same key.
func FuzzParseRecoveryKey(f *testing.F) {
	rk, _ := NewRecoveryKey(entropytest.New("fuzz rk"))
	f.Add(rk.String())
	f.Add("bcrk-")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseRecoveryKey(s)
		if err != nil {
			if !errors.Is(err, ErrBadRecoveryKey) {
				t.Fatalf("error without the sentinel: %v", err)
			}
			return
		}
		again, err := ParseRecoveryKey(k.String())
		if err != nil || again != k {
			t.Fatalf("round trip: %v", err)
		}
	})
}
