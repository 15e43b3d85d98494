package client

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"backchannel/pad"
)

// TestPadEachGivesEveryCopyOneLength: copies of different lengths are framed
// to one length, and each opens to its own payload.
func TestPadEachGivesEveryCopyOneLength(t *testing.T) {
	base := payload{V: payloadVersion, Kind: KindText, ID: newID(), Room: newID(), SentAt: time.Unix(0, 0).UTC(),
		Record: &record{Entry: []byte{1}, Salt: make([]byte, 32), Content: []byte("x")}, CopySalt: make([]byte, copySaltSize)}
	texts := map[string]string{"alice": "We accept.", "bob": "We\u200b accept.", "carol": "We accept\u2026 with \u201cthanks\u201d"}
	enc := padEach(func(u string) ([]byte, error) {
		q := base
		q.Text = texts[u]
		return json.Marshal(&q)
	}, []string{"alice", "bob", "carol"})
	size := -1
	for u, text := range texts {
		b, err := enc(u)
		if err != nil {
			t.Fatal(err)
		}
		if size >= 0 && len(b) != size {
			t.Fatalf("%s's plaintext is %d bytes, another's %d", u, len(b), size)
		}
		size = len(b)
		p, err := openPayload(b)
		if err != nil || p.Text != text {
			t.Fatalf("%s: %v, %q", u, err, p.Text)
		}
	}
	if _, err := enc("dave"); err == nil {
		t.Fatal("framed a payload for a user outside the fan-out")
	}
	// An unpadded payload (an older sender) is refused in plain words.
	raw, _ := json.Marshal(&base)
	if _, err := openPayload(raw); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("an unpadded payload: %v", err)
	}
}

// FuzzOpenPayload: the padded-payload decoder never panics, accepts only
// canonical frames, and what it accepts decodes.
func FuzzOpenPayload(f *testing.F) {
	good, _ := json.Marshal(&payload{V: payloadVersion, Kind: KindText, ID: newID(), Room: newID(), SentAt: time.Unix(0, 0).UTC(),
		Text: "hello", Record: &record{Entry: []byte{1}, Salt: make([]byte, 32), Content: []byte("x")}, CopySalt: make([]byte, copySaltSize)})
	framed, _ := pad.Frame(good, pad.Target(len(good)))
	f.Add(framed)
	f.Add(good)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := openPayload(b)
		if err != nil {
			return
		}
		if _, err := pad.Unframe(b); err != nil || len(p.ID) != 32 {
			t.Fatal("accepted a payload outside a canonical frame")
		}
	})
}
