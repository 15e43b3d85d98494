package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"backchannel/server"
	"backchannel/server/api"
	"backchannel/server/apiclient"
)

// patternReader yields n deterministic pseudo-random bytes without
// holding them in memory.
type patternReader struct {
	n, off int64
	state  uint64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		p.state = p.state*6364136223846793005 + 1442695040888963407
		b[i] = byte(p.state >> 56)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// heapPeak samples the heap until stopped and reports the peak of
// HeapInuse.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

func TestBlob100MiBBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB transfer")
	}
	ctx := context.Background()
	const size = 100 << 20
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice, bob := register(t, ts.URL, "alice", ""), register(t, ts.URL, "bob", "")

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := heapPeak()

	src := &patternReader{n: size, state: 1}
	want := sha256.New()
	info, err := alice.UploadBlob(ctx, io.TeeReader(src, want))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size {
		t.Fatalf("uploaded %d bytes, want %d", info.Size, size)
	}
	got := sha256.New()
	n, err := bob.DownloadBlob(ctx, info.ID, got)
	peak := stop()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("downloaded blob differs from the upload")
	}
	growth := int64(peak) - int64(base.HeapInuse)
	t.Logf("heap in use: base %d MiB, peak %d MiB (growth %d MiB) for a %d MiB blob",
		base.HeapInuse>>20, peak>>20, growth>>20, size>>20)
	if growth > 48<<20 {
		t.Fatalf("heap grew by %d MiB while moving a %d MiB blob: not streaming", growth>>20, size>>20)
	}

	// A range from the middle, crossing chunk boundaries.
	body, total, err := bob.OpenBlob(ctx, info.ID, (1<<20)-10)
	if err != nil || total != size {
		t.Fatalf("open at offset: %d %v", total, err)
	}
	head := make([]byte, 20)
	if _, err := io.ReadFull(body, head); err != nil {
		t.Fatal(err)
	}
	body.Close()
	ref := &patternReader{n: size, state: 1}
	io.CopyN(io.Discard, ref, (1<<20)-10)
	exp := make([]byte, 20)
	io.ReadFull(ref, exp)
	if !bytes.Equal(head, exp) {
		t.Fatal("range read returned wrong bytes")
	}
}

