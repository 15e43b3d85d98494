package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"backchannel/canary"
	"backchannel/client"
	"backchannel/docstream"
)

// userWith is e.user with a custom HTTP client.
func (e *env) userWith(name string, hc *http.Client) *client.Client {
	e.t.Helper()
	c, err := client.Init(context.Background(), filepath.Join(e.dir, name), e.srv.URL, name, "", []byte("pw-"+name), client.Options{Params: fastVault, HTTPClient: hc})
	if err != nil {
		e.t.Fatalf("init %s: %v", name, err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

func TestShareSmallDocument(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "deal", []string{"bob"}, client.ModeOnRecord, ""); err != nil {
		t.Fatal(err)
	}
	content := []byte("Draft 2: the parties agree to a ceasefire from 06:00 on Monday.\n")
	path := filepath.Join(t.TempDir(), "draft-2.txt")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := a.Share(ctx, "deal", path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != client.KindDoc || m.Doc.Name != "draft-2.txt" || m.Doc.Size != int64(len(content)) {
		t.Fatalf("share returned %+v", m)
	}
	sum := sha256.Sum256(content)
	if !bytes.Equal(m.Doc.SHA256, sum[:]) {
		t.Fatal("announced SHA-256 is not the content's")
	}
	sync(t, b)
	docs, err := b.Docs(ctx, "deal")
	if err != nil || len(docs) != 1 || docs[0].ID != m.ID || docs[0].Sender != "alice" {
		t.Fatalf("bob's docs: %+v, %v", docs, err)
	}
	// By name, by id prefix and by full id; the sender reads her own too.
	for _, ref := range []string{"draft-2.txt", m.ID[:8], m.ID} {
		var out bytes.Buffer
		got, err := b.GetDoc(ctx, "deal", ref, &out)
		if err != nil {
			t.Fatalf("get %q: %v", ref, err)
		}
		// A text document is marked per recipient: bob's copy has the
		// same canonical text, not the same bytes.
		if canary.Canonicalize(out.String()) != canary.Canonicalize(string(content)) || got.Name != "draft-2.txt" {
			t.Fatalf("get %q: %q", ref, out.Bytes())
		}
	}
	var own bytes.Buffer
	if _, err := a.GetDoc(ctx, "deal", "draft-2.txt", &own); err != nil || !bytes.Equal(own.Bytes(), content) {
		t.Fatalf("sender's own copy: %v", err)
	}
	// An empty document, a second one with the same name, and errors.
	if _, err := a.ShareReader(ctx, "deal", "empty.txt", strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ShareReader(ctx, "deal", "draft-2.txt", strings.NewReader("v2")); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	var out bytes.Buffer
	if _, err := b.GetDoc(ctx, "deal", "empty.txt", &out); err != nil || out.Len() != 0 {
		t.Fatalf("empty document: %q, %v", out.Bytes(), err)
	}
	if _, err := b.GetDoc(ctx, "deal", "draft-2.txt", io.Discard); !errors.Is(err, client.ErrDocAmbiguous) {
		t.Fatalf("two documents with one name: err = %v", err)
	}
	if _, err := b.GetDoc(ctx, "deal", "nothing.pdf", io.Discard); !errors.Is(err, client.ErrDocNotFound) {
		t.Fatalf("unknown document: err = %v", err)
	}
	if _, err := b.GetDoc(ctx, "deal", m.ID[:7], io.Discard); !errors.Is(err, client.ErrDocNotFound) {
		t.Fatalf("7-character prefix: err = %v", err)
	}
	if _, err := b.GetDoc(ctx, "no-such-room", "x", io.Discard); !errors.Is(err, client.ErrUnknownRoom) {
		t.Fatalf("unknown room: err = %v", err)
	}
	for _, name := range []string{"", "a/b", "..", "x\x00y", strings.Repeat("n", 256)} {
		if _, err := a.ShareReader(ctx, "deal", name, strings.NewReader("x")); !errors.Is(err, client.ErrDocName) {
			t.Fatalf("name %q: err = %v", name, err)
		}
	}
	if _, err := a.Share(ctx, "deal", t.TempDir()); err == nil {
		t.Fatal("shared a directory")
	}
	if _, err := a.Share(ctx, "deal", filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
	failing := errors.New("disk read error")
	if _, err := a.ShareReader(ctx, "deal", "broken", io.MultiReader(strings.NewReader("abc"), iotestErr(failing))); !errors.Is(err, failing) {
		t.Fatalf("failing reader: err = %v", err)
	}
	if docs, _ := a.Docs(ctx, "deal"); len(docs) != 3 {
		t.Fatalf("alice has %d documents, want 3", len(docs))
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func iotestErr(err error) io.Reader { return errReader{err} }

func TestLocalFileName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":             "report.pdf",
		"../../etc/passwd":       "passwd",
		`..\..\boot.ini`:         "boot.ini",
		".bashrc":                "bashrc",
		"..":                     "document",
		"":                       "document",
		"a\x00b\nc":              "ab c",
		"invoice\u202Efdp.exe":   "invoicefdp.exe",
		"CON.txt":                "_CON.txt",
		"  spaced.txt ":          "spaced.txt",
		strings.Repeat("é", 200): strings.Repeat("é", 127),
	} {
		if got := client.LocalFileName(in); got != want {
			t.Errorf("LocalFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRemovedMemberGetsNoNewDocuments(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	if _, err := a.CreateRoom(ctx, "board", []string{"bob", "carol"}, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ShareReader(ctx, "board", "before.txt", strings.NewReader("old terms")); err != nil {
		t.Fatal(err)
	}
	sync(t, b, c)
	if err := a.RemoveMember(ctx, "board", "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.ShareReader(ctx, "board", "after.txt", strings.NewReader("new terms")); err != nil {
		t.Fatal(err)
	}
	sync(t, b, c)
	docs, _ := c.Docs(ctx, "board")
	if len(docs) != 1 || docs[0].Doc.Name != "before.txt" {
		t.Fatalf("removed carol sees %d documents", len(docs))
	}
	if _, err := c.GetDoc(ctx, "board", "after.txt", io.Discard); !errors.Is(err, client.ErrDocNotFound) {
		t.Fatalf("removed member fetching a new document: err = %v", err)
	}
	var out bytes.Buffer
	if _, err := b.GetDoc(ctx, "board", "after.txt", &out); err != nil || out.String() != "new terms" {
		t.Fatalf("bob: %q, %v", out.String(), err)
	}
	if _, err := c.ShareReader(ctx, "board", "x", strings.NewReader("x")); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("removed member sharing: err = %v", err)
	}
}

// tamper rewrites blob downloads through fn.
type tamper struct {
	fn atomic.Pointer[func([]byte) []byte]
}

func (tp *tamper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	f := tp.fn.Load()
	if err != nil || f == nil || req.Method != http.MethodGet || !strings.HasPrefix(req.URL.Path, "/v1/blobs/") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader((*f)(body)))
	return resp, nil
}

func TestTamperedDocumentIsDetected(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	tp := &tamper{}
	a, b := e.user("alice"), e.userWith("bob", &http.Client{Transport: tp})
	if _, err := a.CreateRoom(ctx, "r", []string{"bob"}, "", ""); err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("clause 7 stands as drafted. "), 10000) // five chunks
	if _, err := a.ShareReader(ctx, "r", "terms.txt", bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	other := bytes.Repeat([]byte("clause 7 is withdrawn. "), 12174)[:len(content)]
	if _, err := a.ShareReader(ctx, "r", "other.txt", bytes.NewReader(other)); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	var otherBlob []byte
	tp.fn.Store(ptr(func(b []byte) []byte { otherBlob = bytes.Clone(b); return b }))
	if _, err := b.GetDoc(ctx, "r", "other.txt", io.Discard); err != nil {
		t.Fatal(err)
	}
	if int64(len(otherBlob)) != docstream.EncryptedSize(int64(len(other))) || bytes.Contains(otherBlob, []byte("withdrawn")) {
		t.Fatal("the server's blob is not the sealed document")
	}
	const chunk = docstream.ChunkSize + docstream.Overhead
	cases := []struct {
		name string
		fn   func([]byte) []byte
		want error
	}{
		{"flipped bit", func(b []byte) []byte { b[chunk+100] ^= 1; return b }, client.ErrDocCorrupt},
		{"cut at a chunk boundary", func(b []byte) []byte { return b[:2*chunk] }, docstream.ErrTruncated},
		{"chunks swapped", func(b []byte) []byte {
			x := bytes.Clone(b[:chunk])
			copy(b[:chunk], b[chunk:2*chunk])
			copy(b[chunk:2*chunk], x)
			return b
		}, client.ErrDocCorrupt},
		{"another document's blob", func([]byte) []byte { return bytes.Clone(otherBlob) }, client.ErrDocCorrupt},
		{"byte appended", func(b []byte) []byte { return append(b, 0) }, client.ErrDocCorrupt},
	}
	for _, tc := range cases {
		tp.fn.Store(ptr(tc.fn))
		_, err := b.GetDoc(ctx, "r", "terms.txt", io.Discard)
		if !errors.Is(err, tc.want) || !errors.Is(err, client.ErrDocCorrupt) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	tp.fn.Store(nil)
	var out bytes.Buffer
	if _, err := b.GetDoc(ctx, "r", "terms.txt", &out); err != nil || !bytes.Equal(out.Bytes(), content) {
		t.Fatalf("untampered download: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestLargeDocumentBoundedMemory shares a 100 MiB document generated on the
// fly and downloads it on another member, checking the content's SHA-256
// and that the heap never grows by anything near the document's size.
func TestLargeDocumentBoundedMemory(t *testing.T) {
	const size = 100 << 20
	const budget = 64 << 20
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "r", []string{"bob"}, "", ""); err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	start := time.Now()
	sent := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1}), size), sent)
	m, err := a.ShareReader(ctx, "r", "annex.bin", src)
	if err != nil {
		t.Fatal(err)
	}
	shared := time.Since(start)
	sync(t, b)
	got := sha256.New()
	start = time.Now()
	ref, err := b.GetDoc(ctx, "r", m.ID, got)
	if err != nil {
		t.Fatal(err)
	}
	fetched := time.Since(start)
	close(stop)
	<-sampled

	if ref.Size != size || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) || !bytes.Equal(ref.SHA256, sent.Sum(nil)) {
		t.Fatalf("round trip differs: %d bytes", ref.Size)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("100 MiB: share %v, download %v, heap in use grew by at most %.1f MiB", shared.Round(time.Millisecond), fetched.Round(time.Millisecond), float64(grew)/(1<<20))
	if grew > budget {
		t.Fatalf("heap in use grew by %d MiB during the round trip (budget %d MiB)", grew>>20, budget>>20)
	}
}
