package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"backchannel/entropy"
)

const testOrigin = "backchannel/keylog/test.example"

type testWitness struct {
	srv *Server
	url string
	key *Key
	dir string
}

// startWitness runs a witness on 127.0.0.1 for logs, with its data in dir.
func startWitness(t *testing.T, dir string, logs ...*testLog) *testWitness {
	t.Helper()
	key, _, err := LoadOrCreateKey(dir, "witness.test/w1", entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg []Log
	for _, l := range logs {
		cfg = append(cfg, Log{Origin: l.origin, VerifierKey: l.vkey})
	}
	srv, err := NewServer(Config{DataDir: dir, Key: key, Logs: cfg})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	if !strings.HasPrefix(hs.URL, "http://127.0.0.1:") {
		t.Fatalf("witness not on loopback: %s", hs.URL)
	}
	return &testWitness{srv: srv, url: hs.URL, key: key, dir: dir}
}

// stop closes the witness (its HTTP server and its data directory).
func (w *testWitness) stop() { w.srv.Close() }

func (w *testWitness) add(t *testing.T, old uint64, proof tlog.TreeProof, cp []byte) ([]byte, error) {
	t.Helper()
	return AddCheckpoint(context.Background(), nil, w.url, &Request{OldSize: old, Proof: proof, Checkpoint: cp})
}

// post sends a raw body and returns the status, Content-Type and body.
func (w *testWitness) post(t *testing.T, body []byte) (int, string, string) {
	t.Helper()
	resp, err := http.Post(w.url+AddCheckpointPath, "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// checkCosignature verifies one cosignature line from scratch, following
// c2sp.org/tlog-cosignature with crypto/ed25519 only: key hash over
// name || 0x0A || 0x04 || key, signed message "cosignature/v1\ntime T\n" ||
// checkpoint, signature = key hash || T || Ed25519 signature.
func checkCosignature(t *testing.T, k *Key, text string, lines []byte) time.Time {
	t.Helper()
	line, ok := strings.CutPrefix(strings.TrimSuffix(string(lines), "\n"), "— "+k.Name()+" ")
	if !ok || strings.Contains(line, "\n") {
		t.Fatalf("reply is not one cosignature line by %s: %q", k.Name(), lines)
	}
	raw, err := base64.StdEncoding.DecodeString(line)
	if err != nil || len(raw) != 4+8+ed25519.SignatureSize {
		t.Fatalf("cosignature of %d bytes (%v)", len(raw), err)
	}
	h := sha256.Sum256(append(append([]byte(k.Name()+"\n"), 0x04), k.pub...))
	if !bytes.Equal(raw[:4], h[:4]) {
		t.Fatal("cosignature key hash is not the cosignature/v1 key hash")
	}
	ts := binary.BigEndian.Uint64(raw[4:12])
	msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", ts, text)
	if !ed25519.Verify(k.pub, []byte(msg), raw[12:]) {
		t.Fatal("cosignature does not verify as cosignature/v1")
	}
	at := time.Unix(int64(ts), 0)
	if d := time.Since(at); d < -time.Minute || d > time.Minute {
		t.Fatalf("cosignature time %v is not now", at)
	}
	return at
}

func noteText(t *testing.T, signed []byte) string {
	t.Helper()
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		t.Fatal("not a note")
	}
	return string(signed[:i+1])
}

func TestCosignsGrowingLog(t *testing.T) {
	l := newTestLog(t, testOrigin)
	w := startWitness(t, t.TempDir(), l)
	var old uint64
	for _, n := range []int{1, 1, 2, 4, 9, 1, 63, 200} {
		l.grow(n, "main")
		cp := l.checkpoint()
		sigs, err := w.add(t, old, l.proof(int64(old)), cp)
		if err != nil {
			t.Fatalf("size %d from %d: %v", l.size, old, err)
		}
		checkCosignature(t, w.key, noteText(t, cp), sigs)
		full := append(append([]byte{}, cp...), sigs...)
		if err := VerifyCosignatures(full, []string{w.key.VerifierKey()}, 1); err != nil {
			t.Fatalf("size %d: %v", l.size, err)
		}
		st, ok := w.srv.State(testOrigin)
		if !ok || st.Size != uint64(l.size) || st.Root != l.root(l.size) || st.Checkpoint != string(cp) {
			t.Fatalf("state after size %d: %+v", l.size, st)
		}
		old = uint64(l.size)
	}
	// The same checkpoint again (old == size, same root) is cosigned again.
	if _, err := w.add(t, old, nil, l.checkpoint()); err != nil {
		t.Fatalf("resubmitting the cosigned checkpoint: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	l := newTestLog(t, testOrigin)
	other := newTestLog(t, "backchannel/keylog/other.example")
	impostor := newTestLog(t, testOrigin) // same origin and key name, other key
	l.grow(10, "main")
	fork := l.fork(6)
	fork.grow(4, "fork") // size 10, other root
	fork12 := l.fork(6)
	fork12.grow(6, "fork") // size 12, extends the fork, not l

	goodProof := func() tlog.TreeProof { ll := l.fork(10); ll.grow(3, "main"); return ll.proof(10) }()
	grown := l.fork(10)
	grown.grow(3, "main")
	tampered := append(tlog.TreeProof(nil), goodProof...)
	tampered[0][0] ^= 1

	badSig := flipSignatureBit(t, l.checkpoint())

	tests := []struct {
		name       string
		old        uint64
		proof      tlog.TreeProof
		cp         []byte
		raw        []byte // sent as is when set
		wantStatus int
		wantErr    error
		wantSize   string // body of a 409 with text/x.tlog.size
	}{
		{name: "fork at the same size", old: 10, cp: fork.checkpoint(), wantStatus: 409, wantErr: ErrFork},
		{name: "rollback with old = size", old: 6, cp: l.checkpointAt(6), wantStatus: 409, wantSize: "10\n"},
		{name: "rollback with old above size", old: 10, cp: l.checkpointAt(6), wantStatus: 400, wantErr: ErrOldTooLarge},
		{name: "stale old size", old: 4, proof: grown.proof(4), cp: grown.checkpoint(), wantStatus: 409, wantSize: "10\n"},
		{name: "zero old size after cosigning", old: 0, cp: grown.checkpoint(), wantStatus: 409, wantSize: "10\n"},
		{name: "fork that grew", old: 10, proof: fork12.proof(10), cp: fork12.checkpoint(), wantStatus: 422, wantErr: ErrBadProof},
		{name: "tampered proof", old: 10, proof: tampered, cp: grown.checkpoint(), wantStatus: 422, wantErr: ErrBadProof},
		{name: "truncated proof", old: 10, proof: goodProof[:len(goodProof)-1], cp: grown.checkpoint(), wantStatus: 422, wantErr: ErrBadProof},
		{name: "no proof", old: 10, cp: grown.checkpoint(), wantStatus: 422, wantErr: ErrBadProof},
		{name: "proof at equal sizes", old: 10, proof: goodProof, cp: l.checkpoint(), wantStatus: 422, wantErr: ErrBadProof},
		{name: "unknown origin", old: 0, cp: other.checkpoint(), wantStatus: 404, wantErr: ErrUnknownLog},
		{name: "signed by another key", old: 10, proof: goodProof, cp: impostor.signText(noteText(t, grown.checkpoint()), impostor.signer), wantStatus: 403, wantErr: ErrBadSignature},
		{name: "signed by another name", old: 10, proof: goodProof, cp: other.signText(noteText(t, grown.checkpoint()), other.signer), wantStatus: 403, wantErr: ErrBadSignature},
		{name: "bad signature bytes", old: 10, cp: badSig, wantStatus: 403, wantErr: ErrBadSignature},
		{name: "malformed old line", raw: []byte("old 010\n\n" + string(l.checkpoint())), wantStatus: 400, wantErr: ErrMalformed},
		{name: "no blank line", raw: []byte("old 10\n" + string(l.checkpoint())), wantStatus: 400, wantErr: ErrMalformed},
		{name: "checkpoint not a note", raw: []byte("old 10\n\n" + noteText(t, l.checkpoint())), wantStatus: 400, wantErr: ErrMalformed},
		{name: "checkpoint body malformed", old: 10, cp: l.signText(testOrigin+"\n10\nnot base64\n", l.signer), wantStatus: 400, wantErr: ErrMalformed},
	}
	w := startWitness(t, t.TempDir(), l)
	if _, err := w.add(t, 0, nil, l.checkpoint()); err != nil {
		t.Fatal(err)
	}
	want, _ := w.srv.State(testOrigin)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.raw
			if body == nil {
				body = (&Request{OldSize: tc.old, Proof: tc.proof, Checkpoint: tc.cp}).Marshal()
			}
			status, ctype, reply := w.post(t, body)
			if status != tc.wantStatus {
				t.Fatalf("status %d (%q), want %d", status, reply, tc.wantStatus)
			}
			if tc.wantSize != "" && (ctype != SizeContentType || reply != tc.wantSize) {
				t.Fatalf("409 reply %q %q, want %q %q", ctype, reply, SizeContentType, tc.wantSize)
			}
			if tc.wantSize == "" && ctype == SizeContentType {
				t.Fatalf("a %d carries a size", status)
			}
			if tc.raw == nil {
				_, err := w.add(t, tc.old, tc.proof, tc.cp)
				var conflict *ConflictError
				switch {
				case tc.wantSize != "":
					if !errors.As(err, &conflict) || fmt.Sprintf("%d\n", conflict.Size) != tc.wantSize {
						t.Fatalf("client error %v, want a ConflictError", err)
					}
				case tc.wantStatus == http.StatusBadRequest:
					// The client sees every 400 as ErrMalformed.
					if !errors.Is(err, ErrMalformed) {
						t.Fatalf("client error %v, want ErrMalformed", err)
					}
				case !errors.Is(err, tc.wantErr):
					t.Fatalf("client error %v, want %v", err, tc.wantErr)
				}
			}
			if got, _ := w.srv.State(testOrigin); got != want {
				t.Fatalf("state moved to %+v", got)
			}
		})
	}
	// The fork left both signed checkpoints as evidence.
	ev, _ := filepath.Glob(filepath.Join(w.dir, "evidence", "fork-10-*.txt"))
	if len(ev) == 0 {
		t.Fatal("no evidence of the fork")
	}
	b, _ := os.ReadFile(ev[0])
	if !bytes.Contains(b, l.checkpoint()) || !bytes.Contains(b, fork.checkpoint()) {
		t.Fatal("the evidence lacks one of the two checkpoints")
	}
	// After all that, the honest log still advances.
	if _, err := w.add(t, 10, goodProof, grown.checkpoint()); err != nil {
		t.Fatal(err)
	}
}

func TestSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	l := newTestLog(t, testOrigin)
	l.grow(10, "main")
	w := startWitness(t, dir, l)
	if _, err := w.add(t, 0, nil, l.checkpoint()); err != nil {
		t.Fatal(err)
	}
	vkey := w.key.VerifierKey()
	// A second witness process on the same directory is refused.
	if _, err := NewServer(Config{DataDir: dir, Key: w.key}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second server on one directory: %v", err)
	}
	w.stop()

	w2 := startWitness(t, dir, l)
	if w2.key.VerifierKey() != vkey {
		t.Fatal("the key changed across a restart")
	}
	if st, ok := w2.srv.State(testOrigin); !ok || st.Size != 10 || st.Root != l.root(10) {
		t.Fatalf("state after restart: %+v", st)
	}
	fork := l.fork(5)
	fork.grow(5, "fork")
	if _, err := w2.add(t, 10, nil, fork.checkpoint()); !errors.Is(err, ErrFork) {
		t.Fatalf("fork after restart: %v", err)
	}
	var conflict *ConflictError
	if _, err := w2.add(t, 0, nil, l.checkpointAt(5)); !errors.As(err, &conflict) || conflict.Size != 10 {
		t.Fatalf("rollback after restart: %v", err)
	}
	l.grow(5, "main")
	if _, err := w2.add(t, 10, l.proof(10), l.checkpoint()); err != nil {
		t.Fatal(err)
	}
	// A corrupt state file stops the witness rather than starting afresh.
	w2.stop()
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(Config{DataDir: dir, Key: w.key}); err == nil {
		t.Fatal("a corrupt state file was accepted")
	}
}