func TestBlobLimitsAndErrors(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true, Limits: server.Limits{ChunkBytes: 1024, MaxBlobBytes: 4096, BlobQuotaBytes: 6000}})
	alice, bob := register(t, ts.URL, "alice", ""), register(t, ts.URL, "bob", "")
	data := bytes.Repeat([]byte("abcdefgh"), 400) // 3200 bytes: 4 chunks
	info, err := alice.UploadBlob(ctx, bytes.NewReader(data))
	if err != nil || info.Size != int64(len(data)) || info.Chunks != 4 {
		t.Fatalf("upload: %+v %v", info, err)
	}
	var buf bytes.Buffer
	if _, err := bob.DownloadBlob(ctx, info.ID, &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("download: %v", err)
	}
	// Over the per-blob maximum.
	_, err = alice.UploadBlob(ctx, bytes.NewReader(make([]byte, 5000)))
	wantAPIError(t, err, apiclient.ErrQuota)
	// Over the account quota (3200 + 3200 > 6000; the refused upload above
	// was dropped and freed its bytes).
	_, err = alice.UploadBlob(ctx, bytes.NewReader(data))
	wantAPIError(t, err, apiclient.ErrQuota)
	// Another account cannot delete it; the owner can.
	wantAPIError(t, bob.DeleteBlob(ctx, info.ID), apiclient.ErrNotFound)
	if err := alice.DeleteBlob(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	_, err = bob.DownloadBlob(ctx, info.ID, io.Discard)
	wantAPIError(t, err, apiclient.ErrNotFound)
	_, err = bob.DownloadBlob(ctx, "00000000000000000000000000000000", io.Discard)
	wantAPIError(t, err, apiclient.ErrNotFound)

	// Raw protocol errors: oversized chunk, finalize with a gap, bad range.
	var created api.BlobCreateResponse
	req, _ := http.NewRequest("POST", ts.URL+"/v1/blobs", nil)
	api.SignRequest(req, nil, "bob", 1, bob.key, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := decodeJSON(resp, &created); err != nil {
		t.Fatal(err)
	}
	put := func(idx string, body []byte) int {
		status, _ := rawRequest(t, "PUT", ts.URL+"/v1/blobs/"+created.ID+"/chunks/"+idx, body, "bob", 1, bob.key, time.Now())
		return status
	}
	if s := put("0", make([]byte, 1025)); s != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunk: %d", s)
	}
	if s := put("-1", []byte("x")); s != http.StatusBadRequest {
		t.Errorf("negative index: %d", s)
	}
	if s := put("0", []byte("hello")); s != http.StatusNoContent {
		t.Errorf("chunk 0: %d", s)
	}
	if s := put("2", []byte("world")); s != http.StatusNoContent {
		t.Errorf("chunk 2: %d", s)
	}
	status, er := rawRequest(t, "GET", ts.URL+"/v1/blobs/"+created.ID, nil, "bob", 1, bob.key, time.Now())
	if status != http.StatusConflict {
		t.Errorf("download before finalize: %d %+v", status, er)
	}
	status, _ = rawRequest(t, "POST", ts.URL+"/v1/blobs/"+created.ID+"/finalize", []byte(`{"chunks":3}`), "bob", 1, bob.key, time.Now())
	if status != http.StatusConflict {
		t.Errorf("finalize with a gap: %d", status)
	}
	if s := put("1", []byte(" ")); s != http.StatusNoContent {
		t.Errorf("chunk 1: %d", s)
	}
	status, _ = rawRequest(t, "POST", ts.URL+"/v1/blobs/"+created.ID+"/finalize", []byte(`{"chunks":3}`), "bob", 1, bob.key, time.Now())
	if status != http.StatusOK {
		t.Errorf("finalize: %d", status)
	}
	for rng, want := range map[string]string{"bytes=0-4": "hello", "bytes=6-": "world", "bytes=-3": "rld", "bytes=4-6": "o w"} {
		req, _ := http.NewRequest("GET", ts.URL+"/v1/blobs/"+created.ID, nil)
		req.Header.Set("Range", rng)
		api.SignRequest(req, nil, "bob", 1, bob.key, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || string(b) != want {
			t.Errorf("Range %s: %d %q, want %q", rng, resp.StatusCode, b, want)
		}
	}
	for _, rng := range []string{"bytes=11-", "bytes=5-2", "bytes=0-1,3-4", "items=0-1"} {
		req, _ := http.NewRequest("GET", ts.URL+"/v1/blobs/"+created.ID, nil)
		req.Header.Set("Range", rng)
		api.SignRequest(req, nil, "bob", 1, bob.key, time.Now())
		if status, _ := doRaw(t, req); status != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("Range %s: %d", rng, status)
		}
	}
}

