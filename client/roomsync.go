package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"backchannel/room"
	"backchannel/transcript"
	"backchannel/vault"
)

// Room integrity wiring (docs/protocol.md section 13, "Room integrity"):
// the decisions are package room's; this file feeds them what the vault
// holds and acts on the answers.

// maxPast bounds the states a room record remembers.
const maxPast = 64

// askEvery is how many minutes a creator waits before answering the same
// member's request for the room state again.
const askEvery = 5

// maxPreJoin bounds the pre-join entries a room record remembers.
const maxPreJoin = 1024

// view returns what room.Judge needs to know of r.
func (c *Client) view(r *Room) room.View {
	states := r.Past
	if len(states) == 0 || states[len(states)-1].Version != r.State.Version {
		states = append(slices.Clone(states), room.Version{Version: r.State.Version, Members: r.State.Members, Hash: room.StateHash(r.State.signedBytes())})
	}
	return room.View{Me: c.prof.User, States: states, Removed: r.Removed}
}

// notePast records r's current state in r.Past.
func notePast(r *Room) {
	v := room.Version{Version: r.State.Version, Members: slices.Clone(r.State.Members), Hash: room.StateHash(r.State.signedBytes())}
	if n := len(r.Past); n > 0 && r.Past[n-1].Version >= v.Version {
		return
	}
	r.Past = append(r.Past, v)
	if len(r.Past) > maxPast {
		r.Past = r.Past[len(r.Past)-maxPast:]
	}
	if r.Behind <= v.Version {
		r.Behind = 0
	}
}

// predate tells a room's transcript what predates this member's join.
func predate(rl *roomLog, base [][]byte, pre []room.Head) {
	if len(base) == 0 && len(pre) == 0 {
		return
	}
	var known []transcript.Hash
	for _, b := range base {
		if len(b) == transcript.HashSize {
			known = append(known, transcript.Hash(b))
		}
	}
	var floors []transcript.Floor
	for _, h := range pre {
		known = append(known, transcript.Hash(h.Hash))
		floors = append(floors, transcript.Floor{Member: h.Member, Key: h.Key, Seq: h.Seq})
	}
	rl.log.Predate(known, floors)
}

// headsOf lists every accepted entry of a room's transcript as a head.
func headsOf(rl *roomLog) []room.Head {
	recs := rl.log.Records()
	out := make([]room.Head, 0, len(recs))
	for _, rec := range recs {
		e := rec.Entry
		out = append(out, room.Head{Member: e.Sender, Key: slices.Clone([]byte(e.SenderKey)), Seq: e.Seq, Hash: slices.Clone(rec.Hash[:]), Version: rl.versions[rec.Hash]})
	}
	return out
}

// have returns, per signer, the highest sequence number this member holds
// or knows to predate its join.
func have(rl *roomLog, r *Room) map[string]uint64 {
	out := map[string]uint64{}
	for _, rec := range rl.log.Records() {
		k := room.SignerKey(rec.Entry.Sender, rec.Entry.SenderKey)
		out[k] = max(out[k], rec.Entry.Seq)
	}
	for _, h := range r.PreJoin {
		out[h.Signer()] = max(out[h.Signer()], h.Seq)
	}
	return out
}

// stamp sets the room version, state hash and heads p carries. Call it
// after the payload's record is composed, so the heads name its parents.
func (c *Client) stamp(ctx context.Context, rd reader, r *Room, p *payload) {
	p.RoomVersion, p.StateHash = r.State.Version, room.StateHash(r.State.signedBytes())
	rl, err := c.transcriptOf(ctx, rd, r)
	if err != nil {
		return
	}
	var parents [][]byte
	if p.Record != nil {
		if e, err := transcript.DecodeEntry(p.Record.Entry); err == nil {
			for _, h := range e.Parents {
				parents = append(parents, slices.Clone(h[:]))
			}
		}
	}
	p.Heads = room.Latest(headsOf(rl), parents)
	if tamperStamp != nil {
		tamperStamp(c.prof.User, p)
	}
}

// tamperStamp, set only by tests, plays a modified client that lies about
// its room version or heads.
var tamperStamp func(user string, p *payload)

// checkSendable refuses a send to a room this member was removed from or
// whose newer state it has not received.
func (c *Client) checkSendable(r *Room) error {
	if err := room.CanSend(c.view(r), r.Behind); err != nil {
		if errors.Is(err, room.ErrRemoved) {
			return fmt.Errorf("%w %q", ErrNotMember, r.State.Name)
		}
		return fmt.Errorf("not sent to %q: %w", r.State.Name, err)
	}
	return nil
}

