package client

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"backchannel/canary"
	"backchannel/pad"
	"backchannel/room"
	"backchannel/server/api"
)

// Payload kinds: what the ratchet plaintext of a room message says.
const (
	KindText  = "text"
	KindRoom  = "room"          // a signed room state: creation or membership change
	KindLeave = "leave"         // the sender leaves the room
	KindDoc   = "doc"           // a shared document
	KindVoice = "voice"         // a voice note: a document with a marked copy per recipient (voice.go)
	KindAlert = "alert"         // the sender's own devices found something wrong with the sender's account
	KindBeat  = "beat"          // a heartbeat: the sender's room version and heads, no entry
	KindAsk   = "state-request" // asks the creator for the room's current state
	// KindTraceRequest asks every member to help trace a leak; KindTraceAnswer
	// is one member's reply, to the requester only (pool.go, tracepool).
	KindTraceRequest = "trace-request"
	KindTraceAnswer  = "trace-answer"
	// RoomStateLabel domain-separates the creator's signature on a room state.
	RoomStateLabel = "backchannel room state v1"
	// RoomIDLabel derives a room's id from its creator and a nonce, so no
	// other member can present a state of their own for the same room.
	RoomIDLabel    = "backchannel room id v1"
	payloadVersion = 1
	// MaxTextBytes bounds one message's text, so that the marked copy, its
	// transcript entry and the envelope stay within the server's default
	// 128 KiB envelope limit; longer texts are shared as documents.
	MaxTextBytes = 48 << 10
)

// Room modes and marking policies (chosen at creation, fixed).
const (
	ModeDeniable = "deniable"
	ModeOnRecord = "on-record"
)

// RoomState is a room's name, creator and membership at one version. Only
// the creator changes it, signing each version, so every member applies the
// versions in the same order.
type RoomState struct {
	ID        string    `json:"id"` // roomID(Creator, Nonce)
	Nonce     []byte    `json:"nonce"`
	Name      string    `json:"name"`
	Creator   string    `json:"creator"`
	Members   []string  `json:"members"`
	Version   int       `json:"version"`
	Mode      string    `json:"mode"`
	Marking   string    `json:"marking"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *RoomState) signedBytes() []byte {
	b, _ := json.Marshal(s)
	return append([]byte(RoomStateLabel+"\x00"), b...)
}

func (s *RoomState) has(user string) bool {
	for _, m := range s.Members {
		if m == user {
			return true
		}
	}
	return false
}

// roomID derives a room id: the first 16 bytes, in hex, of
// SHA-256(RoomIDLabel || 0x00 || creator || 0x00 || nonce).
func roomID(creator string, nonce []byte) string {
	h := sha256.New()
	h.Write([]byte(RoomIDLabel + "\x00" + creator + "\x00"))
	h.Write(nonce)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func (s *RoomState) validate() error {
	switch {
	case len(s.Nonce) != 16 || s.ID != roomID(s.Creator, s.Nonce):
		return fmt.Errorf("%w: the room id is not derived from its creator", ErrBadPayload)
	case !s.has(s.Creator):
		return fmt.Errorf("%w: the creator is not a member", ErrBadPayload)
	case s.Name == "" || len(s.Name) > 200:
		return fmt.Errorf("%w: room name", ErrBadPayload)
	case len(s.Members) == 0 || len(s.Members) > MaxRoomMembers:
		return fmt.Errorf("%w: %d members", ErrBadPayload, len(s.Members))
	case s.Version < 1:
		return fmt.Errorf("%w: room version", ErrBadPayload)
	case s.Mode != ModeDeniable && s.Mode != ModeOnRecord:
		return fmt.Errorf("%w: room mode %q", ErrBadPayload, s.Mode)
	}
	if _, err := canary.ParsePolicy(s.Marking); err != nil {
		return fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	seen := map[string]bool{}
	for _, m := range s.Members {
		if !api.ValidName(m) || seen[m] {
			return fmt.Errorf("%w: member %q", ErrBadPayload, m)
		}
		seen[m] = true
	}
	return nil
}

// DocRef is what a room message carries for a shared document: where the
// encrypted blob is and the key to read it.
type DocRef struct {
	BlobID string `json:"blob_id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Key    []byte `json:"key"`
	SHA256 []byte `json:"sha256"`
	// Padded is the blob's plaintext length with its padding (zero bytes
	// after the document, up to a Padmé length; docs/protocol.md section
	// 13, "Padding"); 0 for a blob without padding (an unmarked document).
	Padded int64 `json:"padded,omitempty"`
}