// signedJSON sends a request signed by u and decodes a 2xx reply into out.
func signedJSON(t *testing.T, ts *testServer, u *user, method, path string, body []byte, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	api.SignRequest(req, body, u.name, 1, u.key, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 && out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestFailedUploadsFreeQuota is the attack on the blob quota: an account
// uploads until refused, then fails uploads midway in every way it can
// (over the blob maximum, over the quota, a read error, a client that
// vanishes after some chunks or in the middle of one). After each, the
// account's usage is what its finished blobs hold, so a failed upload
// never keeps its bytes.
func TestFailedUploadsFreeQuota(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true, Limits: server.Limits{
		ChunkBytes: 1024, MaxBlobBytes: 4096, BlobQuotaBytes: 10_000, BlobUploadIdle: time.Millisecond}})
	alice := register(t, ts.URL, "alice", "")
	used := func() int64 {
		t.Helper()
		lim, err := alice.BlobLimits(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if lim.MaxBytes != 4096 || lim.QuotaBytes != 10_000 || lim.ChunkBytes != 1024 {
			t.Fatalf("limits = %+v", lim)
		}
		return lim.UsedBytes
	}
	// Upload until refused: four 2,500-byte blobs fit, the fifth does not.
	var ids []string
	for {
		info, err := alice.UploadBlob(ctx, bytes.NewReader(make([]byte, 2500)))
		if err != nil {
			wantAPIError(t, err, apiclient.ErrQuota)
			if !strings.Contains(err.Error(), "at most 9.8 KiB in all") {
				t.Errorf("refusal says %q", err)
			}
			break
		}
		ids = append(ids, info.ID)
	}
	if len(ids) != 4 || used() != 10_000 {
		t.Fatalf("%d blobs stored, %d bytes used; want 4 and 10000", len(ids), used())
	}
	for _, id := range ids[:2] {
		if err := alice.DeleteBlob(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	const kept = 5000
	if got := used(); got != kept {
		t.Fatalf("after deletes %d bytes used, want %d", got, kept)
	}

	// Over the blob maximum: refused at the fifth chunk, dropped at once.
	_, err := alice.UploadBlob(ctx, bytes.NewReader(make([]byte, 5000)))
	wantAPIError(t, err, apiclient.ErrQuota)
	if !strings.Contains(err.Error(), "at most 4.0 KiB") || !strings.Contains(err.Error(), "discarded") {
		t.Errorf("refusal says %q", err)
	}
	if got := used(); got != kept {
		t.Fatalf("after a too-large upload %d bytes used, want %d", got, kept)
	}

	// A read error on the client's side: the client deletes what it sent.
	_, err = alice.UploadBlob(ctx, io.MultiReader(bytes.NewReader(make([]byte, 2500)), iotest.ErrReader(errors.New("disk gone"))))
	if err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Fatalf("upload with a read error: %v", err)
	}
	if got := used(); got != kept {
		t.Fatalf("after a failed read %d bytes used, want %d", got, kept)
	}

	// A client that vanishes after two chunks, without deleting anything:
	// the bytes count while the upload may still go on...
	var created api.BlobCreateResponse
	if st := signedJSON(t, ts, alice, http.MethodPost, "/v1/blobs", nil, &created); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	for i := range 2 {
		if st := signedJSON(t, ts, alice, http.MethodPut, fmt.Sprintf("/v1/blobs/%s/chunks/%d", created.ID, i), make([]byte, 1000), nil); st != http.StatusNoContent {
			t.Fatalf("chunk %d: %d", i, st)
		}
	}
	// ...and one that drops the connection in the middle of a chunk.
	if st, conn := rawPut(t, ts, "/v1/blobs/"+created.ID+"/chunks/2", 1000, alice); st != 0 {
		t.Fatalf("half a chunk answered %d", st)
	} else {
		conn.Write(make([]byte, 400))
		conn.Close()
	}
	// Once idle for longer than BlobUploadIdle the upload is abandoned:
	// the next look at the account frees it.
	time.Sleep(20 * time.Millisecond)
	if got := used(); got != kept {
		t.Fatalf("after an abandoned upload %d bytes used, want %d", got, kept)
	}
	if st := signedJSON(t, ts, alice, http.MethodPost, "/v1/blobs/"+created.ID+"/finalize", mustJSON(t, api.BlobFinalizeRequest{Chunks: 2}), nil); st != http.StatusNotFound {
		t.Fatalf("finalizing the abandoned upload: %d, want 404", st)
	}

	// The freed bytes are usable: a blob of the maximum size fits.
	if _, err := alice.UploadBlob(ctx, bytes.NewReader(make([]byte, 4096))); err != nil {
		t.Fatalf("upload into the freed quota: %v", err)
	}
	if got := used(); got != kept+4096 {
		t.Fatalf("%d bytes used, want %d", got, kept+4096)
	}
}
