package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"backchannel/backup"
	"backchannel/client"
	"backchannel/envelope"
	"backchannel/ratchet"
)

// copyDir copies a profile directory (what a backup, or a careless copy, is).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// ratchetKey returns the (ratchet key, message number) an envelope was
// encrypted under: two envelopes with the same pair share a message key.
func ratchetKey(t *testing.T, data []byte) string {
	t.Helper()
	env, err := envelope.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	h, _, err := ratchet.ParseHeader(env.Message)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x/%d", h.DH, h.N)
}

// A profile restored from a copy must never send under a ratchet state it
// already used: the server's send counter exposes the copy before anything
// is delivered, the client starts fresh sessions and re-encrypts, and the
// recipient reads every message.
func TestRestoredCopyNeverReusesARatchetKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	dir := filepath.Join(e.dir, "alice")
	a, err := client.Init(ctx, dir, e.srv.URL, "alice", "", []byte("pw"), client.Options{Params: fastVault})
	if err != nil {
		t.Fatal(err)
	}
	b := e.user("bob")
	if _, err := a.CreateRoom(ctx, "r", []string{"bob"}, client.ModeDeniable, "off"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "r", "one"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	backup := filepath.Join(e.dir, "alice-backup")
	copyDir(t, dir, backup)

	var seen []string
	collect := func() {
		for _, m := range pending(t, e, "bob") {
			if m.From == "alice" {
				if k := ratchetKey(t, m.Data); !slices.Contains(seen, k) {
					seen = append(seen, k)
				} else {
					t.Fatalf("two envelopes were sent under the same message key %s", k)
				}
			}
		}
	}
	a, err = client.Open(ctx, dir, []byte("pw"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "r", "two: the original device"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	collect()
	sync(t, b)

	// The backup comes back and sends: its ratchet state is the one that
	// encrypted "two".
	os.RemoveAll(dir)
	copyDir(t, backup, dir)
	a, err = client.Open(ctx, dir, []byte("pw"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Send(ctx, "r", "three: from the restored copy"); err != nil {
		t.Fatal(err)
	}
	collect()
	rep, err := b.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Dropped > 0 {
		t.Fatalf("bob refused something: %+v", rep)
	}
	got := texts(t, b, "r")
	want := []string{"alice: one", "alice: two: the original device", "alice: three: from the restored copy"}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Fatalf("bob reads %q, missing %q", got, w)
		}
	}
	if a.DeviceID() == 1 {
		t.Fatal("the old copy still sends as device 1")
	}
	ns, err := a.Notices(ctx)
	if err != nil || len(ns) == 0 || ns[len(ns)-1].Kind != "renewed" {
		t.Fatalf("alice's old copy was not told: %+v %v", ns, err)
	}
	if got := noticesIn(t, b, "r"); !strings.Contains(strings.Join(got, "\n"), "alice linked a new device") {
		t.Fatalf("bob was not told about alice's new device: %q", got)
	}
}

// Backup, lose the device, restore on a new machine, send: the restored
// profile is a new device (the lost one is removed from the list), no
// message key is used twice, bob reads everything and sees the change.
func TestBackupRestoreBecomesANewDevice(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	dir := filepath.Join(e.dir, "alice")
	a, err := client.Init(ctx, dir, e.srv.URL, "alice", "", []byte("pw"), client.Options{Params: fastVault})
	if err != nil {
		t.Fatal(err)
	}
	b := e.user("bob")
	if _, err := a.CreateRoom(ctx, "r", []string{"bob"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "r", "before the backup"); err != nil {
		t.Fatal(err)
	}
	key := backup.PassphraseKey([]byte("backup words"), fastVault)
	var file bytes.Buffer
	if err := a.Backup(ctx, &file, key); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(ctx, "r", "after the backup"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	var seen []string
	for _, m := range pending(t, e, "bob") {
		seen = append(seen, ratchetKey(t, m.Data))
	}
	sync(t, b)

	unlock := func(k backup.Kind) (backup.Key, error) { return key, nil }
	wrong := func(k backup.Kind) (backup.Key, error) { return backup.PassphraseKey([]byte("guess"), fastVault), nil }
	other := filepath.Join(e.dir, "alice-restored")
	if err := client.Restore(ctx, other, bytes.NewReader(file.Bytes()), wrong, []byte("pw")); err == nil {
		t.Fatal("restored with a wrong backup passphrase")
	}
	if _, err := os.Stat(filepath.Join(other, client.ProfileFile)); err == nil {
		t.Fatal("a failed restore left a profile behind")
	}
	tampered := bytes.Clone(file.Bytes())
	tampered[len(tampered)/2] ^= 1
	if err := client.Restore(ctx, other, bytes.NewReader(tampered), unlock, []byte("pw")); err == nil {
		t.Fatal("restored a tampered backup")
	}
	if err := client.Restore(ctx, other, bytes.NewReader(file.Bytes()), unlock, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	r, err := client.Open(ctx, other, []byte("pw"), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.DeviceID() == 1 {
		t.Fatal("the restored profile sends as the device the backup came from")
	}
	devs, err := r.Devices(ctx)
	if err != nil || len(devs) != 1 || devs[0].ID != r.DeviceID() {
		t.Fatalf("devices after restore: %+v %v", devs, err)
	}
	sync(t, b)
	// Bob verified nobody and the room is on-record: alice's new device waits
	// for bob's acceptance before bob sends to it, but bob reads it.
	if _, err := r.Send(ctx, "r", "restored and back"); err != nil {
		t.Fatal(err)
	}
	for _, m := range pending(t, e, "bob") {
		k := ratchetKey(t, m.Data)
		if slices.Contains(seen, k) {
			t.Fatalf("a message key was used twice: %s", k)
		}
		seen = append(seen, k)
	}
	sync(t, b)
	got := texts(t, b, "r")
	for _, w := range []string{"alice: before the backup", "alice: after the backup", "alice: restored and back"} {
		if !slices.Contains(got, w) {
			t.Fatalf("bob reads %q, missing %q", got, w)
		}
	}
	notes := strings.Join(noticesIn(t, b, "r"), "\n")
	if !strings.Contains(notes, "alice removed the device") || !strings.Contains(notes, "alice linked a new device") {
		t.Fatalf("bob's notices: %q", notes)
	}
	if _, err := b.Send(ctx, "r", "welcome back"); !errors.Is(err, client.ErrUnverifiedChange) {
		t.Fatalf("bob sent to alice's unaccepted new device in an on-record room: %v", err)
	}
	if _, err := b.AcceptChange(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Send(ctx, "r", "welcome back"); err != nil {
		t.Fatal(err)
	}
	sync(t, r)
	if got := texts(t, r, "r"); !slices.Contains(got, "bob: welcome back") {
		t.Fatalf("restored alice reads %q", got)
	}
}
