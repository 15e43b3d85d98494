package witness

import (
	"bytes"
	"testing"

	"backchannel/entropy"
)

func FuzzParseRequest(f *testing.F) {
	l := newTestLog(f, testOrigin)
	l.grow(9, "seed")
	f.Add((&Request{OldSize: 4, Proof: l.proof(4), Checkpoint: l.checkpoint()}).Marshal())
	f.Add((&Request{Checkpoint: l.checkpoint()}).Marshal())
	f.Add([]byte("old 0\n\nx\n"))
	f.Add([]byte("old 01\n\n"))
	f.Add([]byte("old 18446744073709551616\n\nx"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseRequest(body)
		if err != nil {
			return
		}
		// The parser is strict: what it accepts re-encodes to the same bytes.
		if got := r.Marshal(); !bytes.Equal(got, body) {
			t.Fatalf("round trip changed the body:\n%q\n%q", body, got)
		}
		if len(r.Proof) > MaxProofLines || len(r.Checkpoint) == 0 {
			t.Fatalf("accepted %d proof lines, %d checkpoint bytes", len(r.Proof), len(r.Checkpoint))
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add(testOrigin + "\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	f.Add(testOrigin + "\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCheckpoint(text)
		if err != nil {
			return
		}
		if c.Origin == "" {
			t.Fatal("accepted an empty origin")
		}
	})
}

// FuzzAddCheckpoint feeds arbitrary requests to a witness holding a real
// checkpoint: whatever it accepts, its state never shrinks nor changes root
// at the same size.
func FuzzAddCheckpoint(f *testing.F) {
	l := newTestLog(f, testOrigin)
	l.grow(8, "seed")
	dir := f.TempDir()
	key, _, err := LoadOrCreateKey(dir, "witness.test/fuzz", entropy.System{})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := NewServer(Config{DataDir: dir, Key: key, Logs: []Log{{l.origin, l.vkey}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	if _, err := srv.AddCheckpoint(&Request{Checkpoint: l.checkpointAt(5)}); err != nil {
		f.Fatal(err)
	}
	f.Add((&Request{OldSize: 5, Proof: l.proof(5), Checkpoint: l.checkpoint()}).Marshal())
	f.Add((&Request{OldSize: 5, Checkpoint: l.checkpointAt(5)}).Marshal())
	f.Add((&Request{OldSize: 0, Checkpoint: l.checkpointAt(3)}).Marshal())
	f.Fuzz(func(t *testing.T, body []byte) {
		before, _ := srv.State(testOrigin)
		req, err := ParseRequest(body)
		if err != nil {
			return
		}
		_, err = srv.AddCheckpoint(req)
		after, _ := srv.State(testOrigin)
		if after.Size < before.Size || (after.Size == before.Size && after.Root != before.Root) {
			t.Fatalf("state went from %d to %d", before.Size, after.Size)
		}
		if err != nil && after != before {
			t.Fatalf("a refused request changed the state: %v", err)
		}
	})
}
