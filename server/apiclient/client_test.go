package apiclient_test

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"backchannel/server/api"
	"backchannel/server/apiclient"
)

func TestNewValidates(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "127.0.0.1:7450", "://bad"} {
		if _, err := apiclient.New(u, apiclient.Identity{}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if _, err := apiclient.New("http://127.0.0.1:7450", apiclient.Identity{User: "a", Key: ed25519.PrivateKey{1, 2}}); err == nil {
		t.Error("New accepted a truncated key")
	}
	if _, err := apiclient.New("https://example.org/prefix/", apiclient.Identity{}); err != nil {
		t.Error(err)
	}
}

func TestErrorMatching(t *testing.T) {
	err := error(&apiclient.Error{Status: 401, Code: api.CodeReplay, Message: "replayed request"})
	if !errors.Is(err, apiclient.ErrUnauthorized) || !errors.Is(err, apiclient.ErrReplay) || errors.Is(err, apiclient.ErrNotFound) {
		t.Fatalf("matching %v", err)
	}
	err = &apiclient.Error{Status: 429, Code: api.CodeRateLimited}
	if !errors.Is(err, apiclient.ErrRateLimited) {
		t.Fatal("429 does not match ErrRateLimited")
	}
	inner := &apiclient.Error{Status: 409, Code: api.CodeRollback, Message: "used"}
	err = &apiclient.RollbackError{Counter: 7, Err: inner}
	var rb *apiclient.RollbackError
	var ae *apiclient.Error
	if !errors.Is(err, apiclient.ErrRollback) || errors.Is(err, apiclient.ErrConflict) ||
		!errors.As(err, &rb) || rb.Counter != 7 || !errors.As(err, &ae) || ae.Status != 409 {
		t.Fatalf("rollback matching %v", err)
	}
	if errors.Is(&apiclient.Error{Status: 409, Code: api.CodeConflict}, apiclient.ErrRollback) {
		t.Fatal("a plain conflict matches ErrRollback")
	}
}