// payload is the plaintext inside one ratchet message.
type payload struct {
	V      int        `json:"v"`
	Kind   string     `json:"kind"`
	ID     string     `json:"id"`
	Room   string     `json:"room"`
	SentAt time.Time  `json:"sent_at"`
	Text   string     `json:"text,omitempty"`
	State  *RoomState `json:"state,omitempty"`
	Sig    []byte     `json:"sig,omitempty"`
	Doc    *DocRef    `json:"doc,omitempty"`
	// DurationMS is a voice note's length in milliseconds.
	DurationMS int64 `json:"duration_ms,omitempty"`
	// Record is the transcript entry for this message (with its salt and
	// the content it commits to: a copy manifest, or the room state).
	Record *record `json:"record,omitempty"`
	// CopySalt opens this recipient's line of the manifest for Text.
	CopySalt []byte `json:"copy_salt,omitempty"`
	// Log is the sender's newest verified key log checkpoint (a signed
	// note): gossip, so that a split view of the log cannot go unnoticed.
	Log []byte `json:"log,omitempty"`
	// RoomVersion and StateHash name the room state the sender had
	// (room.StateHash of its state bytes); Heads are the sender's latest
	// entry per signer and the parents of this entry (docs/protocol.md
	// section 13, "Room integrity").
	RoomVersion int         `json:"rv,omitempty"`
	StateHash   []byte      `json:"sh,omitempty"`
	Heads       []room.Head `json:"heads,omitempty"`
	// Pool is a tracepool.Request or tracepool.Answer (pool.go).
	Pool json.RawMessage `json:"pool,omitempty"`
}

// maxAlertBytes bounds an alert's text.
const maxAlertBytes = 1024

func decodePayload(b []byte) (*payload, error) {
	var p payload
	if err := api.Decode(b, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	if p.V != payloadVersion {
		return nil, fmt.Errorf("%w: version %d (upgrade backchannel)", ErrBadPayload, p.V)
	}
	if len(p.ID) != 32 || len(p.Room) != 32 {
		return nil, fmt.Errorf("%w: ids", ErrBadPayload)
	}
	switch p.Kind {
	case KindText:
		// A marked copy is longer than the original: invisible marks add up
		// to three bytes per word gap.
		if len(p.Text) > 2*MaxTextBytes {
			return nil, fmt.Errorf("%w: text too long", ErrBadPayload)
		}
		if p.Record == nil || len(p.CopySalt) != copySaltSize {
			return nil, fmt.Errorf("%w: message without its transcript entry", ErrBadPayload)
		}
	case KindRoom:
		// Deniable rooms carry no signature: the ratchet authenticates the
		// creator to each member (docs/protocol.md section 13).
		if p.State == nil || p.State.ID != p.Room || (p.State.Mode == ModeOnRecord) != (len(p.Sig) == ed25519.SignatureSize) || (p.State.Mode != ModeOnRecord && len(p.Sig) != 0) {
			return nil, fmt.Errorf("%w: room state", ErrBadPayload)
		}
		if err := p.State.validate(); err != nil {
			return nil, err
		}
		if p.Record == nil {
			return nil, fmt.Errorf("%w: room state without its transcript entry", ErrBadPayload)
		}
	case KindLeave:
		if p.Record == nil {
			return nil, fmt.Errorf("%w: leave without its transcript entry", ErrBadPayload)
		}
	case KindDoc, KindVoice:
		if p.Doc == nil || len(p.Doc.Key) != 32 || p.Doc.BlobID == "" || (p.Doc.Padded != 0 && !pad.ValidBlobSize(p.Doc.Size, p.Doc.Padded)) {
			return nil, fmt.Errorf("%w: document reference", ErrBadPayload)
		}
		if p.Record == nil || len(p.CopySalt) != copySaltSize {
			return nil, fmt.Errorf("%w: document without its transcript entry", ErrBadPayload)
		}
		if (p.Kind == KindVoice) != (p.DurationMS != 0) || p.DurationMS < 0 || p.DurationMS > maxVoiceMS {
			return nil, fmt.Errorf("%w: voice note duration", ErrBadPayload)
		}
	case KindBeat, KindAsk:
		if p.RoomVersion < 1 {
			return nil, fmt.Errorf("%w: %s without a room version", ErrBadPayload, p.Kind)
		}
	case KindAlert:
		if p.Text == "" || len(p.Text) > maxAlertBytes {
			return nil, fmt.Errorf("%w: alert", ErrBadPayload)
		}
	case KindEquivocation:
		if err := p.validateProof(); err != nil {
			return nil, err
		}
	case KindTraceRequest, KindTraceAnswer:
		if err := checkPool(&p); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: unknown kind %q", ErrBadPayload, p.Kind)
	}
	if len(p.Heads) > room.MaxHeads || len(p.StateHash) > 32 || p.RoomVersion < 0 {
		return nil, fmt.Errorf("%w: room version or heads", ErrBadPayload)
	}
	for _, h := range p.Heads {
		if !h.Valid() {
			return nil, fmt.Errorf("%w: a head", ErrBadPayload)
		}
	}
	return &p, nil
}
