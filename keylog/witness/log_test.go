package witness

import (
	"crypto/rand"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// testLog is an RFC 6962 log built with x/mod's tlog hashing, whose
// checkpoints are C2SP notes signed by its own key.
type testLog struct {
	t      testing.TB
	origin string
	signer note.Signer
	vkey   string
	stored []tlog.Hash // tlog.StoredHashIndex order
	size   int64
}

func newTestLog(t testing.TB, origin string) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{t: t, origin: origin, signer: s, vkey: vkey}
}

func (l *testLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(l.stored)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = l.stored[x]
	}
	return out, nil
}

// grow appends n entries whose contents start with tag.
func (l *testLog) grow(n int, tag string) {
	l.t.Helper()
	for i := 0; i < n; i++ {
		hs, err := tlog.StoredHashes(l.size, fmt.Appendf(nil, "%s entry %d", tag, l.size), l)
		if err != nil {
			l.t.Fatal(err)
		}
		l.stored = append(l.stored, hs...)
		l.size++
	}
}

func (l *testLog) root(size int64) tlog.Hash {
	l.t.Helper()
	h, err := tlog.TreeHash(size, l)
	if err != nil {
		l.t.Fatal(err)
	}
	return h
}

// checkpoint is the log's signed checkpoint of the current size.
func (l *testLog) checkpoint() []byte { return l.checkpointAt(l.size) }

func (l *testLog) checkpointAt(size int64) []byte {
	l.t.Helper()
	return l.signText(fmt.Sprintf("%s\n%d\n%s\n", l.origin, size, l.root(size)), l.signer)
}

func (l *testLog) signText(text string, signers ...note.Signer) []byte {
	l.t.Helper()
	b, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

// proof is the consistency proof from old to the current size.
func (l *testLog) proof(old int64) tlog.TreeProof {
	l.t.Helper()
	if old == 0 || old == l.size {
		return nil
	}
	p, err := tlog.ProveTree(l.size, old, l)
	if err != nil {
		l.t.Fatal(err)
	}
	return p
}

// fork is a copy of l's first n entries that then grows differently.
func (l *testLog) fork(n int64) *testLog {
	f := &testLog{t: l.t, origin: l.origin, signer: l.signer, vkey: l.vkey}
	f.stored = append([]tlog.Hash(nil), l.stored[:tlog.StoredHashCount(n)]...)
	f.size = n
	return f
}
