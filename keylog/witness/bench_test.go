package witness

import (
	"testing"

	"backchannel/entropy"
)

// BenchmarkAddCheckpoint is one cosignature of a log growing by one entry:
// note verification, consistency proof, signing, and the fsynced state write.
func BenchmarkAddCheckpoint(b *testing.B) {
	l := newTestLog(b, testOrigin)
	l.grow(1000, "bench")
	dir := b.TempDir()
	key, _, err := LoadOrCreateKey(dir, "witness.test/bench", entropy.System{})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(Config{DataDir: dir, Key: key, Logs: []Log{{l.origin, l.vkey}}})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.AddCheckpoint(&Request{Checkpoint: l.checkpoint()}); err != nil {
		b.Fatal(err)
	}
	reqs := make([]*Request, b.N)
	for i := range reqs {
		old := l.size
		l.grow(1, "bench")
		reqs[i] = &Request{OldSize: uint64(old), Proof: l.proof(old), Checkpoint: l.checkpoint()}
	}
	b.ResetTimer()
	for _, r := range reqs {
		if _, err := srv.AddCheckpoint(r); err != nil {
			b.Fatal(err)
		}
	}
}
