package apiclient_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"backchannel/keylog/verify"
	"backchannel/server/apiclient"
)

// A lying server answers a lookup with far more than a lookup can be: the
// client stops reading at the lookup's bound instead of buffering it all.
func TestLookupReplyIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		length bool // announce the length (else chunked)
	}{{"with Content-Length", true}, {"chunked", false}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				const total = 8 << 20
				if tc.length {
					w.Header().Set("Content-Length", "8388610")
				}
				w.Header().Set("Content-Type", "application/json")
				chunk := []byte(strings.Repeat("a", 32<<10))
				if _, err := w.Write([]byte(`"`)); err != nil {
					return
				}
				for n := 0; n < total; n += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
				_, _ = w.Write([]byte(`"`))
			}))
			defer srv.Close()
			_, key, _ := ed25519.GenerateKey(nil)
			c, err := apiclient.New(srv.URL, apiclient.Identity{User: "alice", Device: 1, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.KeyLogLookup(context.Background(), "bob")
			if err == nil || !strings.Contains(err.Error(), "longer than") {
				t.Fatalf("an 8 MiB lookup reply: err = %v, want a too-long error", err)
			}
		})
	}
	if verify.MaxLookupSize > 1<<20 {
		t.Fatalf("MaxLookupSize = %d: the bound this test relies on is gone", verify.MaxLookupSize)
	}
}
