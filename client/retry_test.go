package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"backchannel/server/apiclient"
)

func TestTransient(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&apiclient.Error{Status: 429, Code: "rate_limited"}, true},
		{&apiclient.Error{Status: 503, Code: "unavailable"}, true},
		{&apiclient.Error{Status: 500, Code: "internal"}, true},
		{&apiclient.Error{Status: 401, Code: "unauthorized"}, false},
		{&apiclient.Error{Status: 404, Code: "not_found"}, false},
		{fmt.Errorf("send: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), true},
		{context.Canceled, false},
		{errors.New("some local failure"), false},
	}
	for _, c := range cases {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRetry(t *testing.T) {
	fast := []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	busy := &apiclient.Error{Status: 503, Code: "unavailable"}

	calls := 0
	err := retryWith(context.Background(), fast, func() error {
		calls++
		if calls < 3 {
			return busy
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("recovering server: err=%v after %d calls", err, calls)
	}
	calls = 0
	err = retryWith(context.Background(), fast, func() error { calls++; return busy })
	if !errors.Is(err, apiclient.ErrUnavailable) || calls != 4 {
		t.Fatalf("server down: err=%v after %d calls, want 4", err, calls)
	}
	calls = 0
	denied := &apiclient.Error{Status: 401, Code: "unauthorized"}
	if err := retryWith(context.Background(), fast, func() error { calls++; return denied }); err != denied || calls != 1 {
		t.Fatalf("a permanent error was retried %d times", calls)
	}
}
