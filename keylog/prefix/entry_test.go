package prefix

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestEntryRoundTrip(t *testing.T) {
	tests := []Entry{
		{Epoch: 0, Time: time.Unix(1767225600, 0).UTC(), Root: Empty, Leaves: 0},
		{Epoch: 1, Time: time.Unix(1767225660, 0).UTC(), Root: Hash{0x42}, Leaves: 1, Changes: 1, ChangesRoot: Hash{3}, Head: Hash{4}},
		{Epoch: 2, Time: time.Unix(1767225720, 0).UTC(), Root: Hash{0x43}, Leaves: 1, Head: Hash{4}},
		{Epoch: 1<<64 - 1, Time: time.Unix(-1, 0).UTC(), Root: Hash{31: 1}, Leaves: 1<<64 - 1, Changes: 1<<32 - 1, ChangesRoot: Hash{31: 2}, Head: Hash{31: 3}},
	}
	for _, e := range tests {
		b := e.Marshal()
		if len(b) != EntrySize || b[0] != EntryFormat {
			t.Fatalf("encoding %x", b)
		}
		got, err := ParseEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Epoch != e.Epoch || !got.Time.Equal(e.Time) || got != e {
			t.Fatalf("round trip: %+v -> %+v", e, got)
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatal("re-encoding differs")
		}
	}
	// Sub-second precision is dropped, not rounded.
	e := Entry{Time: time.Unix(100, 999_999_999), Root: Hash{1}, Leaves: 1}
	if got, _ := ParseEntry(e.Marshal()); got.Time.Unix() != 100 {
		t.Fatalf("time %v", got.Time)
	}
}

func TestParseEntryRejects(t *testing.T) {
	good := Entry{Epoch: 5, Time: time.Unix(1767225600, 0), Root: Hash{7}, Leaves: 3, Changes: 2, ChangesRoot: Hash{8}, Head: Hash{9}}.Marshal()
	put32 := func(b []byte, off int, v uint32) {
		b[off], b[off+1], b[off+2], b[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"one byte short", good[:EntrySize-1]},
		{"one byte long", append(append([]byte(nil), good...), 0)},
		{"format 0", mod(func(b []byte) []byte { b[0] = 0; return b })},
		{"format 1", mod(func(b []byte) []byte { b[0] = 1; return b })},
		{"format 3", mod(func(b []byte) []byte { b[0] = 3; return b })},
		{"a format 1 entry (57 bytes)", append([]byte{1}, good[1:57]...)},
		{"leaves but empty root", mod(func(b []byte) []byte { copy(b[17:49], Empty[:]); return b })},
		{"no leaves but a root", mod(func(b []byte) []byte { copy(b[49:57], make([]byte, 8)); return b })},
		{"more changes than leaves", mod(func(b []byte) []byte { put32(b, 57, 4); return b })},
		{"changes but an empty changes root", mod(func(b []byte) []byte { copy(b[61:93], Empty[:]); return b })},
		{"no changes but a changes root", mod(func(b []byte) []byte { put32(b, 57, 0); return b })},
		{"changes but an empty head", mod(func(b []byte) []byte { copy(b[93:125], Empty[:]); return b })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseEntry(tc.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
		})
	}
}

func FuzzParseEntry(f *testing.F) {
	f.Add(Entry{Epoch: 5, Time: time.Unix(1767225600, 0), Root: Hash{7}, Leaves: 3}.Marshal())
	f.Add(Entry{Epoch: 6, Time: time.Unix(1767225660, 0), Root: Hash{7}, Leaves: 3, Changes: 1, ChangesRoot: Hash{1}, Head: Hash{2}}.Marshal())
	f.Add(Entry{}.Marshal())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error without ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.Equal(e.Marshal(), b) {
			t.Fatalf("accepted %x but re-encodes to %x", b, e.Marshal())
		}
	})
}

func FuzzVerifyInclusion(f *testing.F) {
	tr := build([]leafSpec{{idx("0", 0), 1, Hash{1}}, {idx("10", 0), 2, Hash{2}}, {idx("11", 0), 3, Hash{3}}})
	sib, _ := tr.Prove(idx("10", 0))
	var path []byte
	for _, s := range sib {
		path = append(path, s[:]...)
	}
	root := tr.Root()
	f.Add(root[:], idx("10", 0).bytes(), uint64(2), []byte{2}, path)
	f.Add([]byte{}, []byte{}, uint64(0), []byte{}, []byte{})
	f.Add(root[:], idx("10", 0).bytes(), uint64(2), []byte{2}, make([]byte, 257*HashSize))
	f.Fuzz(func(t *testing.T, rootB, indexB []byte, updates uint64, commitmentB, pathB []byte) {
		var r, index, c Hash
		copy(r[:], rootB)
		copy(index[:], indexB)
		copy(c[:], commitmentB)
		path := make([]Hash, len(pathB)/HashSize)
		for i := range path {
			copy(path[i][:], pathB[i*HashSize:])
		}
		err := VerifyInclusion(r, index, updates, c, path)
		if err != nil && !errors.Is(err, ErrProof) {
			t.Fatalf("error without ErrProof: %v", err)
		}
		if err == nil && len(path) > MaxDepth {
			t.Fatal("accepted a path deeper than MaxDepth")
		}
		// Against the fixture's root, only the leaves it holds verify (leaf and node labels differ).
		if err == nil && r == root {
			if u, c2, ok := tr.Get(index); !ok || u != updates || c2 != c {
				t.Fatalf("forged inclusion of %x (updates %d)", index[:4], updates)
			}
		}
	})
}

func (h Hash) bytes() []byte { return h[:] }
