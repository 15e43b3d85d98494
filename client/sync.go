package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"backchannel/contacts"
	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/ratchet"
	"backchannel/server/api"
	"backchannel/server/apiclient"
	"backchannel/session"
	"backchannel/sessionrepair"
	"backchannel/vault"
)

// SyncReport says what one Sync did.
type SyncReport struct {
	Received int      `json:"received"` // new messages stored
	Held     int      `json:"held"`     // envelopes waiting for an earlier one
	Dropped  int      `json:"dropped"`  // envelopes refused (see Warnings)
	Warnings []string `json:"warnings,omitempty"`
	// New lists what was stored, in the order it was stored: one entry per
	// message counted in Received (Client.Lookup returns the messages).
	New []Stored `json:"new,omitempty"`
}

// Stored names one message stored in a room's history.
type Stored struct {
	Room   string `json:"room"`
	ID     string `json:"id"`
	Sender string `json:"sender"`
}

// stored counts m as received and lists it in New.
func (rep *SyncReport) stored(m Message) {
	rep.Received++
	rep.New = append(rep.New, Stored{Room: m.Room, ID: m.ID, Sender: m.Sender})
}

const fetchPage = 200

// Sync fetches every pending envelope, decrypts and applies it, and
// acknowledges it once the result is durable in the vault.
func (c *Client) Sync(ctx context.Context) (*SyncReport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rep := &SyncReport{}
	if err := c.flushOutbox(ctx); err != nil {
		rep.Warnings = append(rep.Warnings, "queued messages are still not delivered: "+err.Error())
	}
	for pass := 0; pass < 8; pass++ {
		progress, held, err := c.syncPass(ctx, rep)
		if err != nil {
			return rep, err
		}
		rep.Held = held
		if !progress || held == 0 {
			break
		}
	}
	c.repairSessions(ctx, rep) // blocked sessions started again (wedge.go)
	// Heartbeats, and what every room's heads and silences say.
	c.beat(ctx, rep)
	if err := c.replenish(ctx, false); err != nil {
		rep.Warnings = append(rep.Warnings, "prekey replenishment failed: "+err.Error())
	}
	if a, err := c.monitorSelf(ctx, false); err != nil && (!transient(err) || c.selfCheckOverdue(ctx) != "") {
		rep.Warnings = append(rep.Warnings, "key log self-check: "+err.Error())
	} else if a != nil {
		for _, al := range a.Alerts {
			rep.Warnings = append(rep.Warnings, "ALARM: "+al)
		}
	}
	return rep, nil
}

// syncPass walks the mailbox once. Held envelopes stay unacknowledged on the
// server and are retried in the next pass.
func (c *Client) syncPass(ctx context.Context, rep *SyncReport) (progress bool, held int, err error) {
	var after int64
	for {
		var resp api.FetchResponse
		err := retry(ctx, func() (err error) { resp, err = c.api.Fetch(ctx, after, fetchPage); return err })
		if err != nil {
			return progress, held, fmt.Errorf("fetch messages from %s: %w", c.prof.Server, err)
		}
		var acks []int64
		for _, m := range resp.Messages {
			after = max(after, m.ID)
			ack, err := c.process(ctx, m, rep)
			if err != nil {
				return progress, held, err
			}
			if ack {
				acks = append(acks, m.ID)
				progress = true
			} else {
				held++
			}
		}
		if len(acks) > 0 {
			if err := retry(ctx, func() error { _, err := c.api.Ack(ctx, acks); return err }); err != nil {
				return progress, held, fmt.Errorf("acknowledge: %w", err)
			}
		}
		if !resp.More || len(resp.Messages) == 0 {
			return progress, held, nil
		}
	}
}

// Handle processes envelopes pushed by the server (see Follow), like Sync.
func (c *Client) Handle(ctx context.Context, msgs []api.Message) (*SyncReport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rep := &SyncReport{}
	var acks []int64
	for _, m := range msgs {
		ack, err := c.process(ctx, m, rep)
		if err != nil {
			return rep, err
		}
		if ack {
			acks = append(acks, m.ID)
		} else {
			rep.Held++
		}
	}
	if len(acks) > 0 {
		if _, err := c.api.Ack(ctx, acks); err != nil {
			return rep, fmt.Errorf("acknowledge: %w", err)
		}
	}
	c.repairSessions(ctx, rep) // blocked sessions started again (wedge.go)
	return rep, nil
}

