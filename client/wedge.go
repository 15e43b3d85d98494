package client

// Blocked sessions (docs/protocol.md section 8, "Blocked sessions"): a
// pairwise session that stops working in one direction is noticed, shown
// in the rooms shared with the peer, and started again from a fresh prekey
// bundle; what was sent into the blocked direction is sent again.
//
// The rules (what counts as blocked, when and how often to start again,
// the session control message, the notices' words) are package
// sessionrepair's; this file keeps the orchestration: the health records
// and resend log in the vault, each in the transaction that advances the
// session, the new session, and sending.
//
// A blocked session is started again by the side that saw the sign: a new
// session from the peer device's current bundle whose first message is a
// session control message saying why (the peer shows a notice), followed by
// every plaintext this device sent on chains the peer has not acknowledged
// (the resend log, kept in the vault until the peer's next chain arrives).
// If the receiver started it, the control message asks the peer to send its
// own unacknowledged plaintexts again. Room payloads are idempotent (each
// message id is stored once), so a message sent twice is shown once.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"backchannel/contacts"
	"backchannel/devicelist"
	"backchannel/handshake"
	"backchannel/server/api"
	"backchannel/session"
	"backchannel/sessionrepair"
	"backchannel/vault"
)

// Vault records of session health, and the events a blocked session adds
// to the rooms shared with the peer.
const (
	healthIndex   = "health"
	healthPrefix  = "health/"
	healthFlush   = "health-flush"
	notifyBlocked = contacts.EventKind("session-blocked")
	notifyRestart = contacts.EventKind("session-restarted")
)

// parseControl decodes a session control message; ok is false for
// anything else (a room payload). A malformed one is an ErrBadPayload.
func parseControl(pt []byte) (ctl *sessionrepair.Control, ok bool, err error) {
	ctl, ok, err = sessionrepair.Parse(pt)
	if err != nil {
		return nil, ok, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	return ctl, ok, nil
}

func (c *Client) healthName(user string, device uint32) string {
	return healthPrefix + c.sessionName(user, device)
}

func loadHealth(ctx context.Context, r reader, name string) (*sessionrepair.Health, error) {
	raw, err := r.Get(ctx, name)
	if errors.Is(err, vault.ErrNotFound) {
		return &sessionrepair.Health{}, nil
	}
	if err != nil {
		return nil, err
	}
	var h sessionrepair.Health
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("session health: %w", vault.ErrCorrupt)
	}
	return &h, nil
}

// putHealth stores h and keeps the index of records that may need repair.
func putHealth(ctx context.Context, tx *vault.Tx, name string, h *sessionrepair.Health) error {
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
	case h.WantsRepair() && !in:
		idx = append(idx, name)
	case !h.WantsRepair() && in:
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
	seq, dropped := h.Keep(s.BaseKey(), s.SendingChain())
	if err := tx.Put(ctx, resendName(name, seq), plain); err != nil {
		return err
	}
	for _, old := range dropped {
		if err := tx.Delete(ctx, resendName(name, old)); err != nil {
			return err
		}
	}
	return putHealth(ctx, tx, name, h)
}

// acknowledged drops the resend log: the peer has the messages in it.
func acknowledged(ctx context.Context, tx *vault.Tx, name string, h *sessionrepair.Health) error {
	for _, seq := range h.Acknowledged() {
		if err := tx.Delete(ctx, resendName(name, seq)); err != nil {
			return err
		}
	}
	return nil
}

