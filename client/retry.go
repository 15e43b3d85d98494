package client

import (
	"context"
	"errors"
	"net"
	"time"

	"backchannel/server/apiclient"
)

// retryDelays are the waits before each retry of a request that failed for
// a transient reason: about two seconds in all, then the error is the
// user's to see (every request is safe to repeat: a repeated send is
// de-duplicated by the receiving ratchet, fetches and acks are idempotent).
func retryDelays() []time.Duration {
	return []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, 1500 * time.Millisecond}
}

// transient reports whether a request may succeed if repeated: rate
// limiting, an overloaded or restarting server, a dropped connection.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, apiclient.ErrRateLimited) || errors.Is(err, apiclient.ErrUnavailable) {
		return true
	}
	var ae *apiclient.Error
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe)
}

// retry runs op, repeating it with backoff while it fails transiently.
func retry(ctx context.Context, op func() error) error { return retryWith(ctx, retryDelays(), op) }

func retryWith(ctx context.Context, delays []time.Duration, op func() error) error {
	err := op()
	for _, d := range delays {
		if !transient(err) {
			return err
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		err = op()
	}
	return err
}
