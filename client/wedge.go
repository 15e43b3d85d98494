package client

// Blocked sessions (docs/protocol.md section 8, "Blocked sessions"): a
// pairwise session that stops working in one direction is noticed, shown
// in the rooms shared with the peer, and started again from a fresh prekey
// bundle; what was sent into the blocked direction is sent again.
//
// Two signs, one per side of the blocked direction:
//
//   - the receiver gets envelopes from the peer device that do not decrypt
//     (an unknown KEM key, a failed authentication, a malformed message).
//     Each is kept on the server (not acknowledged) and the user is told at
//     the first one; BlockedMessages of them with none decrypting in
//     between, or one left undecrypted for BlockedAfter, block the session.
//   - the sender's current chain stays unacknowledged (the peer has not
//     started a newer chain, ratchet.State.SendingChain) while the peer keeps
//     writing on its older chain: BlockedMessages such messages, observed
//     over at least BlockedAfter while this device's outbox was empty, block
//     the session. This is what a server that withholds everything from the
//     start of a chain produces: the receiver sees nothing at all.
//
// A blocked session is started again by the side that saw the sign: a new
// session from the peer device's current bundle whose first message is a
// session control message saying why (the peer shows a notice), followed by
// every plaintext this device sent on chains the peer has not acknowledged
// (the resend log, kept in the vault until the peer's next chain arrives).
// If the receiver started it, the control message asks the peer to send its
// own unacknowledged plaintexts again. Room payloads are idempotent (each
// message id is stored once), so a message sent twice is shown once.
// Repair is rate-limited: once per BlockedAfter per peer device, and after
// maxResets attempts without the session working the user is told to check
// with the peer another way.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"backchannel/contacts"
	"backchannel/devicelist"
	"backchannel/handshake"
	"backchannel/ratchet"
	"backchannel/server/api"
	"backchannel/session"
	"backchannel/vault"
)

// Thresholds of a blocked session (docs/protocol.md section 8).
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
	// ControlPrefix starts a session control message. A room payload is
	// JSON and never starts with 0xFF.
	ControlPrefix = "\xffbackchannel session control v1\n"

	maxResets     = 2
	maxDrop       = 1000
	maxControl    = 4096
	healthIndex   = "health"
	healthPrefix  = "health/"
	healthFlush   = "health-flush"
	notifyBlocked = contacts.EventKind("session-blocked")
	notifyRestart = contacts.EventKind("session-restarted")
)

// Why a session is blocked.
const (
	blockedUndecryptable  = "undecryptable"
	blockedUnacknowledged = "unacknowledged"
)

// sessionHealth is the record "health/<session name>" of one peer device.
type sessionHealth struct {
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
	Blocked   string    `json:"blocked,omitempty"`
	Resets    int       `json:"resets,omitempty"`
	LastReset time.Time `json:"last_reset,omitzero"`
	GaveUp    bool      `json:"gave_up,omitempty"`
}

// control is a session control message (ControlPrefix || JSON).
type control struct {
	Kind   string `json:"kind"`             // "reset" (first message of a new session) or "resent" (the answer)
	Reason string `json:"reason,omitempty"` // reset: blockedUndecryptable or blockedUnacknowledged
	Failed int    `json:"failed,omitempty"` // reset: envelopes that did not decrypt
	Resend bool   `json:"resend,omitempty"` // reset: send your unacknowledged messages again
	Sent   int    `json:"sent"`             // messages sent again after this one
	Lost   int    `json:"lost,omitempty"`   // unacknowledged messages no longer kept
}

const (
	controlReset  = "reset"
	controlResent = "resent"
)

func encodeControl(ctl control) []byte {
	raw, _ := json.Marshal(ctl)
	return append([]byte(ControlPrefix), raw...)
}