// TestConcurrentForks races two branches of one log at the witness: however
// the requests interleave, everything it cosigns lies on one branch.
func TestConcurrentForks(t *testing.T) {
	base := newTestLog(t, testOrigin)
	base.grow(5, "base")
	a, b := base.fork(5), base.fork(5)
	a.grow(40, "a")
	b.grow(40, "b")
	w := startWitness(t, t.TempDir(), base)

	type cosigned struct {
		size int64
		root tlog.Hash
	}
	var mu sync.Mutex
	var got []cosigned
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		br := a
		if g%2 == 1 {
			br = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var old uint64
			for step := 0; step < 12; step++ {
				size := int64(5 + (step*3+g)%36)
				cp := br.checkpointAt(size)
				var proof tlog.TreeProof
				if old > 0 && int64(old) < size {
					p, err := tlog.ProveTree(size, int64(old), br)
					if err == nil {
						proof = p
					}
				}
				_, err := AddCheckpoint(context.Background(), nil, w.url, &Request{OldSize: old, Proof: proof, Checkpoint: cp})
				var conflict *ConflictError
				switch {
				case err == nil:
					mu.Lock()
					got = append(got, cosigned{size, br.root(size)})
					mu.Unlock()
					old = uint64(size)
				case errors.As(err, &conflict):
					old = conflict.Size
				}
			}
		}()
	}
	wg.Wait()
	if len(got) < 2 {
		t.Fatalf("only %d cosignatures: the race did not run", len(got))
	}
	onBranch := func(br *testLog) bool {
		for _, c := range got {
			if c.size > br.size || br.root(c.size) != c.root {
				return false
			}
		}
		return true
	}
	if !onBranch(a) && !onBranch(b) {
		t.Fatalf("the witness cosigned checkpoints of both branches: %v", got)
	}
	st, _ := w.srv.State(testOrigin)
	for _, c := range got {
		if c.size > int64(st.Size) {
			t.Fatalf("cosigned size %d above the final state %d", c.size, st.Size)
		}
	}
}

