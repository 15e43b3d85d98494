package storetest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"backchannel/store"
)

// testMailboxQuotas checks store.MailboxQuotas, for stores that implement
// it: bytes per device mailbox and per (sender account, recipient account),
// all or nothing, freed by acknowledgements.
func testMailboxQuotas(t *testing.T, s store.Store) {
	q, ok := s.(store.MailboxQuotas)
	if !ok {
		t.Skip("the store does not implement store.MailboxQuotas")
	}
	ctx := context.Background()
	alice, bob := newUser(t, s, "alice"), newUser(t, s, "bob")
	lim := store.MailboxLimits{MaxBytes: 100, MaxSenderBytes: 150}
	env := func(to store.Address, n int) store.Envelope {
		return store.Envelope{To: to, Data: bytes.Repeat([]byte{'x'}, n)}
	}
	sent, err := q.EnqueueLimited(ctx, alice, 0, nil, []store.Envelope{env(bob, 60), env(bob, 40)}, epoch, lim)
	must(t, err)
	_, err = q.EnqueueLimited(ctx, alice, 0, nil, []store.Envelope{env(bob, 1)}, epoch, lim)
	wantErr(t, err, store.ErrMailboxFull)
	// Alice's own mailbox: allowed by its device cap, but alice has 100 of
	// her 150 bytes for bob only, so this counts apart and passes.
	_, err = q.EnqueueLimited(ctx, alice, 0, nil, []store.Envelope{env(alice, 100)}, epoch, lim)
	must(t, err)
	_, err = q.EnqueueLimited(ctx, alice, 0, nil, []store.Envelope{env(alice, 1)}, epoch, store.MailboxLimits{MaxSenderBytes: 100})
	var qe *store.MailboxQuotaError
	if !errors.As(err, &qe) || !errors.Is(err, store.ErrQuota) || qe.Recipient != "alice" || qe.Used != 100 || qe.Max != 100 {
		t.Fatalf("alice over her own quota: %v", err)
	}
	// All or nothing: a batch refused for bob stores nothing for alice.
	_, err = q.EnqueueLimited(ctx, bob, 0, nil, []store.Envelope{env(alice, 10), env(bob, 200)}, epoch, store.MailboxLimits{MaxBytes: 150})
	wantErr(t, err, store.ErrMailboxFull)
	if msgs, _ := s.Pending(ctx, alice, 0, 10); len(msgs) != 1 {
		t.Fatalf("alice holds %d messages, want 1", len(msgs))
	}
	_, err = s.Ack(ctx, bob, []int64{sent[0].ID})
	must(t, err)
	_, err = q.EnqueueLimited(ctx, alice, 0, nil, []store.Envelope{env(bob, 60)}, epoch, lim)
	must(t, err)
}