// touchSent records, inside tx, that this device sent to room now.
func (c *Client) touchSent(ctx context.Context, tx *vault.Tx, id string) error {
	r, err := roomFrom(ctx, tx, id)
	if err != nil {
		return nil
	}
	r.LastSent = c.opts.Now().UTC()
	ids, err := roomIDs(ctx, tx)
	if err != nil {
		return err
	}
	return putRoom(ctx, tx, r, ids)
}

// judge applies the room-integrity rules to a payload for a known room r
// before it is shown: it notes that the sender was heard, learns the
// entries that predate this member's join, holds a message sent under a
// newer state (asking the creator for it), refuses what must not be shown,
// flags messages that ignored a removal, and records what the sender's
// heads reveal as missing. done means the payload needs nothing more;
// follow runs after the transaction.
func (c *Client) judge(ctx context.Context, tx *vault.Tx, r *Room, sender string, p *payload, receivedAt time.Time, rep *SyncReport) (follow func() error, done bool, err error) {
	now := c.opts.Now().UTC()
	if r.Heard == nil {
		r.Heard = map[string]time.Time{}
	}
	r.Heard[sender] = now
	ids, err := roomIDs(ctx, tx)
	if err != nil {
		return nil, true, err
	}
	save := func() error { return putRoom(ctx, tx, r, ids) }
	if p.Kind == KindAsk {
		return c.answerAsk(r, sender, p), true, save()
	}
	version := p.RoomVersion
	if version == 0 {
		version = r.State.Version // a payload kind that is not stamped yet
	}
	rl, err := c.transcriptOf(ctx, tx, r)
	if err != nil {
		return nil, true, err
	}
	if r.Joined > 1 {
		if pre := room.PreJoin(p.Heads, r.Joined); len(pre) > 0 {
			r.PreJoin = mergeHeads(r.PreJoin, pre)
			predate(rl, nil, pre)
		}
	}
	var entryHash []byte
	var recipients []string
	var self *room.Head
	var parentVersions []int
	if p.Record != nil {
		p.Record.Version = p.RoomVersion
		if e, err := transcript.DecodeEntry(p.Record.Entry); err == nil {
			if h, err := e.Hash(); err == nil {
				entryHash = h[:]
				self = &room.Head{Member: e.Sender, Key: e.SenderKey, Seq: e.Seq}
			}
			for _, ph := range e.Parents {
				if pv, ok := rl.versions[ph]; ok {
					parentVersions = append(parentVersions, pv)
				}
			}
		}
		if p.Kind == KindText || p.Kind == KindDoc || p.Kind == KindVoice {
			recipients = manifestUsers(p.Record.Content, "")
		}
	}
	before := r.Removed && entryHash != nil && slices.ContainsFunc(r.RemovalWants, func(b []byte) bool { return bytes.Equal(b, entryHash) })
	v := room.Judge(c.view(r), room.Message{Sender: sender, Version: version, StateHash: p.StateHash, Recipients: recipients, BeforeRemove: before})
	switch v.Action {
	case room.Hold:
		if p.Kind != KindBeat {
			if err := c.hold(ctx, tx, r, sender, p, receivedAt, v.Need, rep); err != nil {
				return nil, true, err
			}
		}
		// Only the creator's word pauses sending: another member cannot
		// stop the room by naming a version that does not exist. Either
		// way the creator is asked for its state.
		if sender == r.State.Creator && v.Need > r.Behind {
			r.Behind = v.Need
		}
		return c.askCreator(r, v.Need), true, save()
	case room.Ignore:
		if p.Kind != KindBeat {
			c.warn(rep, "did not show a message in %q from %s: %s", r.State.Name, sender, v.Reason)
		}
		return nil, true, save()
	}
	if before {
		// accepted as part of what the removal follows: so are its parents
		if e, err := transcript.DecodeEntry(p.Record.Entry); err == nil {
			for _, h := range e.Parents {
				r.RemovalWants = append(r.RemovalWants, slices.Clone(h[:]))
			}
		}
	}
	hv := have(rl, r)
	if self != nil {
		k := room.SignerKey(self.Member, self.Key)
		hv[k] = max(hv[k], self.Seq)
	}
	r.Expect = room.Missing(r.Expect, hv, p.Heads, sender, r.Joined, now)
	if sender != c.prof.User {
		r.Acks = room.Vouch(r.Acks, sender, vouched(c.prof.User, p))
	}
	if f := room.IgnoredNewer(sender, p.RoomVersion, parentVersions); f != "" {
		v.Flags = append(v.Flags, f)
	}
	for _, f := range v.Flags {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %s", r.State.Name, f))
		if err := appendMessage(ctx, tx, Message{ID: newID(), Room: r.State.ID, Sender: sender, SentAt: p.SentAt, ReceivedAt: receivedAt, Kind: KindNotice, Text: f}); err != nil {
			return nil, true, err
		}
	}
	return nil, p.Kind == KindBeat, save()
}

