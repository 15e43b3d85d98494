// Package room holds the decisions a backchannel client makes about a
// room, as pure functions over what the client knows, so that they can be
// tested without a server: which room-state version a message was sent
// under and what to do with it (apply, hold until the state that explains
// it arrives, ignore, flag), heads (the latest entry a member has seen per
// signer) and what they reveal as missing, the entries that predate one's
// own join, the causal order of a room's history, the heartbeat schedule
// and the partition warning, and the bounded, expiring queues of messages
// that wait for a state.
//
// Contract:
//
//   - Judge never asks for a message to be shown when the sender was not a
//     member of the state the message claims, nor when this member was
//     removed and the message does not precede the removal; it holds (never
//     drops) a message sent under a newer state than the local one.
//   - Every queue is bounded in total and per sender and expires entries
//     after a fixed time; what is dropped is returned so it can be told.
//   - CausalOrder returns a topological order of the parent links, ties
//     broken by time, then sender, then key; it never loses an item.
//
// docs/protocol.md section 13 "Room integrity" is the normative text.
package room

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// StateHashLabel domain-separates the hash of a room state that every
// message carries next to the state's version.
const StateHashLabel = "backchannel room state hash v1"

// Schedule and bounds, as in docs/protocol.md section 13.
const (
	// BeatInterval: a syncing client sends a heartbeat to a room it has sent
	// nothing to for this long.
	BeatInterval = 10 * time.Minute
	// PartitionAfter: a member from whom nothing (message or heartbeat) has
	// arrived for this long is reported as silent.
	PartitionAfter = 30 * time.Minute
	// MaxBeatInterval caps the backoff of heartbeats to a member from whom
	// nothing has arrived since the last heartbeat to them: the wait
	// doubles from BeatInterval up to this.
	MaxBeatInterval = 6 * time.Hour
	// MaxHeads bounds the heads one message carries.
	MaxHeads = 128
	// MaxHeld bounds the messages a room holds for a newer state, and
	// MaxHeldPerSender those of one sender; HeldTTL expires them.
	MaxHeld          = 256
	MaxHeldPerSender = 64
	HeldTTL          = 7 * 24 * time.Hour
	// MaxOrphansPerSender bounds the payloads one sender may leave for
	// rooms this client does not know, MaxOrphans all of them; OrphanTTL
	// expires them.
	MaxOrphansPerSender = 32
	MaxOrphans          = 512
	OrphanTTL           = 72 * time.Hour
)

// StateHash returns SHA-256(StateHashLabel || 0x00 || signed state bytes).
func StateHash(stateBytes []byte) []byte {
	h := sha256.New()
	h.Write([]byte(StateHashLabel + "\x00"))
	h.Write(stateBytes)
	return h.Sum(nil)
}

// Version is one room state a member applied: its version and members.
type Version struct {
	Version int      `json:"v"`
	Members []string `json:"members"`
	Hash    []byte   `json:"hash,omitempty"`
}

// Action is what to do with a received room message.
type Action int

// Actions.
const (
	Apply  Action = iota + 1 // show it
	Hold                     // keep it until the state it was sent under arrives
	Ignore                   // do not show it (Reason says why)
)

// Verdict is Judge's answer. Flags are warnings for everyone who reads the
// room (a message sent to someone who had been removed).
type Verdict struct {
	Action Action
	// Need is the version to wait for (Hold).
	Need   int
	Reason string
	Flags  []string
}

// View is what a member knows of a room: the states it applied, oldest
// first (the last is the current one), and whether it was removed.
type View struct {
	Me      string
	States  []Version
	Removed bool
}

// Current returns the newest applied state.
func (v View) Current() Version {
	if len(v.States) == 0 {
		return Version{}
	}
	return v.States[len(v.States)-1]
}

// at returns the applied state with version n, if any.
func (v View) at(n int) (Version, bool) {
	for _, s := range v.States {
		if s.Version == n {
			return s, true
		}
	}
	return Version{}, false
}