// parseControl decodes a session control message; ok is false for
// anything else (a room payload). A malformed one is an error.
func parseControl(pt []byte) (ctl *control, ok bool, err error) {
	if !bytes.HasPrefix(pt, []byte(ControlPrefix)) {
		return nil, false, nil
	}
	if len(pt) > maxControl {
		return nil, true, fmt.Errorf("%w: session control message of %d bytes", ErrBadPayload, len(pt))
	}
	var c control
	if err := api.Decode(pt[len(ControlPrefix):], &c); err != nil {
		return nil, true, fmt.Errorf("%w: session control message: %v", ErrBadPayload, err)
	}
	switch {
	case c.Kind == controlReset && (c.Reason == blockedUndecryptable || c.Reason == blockedUnacknowledged):
	case c.Kind == controlResent && c.Reason == "" && !c.Resend:
	default:
		return nil, true, fmt.Errorf("%w: session control message %q (%q)", ErrBadPayload, c.Kind, c.Reason)
	}
	if c.Failed < 0 || c.Sent < 0 || c.Lost < 0 || c.Sent > MaxResend+1 {
		return nil, true, fmt.Errorf("%w: session control message counts", ErrBadPayload)
	}
	return &c, true, nil
}

func (c *Client) healthName(user string, device uint32) string {
	return healthPrefix + c.sessionName(user, device)
}

func loadHealth(ctx context.Context, r reader, name string) (*sessionHealth, error) {
	raw, err := r.Get(ctx, name)
	if errors.Is(err, vault.ErrNotFound) {
		return &sessionHealth{}, nil
	}
	if err != nil {
		return nil, err
	}
	var h sessionHealth
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("session health: %w", vault.ErrCorrupt)
	}
	return &h, nil
}

func (h *sessionHealth) wantsRepair() bool { return h.Blocked != "" || len(h.Failed) > 0 }

// putHealth stores h and keeps the index of records that may need repair.
func putHealth(ctx context.Context, tx *vault.Tx, name string, h *sessionHealth) error {
	raw, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := tx.Put(ctx, name, raw); err != nil {
		return err
	}
	idx, err := healthNames(ctx, tx)
	if err != nil {
		return err
	}
	in := slices.Contains(idx, name)
	switch {
	case h.wantsRepair() && !in:
		idx = append(idx, name)
	case !h.wantsRepair() && in:
		idx = slices.DeleteFunc(idx, func(n string) bool { return n == name })
	default:
		return nil
	}
	raw, _ = json.Marshal(idx)
	return tx.Put(ctx, healthIndex, raw)
}

func healthNames(ctx context.Context, r reader) ([]string, error) {
	raw, err := r.Get(ctx, healthIndex)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var idx []string
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("session health index: %w", vault.ErrCorrupt)
	}
	return idx, nil
}

func resendName(name string, seq int64) string { return name + "/resend/" + strconv.FormatInt(seq, 10) }

// keepForResend records plain, just encrypted for user's device in s, in
// the resend log, in the transaction that stores the advanced session.
func (c *Client) keepForResend(ctx context.Context, tx *vault.Tx, user string, device uint32, s *session.Session, plain []byte) error {
	name := c.healthName(user, device)
	h, err := loadHealth(ctx, tx, name)
	if err != nil {
		return err
	}
	h.User, h.Device = user, device
	if !bytes.Equal(h.Base, s.BaseKey()) || !bytes.Equal(h.Chain, s.SendingChain()) {
		// A new chain (the peer acknowledged the last one, or a new session):
		// messages that ignore the old one said nothing about this one.
		h.Base, h.Chain = s.BaseKey(), s.SendingChain()
		h.Stale, h.StaleFirst = 0, time.Time{}
		if h.Blocked == blockedUnacknowledged {
			h.Blocked = ""
		}
	}
	seq := h.Next
	h.Next++
	if err := tx.Put(ctx, resendName(name, seq), plain); err != nil {
		return err
	}
	h.Resend = append(h.Resend, seq)
	for len(h.Resend) > MaxResend {
		if err := tx.Delete(ctx, resendName(name, h.Resend[0])); err != nil {
			return err
		}
		h.Resend, h.Lost = h.Resend[1:], h.Lost+1
	}
	return putHealth(ctx, tx, name, h)
}