// mergeHeads adds the heads of b missing from a, bounded.
func mergeHeads(a, b []room.Head) []room.Head {
	for _, h := range b {
		if !slices.ContainsFunc(a, func(x room.Head) bool { return bytes.Equal(x.Hash, h.Hash) }) {
			a = append(a, h)
		}
	}
	if len(a) > maxPreJoin {
		a = a[len(a)-maxPreJoin:]
	}
	return a
}

// heldRecord names the messages a room holds for a newer state.
func heldRecord(id string) string { return "held/" + id }

func loadQueue(ctx context.Context, rd reader, name string) []room.Waiting[*payload] {
	raw, err := rd.Get(ctx, name)
	if err != nil {
		return nil
	}
	var q []room.Waiting[*payload]
	_ = json.Unmarshal(raw, &q)
	return q
}

func saveQueue(ctx context.Context, tx *vault.Tx, name string, q []room.Waiting[*payload]) error {
	raw, err := json.Marshal(q)
	if err != nil {
		return err
	}
	return tx.Put(ctx, name, raw)
}

// hold keeps a message sent under a newer room state than r's until that
// state arrives: bounded per room and per sender, expired after a week.
func (c *Client) hold(ctx context.Context, tx *vault.Tx, r *Room, sender string, p *payload, receivedAt time.Time, need int, rep *SyncReport) error {
	now := c.opts.Now().UTC()
	q, kept, expired := room.Admit(loadQueue(ctx, tx, heldRecord(r.State.ID)), room.Waiting[*payload]{Sender: sender, ReceivedAt: now, Need: need, Payload: p}, room.MaxHeld, room.MaxHeldPerSender, room.HeldTTL, now)
	for _, x := range expired {
		c.warn(rep, "dropped a message in %q from %s that waited a week for room version %d, which never arrived", r.State.Name, x.Sender, x.Need)
	}
	if !kept {
		c.warn(rep, "dropped a message in %q from %s: too many messages already wait for a newer room state", r.State.Name, sender)
	} else {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("a message in %q from %s waits for room version %d, which has not reached this device yet (asked %s for it)", r.State.Name, sender, need, r.State.Creator))
	}
	return saveQueue(ctx, tx, heldRecord(r.State.ID), q)
}

// drainHeld applies the held messages that the room's new state explains.
func (c *Client) drainHeld(ctx context.Context, tx *vault.Tx, id string, version int, rep *SyncReport) ([]func() error, error) {
	q := loadQueue(ctx, tx, heldRecord(id))
	if len(q) == 0 {
		return nil, nil
	}
	ready, rest := room.Ready(q, version)
	if err := saveQueue(ctx, tx, heldRecord(id), rest); err != nil {
		return nil, err
	}
	msgs := make([]orphan, len(ready))
	for i, w := range ready {
		msgs[i] = orphan{Sender: w.Sender, Payload: w.Payload, ReceivedAt: w.ReceivedAt}
	}
	return c.applyAll(ctx, tx, msgs, rep)
}

// orphanRecord holds payloads for rooms this device does not know (yet).
const orphanRecord = "orphans"

// keepOrphan keeps a payload for an unknown room until its state arrives:
// bounded per sender and in total, expired after three days, so a stranger
// cannot grow the profile with payloads for rooms that do not exist.
func (c *Client) keepOrphan(ctx context.Context, tx *vault.Tx, sender string, p *payload, receivedAt time.Time, rep *SyncReport) error {
	now := c.opts.Now().UTC()
	q, kept, _ := room.Admit(loadQueue(ctx, tx, orphanRecord), room.Waiting[*payload]{Sender: sender, ReceivedAt: receivedAt, Payload: p}, room.MaxOrphans, room.MaxOrphansPerSender, room.OrphanTTL, now)
	if !kept {
		c.warn(rep, "dropped a message from %s for a room you do not know: %s has sent too many of them", sender, sender)
	}
	return saveQueue(ctx, tx, orphanRecord, q)
}

