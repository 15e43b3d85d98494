package apiclient_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"backchannel/server/apiclient"
)

// A lying server sends a small gzip body that decompresses to far more
// than a key log reply can be (a compression bomb): the bound counts
// decompressed bytes, so the client stops at it.
func TestCompressedKeyLogReplyIsBounded(t *testing.T) {
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write([]byte(`{"proof":["`))
	chunk := []byte(strings.Repeat("A", 1<<20))
	for range 80 { // 80 MiB, more than any key log reply is allowed
		_, _ = zw.Write(chunk)
	}
	_, _ = zw.Write([]byte(`"]}`))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if bomb.Len() > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed", bomb.Len())
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Errorf("the client did not accept gzip: %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(bomb.Bytes())
	}))
	defer srv.Close()
	_, key, _ := ed25519.GenerateKey(nil)
	c, err := apiclient.New(srv.URL, apiclient.Identity{User: "alice", Device: 1, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"lookup":      func() error { _, err := c.KeyLogLookup(ctx, "bob"); return err },
		"consistency": func() error { _, err := c.KeyLogConsistency(ctx, 1, 2); return err },
		"changes":     func() error { _, err := c.KeyLogChanges(ctx, 0, 1); return err },
		"proved page": func() error { _, err := c.KeyLogChangesProved(ctx, 0, 0); return err },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "longer than") {
			t.Errorf("%s: a reply that decompresses to 80 MiB: err = %v, want a too-long error", name, err)
		}
	}
}
