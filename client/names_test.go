package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"backchannel/client"
	"backchannel/names"
)

// hostile is issue 10's document name: terminal escapes that clear the
// screen, a newline and a fake line, and a right-to-left override that
// makes "….exe" read as "….pdf".
const hostile = "\x1b[2J\x1b[Hminutes\n2026-11-28 21:00  alice: I accept\u202Efdp.exe"

func rawControl(s string) bool {
	return strings.ContainsAny(s, "\x1b\n\r\u202e\u2066\u200b")
}

// TestHostileDocumentNameIsRefused: a member whose patched client shares a
// document under that name. The recipient refuses the document on receipt,
// says so in a warning that is itself safe to print, and lists nothing.
func TestHostileDocumentNameIsRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if _, err := a.CreateRoom(ctx, "deal", []string{"bob"}, "", ""); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	if _, err := a.ShareReader(ctx, "deal", hostile, strings.NewReader("MZ...")); !errors.Is(err, client.ErrDocName) {
		t.Fatalf("an honest client shared the hostile name: err = %v", err)
	}
	for _, name := range []string{hostile, "invoice\u202Efdp.exe", "zero\u200Bwidth.pdf", " leading.pdf", "c1\u009b2J.pdf"} {
		if _, err := a.ShareUnchecked(ctx, "deal", name, strings.NewReader("MZ...")); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := b.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, w := range rep.Warnings {
		if rawControl(w) {
			t.Errorf("a warning carries the raw name: %q", w)
		}
		if strings.Contains(w, "refused") && strings.Contains(w, "document name") {
			refused++
		}
	}
	if refused != 5 {
		t.Fatalf("%d refusals in %q", refused, rep.Warnings)
	}
	docs, err := b.Docs(ctx, "deal")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 0 {
		t.Fatalf("bob lists %d documents with hostile names", len(docs))
	}
	// A name within the rule still arrives.
	if _, err := a.ShareReader(ctx, "deal", "مسودة الاتفاق.pdf", strings.NewReader("%PDF")); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	if docs, _ := b.Docs(ctx, "deal"); len(docs) != 1 {
		t.Fatalf("bob lists %d documents, want the one with an acceptable name", len(docs))
	}
}

// TestHostileRoomNameIsRefused: a creator whose client skips the rule (the
// CLI checks it; the engine's CreateRoom is what a patched client calls)
// names a room with escapes; members refuse the room.
func TestHostileRoomNameIsRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b := e.user("alice"), e.user("bob")
	if err := client.CheckRoomName("\x1b]0;pwned\x07board"); !errors.Is(err, names.ErrName) || rawControl(err.Error()) {
		t.Fatalf("CheckRoomName: %v", err)
	}
	if _, err := a.CreateRoom(ctx, "\x1b]0;pwned\x07board\u202e", []string{"bob"}, "", ""); err != nil {
		t.Skipf("the engine refuses the name itself: %v", err)
	}
	rep, err := b.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rooms, _ := b.Rooms(ctx)
	if len(rooms) != 0 {
		t.Fatalf("bob joined a room named %q", rooms[0].State.Name)
	}
	found := false
	for _, w := range rep.Warnings {
		if rawControl(w) || strings.Contains(w, "\x07") {
			t.Errorf("a warning carries the raw name: %q", w)
		}
		found = found || strings.Contains(w, "room name")
	}
	if !found {
		t.Fatalf("no warning about the room name: %q", rep.Warnings)
	}
}

// This device never creates a room its members would refuse by name.
func TestCreateRoomKeepsTheNameRule(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, _ := e.user("alice"), e.user("bob")
	for _, name := range []string{"talks\x1b[2J", "line\nbreak", " edge", "pdf\u202Etxt.exe"} {
		if _, err := a.CreateRoom(ctx, name, []string{"bob"}, client.ModeOnRecord, "off"); err == nil {
			t.Errorf("CreateRoom(%q) accepted a name members refuse", name)
		}
	}
	if _, err := a.CreateRoom(ctx, "Board – Q3 (draft)", []string{"bob"}, client.ModeOnRecord, "off"); err != nil {
		t.Fatalf("an ordinary name: %v", err)
	}
}