// takeOrphans removes and returns the kept payloads for room id.
func takeOrphans(ctx context.Context, tx *vault.Tx, id string, now time.Time) ([]room.Waiting[*payload], error) {
	q, _ := room.Expire(loadQueue(ctx, tx, orphanRecord), room.OrphanTTL, now)
	var mine, rest []room.Waiting[*payload]
	for _, w := range q {
		if w.Payload != nil && w.Payload.Room == id {
			mine = append(mine, w)
		} else {
			rest = append(rest, w)
		}
	}
	if len(mine) == 0 {
		return nil, nil
	}
	return mine, saveQueue(ctx, tx, orphanRecord, rest)
}

// askCreator returns a follow-up that asks the room's creator for the
// current state (once per version wanted, until the next heartbeat tick).
func (c *Client) askCreator(r *Room, want int) func() error {
	if r.State.Creator == c.prof.User || want <= r.State.Version || r.Asked[c.prof.User] >= want {
		return nil
	}
	if r.Asked == nil {
		r.Asked = map[string]int{}
	}
	r.Asked[c.prof.User] = want
	id, creator, version := r.State.ID, r.State.Creator, r.State.Version
	return func() error {
		p := &payload{V: payloadVersion, Kind: KindAsk, ID: newID(), Room: id, SentAt: c.opts.Now().UTC(), RoomVersion: version}
		err := c.fanOut(context.Background(), same(p), []string{creator}, false, func(context.Context, *vault.Tx) error { return nil })
		if err != nil && !errors.Is(err, ErrNotDelivered) {
			return fmt.Errorf("could not ask %s for the room's new membership: %w", creator, err)
		}
		return nil
	}
}

// answerAsk returns a follow-up by which the creator re-sends the room's
// current state to a member (or former member) who asked for it (members
// ask at most once per heartbeat interval).
func (c *Client) answerAsk(r *Room, sender string, p *payload) func() error {
	if r.State.Creator != c.prof.User || !c.isPrimary() || p.RoomVersion >= r.State.Version {
		return nil
	}
	ever := slices.ContainsFunc(c.view(r).States, func(v room.Version) bool { return slices.Contains(v.Members, sender) })
	// At most one answer per asker every few minutes: asking costs the
	// creator an envelope.
	minute := int(c.opts.Now().Unix() / 60)
	if !ever || (r.Asked[sender] != 0 && minute-r.Asked[sender] < askEvery) {
		return nil
	}
	if r.Asked == nil {
		r.Asked = map[string]int{}
	}
	r.Asked[sender] = minute
	id := r.State.ID
	return func() error { return c.resendState(context.Background(), id, sender) }
}

// resendState sends the room's current signed state, with its transcript
// entry, to one user.
func (c *Client) resendState(ctx context.Context, id, to string) error {
	r, err := roomFrom(ctx, c.v, id)
	if err != nil {
		return err
	}
	// A former member gets the state that removed them, never a later one
	// (who joined since is none of their business).
	version := r.State.Version
	if !r.State.has(to) {
		version = 0
		for _, v := range c.view(r).States {
			if slices.Contains(v.Members, to) {
				version = 0
			} else if version == 0 {
				version = v.Version
			}
		}
		if version == 0 {
			return nil
		}
	}
	entries, err := c.v.Log(ctx, "tx/"+id)
	if err != nil {
		return err
	}
	var rec *record
	var st *RoomState
	for i := len(entries) - 1; i >= 0 && rec == nil; i-- {
		var x record
		if json.Unmarshal(entries[i], &x) != nil || !bytes.HasPrefix(x.Content, []byte(RoomStateLabel+"\x00")) {
			continue
		}
		var s RoomState
		if json.Unmarshal(x.Content[len(RoomStateLabel)+1:], &s) == nil && s.ID == id && s.Version == version && bytes.Equal(s.signedBytes(), x.Content) {
			rec, st = &x, &s
		}
	}
	if rec == nil {
		return fmt.Errorf("the transcript entry of %q's state %d is missing", r.State.Name, version)
	}
	p := &payload{V: payloadVersion, Kind: KindRoom, ID: newID(), Room: id, SentAt: c.opts.Now().UTC(), State: st, Record: rec}
	if st.Mode == ModeOnRecord {
		p.Sig = c.user.Sign(rec.Content)
	}
	sent := *r
	sent.State = *st
	c.stamp(ctx, c.v, &sent, p)
	err = c.fanOut(ctx, same(p), []string{to}, false, func(context.Context, *vault.Tx) error { return nil })
	if err != nil && !errors.Is(err, ErrNotDelivered) {
		return fmt.Errorf("could not send %q's membership to %s: %w", r.State.Name, to, err)
	}
	return nil
}