// resendLog returns the kept plaintexts, oldest first.
func resendLog(ctx context.Context, r reader, name string, h *sessionrepair.Health) ([][]byte, error) {
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
var errNoSession = sessionrepair.ErrNoSession

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
		reason := sessionrepair.FailureReason(cause)
		switch h.Undecryptable(m.ID, reason, c.opts.Now().UTC()) {
		case sessionrepair.Acknowledge:
			ack = true
			return putHealth(ctx, tx, name, h)
		case sessionrepair.AlreadyCounted:
			return nil // seen in an earlier pass
		case sessionrepair.Discard:
			// The user was told the server may be blocking this device, and
			// no more restarts are made until the session works: not kept.
			rep.Warnings = append(rep.Warnings, sessionrepair.DiscardedNotice(m.From, m.FromDevice, reason))
			ack = true
			return nil
		case sessionrepair.KeepAndTell:
			c.opts.Logger.Warn("envelope does not decrypt", "err", cause)
			text := sessionrepair.FirstFailureNotice(m.From, m.FromDevice, reason)
			rep.Warnings = append(rep.Warnings, text)
			if err := c.notify(ctx, tx, m.From, []contacts.Event{{Kind: notifyBlocked, User: m.From, Device: m.FromDevice, Text: text}}); err != nil {
				return err
			}
		default:
			c.opts.Logger.Warn("envelope does not decrypt", "err", cause)
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
	if n := h.Decrypted(); n > 0 {
		// The session works: the envelopes that did not decrypt were not
		// from it (forged, or damaged on the way).
		rep.Warnings = append(rep.Warnings, sessionrepair.EpisodeOverNotice(m.From, m.FromDevice, n))
	}
	if h.Watches(s.BaseKey()) {
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
				h.IgnoredChain(c.opts.Now().UTC())
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

// newSessionEvents is what applyAndSave tells the user about a new session
// from a peer device that had one: nothing for a blocked-session reset,
// which applyControl explains itself.
func newSessionEvents(pt []byte, ev contacts.Event) []contacts.Event {
	if sessionrepair.IsReset(pt) {
		return nil
	}
	return []contacts.Event{ev}
}

// applyControl acts on a session control message from m's sender.
func (c *Client) applyControl(ctx context.Context, tx *vault.Tx, m api.Message, s *session.Session, name string, h *sessionrepair.Health, ctl *sessionrepair.Control, rep *SyncReport) error {
	if ctl.Kind == sessionrepair.KindResent {
		if text := sessionrepair.ResentNotice(m.From, m.FromDevice, *ctl); text != "" {
			rep.Warnings = append(rep.Warnings, text)
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
	answer := sessionrepair.Control{Kind: sessionrepair.KindResent, Sent: len(plains), Lost: h.Lost}
	plains = append([][]byte{sessionrepair.Encode(answer)}, plains...)
	var envs []api.OutgoingEnvelope
	for _, p := range plains {
		env, err := s.Encrypt(p)
		if err != nil {
			return fmt.Errorf("answer the new session of %s/%d: %w", m.From, m.FromDevice, err)
		}
		envs = append(envs, api.OutgoingEnvelope{To: m.From, Device: m.FromDevice, Data: env})
	}
	if err := c.saveSession(ctx, tx, m.From, m.FromDevice, s); err != nil {
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
	h.NewSession(s.BaseKey(), s.SendingChain())
	text := sessionrepair.PeerResetNotice(m.From, m.FromDevice, *ctl, answer.Sent, h.Lost)
	rep.Warnings = append(rep.Warnings, text)
	return c.notify(ctx, tx, m.From, []contacts.Event{{Kind: notifyRestart, User: m.From, Device: m.FromDevice, Text: text}})
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
		reason, due := h.Due(now)
		if !due {
			continue
		}
		if h.Exhausted() {
			// No more restarts until the session works again: told once, and
			// the envelopes that do not decrypt are acknowledged from now on.
			var text string
			if !h.GaveUp {
				text = h.GiveUpNotice()
				rep.Warnings = append(rep.Warnings, text)
			}
			_ = c.v.Update(ctx, func(tx *vault.Tx) error {
				h.GiveUp()
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
				h.ClearFailures()
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
func (c *Client) restartSession(ctx context.Context, name string, h *sessionrepair.Health, reason sessionrepair.Reason, rep *SyncReport) error {
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
	ctl := sessionrepair.Control{Kind: sessionrepair.KindReset, Reason: reason, Failed: len(h.Failed), Resend: reason == sessionrepair.Undecryptable, Sent: len(plains), Lost: h.Lost}
	var envs []api.OutgoingEnvelope
	for _, p := range append([][]byte{sessionrepair.Encode(ctl)}, plains...) {
		env, err := ns.Encrypt(p)
		if err != nil {
			return err
		}
		envs = append(envs, api.OutgoingEnvelope{To: h.User, Device: h.Device, Data: env})
	}
	now := c.opts.Now().UTC()
	text := h.RestartNotice(reason, len(plains))
	sess := c.sessionName(h.User, h.Device)
	err = c.v.Update(ctx, func(tx *vault.Tx) error {
		if old, err := tx.Get(ctx, sess); err == nil {
			if err := tx.Put(ctx, sess+"/previous", old); err != nil {
				return err
			}
		}
		if err := c.saveSession(ctx, tx, h.User, h.Device, ns); err != nil {
			return err
		}
		if err := queue(ctx, tx, batch{Envs: envs}); err != nil {
			return err
		}
		h.Restarted(ns.BaseKey(), ns.SendingChain(), now)
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