// acknowledged drops the resend log: the peer has the messages in it.
func acknowledged(ctx context.Context, tx *vault.Tx, name string, h *sessionHealth) error {
	for _, seq := range h.Resend {
		if err := tx.Delete(ctx, resendName(name, seq)); err != nil {
			return err
		}
	}
	h.Resend, h.Lost, h.Chain, h.Stale, h.StaleFirst = nil, 0, nil, 0, time.Time{}
	h.Resets, h.GaveUp = 0, false
	if h.Blocked == blockedUnacknowledged {
		h.Blocked = ""
	}
	return nil
}

// resendLog returns the kept plaintexts, oldest first.
func resendLog(ctx context.Context, r reader, name string, h *sessionHealth) ([][]byte, error) {
	var out [][]byte
	for _, seq := range h.Resend {
		raw, err := r.Get(ctx, resendName(name, seq))
		if err != nil {
			return nil, fmt.Errorf("resend log: %w", err)
		}
		out = append(out, raw)
	}
	return out, nil
}

// errDeviceGone: the peer device of a blocked session is no longer in its
// account's device list.
var errDeviceGone = errors.New("the device is no longer in its account's device list")

// errNoSession: a plain message from a device this device has no session
// with (its session was lost, or the profile restored from an old copy).
var errNoSession = errors.New("no session with the sending device")

// failureReason says in plain words why an envelope did not decrypt.
func failureReason(err error) string {
	switch {
	case errors.Is(err, errNoSession):
		return "this device has no session with it any more"
	case errors.Is(err, ratchet.ErrKEMKey):
		return "it is encrypted to a key this device does not have"
	case errors.Is(err, ratchet.ErrAuth):
		return "it failed authentication: changed on the way, or not from this session"
	case errors.Is(err, ratchet.ErrTooManySkipped):
		return "too many messages before it are missing"
	default:
		return "it is malformed"
	}
}

// undecryptable handles an envelope from m's sender device that did not
// decrypt: kept on the server and counted, the user told at the first one
// of an episode; acknowledged only once the episode is over (a later
// envelope decrypted, or the session was started again). It returns
// whether to acknowledge the envelope now.
func (c *Client) undecryptable(ctx context.Context, m api.Message, cause error, rep *SyncReport) (bool, error) {
	name := c.healthName(m.From, m.FromDevice)
	ack := false
	err := c.v.Update(ctx, func(tx *vault.Tx) error {
		h, err := loadHealth(ctx, tx, name)
		if err != nil {
			return err
		}
		h.User, h.Device = m.From, m.FromDevice
		if i := slices.Index(h.Drop, m.ID); i >= 0 {
			h.Drop, ack = slices.Delete(h.Drop, i, i+1), true
			return putHealth(ctx, tx, name, h)
		}
		if slices.Contains(h.Failed, m.ID) {
			return nil // seen in an earlier pass
		}
		if h.GaveUp {
			// The user was told the server may be blocking this device, and
			// no more restarts are made until the session works: not kept.
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("discarded a message from %s's device %d that could not be decrypted (%s)", m.From, m.FromDevice, failureReason(cause)))
			ack = true
			return nil
		}
		now := c.opts.Now().UTC()
		first := len(h.Failed) == 0
		if first {
			h.FailedSince = now
		}
		h.Failed, h.FailReason = append(h.Failed, m.ID), failureReason(cause)
		if len(h.Failed) >= BlockedMessages && h.Blocked == "" {
			h.Blocked = blockedUndecryptable
		}
		c.opts.Logger.Warn("envelope does not decrypt", "err", cause)
		if first {
			text := fmt.Sprintf("A message from %s's device %d could not be decrypted (%s). It is kept; if more follow, the session with that device is started again and %s's device is asked to send its recent messages again.",
				m.From, m.FromDevice, h.FailReason, m.From)
			rep.Warnings = append(rep.Warnings, text)
			if err := c.notify(ctx, tx, m.From, []contacts.Event{{Kind: notifyBlocked, User: m.From, Device: m.FromDevice, Text: text}}); err != nil {
				return err
			}
		}
		return putHealth(ctx, tx, name, h)
	})
	return ack, err
}

