package client

import (
	"encoding/json"
	"testing"
	"time"

	"backchannel/transcript"
)

// FuzzDecodePayload: the plaintext decoder of room messages never panics,
// and what it accepts is internally consistent.
func FuzzDecodePayload(f *testing.F) {
	good, _ := json.Marshal(&payload{V: payloadVersion, Kind: KindText, ID: newID(), Room: newID(), SentAt: time.Unix(0, 0).UTC(),
		Text: "hello", Record: &record{Entry: []byte{1}, Salt: make([]byte, 32), Content: []byte("x")}, CopySalt: make([]byte, copySaltSize)})
	f.Add(good)
	f.Add([]byte(`{"v":1,"kind":"room"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePayload(b)
		if err != nil {
			return
		}
		if len(p.ID) != 32 || len(p.Room) != 32 {
			t.Fatal("accepted a payload with bad ids")
		}
		if p.Kind == KindRoom && (p.State == nil || p.State.validate() != nil) {
			t.Fatal("accepted an invalid room state")
		}
	})
}

func TestManifest(t *testing.T) {
	c1, c2 := commitCopy([]byte("s1"), "a"), commitCopy([]byte("s2"), "b")
	m := buildManifest(transcript.CommitCanonical("a"), map[string][]byte{"bob": c2, "alice": c1})
	if got, ok := manifestEntry(m, "alice"); !ok || string(got) != string(c1) {
		t.Fatal("alice's commitment not found")
	}
	if _, ok := manifestEntry(m, "carol"); ok {
		t.Fatal("found a commitment for a non-recipient")
	}
	if _, ok := manifestEntry([]byte("garbage"), "alice"); ok {
		t.Fatal("parsed a manifest without its header")
	}
}

func TestRoomIDBindsTheCreator(t *testing.T) {
	nonce := []byte("0123456789abcdef")
	real := RoomState{ID: roomID("alice", nonce), Nonce: nonce, Name: "r", Creator: "alice", Members: []string{"alice", "mallory"}, Version: 1, Mode: ModeOnRecord, Marking: "all"}
	if err := real.validate(); err != nil {
		t.Fatalf("the creator's own state: %v", err)
	}
	// Mallory presents a state of her own for alice's room.
	forged := real
	forged.Creator, forged.Version = "mallory", 99
	if err := forged.validate(); err == nil {
		t.Fatal("a member's state for another creator's room id validated")
	}
	// And she cannot find a nonce of her own for alice's id short of a preimage.
	forged.Nonce = []byte("fedcba9876543210")
	if err := forged.validate(); err == nil {
		t.Fatal("a state with a foreign nonce validated")
	}
	noCreator := real
	noCreator.Members = []string{"mallory"}
	if err := noCreator.validate(); err == nil {
		t.Fatal("a state whose creator is not a member validated")
	}
}