func TestCollectAndQuorum(t *testing.T) {
	l := newTestLog(t, testOrigin)
	l.grow(7, "main")
	w1 := startWitness(t, t.TempDir(), l)
	w2dir := t.TempDir()
	key2, _, err := LoadOrCreateKey(w2dir, "witness.test/w2", entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	srv2, err := NewServer(Config{DataDir: w2dir, Key: key2, Logs: []Log{{l.origin, l.vkey}}})
	if err != nil {
		t.Fatal(err)
	}
	hs2 := httptest.NewServer(srv2)
	defer func() { hs2.Close(); srv2.Close() }()
	// w1 already holds size 7; w2 holds nothing yet.
	if _, err := w1.add(t, 0, nil, l.checkpoint()); err != nil {
		t.Fatal(err)
	}
	l.grow(20, "main")
	cp := l.checkpoint()
	ws := []Endpoint{{w1.url, w1.key.VerifierKey()}, {hs2.URL, key2.VerifierKey()}}
	proof := func(_ context.Context, old uint64) (tlog.TreeProof, error) { return l.proof(int64(old)), nil }
	sigs, err := Collect(context.Background(), nil, ws, cp, 0, proof)
	if err != nil || len(sigs) != 2 {
		t.Fatalf("Collect: %d signatures, %v", len(sigs), err)
	}
	full := append([]byte{}, cp...)
	for _, s := range sigs {
		full = fmt.Appendf(full, "— %s %s\n", s.Name, s.Base64)
	}
	vkeys := []string{w1.key.VerifierKey(), key2.VerifierKey()}
	if err := VerifyCosignatures(full, vkeys, 2); err != nil {
		t.Fatal(err)
	}
	// One cosignature removed, one forged, or the same witness twice: 2 of 2 fails.
	onlyOne := append(append([]byte{}, cp...), fmt.Sprintf("— %s %s\n", sigs[0].Name, sigs[0].Base64)...)
	forged := bytes.Replace(full, []byte(sigs[1].Base64[:20]), []byte(strings.Repeat("A", 20)), 1)
	for name, tc := range map[string]struct {
		note  []byte
		vkeys []string
	}{
		"one missing":  {onlyOne, vkeys},
		"one forged":   {forged, vkeys},
		"listed twice": {onlyOne, []string{vkeys[0], vkeys[0]}},
		"log key only": {cp, vkeys},
	} {
		if err := VerifyCosignatures(tc.note, tc.vkeys, 2); !errors.Is(err, ErrQuorum) {
			t.Errorf("%s: %v, want ErrQuorum", name, err)
		}
	}
	if err := VerifyCosignatures(onlyOne, vkeys, 1); err != nil {
		t.Errorf("1 of 2: %v", err)
	}
	// The cosignature/v1 vkey is what Tessera's witness configuration parses.
	v, err := NewCosignatureVerifier(w1.key.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(full, note.VerifierList(v)); err != nil {
		t.Fatal(err)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	k, created, err := LoadOrCreateKey(dir, "witness.test/k", entropy.System{})
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v)", fi.Mode(), err)
	}
	again, created, err := LoadOrCreateKey(dir, "", entropy.System{})
	if err != nil || created || again.VerifierKey() != k.VerifierKey() {
		t.Fatalf("reload: %v %v", created, err)
	}
	if _, _, err := LoadOrCreateKey(dir, "witness.test/other", entropy.System{}); !errors.Is(err, ErrKeyName) {
		t.Fatalf("other name: %v", err)
	}
	if _, _, err := LoadOrCreateKey(t.TempDir(), "bad name", entropy.System{}); err == nil {
		t.Fatal("a name with a space was accepted")
	}
	if !strings.HasPrefix(k.VerifierKey(), "witness.test/k+") {
		t.Fatalf("vkey %q", k.VerifierKey())
	}
}

// flipSignatureBit flips one bit of the decoded bytes of a note's last
// signature. (Flipping a bit of its base64 text can land in the padding
// bits of the last character, which a decoder ignores: the signature is then
// unchanged, and the test would expect a refusal that never comes.)
func flipSignatureBit(t *testing.T, signed []byte) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(signed), "\n"), "\n")
	last := lines[len(lines)-1]
	i := strings.LastIndexByte(last, ' ')
	if !strings.HasPrefix(last, "— ") || i < 0 {
		t.Fatalf("no signature line in %q", signed)
	}
	raw, err := base64.StdEncoding.DecodeString(last[i+1:])
	if err != nil || len(raw) < 8 {
		t.Fatalf("signature line %q: %v", last, err)
	}
	raw[len(raw)-8] ^= 0x01 // inside the Ed25519 signature, past the 4-byte key hash
	lines[len(lines)-1] = last[:i+1] + base64.StdEncoding.EncodeToString(raw)
	return []byte(strings.Join(lines, "\n") + "\n")
}