// sessionEvent runs in applyAndSave's transaction for an envelope that
// decrypted with session s (stored under the session name plus suffix):
// it keeps the session's health (acknowledged chains, the end of a failure
// episode, peer messages that ignore this device's chain) and handles a
// session control message, in which case done is true (not a room payload).
func (c *Client) sessionEvent(ctx context.Context, tx *vault.Tx, m api.Message, s *session.Session, suffix string, pt []byte, rep *SyncReport) (done bool, err error) {
	ctl, isCtl, cerr := parseControl(pt)
	if cerr != nil {
		c.warn(rep, "refused a message from %s/%d: %v", m.From, m.FromDevice, cerr)
		return true, nil
	}
	if suffix != "" {
		return isCtl, nil // the session the peer replaced says nothing about the current one
	}
	name := c.healthName(m.From, m.FromDevice)
	h, err := loadHealth(ctx, tx, name)
	if err != nil {
		return false, err
	}
	h.User, h.Device = m.From, m.FromDevice
	before, _ := json.Marshal(h)
	if len(h.Failed) > 0 {
		// The session works: the envelopes that did not decrypt were not
		// from it (forged, or damaged on the way). Acknowledge them.
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d earlier message(s) from %s's device %d could not be decrypted and were discarded; later ones decrypt", len(h.Failed), m.From, m.FromDevice))
		h.Drop = append(h.Drop, h.Failed...)
		h.Failed, h.FailedSince = nil, time.Time{}
		if h.Blocked == blockedUndecryptable {
			h.Blocked = ""
		}
	}
	if len(h.Drop) > maxDrop {
		h.Drop = h.Drop[len(h.Drop)-maxDrop:]
	}
	if bytes.Equal(h.Base, s.BaseKey()) && h.Chain != nil {
		switch {
		case s.Acknowledged(h.Chain):
			if err := acknowledged(ctx, tx, name, h); err != nil {
				return false, err
			}
		case len(h.Resend) > 0:
			// The peer still writes on the chain ours answered.
			if ids, err := outboxIDs(ctx, tx); err != nil {
				return false, err
			} else if len(ids) == 0 {
				now := c.opts.Now().UTC()
				if h.Stale == 0 {
					h.StaleFirst = now
				}
				h.Stale++
				if h.Stale >= BlockedMessages && now.Sub(h.StaleFirst) >= BlockedAfter && h.Blocked == "" {
					h.Blocked = blockedUnacknowledged
				}
			}
		}
	}
	if isCtl {
		if err := c.applyControl(ctx, tx, m, s, name, h, ctl, rep); err != nil {
			return true, err
		}
	}
	if after, _ := json.Marshal(h); !bytes.Equal(before, after) {
		if err := putHealth(ctx, tx, name, h); err != nil {
			return isCtl, err
		}
	}
	return isCtl, nil
}

// isReset reports whether pt is the control message that starts a session
// because the old one was blocked (the new-session notice then says so).
func isReset(pt []byte) bool {
	ctl, ok, err := parseControl(pt)
	return ok && err == nil && ctl.Kind == controlReset
}

// newSessionEvents is what applyAndSave tells the user about a new session
// from a peer device that had one: nothing for a blocked-session reset,
// which applyControl explains itself.
func newSessionEvents(pt []byte, ev contacts.Event) []contacts.Event {
	if isReset(pt) {
		return nil
	}
	return []contacts.Event{ev}
}

