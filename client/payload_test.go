package client

import (
	"encoding/json"
	"testing"
	"time"
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
	m := buildManifest(map[string][]byte{"bob": c2, "alice": c1})
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
