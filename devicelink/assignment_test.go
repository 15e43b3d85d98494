package devicelink

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestAssignmentRoundTrip(t *testing.T) {
	a := Assignment{ID: 7, AddedAt: time.Unix(1764590000, 0).UTC(), Account: "alice", Key: bytes.Repeat([]byte{9}, 32)}
	b := a.Marshal()
	got, err := ParseAssignment(b)
	if err != nil || got.ID != a.ID || !got.AddedAt.Equal(a.AddedAt) || got.Account != a.Account || !bytes.Equal(got.Key, a.Key) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, b[:12], b[:len(b)-1], append(bytes.Clone(b), 0), append(append(bytes.Clone(b[:12]), 0), bytes.Repeat([]byte{1}, 32)...)} {
		if _, err := ParseAssignment(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: err = %v", bad, err)
		}
	}
}

func FuzzParseAssignment(f *testing.F) {
	f.Add(Assignment{ID: 2, AddedAt: time.Unix(1, 0), Account: "bob", Key: make([]byte, 32)}.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAssignment(b)
		if err == nil && !bytes.Equal(a.Marshal(), b) {
			t.Fatalf("%x re-encodes to %x", b, a.Marshal())
		}
	})
}
