// Package sessionrepair holds the rules for blocked pairwise sessions
// (docs/protocol.md section 8, "Blocked sessions"): when a session with a
// peer device counts as blocked, when and how often it is started again,
// what the session control message that starts it again says, and the
// words the user is shown about it.
//
// Two signs, one per side of the blocked direction:
//
//   - the receiver gets envelopes from the peer device that do not decrypt.
//     Each is kept on the server (not acknowledged) and the user is told at
//     the first one; BlockedMessages of them with none decrypting in
//     between, or one left undecrypted for BlockedAfter, block the session.
//   - the sender's current chain stays unacknowledged while the peer keeps
//     writing on its older chain: BlockedMessages such messages, observed
//     over at least BlockedAfter while the outbox was empty, block the
//     session. This is what a server that withholds everything from the
//     start of a chain produces: the receiver sees nothing at all.
//
// A blocked session is started again by the side that saw the sign, at
// most once per BlockedAfter per peer device; after MaxResets restarts
// without the session working the user is told once to check with the
// peer another way, and no more restarts are made until it works.
//
// The package decides only. It does no I/O: it never reads or writes the
// vault, never encrypts, never sends and never logs. Package client loads
// and stores the Health record, keeps the resend log's plaintexts, builds
// the new session and sends what these rules ask for.
package sessionrepair

import (
	"bytes"
	"slices"
	"time"
)

// Thresholds of a blocked session (docs/protocol.md section 8:
// BLOCKED_MESSAGES, BLOCKED_AFTER, MAX_RESEND).
const (
	// BlockedMessages is how many undecryptable envelopes, or peer messages
	// on a chain older than the one this device answered, block a session.
	BlockedMessages = 3
	// BlockedAfter is how long an undecryptable envelope, or a run of peer
	// messages that ignore this device's chain, may last before the session
	// counts as blocked; it is also the shortest time between two repairs.
	BlockedAfter = 10 * time.Minute
	// MaxResend bounds the plaintexts kept per peer device for sending
	// again; beyond it the oldest is dropped (and counted).
	MaxResend = 64
	// MaxResets is how many restarts are made without the session working
	// before the user is told the server may be blocking the device.
	MaxResets = 2
	// MaxDrop bounds the mailbox ids kept for acknowledging later.
	MaxDrop = 1000
)

// Reason says why a session is blocked.
type Reason string

// The reasons, as they appear in a session control message.
const (
	// Undecryptable: envelopes from the peer device do not decrypt.
	Undecryptable Reason = "undecryptable"
	// Unacknowledged: the peer keeps writing on a chain older than the one
	// this device answered, never acknowledging it.
	Unacknowledged Reason = "unacknowledged"
)

// Health is the record of one peer device's session: the resend log's
// bookkeeping (sender side), the envelopes that did not decrypt (receiver
// side) and the repairs made. Its JSON form is what the client stores.
type Health struct {
	User   string `json:"user"`
	Device uint32 `json:"device"`
	// The sender side: the session and chain the newest resend entry was
	// sent on, the entries (record numbers, oldest first), how many were
	// dropped for MaxResend, and the peer messages that ignored Chain.
	Base       []byte    `json:"base,omitempty"`
	Chain      []byte    `json:"chain,omitempty"`
	Resend     []int64   `json:"resend,omitempty"`
	Next       int64     `json:"next,omitempty"`
	Lost       int       `json:"lost,omitempty"`
	Stale      int       `json:"stale,omitempty"`
	StaleFirst time.Time `json:"stale_first,omitzero"`
	// The receiver side: undecryptable envelopes since the last one that
	// decrypted (mailbox ids, kept on the server), and envelopes to
	// acknowledge when they come again (their episode is over).
	Failed      []int64   `json:"failed,omitempty"`
	FailedSince time.Time `json:"failed_since,omitzero"`
	FailReason  string    `json:"fail_reason,omitempty"`
	Drop        []int64   `json:"drop,omitempty"`
	// Repair.
	Blocked   Reason    `json:"blocked,omitempty"`
	Resets    int       `json:"resets,omitempty"`
	LastReset time.Time `json:"last_reset,omitzero"`
	GaveUp    bool      `json:"gave_up,omitempty"`
}

// WantsRepair reports whether the session may need starting again: it is
// blocked, or envelopes from the peer device are failing.
func (h *Health) WantsRepair() bool { return h.Blocked != "" || len(h.Failed) > 0 }

// Keep records one plaintext about to be kept for sending again, sent on
// chain of the session with base key base. It returns the plaintext's
// sequence number in the resend log and the older entries to delete (beyond
// MaxResend, counted in Lost). A new chain clears the count of peer
// messages that ignored the old one.
func (h *Health) Keep(base, chain []byte) (seq int64, dropped []int64) {
	if !bytes.Equal(h.Base, base) || !bytes.Equal(h.Chain, chain) {
		// A new chain (the peer acknowledged the last one, or a new session):
		// messages that ignore the old one said nothing about this one.
		h.Base, h.Chain = base, chain
		h.Stale, h.StaleFirst = 0, time.Time{}
		if h.Blocked == Unacknowledged {
			h.Blocked = ""
		}
	}
	seq = h.Next
	h.Next++
	h.Resend = append(h.Resend, seq)
	for len(h.Resend) > MaxResend {
		dropped = append(dropped, h.Resend[0])
		h.Resend, h.Lost = h.Resend[1:], h.Lost+1
	}
	return seq, dropped
}

