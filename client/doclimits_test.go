package client_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"

	"backchannel/client"
	"backchannel/localserver"
	"backchannel/server"
)

// blobCounter counts the requests that start an upload.
type blobCounter struct {
	mu      gosync.Mutex
	uploads int
}

func (bc *blobCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && req.URL.Path == "/v1/blobs" {
		bc.mu.Lock()
		bc.uploads++
		bc.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (bc *blobCounter) count() int {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return bc.uploads
}

// A document the server would refuse is refused before anything is
// encrypted or uploaded, with a message that names the limit: one over the
// largest document the server stores, and a marked text document whose
// copies (one per member) would overrun the account's quota.
func TestShareRefusedBeforeUpload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := server.Config{OpenRegistration: true, Limits: server.Limits{RegisterPerMin: 6000, MaxBlobBytes: 64 << 10, BlobQuotaBytes: 100 << 10}}
	srv, err := localserver.Start(ctx, filepath.Join(dir, "server"), "127.0.0.1:0", cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	e := &env{t: t, srv: srv, dir: dir}
	counter := &blobCounter{}
	a := e.userWith("alice", &http.Client{Transport: counter})
	e.user("bob")
	e.user("carol")
	if _, err := a.CreateRoom(ctx, "deal", []string{"bob", "carol"}, client.ModeOnRecord, ""); err != nil {
		t.Fatal(err)
	}
	write := func(name string, size int) string {
		path := filepath.Join(t.TempDir(), name)
		line := "We are organizing the review; everyone should favor the plan.\n"
		if err := os.WriteFile(path, []byte(strings.Repeat(line, size/len(line)+1)[:size]), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, file string
		size       int
		says       string
	}{
		{"over the largest document", "scan.bin", 100 << 10, "scan.bin is 100.0 KiB once encrypted; this server accepts documents of at most 64.0 KiB"},
		{"copies over the quota", "annex.md", 40 << 10, "sharing annex.md needs"},
	} {
		_, err := a.Share(ctx, "deal", write(tc.file, tc.size))
		if !errors.Is(err, client.ErrDocTooLarge) || !strings.Contains(err.Error(), tc.says) {
			t.Fatalf("%s: err = %v", tc.name, err)
		}
		if n := counter.count(); n != 0 {
			t.Fatalf("%s: %d uploads started before the refusal", tc.name, n)
		}
	}
	if _, err := a.Share(ctx, "deal", write("annex.md", 40<<10)); !strings.Contains(err.Error(), "for each of 3 members") {
		t.Fatalf("the quota refusal does not say why: %v", err)
	}
	// Within the limits a document is shared as before.
	if _, err := a.Share(ctx, "deal", write("note.md", 4<<10)); err != nil {
		t.Fatal(err)
	}
	if n := counter.count(); n != 3 {
		t.Fatalf("%d uploads for a document to 3 members, want 3", n)
	}
}
