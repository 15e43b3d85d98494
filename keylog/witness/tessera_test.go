package witness

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// TestTesseraInterop runs Tessera's own witness client (the one the key log
// server uses through AppendOptions.WithWitnesses) against this witness: a
// checkpoint is published only once the witness cosigned it.
func TestTesseraInterop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	logV, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	w := startWitness(t, t.TempDir(), &testLog{origin: testOrigin, vkey: vkey})
	u, err := url.Parse(w.url)
	if err != nil {
		t.Fatal(err)
	}
	tw, err := tessera.NewWitness(w.key.VerifierKey(), u)
	if err != nil {
		t.Fatal(err)
	}
	drv, err := posix.New(ctx, posix.Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ao := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithBatching(1, 5*time.Millisecond).
		WithCheckpointInterval(100*time.Millisecond).
		WithWitnesses(tessera.NewWitnessGroup(1, tw), nil)
	app, shutdown, reader, err := tessera.NewAppender(ctx, drv, ao)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(context.Background())
	for i := 0; i < 4; i++ {
		idx, err := app.Add(ctx, tessera.NewEntry(fmt.Appendf(nil, "entry %d", i)))()
		if err != nil {
			t.Fatal(err)
		}
		for {
			cp, err := reader.ReadCheckpoint(ctx)
			if err == nil {
				n, err := note.Open(cp, note.VerifierList(logV))
				if err != nil {
					t.Fatalf("published checkpoint: %v", err)
				}
				c, err := ParseCheckpoint(n.Text)
				if err != nil {
					t.Fatal(err)
				}
				if c.Size > idx.Index {
					if err := VerifyCosignatures(cp, []string{w.key.VerifierKey()}, 1); err != nil {
						t.Fatalf("size %d: %v", c.Size, err)
					}
					if st, _ := w.srv.State(testOrigin); st.Size < c.Size || (st.Size == c.Size && st.Root != c.Root) {
						t.Fatalf("witness state %d behind the published size %d", st.Size, c.Size)
					}
					break
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("entry %d was never published with a cosignature", i)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}