// integrityWarnings words what this device knows is wrong with a room now:
// entries others have that it lacks, silent members, a newer state it has
// not received.
func (c *Client) integrityWarnings(ctx context.Context, rd reader, r *Room) []string {
	var out []string
	if r.Behind > r.State.Version {
		out = append(out, fmt.Sprintf("the room changed (version %d) but this device still has version %d: sending is paused until the new membership arrives", r.Behind, r.State.Version))
	}
	if rl, err := c.transcriptOf(ctx, rd, r); err == nil {
		out = append(out, room.MissingWarnings(r.Expect, have(rl, r), time.Local)...)
	}
	if !r.Removed {
		out = append(out, room.Silent(c.prof.User, r.State.Members, r.Heard, r.WatchFrom, c.opts.Now(), time.Local)...)
	}
	return out
}

// beat sends a heartbeat to every room this device has sent nothing to for
// room.BeatInterval, and collects every room's integrity warnings.
func (c *Client) beat(ctx context.Context, rep *SyncReport) {
	ids, err := roomIDs(ctx, c.v)
	if err != nil {
		return
	}
	now := c.opts.Now().UTC()
	for _, id := range ids {
		r, err := roomFrom(ctx, c.v, id)
		if err != nil || r.Removed || len(r.State.Members) < 2 {
			continue
		}
		for _, w := range c.integrityWarnings(ctx, c.v, r) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %s", r.State.Name, w))
		}
		if q := loadQueue(ctx, c.v, heldRecord(id)); len(q) > 0 {
			if kept, expired := room.Expire(q, room.HeldTTL, now); len(expired) > 0 {
				if err := c.v.Update(ctx, func(tx *vault.Tx) error { return saveQueue(ctx, tx, heldRecord(id), kept) }); err == nil {
					for _, x := range expired {
						rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: dropped a message from %s that waited a week for room version %d, which never arrived", r.State.Name, x.Sender, x.Need))
					}
				}
			}
		}
		if !room.BeatDue(r.LastSent, now) || c.prof.Disabled != "" {
			continue
		}
		if r.Behind > r.State.Version {
			r.Asked = nil // ask again: the answer may have been withheld too
			if f := c.askCreator(r, r.Behind); f != nil {
				_ = f()
			}
		}
		// Back off toward members from whom nothing has arrived since the
		// last heartbeat to them (room.BeatTo): an offline member's mailbox
		// must not fill with heartbeats.
		to, beats := c.beatRecipients(r, now)
		if len(to) == 0 {
			continue
		}
		p := &payload{V: payloadVersion, Kind: KindBeat, ID: newID(), Room: id, SentAt: now}
		c.stamp(ctx, c.v, r, p)
		err = c.fanOut(ctx, same(p), to, false, func(ctx context.Context, tx *vault.Tx) error { return c.touchBeats(ctx, tx, id, beats) })
		if err != nil && !errors.Is(err, ErrNotDelivered) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: heartbeat not sent: %v", r.State.Name, err))
		}
	}
}

// beatRecipients lists the other members of r a heartbeat due now goes to,
// with the backoff schedule to keep for every member (room.BeatTo).
func (c *Client) beatRecipients(r *Room, now time.Time) ([]string, map[string]room.Backoff) {
	var to []string
	beats := map[string]room.Backoff{}
	for _, m := range r.State.Members {
		if m == c.prof.User {
			continue
		}
		send, next := room.BeatTo(r.Beats[m], r.Heard[m], now)
		beats[m] = next
		if send {
			to = append(to, m)
		}
	}
	return to, beats
}

// touchBeats records, inside tx, that this device sent a heartbeat to
// room now, with the backoff schedule toward each member.
func (c *Client) touchBeats(ctx context.Context, tx *vault.Tx, id string, beats map[string]room.Backoff) error {
	r, err := roomFrom(ctx, tx, id)
	if err != nil {
		return nil
	}
	r.LastSent = c.opts.Now().UTC()
	r.Beats = beats
	ids, err := roomIDs(ctx, tx)
	if err != nil {
		return err
	}
	return putRoom(ctx, tx, r, ids)
}

// warnSkipped words a member that a send skipped.
func warnSkipped(user string, err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "client: ")
	return fmt.Sprintf("%s did not get this message: their devices cannot be reached (%s); the others did", user, msg)
}