// Watches reports whether a message decrypted by the session with base key
// base says something about the chain the resend log waits on.
func (h *Health) Watches(base []byte) bool { return bytes.Equal(h.Base, base) && h.Chain != nil }

// Acknowledged records that the peer acknowledged the chain the resend log
// waits on, and returns the resend entries to delete (the peer has them).
// The session works: the restart count and the give-up start again.
func (h *Health) Acknowledged() (drop []int64) {
	drop = h.Resend
	h.Resend, h.Lost, h.Chain, h.Stale, h.StaleFirst = nil, 0, nil, 0, time.Time{}
	h.Resets, h.GaveUp = 0, false
	if h.Blocked == Unacknowledged {
		h.Blocked = ""
	}
	return drop
}

// IgnoredChain records, at now, a peer message on the chain this device
// already answered while the resend log waits and the outbox is empty:
// BlockedMessages of them over at least BlockedAfter block the session.
func (h *Health) IgnoredChain(now time.Time) {
	if h.Stale == 0 {
		h.StaleFirst = now
	}
	h.Stale++
	if h.Stale >= BlockedMessages && now.Sub(h.StaleFirst) >= BlockedAfter && h.Blocked == "" {
		h.Blocked = Unacknowledged
	}
}

// Verdict is what to do with an envelope that did not decrypt.
type Verdict int

const (
	// Acknowledge it now: its episode is over (the record changed).
	Acknowledge Verdict = iota
	// AlreadyCounted: seen in an earlier pass; nothing changed.
	AlreadyCounted
	// Discard it (acknowledge, and tell the user): the user was told the
	// server may be blocking the device; nothing changed.
	Discard
	// Keep it on the server, counted (the record changed).
	Keep
	// KeepAndTell: keep it, counted, and tell the user, as the first of an
	// episode (the record changed).
	KeepAndTell
)

// Undecryptable records, at now, the envelope with mailbox id id that did
// not decrypt for the plain-words reason, and says what to do with it.
func (h *Health) Undecryptable(id int64, reason string, now time.Time) Verdict {
	if i := slices.Index(h.Drop, id); i >= 0 {
		h.Drop = slices.Delete(h.Drop, i, i+1)
		return Acknowledge
	}
	if slices.Contains(h.Failed, id) {
		return AlreadyCounted
	}
	if h.GaveUp {
		return Discard
	}
	first := len(h.Failed) == 0
	if first {
		h.FailedSince = now
	}
	h.Failed, h.FailReason = append(h.Failed, id), reason
	if len(h.Failed) >= BlockedMessages && h.Blocked == "" {
		h.Blocked = Undecryptable
	}
	if first {
		return KeepAndTell
	}
	return Keep
}

// Decrypted records that an envelope of the current session decrypted:
// the envelopes that failed before it were not from it, and are
// acknowledged when delivered again. It returns how many there were.
func (h *Health) Decrypted() (discarded int) {
	discarded = len(h.Failed)
	if discarded > 0 {
		h.Drop = append(h.Drop, h.Failed...)
		h.Failed, h.FailedSince = nil, time.Time{}
		if h.Blocked == Undecryptable {
			h.Blocked = ""
		}
	}
	if len(h.Drop) > MaxDrop {
		h.Drop = h.Drop[len(h.Drop)-MaxDrop:]
	}
	return discarded
}

// Due says whether, at now, the session is to be started again, and why:
// it is blocked, or an envelope has failed for BlockedAfter; and it was not
// started again in the last BlockedAfter.
func (h *Health) Due(now time.Time) (Reason, bool) {
	reason := h.Blocked
	if reason == "" && len(h.Failed) > 0 && now.Sub(h.FailedSince) >= BlockedAfter {
		reason = Undecryptable
	}
	if reason == "" || !h.LastReset.IsZero() && now.Sub(h.LastReset) < BlockedAfter {
		return "", false
	}
	return reason, true
}

// Exhausted reports whether MaxResets restarts were made without the
// session working: no more are made until it does.
func (h *Health) Exhausted() bool { return h.Resets >= MaxResets }

// ClearFailures ends a failure episode without the session working (the
// device is gone, or repair gave up): the failed envelopes are acknowledged
// when delivered again, and the session no longer counts as blocked.
func (h *Health) ClearFailures() {
	h.Blocked = ""
	h.Drop = append(h.Drop, h.Failed...)
	h.Failed, h.FailedSince = nil, time.Time{}
}

// GiveUp records that no more restarts are made until the session works;
// envelopes that do not decrypt are discarded from now on.
func (h *Health) GiveUp() {
	h.GaveUp = true
	h.ClearFailures()
}

// NewSession records that the messages kept now travel in a new session
// whose first sending chain, chain, is the one the peer must acknowledge.
func (h *Health) NewSession(base, chain []byte) {
	h.Base, h.Chain, h.Stale, h.StaleFirst = base, chain, 0, time.Time{}
	h.ClearFailures()
}

// Restarted records that this device started the session again at now,
// with the new session's base key and first sending chain.
func (h *Health) Restarted(base, chain []byte, now time.Time) {
	h.NewSession(base, chain)
	h.Resets, h.LastReset = h.Resets+1, now
}