// Follow keeps a push connection open and handles every envelope as it
// arrives until ctx ends; onReport sees each batch's report.
func (c *Client) Follow(ctx context.Context, onReport func(*SyncReport)) error {
	return c.FollowWatched(ctx, onReport, nil)
}

// FollowWatched is Follow telling onStream whether the push connection is
// up (err is why it is not); onStream must not block.
func (c *Client) FollowWatched(ctx context.Context, onReport func(*SyncReport), onStream func(up bool, err error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var reportMu gosync.Mutex
	report := func(rep *SyncReport) {
		reportMu.Lock()
		defer reportMu.Unlock()
		if onReport != nil {
			onReport(rep)
		}
	}
	// While following, heartbeats still go out and silences are still
	// told (each warning once).
	go func() {
		t := time.NewTicker(followTick)
		defer t.Stop()
		told := map[string]bool{}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rep := &SyncReport{}
			c.mu.Lock()
			if !c.closed {
				c.beat(ctx, rep)
			}
			c.mu.Unlock()
			var fresh []string
			for _, w := range rep.Warnings {
				key, _, _ := strings.Cut(w, " (") // the minutes counted change
				if !told[key] {
					told[key] = true
					fresh = append(fresh, w)
				}
			}
			if len(fresh) > 0 {
				report(&SyncReport{Warnings: fresh})
			}
		}
	}()
	return c.api.SubscribeWatched(ctx, 0, func(ctx context.Context, d *apiclient.Delivery) error {
		msgs := d.Messages
		rep, err := c.Handle(ctx, msgs)
		if err != nil {
			return err
		}
		if rep.Held > 0 {
			// Held envelopes are re-sent on the next connection; a sync
			// retries them now that later ones may have arrived.
			if r2, err := c.Sync(ctx); err == nil {
				rep.Received += r2.Received
				rep.New = append(rep.New, r2.New...)
				rep.Warnings = append(rep.Warnings, r2.Warnings...)
			}
		}
		report(rep)
		return nil
	}, onStream)
}

// followTick is how often Follow checks for due heartbeats and silences.
const followTick = time.Minute

func (c *Client) warn(rep *SyncReport, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	rep.Warnings = append(rep.Warnings, msg)
	rep.Dropped++
	c.opts.Logger.Warn("envelope refused", "reason", msg)
}

// process decrypts and applies one envelope. It returns whether to ack it.
// An error return means the local store failed; nothing was acknowledged.
func (c *Client) process(ctx context.Context, m api.Message, rep *SyncReport) (bool, error) {
	from := fmt.Sprintf("%s/%d", m.From, m.FromDevice)
	isPrekey, base := session.IsPrekeyEnvelope(m.Data)
	s, err := c.loadSession(ctx, m.From, m.FromDevice)
	if err != nil && !errors.Is(err, vault.ErrNotFound) {
		// One unreadable session must not stop the others: its envelopes
		// stay on the server and the user is told.
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("the session with %s cannot be loaded (%v); its messages wait on the server", from, err))
		return false, nil
	}
	var pt []byte
	var newSession bool
	switch {
	case s != nil && (!isPrekey || bytes.Equal(base, s.BaseKey())):
		pt, err = s.Decrypt(m.Data)
		if err != nil && !errors.Is(err, ratchet.ErrEarlierNeeded) {
			// A session the peer replaced may still have messages in flight.
			if prev, perr := c.v.Get(ctx, c.sessionName(m.From, m.FromDevice)+"/previous"); perr == nil {
				if ps, perr := session.Unmarshal(prev); perr == nil {
					if ppt, perr := ps.Decrypt(m.Data); perr == nil {
						return true, c.applyAndSave(ctx, m, ps, "/previous", false, ppt, rep)
					}
				}
			}
		}
	case isPrekey:
		var ns *session.Session
		ns, pt, err = session.Accept(c.src, c.dev, c.pk, m.Data)
		s, newSession = ns, true
	default:
		return c.undecryptable(ctx, m, errNoSession, rep) // this device lost the session: started again (wedge.go)
	}
	switch {
	case err == nil:
	case errors.Is(err, ratchet.ErrEarlierNeeded):
		return false, nil
	case errors.Is(err, ratchet.ErrDuplicate):
		return true, nil // already applied before a crash or a lost ack
	case errors.Is(err, handshake.ErrUnknownPrekey), errors.Is(err, handshake.ErrReplay):
		c.warn(rep, "refused a replayed or stale session start from %s: %v", from, err)
		return true, nil
	default:
		return c.undecryptable(ctx, m, err, rep) // kept and shown; a blocked session is started again
	}
	if ack, ok := c.checkSender(ctx, m, s.Peer, rep); !ok {
		if newSession {
			c.dropCaches(ctx) // Accept consumed prekeys in memory only
		}
		return ack, nil
	}
	return true, c.applyAndSave(ctx, m, s, "", newSession, pt, rep)
}