// applyControl acts on a session control message from m's sender.
func (c *Client) applyControl(ctx context.Context, tx *vault.Tx, m api.Message, s *session.Session, name string, h *sessionHealth, ctl *control, rep *SyncReport) error {
	if ctl.Kind == controlResent {
		if ctl.Sent > 0 || ctl.Lost > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s's device %d sent %d message(s) again%s", m.From, m.FromDevice, ctl.Sent, lostWords(ctl.Lost)))
		}
		return nil
	}
	var plains [][]byte
	if ctl.Resend {
		var err error
		if plains, err = resendLog(ctx, tx, name, h); err != nil {
			return err
		}
	}
	plains = append([][]byte{encodeControl(control{Kind: controlResent, Sent: len(plains), Lost: h.Lost})}, plains...)
	var envs []api.OutgoingEnvelope
	for _, p := range plains {
		env, err := s.Encrypt(p)
		if err != nil {
			return fmt.Errorf("answer the new session of %s/%d: %w", m.From, m.FromDevice, err)
		}
		envs = append(envs, api.OutgoingEnvelope{To: m.From, Device: m.FromDevice, Data: env})
	}
	if err := tx.Put(ctx, c.sessionName(m.From, m.FromDevice), s.Marshal()); err != nil {
		return err
	}
	if err := queue(ctx, tx, batch{Envs: envs}); err != nil {
		return err
	}
	if err := tx.Put(ctx, healthFlush, []byte{1}); err != nil {
		return err
	}
	// The kept messages now travel in this session: its first chain is the
	// one the peer must acknowledge.
	h.Base, h.Chain, h.Stale, h.StaleFirst = s.BaseKey(), s.SendingChain(), 0, time.Time{}
	h.Drop = append(h.Drop, h.Failed...)
	h.Failed, h.FailedSince, h.Blocked = nil, time.Time{}, ""
	var text string
	switch ctl.Reason {
	case blockedUndecryptable:
		text = fmt.Sprintf("%s's device %d could not decrypt %d of your messages and started a new session with this device; your recent messages to it were sent again (%d)%s.",
			m.From, m.FromDevice, ctl.Failed, len(plains)-1, lostWords(h.Lost))
	default:
		text = fmt.Sprintf("%s's device %d started a new session with this device: your device had not received its messages for a while (the server may have held them back). It sends them again (%d)%s.",
			m.From, m.FromDevice, ctl.Sent, lostWords(ctl.Lost))
	}
	rep.Warnings = append(rep.Warnings, text)
	return c.notify(ctx, tx, m.From, []contacts.Event{{Kind: notifyRestart, User: m.From, Device: m.FromDevice, Text: text}})
}

func lostWords(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d older message(s) were no longer kept and could not be sent again", n)
}

// repairSessions starts again every session that counts as blocked, and
// delivers what session control messages queued. c.mu is held.
func (c *Client) repairSessions(ctx context.Context, rep *SyncReport) {
	names, err := healthNames(ctx, c.v)
	if err != nil {
		rep.Warnings = append(rep.Warnings, "session repair: "+err.Error())
		return
	}
	now := c.opts.Now().UTC()
	for _, name := range names {
		h, err := loadHealth(ctx, c.v, name)
		if err != nil || h.User == "" {
			continue
		}
		reason := h.Blocked
		if reason == "" && len(h.Failed) > 0 && now.Sub(h.FailedSince) >= BlockedAfter {
			reason = blockedUndecryptable
		}
		if reason == "" || !h.LastReset.IsZero() && now.Sub(h.LastReset) < BlockedAfter {
			continue
		}
		if h.Resets >= maxResets {
			// No more restarts until the session works again: told once, and
			// the envelopes that do not decrypt are acknowledged from now on.
			var text string
			if !h.GaveUp {
				text = fmt.Sprintf("Messages between you and %s's device %d still fail after the session was started again %d times: the server may be blocking them. Check with %s another way.", h.User, h.Device, h.Resets, h.User)
				rep.Warnings = append(rep.Warnings, text)
			}
			_ = c.v.Update(ctx, func(tx *vault.Tx) error {
				h.GaveUp, h.Blocked = true, ""
				h.Drop = append(h.Drop, h.Failed...)
				h.Failed, h.FailedSince = nil, time.Time{}
				if err := putHealth(ctx, tx, name, h); err != nil || text == "" {
					return err
				}
				return c.notify(ctx, tx, h.User, []contacts.Event{{Kind: notifyBlocked, User: h.User, Device: h.Device, Text: text}})
			})
			continue
		}
		err = c.restartSession(ctx, name, h, reason, rep)
		switch {
		case errors.Is(err, errDeviceGone):
			// Removed from its account: nothing to repair, nothing to keep.
			_ = c.v.Update(ctx, func(tx *vault.Tx) error {
				h.Blocked, h.Drop, h.Failed, h.FailedSince = "", append(h.Drop, h.Failed...), nil, time.Time{}
				return putHealth(ctx, tx, name, h)
			})
		case err != nil:
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the session with %s's device %d is blocked and could not be started again yet (%v); retried at the next sync", h.User, h.Device, err))
		}
	}
	if _, err := c.v.Get(ctx, healthFlush); err == nil {
		if err := c.flushOutbox(ctx); err != nil {
			rep.Warnings = append(rep.Warnings, "queued messages are still not delivered: "+err.Error())
			return
		}
		_ = c.v.Update(ctx, func(tx *vault.Tx) error { return tx.Delete(ctx, healthFlush) })
	}
}

