package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"backchannel/store"
)

func testBlobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	newUser(t, s, "alice")
	newUser(t, s, "bob")
	must(t, s.CreateBlob(ctx, "b1", "alice", epoch))
	wantErr(t, s.CreateBlob(ctx, "b1", "alice", epoch), store.ErrExists)
	chunks := [][]byte{[]byte("hello "), []byte("wonderful "), {}, []byte("world")}
	var want []byte
	// Upload out of order, and replace one chunk.
	must(t, s.PutBlobChunk(ctx, "b1", "alice", 1, []byte("XXXX"), store.BlobLimits{}, epoch))
	for i := len(chunks) - 1; i >= 0; i-- {
		must(t, s.PutBlobChunk(ctx, "b1", "alice", i, chunks[i], store.BlobLimits{}, epoch))
	}
	for _, c := range chunks {
		want = append(want, c...)
	}
	wantErr(t, s.PutBlobChunk(ctx, "b1", "bob", 0, []byte("x"), store.BlobLimits{}, epoch), store.ErrNotFound)
	wantErr(t, s.ReadBlob(ctx, "b1", 0, 1, &bytes.Buffer{}), store.ErrConflict) // not final
	_, err := s.FinalizeBlob(ctx, "b1", "alice", 5)
	wantErr(t, err, store.ErrConflict)
	info, err := s.FinalizeBlob(ctx, "b1", "alice", 4)
	must(t, err)
	if info.Size != int64(len(want)) || !info.Final || info.Chunks != 4 {
		t.Fatalf("info = %+v", info)
	}
	wantErr(t, s.PutBlobChunk(ctx, "b1", "alice", 4, []byte("late"), store.BlobLimits{}, epoch), store.ErrConflict)
	got, err := s.Blob(ctx, "b1")
	must(t, err)
	if got.Owner != "alice" || got.Size != info.Size {
		t.Fatalf("Blob = %+v", got)
	}
	for off := int64(0); off <= int64(len(want)); off++ {
		for _, n := range []int64{0, 1, 3, int64(len(want)) - off} {
			if off+n > int64(len(want)) {
				continue
			}
			var buf bytes.Buffer
			must(t, s.ReadBlob(ctx, "b1", off, n, &buf))
			if !bytes.Equal(buf.Bytes(), want[off:off+n]) {
				t.Fatalf("ReadBlob(%d, %d) = %q, want %q", off, n, buf.Bytes(), want[off:off+n])
			}
		}
	}
	wantErr(t, s.ReadBlob(ctx, "b1", 3, int64(len(want)), &bytes.Buffer{}), store.ErrConflict)
	_, err = s.Blob(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	used, err := s.BlobUsage(ctx, "alice")
	must(t, err)
	if used != int64(len(want)) {
		t.Fatalf("usage = %d, want %d", used, len(want))
	}
	wantErr(t, s.DeleteBlob(ctx, "b1", "bob"), store.ErrNotFound)
	must(t, s.DeleteBlob(ctx, "b1", "alice"))
	used, err = s.BlobUsage(ctx, "alice")
	must(t, err)
	if used != 0 {
		t.Fatalf("usage after delete = %d", used)
	}
	_, err = s.Blob(ctx, "b1")
	wantErr(t, err, store.ErrNotFound)
}

func testBlobQuota(t *testing.T, s store.Store) {
	ctx := context.Background()
	newUser(t, s, "alice")
	lim := store.BlobLimits{MaxBlobBytes: 10, QuotaBytes: 15}
	must(t, s.CreateBlob(ctx, "a", "alice", epoch))
	must(t, s.CreateBlob(ctx, "b", "alice", epoch))
	must(t, s.PutBlobChunk(ctx, "a", "alice", 0, make([]byte, 8), lim, epoch))
	wantErr(t, s.PutBlobChunk(ctx, "a", "alice", 1, make([]byte, 3), lim, epoch), store.ErrQuota) // blob max
	must(t, s.PutBlobChunk(ctx, "a", "alice", 0, make([]byte, 10), lim, epoch))                   // replace within max
	must(t, s.PutBlobChunk(ctx, "b", "alice", 0, make([]byte, 5), lim, epoch))
	wantErr(t, s.PutBlobChunk(ctx, "b", "alice", 1, make([]byte, 1), lim, epoch), store.ErrQuota) // account quota
	must(t, s.DeleteBlob(ctx, "a", "alice"))
	must(t, s.PutBlobChunk(ctx, "b", "alice", 1, make([]byte, 5), lim, epoch))
}

// testBlobIdleUploads: an unfinalized upload idle since before the cut is
// dropped and its bytes freed; a recent one, a finalized one and another
// owner's are kept.
func testBlobIdleUploads(t *testing.T, s store.Store) {
	ctx := context.Background()
	newUser(t, s, "alice")
	newUser(t, s, "bob")
	later := epoch.Add(time.Hour)
	must(t, s.CreateBlob(ctx, "idle", "alice", epoch))
	must(t, s.PutBlobChunk(ctx, "idle", "alice", 0, make([]byte, 7), store.BlobLimits{}, epoch))
	must(t, s.CreateBlob(ctx, "busy", "alice", epoch))
	must(t, s.PutBlobChunk(ctx, "busy", "alice", 0, make([]byte, 5), store.BlobLimits{}, later)) // touched since
	must(t, s.CreateBlob(ctx, "done", "alice", epoch))
	must(t, s.PutBlobChunk(ctx, "done", "alice", 0, make([]byte, 3), store.BlobLimits{}, epoch))
	_, err := s.FinalizeBlob(ctx, "done", "alice", 1)
	must(t, err)
	must(t, s.CreateBlob(ctx, "bobs", "bob", epoch))
	must(t, s.PutBlobChunk(ctx, "bobs", "bob", 0, make([]byte, 2), store.BlobLimits{}, epoch))

	n, freed, err := s.DropIdleUploads(ctx, "alice", later)
	must(t, err)
	if n != 1 || freed != 7 {
		t.Fatalf("dropped %d blobs, %d bytes; want 1, 7", n, freed)
	}
	_, err = s.Blob(ctx, "idle")
	wantErr(t, err, store.ErrNotFound)
	for _, id := range []string{"busy", "done", "bobs"} {
		_, err := s.Blob(ctx, id)
		must(t, err)
	}
	if used, err := s.BlobUsage(ctx, "alice"); err != nil || used != 8 {
		t.Fatalf("alice's usage = %d, %v; want 8", used, err)
	}
	if used, err := s.BlobUsage(ctx, "bob"); err != nil || used != 2 {
		t.Fatalf("bob's usage = %d, %v; want 2", used, err)
	}
	n, _, err = s.DropIdleUploads(ctx, "alice", later)
	must(t, err)
	if n != 0 {
		t.Fatalf("dropped %d blobs the second time", n)
	}
}

func testNonces(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	must(t, s.UseNonce(ctx, "alice/1", []byte("n1"), now, now.Add(time.Minute)))
	wantErr(t, s.UseNonce(ctx, "alice/1", []byte("n1"), now, now.Add(time.Minute)), store.ErrReplay)
	must(t, s.UseNonce(ctx, "alice/2", []byte("n1"), now, now.Add(time.Minute)))
	must(t, s.UseNonce(ctx, "alice/1", []byte("n2"), now, now.Add(time.Minute)))
	// After expiry the nonce may be reused (the timestamp check refuses it anyway).
	later := now.Add(2 * time.Minute)
	must(t, s.UseNonce(ctx, "alice/1", []byte("n1"), later, later.Add(time.Minute)))
}