// checkSender accepts a decrypted envelope only from a device that the
// sender's verified device list names with exactly these keys. An envelope
// from a changed key waits on the server (not acknowledged) until the user
// accepts or verifies the change; one from an unlisted device is refused.
func (c *Client) checkSender(ctx context.Context, m api.Message, peer identity.Certificate, rep *SyncReport) (ack, ok bool) {
	from := fmt.Sprintf("%s/%d", m.From, m.FromDevice)
	if peer.DeviceID != m.FromDevice {
		c.warn(rep, "refused an envelope from %s whose certificate names device %d", from, peer.DeviceID)
		return true, false
	}
	listed, err := c.listedDevice(ctx, m.From, peer)
	if err != nil {
		if transient(err) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("a message from %s waits: its device list could not be fetched (%v)", from, err))
			rep.Held++
			return false, false
		}
		c.warn(rep, "refused a message from %s: %v", from, err)
		return true, false
	}
	if listed {
		return true, true
	}
	if ct, err := loadContact(ctx, c.v, m.From); err == nil && ct.KeyPending() && bytes.Equal(peer.UserKey, ct.NewKey) {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("a message from %s waits on the server: %s's account key changed; compare the new safety number ('backchannel keys verify %s') or accept it ('backchannel keys accept %s')", m.From, m.From, m.From, m.From))
		return false, false
	}
	c.warn(rep, "refused a message from %s: that device is not in %s's signed device list (a device the server added, or one that was removed)", from, m.From)
	return true, false
}

// applyAndSave applies a decrypted payload and persists the session (and
// the prekeys a new session consumed) in the same transaction.
func (c *Client) applyAndSave(ctx context.Context, m api.Message, s *session.Session, suffix string, newSession bool, pt []byte, rep *SyncReport) error {
	var follow func() error
	err := c.v.Update(ctx, func(tx *vault.Tx) error {
		name := c.sessionName(m.From, m.FromDevice)
		if newSession {
			if old, err := tx.Get(ctx, name); err == nil {
				if err := tx.Put(ctx, name+"/previous", old); err != nil {
					return err
				}
				// The peer device abandoned a working session: a reinstall,
				// a restore from backup, or a copied profile. Say so. A
				// session we started that the peer never answered was not
				// abandoned: both sides started one at once (first contact
				// before either synced), and that is no news, unless the
				// new session says it repairs a blocked one.
				if prev, perr := session.Unmarshal(old); perr != nil || prev.Answered() || sessionrepair.IsReset(pt) {
					ev := contacts.Event{Kind: "new-session", User: m.From, Device: m.FromDevice,
						Text: fmt.Sprintf("%s's device %d started a new session (after a restore from a backup, a copied profile or a reinstall); if %s did none of these, ask them", m.From, m.FromDevice, m.From)}
					if err := c.notify(ctx, tx, m.From, newSessionEvents(pt, ev)); err != nil {
						return err
					}
				}
			}
			if err := tx.Put(ctx, "prekeys", c.pk.Marshal()); err != nil {
				return err
			}
		}
		var save error
		if suffix == "" {
			save = c.saveSession(ctx, tx, m.From, m.FromDevice, s)
		} else {
			save = tx.Put(ctx, name+suffix, s.Marshal()) // a replaced session: read rarely, never kept
		}
		if save != nil {
			return save
		}
		if done, err := c.sessionEvent(ctx, tx, m, s, suffix, pt, rep); done || err != nil {
			return err // a session control message (wedge.go), not a room payload
		}
		p, err := openPayload(pt) // strips the padding (padding.go)
		if err != nil {
			c.warn(rep, "refused a message from %s/%d: %v", m.From, m.FromDevice, err)
			return nil
		}
		var applyErr error
		follow, applyErr = c.apply(ctx, tx, m.From, p, m.ReceivedAt, rep)
		return applyErr
	})
	if err != nil {
		// Nothing was stored: forget what the attempt changed in memory
		// (transcripts, consumed prekeys) so the redelivery starts clean.
		c.dropCaches(ctx)
		return err
	}
	if follow != nil {
		if err := follow(); err != nil {
			rep.Warnings = append(rep.Warnings, err.Error())
		}
	}
	c.checkGossip(ctx, rep)
	return nil
}