// restartSession starts a new session with the peer device of h from its
// current bundle, sends the reason and the resend log in it, and keeps the
// old session as the previous one (for envelopes still in flight).
func (c *Client) restartSession(ctx context.Context, name string, h *sessionHealth, reason string, rep *SyncReport) error {
	devs, err := c.recipientDevices(ctx, h.User, false)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(devs, func(d devicelist.Entry) bool { return d.ID == h.Device })
	if i < 0 {
		return fmt.Errorf("%w: %s/%d", errDeviceGone, h.User, h.Device)
	}
	key, err := c.pinnedKey(ctx, c.v, h.User)
	if err != nil {
		return err
	}
	b, err := c.api.Bundle(ctx, h.User, h.Device)
	if err != nil {
		return fmt.Errorf("prekey bundle: %w", err)
	}
	hb, err := bundleFrom(b, key, devs[i])
	if err != nil {
		return err
	}
	if err := handshake.CheckFresh(hb, c.opts.Now()); err != nil {
		return err
	}
	ns, err := session.Initiate(c.src, c.dev, hb)
	if err != nil {
		return err
	}
	plains, err := resendLog(ctx, c.v, name, h)
	if err != nil {
		return err
	}
	ctl := control{Kind: controlReset, Reason: reason, Failed: len(h.Failed), Resend: reason == blockedUndecryptable, Sent: len(plains), Lost: h.Lost}
	var envs []api.OutgoingEnvelope
	for _, p := range append([][]byte{encodeControl(ctl)}, plains...) {
		env, err := ns.Encrypt(p)
		if err != nil {
			return err
		}
		envs = append(envs, api.OutgoingEnvelope{To: h.User, Device: h.Device, Data: env})
	}
	now := c.opts.Now().UTC()
	var text string
	switch reason {
	case blockedUndecryptable:
		text = fmt.Sprintf("The session with %s's device %d was started again: %d message(s) from it could not be decrypted (%s). %s's device was asked to send its recent messages again; %d of yours were sent again%s.",
			h.User, h.Device, len(h.Failed), h.FailReason, h.User, len(plains), lostWords(h.Lost))
	default:
		text = fmt.Sprintf("Your messages to %s's device %d have not been received for over %d minutes although that device kept writing: the server may be holding them back (or the device does not fetch its messages). The session was started again and %d message(s) were sent again%s.",
			h.User, h.Device, int(BlockedAfter/time.Minute), len(plains), lostWords(h.Lost))
	}
	sess := c.sessionName(h.User, h.Device)
	err = c.v.Update(ctx, func(tx *vault.Tx) error {
		if old, err := tx.Get(ctx, sess); err == nil {
			if err := tx.Put(ctx, sess+"/previous", old); err != nil {
				return err
			}
		}
		if err := tx.Put(ctx, sess, ns.Marshal()); err != nil {
			return err
		}
		if err := queue(ctx, tx, batch{Envs: envs}); err != nil {
			return err
		}
		h.Base, h.Chain, h.Stale, h.StaleFirst = ns.BaseKey(), ns.SendingChain(), 0, time.Time{}
		h.Drop = append(h.Drop, h.Failed...)
		h.Failed, h.FailedSince, h.Blocked = nil, time.Time{}, ""
		h.Resets, h.LastReset = h.Resets+1, now
		if err := putHealth(ctx, tx, name, h); err != nil {
			return err
		}
		return c.notify(ctx, tx, h.User, []contacts.Event{{Kind: notifyRestart, User: h.User, Device: h.Device, Text: text}})
	})
	if err != nil {
		return err
	}
	rep.Warnings = append(rep.Warnings, text)
	if err := c.flushOutbox(ctx); err != nil && !errors.Is(err, ErrNotDelivered) {
		return err // queued: delivered by the next send or sync
	}
	return nil
}
