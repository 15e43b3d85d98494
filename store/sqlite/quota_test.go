package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"backchannel/store"
	"backchannel/store/sqlite"
)

// The byte quotas of EnqueueLimited are counted across acknowledgements,
// device removal and a restart (the counts are rebuilt from the table).
func TestMailboxByteQuotas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	now := time.Now()
	for _, name := range []string{"alice", "bob"} {
		a := store.Account{Name: name, IdentityKey: []byte("ik"), CreatedAt: now}
		d := store.Device{User: name, ID: 1, SigningKey: []byte("k"), CreatedAt: now}
		if err := s.CreateAccount(ctx, a, d, nil, nil, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddDevice(ctx, store.Device{User: "bob", ID: 2, SigningKey: []byte("k2"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	alice := store.Address{User: "alice", Device: 1}
	bob1, bob2 := store.Address{User: "bob", Device: 1}, store.Address{User: "bob", Device: 2}
	lim := store.MailboxLimits{MaxBytes: 250, MaxSenderBytes: 300}
	send := func(to store.Address, n int) ([]store.Message, error) {
		return s.EnqueueLimited(ctx, alice, 0, nil, []store.Envelope{{To: to, Data: bytes.Repeat([]byte{1}, n)}}, now, lim)
	}
	type step struct {
		name string
		to   store.Address
		n    int
		want error
	}
	var ids1 []int64
	for _, st := range []step{
		{"first 200 bytes to bob/1", bob1, 200, nil},
		{"bob/1 would hold 300 > 250", bob1, 100, store.ErrMailboxFull},
		{"100 to bob/2: alice has 300 waiting for bob", bob2, 100, nil},
		{"one byte more for bob", bob2, 1, store.ErrQuota},
		{"alice's own mailbox is counted apart", alice, 250, nil},
	} {
		msgs, err := send(st.to, st.n)
		if !errors.Is(err, st.want) {
			t.Fatalf("%s: %v, want %v", st.name, err, st.want)
		}
		if err == nil && st.to == bob1 {
			ids1 = append(ids1, msgs[0].ID)
		}
		var q *store.MailboxQuotaError
		if errors.As(err, &q) && (q.Recipient != "bob" || q.Used != 300 || q.Max != 300) {
			t.Fatalf("%s: %+v", st.name, q)
		}
	}
	// bob/1 acknowledges: its 200 bytes leave both totals.
	if n, err := s.Ack(ctx, bob1, ids1); err != nil || n != 1 {
		t.Fatalf("ack: %d %v", n, err)
	}
	if _, err := send(bob2, 150); err != nil {
		t.Fatalf("after the acknowledgement: %v", err)
	}
	if _, err := send(bob1, 60); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("bob has 250 from alice, 60 more: %v", err)
	}
	// Counts survive a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	if _, err := send(bob1, 60); !errors.Is(err, store.ErrQuota) {
		t.Fatalf("after a restart: %v", err)
	}
	// Removing bob/2 drops its mailbox and alice's bytes in it.
	if err := s.RemoveDevice(ctx, "bob", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := send(bob1, 250); err != nil {
		t.Fatalf("after bob/2 was removed: %v", err)
	}
}

// Deleted rows are zeroed and the write-ahead log truncated: after Scrub no
// acknowledged message is in any database file.
func TestScrubRemovesAcknowledgedMessages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.OpenDir(ctx, dir, sqlite.Options{ScrubInterval: -1}) // only on Scrub
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	a := store.Account{Name: "alice", IdentityKey: []byte("ik"), CreatedAt: now}
	d := store.Device{User: "alice", ID: 1, SigningKey: []byte("k"), CreatedAt: now}
	if err := s.CreateAccount(ctx, a, d, nil, nil, now); err != nil {
		t.Fatal(err)
	}
	to := store.Address{User: "alice", Device: 1}
	marker := []byte("MARKER-7f3a9c-acknowledged-and-gone")
	var ids []int64
	for i := range 30 {
		data := append(bytes.Repeat([]byte{byte(i)}, 100+i*500), marker...)
		m, err := s.Enqueue(ctx, to, []store.Envelope{{To: to, Data: data}}, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m[0].ID)
	}
	inFiles := func() bool {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(filepath.Join(dir, sqlite.FileName+suffix))
			if err == nil && bytes.Contains(b, marker) {
				return true
			}
		}
		return false
	}
	if !inFiles() {
		t.Fatal("control: the messages are not in the files before the acknowledgement")
	}
	if _, err := s.Ack(ctx, to, ids); err != nil {
		t.Fatal(err)
	}
	if !inFiles() {
		t.Log("the acknowledged messages left the files before Scrub")
	}
	if err := s.Scrub(ctx); err != nil {
		t.Fatal(err)
	}
	if inFiles() {
		t.Fatal("acknowledged messages are still readable in the database files after Scrub")
	}
}
