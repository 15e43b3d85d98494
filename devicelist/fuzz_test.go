package devicelist

import (
	"bytes"
	"testing"
)

// FuzzParse: Parse never panics, and whatever it accepts is canonical (it
// re-marshals to the same bytes) and usable by the chain checks.
func FuzzParse(f *testing.F) {
	c := newChain(f)
	for _, b := range c.raw {
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(bytes.Clone(b), 0))
	}
	f.Add([]byte{})
	f.Add([]byte{FormatVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			if l != nil {
				t.Fatal("a list returned with an error")
			}
			return
		}
		if !bytes.Equal(l.Marshal(), b) {
			t.Fatalf("parsed list re-marshals to other bytes:\n in %x\nout %x", b, l.Marshal())
		}
		if len(b) > MaxListSize || len(b) < MinListSize {
			t.Fatalf("accepted %d bytes, outside %d..%d", len(b), MinListSize, MaxListSize)
		}
		again, err := Parse(l.Marshal())
		if err != nil || again.Hash() != l.Hash() {
			t.Fatalf("re-parse: %v", err)
		}
		_ = VerifyNext(c.v1, l)
		_ = VerifyNext(l, c.v3)
		_, _ = VerifyChain(l.Account, l.AccountKey, nil, [][]byte{b})
		_ = Diff(c.v2, l)
	})
}