// gossipItem is a key log checkpoint a received payload carried.
type gossipItem struct {
	From  string `json:"from"`
	Room  string `json:"room"`
	Note  []byte `json:"note"`
	Tries int    `json:"tries,omitempty"`
}

// checkGossip checks the checkpoints received since the last call against
// this device's view of the key log; a contradiction is shown in the room.
func (c *Client) checkGossip(ctx context.Context, rep *SyncReport) {
	items := append(c.pendingGossip(ctx), c.gossip...)
	c.gossip = nil
	var still []gossipItem
	for _, g := range items {
		err := c.gossipCheck(ctx, g.From, g.Note)
		if err == nil {
			continue
		}
		if errors.Is(err, errGossipUnchecked) {
			// The server did not give the proof: never counted as checked.
			g.Tries++
			if g.Tries < gossipTries {
				still = append(still, g)
				continue
			}
			err = fmt.Errorf("the key log checkpoint in %s's message could not be checked %d times (the server does not give the consistency proof): it may be hiding a split view", g.From, g.Tries)
		}
		rep.Warnings = append(rep.Warnings, err.Error())
		now := c.opts.Now().UTC()
		_ = c.v.Update(ctx, func(tx *vault.Tx) error {
			if _, rerr := roomFrom(ctx, tx, g.Room); rerr != nil {
				return nil
			}
			return appendMessage(ctx, tx, Message{ID: newID(), Room: g.Room, Sender: g.From, SentAt: now, ReceivedAt: now, Kind: KindNotice, Text: err.Error()})
		})
	}
	raw, _ := json.Marshal(still)
	if err := c.v.Put(ctx, gossipPendingRecord, raw); err != nil {
		c.opts.Logger.Warn("could not keep unchecked checkpoints", "err", err)
	}
	if len(still) > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d key log checkpoints from your contacts could not be checked yet (the server gave no proof); they are retried", len(still)))
	}
}

const (
	gossipPendingRecord = "keylog/gossip-pending"
	gossipTries         = 3
)

// pendingGossip returns the checkpoints whose check the server has not
// allowed yet.
func (c *Client) pendingGossip(ctx context.Context) []gossipItem {
	raw, err := c.v.Get(ctx, gossipPendingRecord)
	if err != nil {
		return nil
	}
	var out []gossipItem
	_ = json.Unmarshal(raw, &out)
	return out
}

// dropCaches discards in-memory state that may be ahead of the vault.
func (c *Client) dropCaches(ctx context.Context) {
	c.logs = map[string]*roomLog{}
	if raw, err := c.v.Get(ctx, "prekeys"); err == nil {
		if pk, err := handshake.UnmarshalPrekeys(raw, c.dev); err == nil {
			c.pk = pk
		}
	}
}

