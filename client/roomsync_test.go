package client

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"backchannel/room"
)

// FuzzDecodeRoomIntegrity: what decodePayload accepts of the room-integrity
// fields (version, state hash, heads, heartbeats, state requests, unsigned
// deniable states) is well formed.
func FuzzDecodeRoomIntegrity(f *testing.F) {
	head := room.Head{Member: "alice", Key: bytes.Repeat([]byte{1}, 32), Seq: 3, Hash: bytes.Repeat([]byte{2}, 32), Version: 2}
	for _, p := range []*payload{
		{V: payloadVersion, Kind: KindBeat, ID: newID(), Room: newID(), SentAt: time.Unix(0, 0).UTC(), RoomVersion: 2, StateHash: make([]byte, 32), Heads: []room.Head{head}},
		{V: payloadVersion, Kind: KindAsk, ID: newID(), Room: newID(), SentAt: time.Unix(0, 0).UTC(), RoomVersion: 1},
	} {
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"kind":"beat","id":"0123456789abcdef0123456789abcdef","room":"0123456789abcdef0123456789abcdef","rv":1,"heads":[{"m":"a","s":0}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePayload(b)
		if err != nil {
			return
		}
		if len(p.Heads) > room.MaxHeads || p.RoomVersion < 0 || len(p.StateHash) > 32 {
			t.Fatal("accepted out-of-bounds room version or heads")
		}
		for _, h := range p.Heads {
			if !h.Valid() {
				t.Fatalf("accepted an invalid head %+v", h)
			}
		}
		if (p.Kind == KindBeat || p.Kind == KindAsk) && p.RoomVersion < 1 {
			t.Fatal("accepted a heartbeat or request without a version")
		}
		if p.Kind == KindRoom && p.State.Mode == ModeDeniable && len(p.Sig) != 0 {
			t.Fatal("accepted a signed deniable room state")
		}
	})
}
