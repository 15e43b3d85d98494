package client

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"

	"backchannel/transcript"
	"backchannel/vault"
)

// StateSignedBytes exposes what a room state's signature would cover.
func StateSignedBytes(st *RoomState) []byte { return st.signedBytes() }

// SignaturesIn returns every value of an exported JSON document that
// decodes (base64 or hex) to an Ed25519 signature's size, and the
// signature of every transcript entry it carries.
func SignaturesIn(doc []byte) [][]byte {
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return nil
	}
	var out [][]byte
	var walk func(any)
	walk = func(x any) {
		switch t := x.(type) {
		case map[string]any:
			for _, y := range t {
				walk(y)
			}
		case []any:
			for _, y := range t {
				walk(y)
			}
		case string:
			for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString} {
				b, err := dec(t)
				if err != nil {
					continue
				}
				if len(b) == ed25519.SignatureSize {
					out = append(out, b)
				}
				// a transcript entry: its signature, if any
				if e, err := transcript.DecodeEntry(b); err == nil && len(e.Signature) > 0 {
					out = append(out, e.Signature)
				}
			}
		}
	}
	walk(v)
	return out
}

// VerifiesAny reports whether any of sigs verifies msg under key.
func VerifiesAny(sigs [][]byte, key, msg []byte) bool {
	for _, s := range sigs {
		if ed25519.Verify(key, msg, s) {
			return true
		}
	}
	return false
}

// DecodeStatePayload decodes a room-state payload carrying sig, for tests
// of the rule that deniable states carry none and on-record ones do.
func DecodeStatePayload(st *RoomState, sig []byte) error {
	p := payload{V: payloadVersion, Kind: KindRoom, ID: newID(), Room: st.ID, State: st, Sig: sig, Record: &record{}}
	raw, _ := json.Marshal(p)
	_, err := decodePayload(raw)
	return err
}

// SendForUnknownRooms sends n payloads for rooms that do not exist to
// user: what any account can do to grow a stranger's profile.
func (c *Client) SendForUnknownRooms(ctx context.Context, to string, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < n; i++ {
		p := &payload{V: payloadVersion, Kind: KindLeave, ID: newID(), Room: newID(), SentAt: c.opts.Now().UTC(), Record: &record{Entry: []byte{1}, Content: make([]byte, 1024)}}
		if err := c.fanOut(ctx, same(p), []string{to}, false, func(context.Context, *vault.Tx) error { return nil }); err != nil {
			return err
		}
	}
	return nil
}

// OrphansKept counts the payloads kept for rooms this device does not know.
func (c *Client) OrphansKept(ctx context.Context) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(loadQueue(ctx, c.v, orphanRecord))
}

// ClaimRoomVersion makes user's client (a modified one) name version v
// in everything it sends; v = 0 restores honesty.
func ClaimRoomVersion(user string, v int) {
	if v == 0 {
		tamperStamp = nil
		return
	}
	tamperStamp = func(u string, p *payload) {
		if u == user {
			p.RoomVersion = v
		}
	}
}