// apply changes local state for one payload from sender. It may return a
// follow-up to run after the transaction (the creator answering a leave).
func (c *Client) apply(ctx context.Context, tx *vault.Tx, sender string, p *payload, receivedAt time.Time, rep *SyncReport) (func() error, error) {
	ids, err := roomIDs(ctx, tx)
	if err != nil {
		return nil, err
	}
	if len(p.Log) > 0 {
		// Checked after the transaction: it may ask the server for a proof.
		c.gossip = append(c.gossip, gossipItem{From: sender, Room: p.Room, Note: p.Log})
	}
	if p.Kind == KindRoom {
		follows, err := c.applyState(ctx, tx, ids, sender, p, receivedAt, rep)
		return chain(follows), err
	}
	r, err := roomFrom(ctx, tx, p.Room)
	if errors.Is(err, ErrUnknownRoom) {
		// The room's state comes from its creator over another session and
		// may arrive later: keep the payload until then (bounded, expired).
		if p.Kind == KindBeat || p.Kind == KindAsk || isPool(p.Kind) {
			return nil, nil
		}
		return nil, c.keepOrphan(ctx, tx, sender, p, receivedAt, rep)
	}
	if err != nil {
		return nil, err
	}
	msg := Message{ID: p.ID, Room: p.Room, Sender: sender, SentAt: p.SentAt, ReceivedAt: receivedAt}
	if _, err := tx.Get(ctx, seenName(msg)); err == nil {
		return nil, nil
	}
	if isPool(p.Kind) {
		return c.applyPool(ctx, tx, r, sender, p, receivedAt, rep) // no transcript entry (pool.go)
	}
	if follow, done, err := c.judge(ctx, tx, r, sender, p, receivedAt, rep); done || err != nil {
		return follow, err // held for a newer state, not to be shown, or no entry (heartbeat)
	}
	if follow, done, err := c.checkMeaning(ctx, tx, r, sender, p, msg, rep); done || err != nil {
		return follow, err // a copy with other words than the sender committed to, or a report of one
	}
	if p.Kind == KindAlert {
		// Not a transcript entry: a warning the sender's devices raised
		// about the sender's own account.
		msg.Kind, msg.Text = KindNotice, fmt.Sprintf("%s's devices warn about %s's account: %s", sender, sender, p.Text)
		rep.Warnings = append(rep.Warnings, msg.Text)
		if err := tx.Put(ctx, seenName(msg), []byte{1}); err != nil {
			return nil, err
		}
		return nil, appendMessage(ctx, tx, msg)
	}
	switch p.Kind {
	case KindText:
		if err := c.checkCopy(p.Record.Content, p.CopySalt, p.Text); err != nil {
			c.warn(rep, "refused a message in %q from %s: %v", r.State.Name, sender, err)
			return nil, nil
		}
		if err := c.accept(ctx, tx, r, sender, p.Record); err != nil {
			c.warn(rep, "refused a message in %q from %s: its transcript entry does not verify: %v", r.State.Name, sender, err)
			return nil, nil
		}
		msg.Kind, msg.Text, msg.Entry, msg.CopySalt = KindText, p.Text, p.Record.hash(), p.CopySalt
		if sender == c.prof.User {
			// Sent by this account's other device: keep what trace needs.
			msg.Recipients, msg.Marking = manifestUsers(p.Record.Content, sender), r.State.Marking
		}
	case KindDoc:
		if err := c.checkCopy(p.Record.Content, p.CopySalt, docCopyText(p.Doc)); err != nil {
			c.warn(rep, "refused a document in %q from %s: %v", r.State.Name, sender, err)
			return nil, nil
		}
		if err := c.accept(ctx, tx, r, sender, p.Record); err != nil {
			c.warn(rep, "refused a document in %q from %s: its transcript entry does not verify: %v", r.State.Name, sender, err)
			return nil, nil
		}
		msg.Kind, msg.Doc, msg.Text = KindDoc, p.Doc, fmt.Sprintf("shared %s (%d bytes)", p.Doc.Name, p.Doc.Size)
		msg.Entry, msg.CopySalt = p.Record.hash(), p.CopySalt
	case KindVoice:
		if err := c.checkCopy(p.Record.Content, p.CopySalt, voiceCopyText(p.Doc, p.DurationMS)); err != nil {
			c.warn(rep, "refused a voice note in %q from %s: %v", r.State.Name, sender, err)
			return nil, nil
		}
		if err := c.accept(ctx, tx, r, sender, p.Record); err != nil {
			c.warn(rep, "refused a voice note in %q from %s: its transcript entry does not verify: %v", r.State.Name, sender, err)
			return nil, nil
		}
		msg.Kind, msg.Doc, msg.DurationMS, msg.Text = KindVoice, p.Doc, p.DurationMS, voiceText(p.DurationMS)
		msg.Entry, msg.CopySalt = p.Record.hash(), p.CopySalt
	case KindLeave:
		if !bytes.Equal(p.Record.Content, leaveContent(r.State.ID, sender)) {
			c.warn(rep, "ignored a leave in %q from %s whose transcript entry commits to other content", r.State.Name, sender)
			return nil, nil
		}
		if err := c.accept(ctx, tx, r, sender, p.Record); err != nil {
			c.warn(rep, "ignored a leave in %q from %s: its transcript entry does not verify: %v", r.State.Name, sender, err)
			return nil, nil
		}
		msg.Kind, msg.Text, msg.Entry = "system", sender+" left", p.Record.hash()
		if r.State.Creator == c.prof.User && c.isPrimary() {
			room := *r
			room.State.Members = slices.DeleteFunc(slices.Clone(r.State.Members), func(m string) bool { return m == sender })
			room.State.Version++
			before := r.State.Members
			if err := appendMessage(ctx, tx, msg); err != nil {
				return nil, err
			}
			rep.stored(msg)
			return func() error {
				return c.publishState(ctx, &room, before, fmt.Sprintf("%s removed %s, who left", c.prof.User, sender))
			}, nil
		}
	}
	rep.stored(msg)
	return nil, appendMessage(ctx, tx, msg)
}
