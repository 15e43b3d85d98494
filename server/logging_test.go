package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"backchannel/server"
	"backchannel/server/api"
	"backchannel/store/sqlite"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The debug log records requests but never bodies, keys, signatures,
// nonces or invite tokens.
func TestLogsCarryNoSecrets(t *testing.T) {
	ctx := context.Background()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := sqlite.OpenDir(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.New(server.Config{}, st, logger).Serve(sctx, ln) }()
	url := "http://" + ln.Addr().String()

	invite, err := server.CreateInvite(ctx, st, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	alice := register(t, url, "alice", invite)
	payload := []byte("a very secret envelope payload")
	body := mustJSON(t, api.SendRequest{Messages: []api.OutgoingEnvelope{{To: "alice", Device: 1, Data: payload}}})
	req, _ := http.NewRequest("POST", url+"/v1/messages", bytes.NewReader(body))
	api.SignRequest(req, body, "alice", 1, alice.key, time.Now())
	if status, _ := doRaw(t, req); status != http.StatusOK {
		t.Fatalf("send: %d", status)
	}
	// A refused request is logged too.
	bad, _ := http.NewRequest("POST", url+"/v1/messages", bytes.NewReader(body))
	api.SignRequest(bad, body, "alice", 1, newKey(t), time.Now())
	doRaw(t, bad)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, `route="POST /v1/messages"`) {
		t.Fatalf("request not logged:\n%s", out)
	}
	secrets := map[string]string{
		"invite":           invite,
		"signature":        req.Header.Get(api.HeaderSignature),
		"bad signature":    bad.Header.Get(api.HeaderSignature),
		"nonce":            req.Header.Get(api.HeaderNonce),
		"payload":          string(payload),
		"payload (base64)": base64.StdEncoding.EncodeToString(payload),
		"device key":       base64.StdEncoding.EncodeToString(alice.key.Public().(ed25519.PublicKey)),
		"identity key":     base64.StdEncoding.EncodeToString(alice.ik.Public().(ed25519.PublicKey)),
	}
	for what, v := range secrets {
		if strings.Contains(out, v) {
			t.Errorf("log contains the %s", what)
		}
	}
}