// removedAt returns the first applied version after from that does not
// list user, or 0.
func (v View) removedAt(user string, from int) int {
	for _, s := range v.States {
		if s.Version > from && !slices.Contains(s.Members, user) {
			return s.Version
		}
	}
	return 0
}

// Message is what Judge needs of a received room message: its sender, the
// state version (and hash) the sender had, the users its copy manifest
// lists, and whether it is a causal ancestor of this member's removal.
type Message struct {
	Sender       string
	Version      int
	StateHash    []byte
	Recipients   []string
	BeforeRemove bool
}

// Judge decides what to do with m.
func Judge(v View, m Message) Verdict {
	cur := v.Current()
	switch {
	case m.Version > cur.Version:
		return Verdict{Action: Hold, Need: m.Version, Reason: fmt.Sprintf("sent under room version %d; this device has version %d", m.Version, cur.Version)}
	case m.Version < 1:
		return Verdict{Action: Ignore, Reason: "it names no room version"}
	}
	if v.Removed && !m.BeforeRemove {
		return Verdict{Action: Ignore, Reason: "it was sent after you were removed from the room"}
	}
	var out Verdict
	out.Action = Apply
	if st, ok := v.at(m.Version); ok && len(m.StateHash) > 0 && len(st.Hash) > 0 && string(st.Hash) != string(m.StateHash) {
		out.Flags = append(out.Flags, fmt.Sprintf("%s's message names a different room state %d than yours: the creator or the server showed members different memberships", m.Sender, m.Version))
	}
	if !slices.Contains(cur.Members, m.Sender) {
		if r := v.removedAt(m.Sender, m.Version); r > 0 && m.Version < r && !v.Removed {
			return Verdict{Action: Ignore, Reason: fmt.Sprintf("%s was removed in room version %d and wrote this under version %d, before the removal reached them; it is not shown", m.Sender, r, m.Version)}
		}
		return Verdict{Action: Ignore, Reason: fmt.Sprintf("%s is not a member", m.Sender)}
	}
	if st, ok := v.at(m.Version); ok && !slices.Contains(st.Members, m.Sender) {
		return Verdict{Action: Ignore, Reason: fmt.Sprintf("%s was not a member in room version %d that the message names", m.Sender, m.Version)}
	}
	if m.Version < cur.Version {
		var gone []string
		for _, u := range m.Recipients {
			if u != m.Sender && !slices.Contains(cur.Members, u) {
				gone = append(gone, u)
			}
		}
		if len(gone) > 0 {
			sort.Strings(gone)
			out.Flags = append(out.Flags, fmt.Sprintf("%s sent this message to %s as well, who had been removed (room version %d; %s's device had version %d: the removal had not reached it, or was withheld). Assume %s read it.",
				m.Sender, strings.Join(gone, ", "), cur.Version, m.Sender, m.Version, strings.Join(gone, ", ")))
		}
	}
	return out
}

// IgnoredNewer words a flag for a message that names version claimed but
// follows (cites) an entry written under a newer version: its sender had
// seen the newer state and ignored it (a modified client). parents lists
// the room versions of the entries it cites.
func IgnoredNewer(sender string, claimed int, parents []int) string {
	newest := 0
	for _, v := range parents {
		newest = max(newest, v)
	}
	if newest <= claimed || claimed < 1 {
		return ""
	}
	return fmt.Sprintf("%s's message follows one written under room version %d yet names version %d: %s's client ignored the newer membership", sender, newest, claimed, sender)
}

// CanSend says whether a member may send to the room now: not when removed,
// and not when a message announced a newer state (behind) than the one it
// has, since its member list may be out of date.
func CanSend(v View, behind int) error {
	cur := v.Current()
	if v.Removed {
		return ErrRemoved
	}
	if behind > cur.Version {
		return fmt.Errorf("%w: the room changed (version %d) but this device has version %d; it asked the creator for the new membership — sync again in a moment", ErrBehind, behind, cur.Version)
	}
	return nil
}

// Sentinel errors of CanSend.
var (
	ErrRemoved = fmt.Errorf("you are no longer a member of this room")
	ErrBehind  = fmt.Errorf("sending is paused until this device has the room's newest membership")
)
