package pad

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestPadmeKnownAnswers(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, 0}, {1, 1}, {2, 2}, {3, 3}, {7, 7}, {9, 10}, {16, 16}, {17, 18}, {100, 104},
		{300, 304}, {1000, 1024}, {1025, 1088}, {4097, 4352}, {65537, 67584}, {1 << 20, 1 << 20},
	} {
		if got := Padme(tc.n); got != tc.want {
			t.Errorf("Padme(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

// TestPadmeProperties: at least n, idempotent, monotonic, and within the
// documented overhead.
func TestPadmeProperties(t *testing.T) {
	prev := 0
	for n := 0; n < 1<<17; n++ {
		p := Padme(n)
		switch {
		case p < n:
			t.Fatalf("Padme(%d) = %d is shorter", n, p)
		case Padme(p) != p:
			t.Fatalf("Padme is not idempotent at %d", n)
		case p < prev:
			t.Fatalf("Padme is not monotonic at %d", n)
		case n >= 16 && 8*(p-n) >= n:
			t.Fatalf("Padme(%d) = %d adds 12.5%% or more", n, p)
		case n >= 256 && 16*(p-n) >= n:
			t.Fatalf("Padme(%d) = %d adds 6.25%% or more", n, p)
		}
		prev = p
	}
}

func TestFrameRoundTripAndEqualLengths(t *testing.T) {
	copies := [][]byte{[]byte(`{"text":"We accept."}`), []byte(`{"text":"We\u200b accept."}`), []byte(`{"text":"We  accept…"}`)}
	var lens []int
	for _, c := range copies {
		lens = append(lens, len(c))
	}
	size := Target(lens...)
	for _, c := range copies {
		f, err := Frame(c, size)
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != size {
			t.Fatalf("frame of %d bytes, want %d", len(f), size)
		}
		m, err := Unframe(f)
		if err != nil || !bytes.Equal(m, c) {
			t.Fatalf("Unframe = %q, %v", m, err)
		}
	}
	if _, err := Frame(make([]byte, size), size); !errors.Is(err, ErrTooLong) {
		t.Fatalf("a plaintext longer than its frame: %v", err)
	}
	if _, err := Frame(nil, 1001); !errors.Is(err, ErrTooLong) {
		t.Fatalf("a frame size that is not a Padmé length: %v", err)
	}
}

// TestUnframeRefusesTampering: every way of bending a frame is refused.
func TestUnframeRefusesTampering(t *testing.T) {
	good, err := Frame([]byte("hello, room"), Target(200))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"header cut", good[:3]},
		{"wrong version", edit(func(b []byte) []byte { b[0] = 2; return b })},
		{"unpadded JSON", []byte(`{"v":1,"kind":"text"}`)},
		{"length beyond the frame", edit(func(b []byte) []byte { b[1] = 0xff; return b })},
		{"length one past the frame", edit(func(b []byte) []byte { b[3], b[4] = 0, byte(len(b)-HeaderSize+1); return b })},
		{"non-zero padding", edit(func(b []byte) []byte { b[len(b)-1] = 1; return b })},
		{"truncated to a non-Padmé length", good[:len(good)-1]},
		{"extended to a non-Padmé length", append(bytes.Clone(good), 0)},
	} {
		if _, err := Unframe(tc.b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", tc.name, err)
		}
	}
	if len(good) != 208 {
		t.Fatalf("frame of %d bytes for 200, want Padmé(205) = 208", len(good))
	}
}

func TestZerosAndBlobSizes(t *testing.T) {
	if got := BlobSize(1000, 1010, 990); got != 1024 {
		t.Fatalf("BlobSize = %d", got)
	}
	if !ValidBlobSize(1000, 1024) || ValidBlobSize(1025, 1024) || ValidBlobSize(10, 1001) || ValidBlobSize(-1, 0) {
		t.Fatal("ValidBlobSize")
	}
	if err := Zeros(strings.NewReader("\x00\x00\x00"), 3); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in string
		n  int64
	}{{"\x00\x00", 3}, {"\x00\x00\x00\x00", 3}, {"\x00x\x00", 3}} {
		if err := Zeros(strings.NewReader(tc.in), tc.n); !errors.Is(err, ErrMalformed) {
			t.Errorf("Zeros(%q, %d) = %v", tc.in, tc.n, err)
		}
	}
}

// FuzzUnframe: the decoder never panics, and what it accepts is the one
// frame of its plaintext at that length.
func FuzzUnframe(f *testing.F) {
	good, _ := Frame([]byte(`{"v":1}`), Target(7))
	f.Add(good)
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unframe(b)
		if err != nil {
			return
		}
		again, err := Frame(m, len(b))
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted a frame that is not the canonical frame of its plaintext: %v", err)
		}
	})
}
