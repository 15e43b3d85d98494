package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"backchannel/canary"
	"backchannel/room"
	"backchannel/server/api"
	"backchannel/transcript"
	"backchannel/vault"
)

// Room is a room as this device knows it.
type Room struct {
	State RoomState `json:"state"`
	// Removed is set when a newer state no longer lists this user.
	Removed bool `json:"removed,omitempty"`
	// Warnings, on a room just created, say what the user must know (never
	// stored).
	Warnings []string `json:"warnings,omitempty"`
	// Verified says, per member, whether their safety number was compared
	// (filled in when rooms are listed or shown; never stored).
	Verified map[string]bool `json:"verified,omitempty"`

	// What this device knows to keep the room honest (roomsync.go):
	// Past lists the states applied, oldest first, the current one last;
	// Behind is the newest version another member's message named (sending
	// pauses while it exceeds the state's); Joined is the version this
	// member joined at, and PreJoin the entries that predate the join;
	// Expect the entries others have and this device does not; Heard when
	// each member was last heard from, WatchFrom since when silence counts,
	// LastSent when this device last sent to the room; Beats the heartbeat
	// backoff toward each other member (room.BeatTo); RemovalWants the
	// entries this member's removal cites that it still accepts; Asked the
	// version last asked of the creator (on the creator: the minute it last
	// answered each member).
	Past         []room.Version          `json:"past,omitempty"`
	Behind       int                     `json:"behind,omitempty"`
	Joined       int                     `json:"joined,omitempty"`
	PreJoin      []room.Head             `json:"prejoin,omitempty"`
	Base         [][]byte                `json:"base,omitempty"`
	Expect       map[string]room.Expect  `json:"expect,omitempty"`
	Heard        map[string]time.Time    `json:"heard,omitempty"`
	WatchFrom    time.Time               `json:"watch_from,omitempty"`
	LastSent     time.Time               `json:"last_sent,omitempty"`
	Beats        map[string]room.Backoff `json:"beats,omitempty"`
	RemovalWants [][]byte                `json:"removal_wants,omitempty"`
	Asked        map[string]int          `json:"asked,omitempty"`
	// Acks are, per other member, the newest entries (hashes, hex) that
	// member named in its own messages and heartbeats: what proves that
	// this user's messages reached it (delivery.go).
	Acks map[string][]string `json:"acks,omitempty"`

	// What this device shows of the room (unread.go; filled in by Rooms,
	// never stored): Label is the name to show, the name alone unless
	// another room has the same name ("talks (bob's)"); Unread counts the
	// entries from others this device has not shown yet; Archived says the
	// room is archived and nothing from others arrived since.
	Label    string `json:"label,omitempty"`
	Unread   int    `json:"unread"`
	Archived bool   `json:"archived,omitempty"`
}

// Message is one entry of a room's history as shown to the user.
type Message struct {
	ID         string    `json:"id"`
	Room       string    `json:"room"`
	Sender     string    `json:"sender"`
	SentAt     time.Time `json:"sent_at"`
	Text       string    `json:"text"`
	Kind       string    `json:"kind"` // text, system, doc, voice, notice
	Doc        *DocRef   `json:"doc,omitempty"`
	DurationMS int64     `json:"duration_ms,omitempty"` // a voice note's length in milliseconds
	ReceivedAt time.Time `json:"received_at"`
	// Recipients and Marking are kept for this user's own messages: what
	// `trace` needs to recompute every recipient's copy.
	Recipients []string `json:"recipients,omitempty"`
	Marking    string   `json:"marking,omitempty"`
	// Entry is the transcript entry's hash; CopySalt opens this user's line
	// of its copy manifest (both for exports).
	Entry    string `json:"entry,omitempty"`
	CopySalt []byte `json:"copy_salt,omitempty"`
	// Warnings, on a message just sent, say what the user must know about
	// its delivery (never stored).
	Warnings []string `json:"warnings,omitempty"`
	// Outbox names the outbox batch that carried this user's own message
	// (while it is there, the message is queued).
	Outbox string `json:"outbox,omitempty"`
	// Delivery, on this user's own messages, is how far they are known to
	// have got (filled in by History, never stored; delivery.go).
	Delivery *Delivery `json:"delivery,omitempty"`
}

// reader is what vault.Vault and vault.Tx have in common: reads inside a
// transaction must go through the transaction (the vault has one connection).
type reader interface {
	Get(ctx context.Context, name string) ([]byte, error)
	Log(ctx context.Context, log string) ([][]byte, error)
}

func roomIDs(ctx context.Context, r reader) ([]string, error) {
	raw, err := r.Get(ctx, "rooms")
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, fmt.Errorf("room index: %w", vault.ErrCorrupt)
	}
	return ids, nil
}

func roomFrom(ctx context.Context, rd reader, id string) (*Room, error) {
	raw, err := rd.Get(ctx, "room/"+id)
	if errors.Is(err, vault.ErrNotFound) {
		return nil, fmt.Errorf("%w %s", ErrUnknownRoom, id)
	}
	if err != nil {
		return nil, err
	}
	var r Room
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("room %s: %w", id, vault.ErrCorrupt)
	}
	return &r, nil
}

func putRoom(ctx context.Context, tx *vault.Tx, r *Room, ids []string) error {
	keep := *r
	keep.Label, keep.Unread, keep.Archived, keep.Verified, keep.Warnings = "", 0, false, nil, nil
	raw, _ := json.Marshal(&keep)
	if err := tx.Put(ctx, "room/"+r.State.ID, raw); err != nil {
		return err
	}
	if !slices.Contains(ids, r.State.ID) {
		ids = append(ids, r.State.ID)
		raw, _ = json.Marshal(ids)
		return tx.Put(ctx, "rooms", raw)
	}
	return nil
}

// Rooms lists the rooms this user is or was in, by name, each with its
// label, unread count and whether it is archived (unread.go).
func (c *Client) Rooms(ctx context.Context) ([]Room, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rooms, err := c.allRooms(ctx, c.v)
	if err != nil {
		return nil, err
	}
	out := make([]Room, 0, len(rooms))
	for _, r := range rooms {
		r.Verified = c.verifiedMembers(ctx, c.v, r.State.Members)
		if err := c.showState(ctx, r); err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out, nil
}

// Room finds one room by id, id prefix, label or name (see room.Resolve),
// with its label, unread count and archive state.
func (c *Client) Room(ctx context.Context, ref string) (*Room, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, ref)
	if err != nil {
		return nil, err
	}
	r.Verified = c.verifiedMembers(ctx, c.v, r.State.Members)
	return r, c.showState(ctx, r)
}

// allRooms loads every room this device knows, each with its label.
func (c *Client) allRooms(ctx context.Context, rd reader) ([]*Room, error) {
	ids, err := roomIDs(ctx, rd)
	if err != nil {
		return nil, err
	}
	out := make([]*Room, 0, len(ids))
	for _, id := range ids {
		r, err := roomFrom(ctx, rd, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	labels := room.Labels(c.prof.User, named(out))
	for i, r := range out {
		r.Label = labels[i]
	}
	return out, nil
}

func named(rs []*Room) []room.Named {
	out := make([]room.Named, len(rs))
	for i, r := range rs {
		out[i] = room.Named{ID: r.State.ID, Name: r.State.Name, Creator: r.State.Creator, Gone: r.Removed}
	}
	return out
}

// resolveRoom finds a room by id, id prefix, label or name (room.Resolve).
func (c *Client) resolveRoom(ctx context.Context, ref string) (*Room, error) {
	rooms, err := c.allRooms(ctx, c.v)
	if err != nil {
		return nil, err
	}
	i, err := room.Resolve(c.prof.User, named(rooms), ref)
	switch {
	case errors.Is(err, room.ErrNoSuchRoom):
		return nil, fmt.Errorf("%w %q (see: backchannel room list)", ErrUnknownRoom, ref)
	case err != nil:
		return nil, err
	}
	return rooms[i], nil
}

// ErrRoomNameTaken: another room this user is in has the same name.
var ErrRoomNameTaken = errors.New("you are already in a room with that name")

// checkNameFree refuses a name that another room this user is in has
// (room.SameName), except the room with id except.
func (c *Client) checkNameFree(ctx context.Context, name, except string) error {
	rooms, err := c.allRooms(ctx, c.v)
	if err != nil {
		return err
	}
	if id := room.Taken(named(rooms), name, except); id != "" {
		return fmt.Errorf("%w: %s (id %s); choose another name", ErrRoomNameTaken, quoteName(name), id[:12])
	}
	return nil
}

// CreateRoom creates a room with the given members (this user is added as
// creator) and tells every member.
func (c *Client) CreateRoom(ctx context.Context, name string, members []string, mode, marking string) (*Room, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if mode == "" {
		mode = ModeOnRecord
	}
	// Members refuse a room name that breaks the rule for names (names.Check),
	// so a room this device creates must keep it too.
	if err := CheckRoomName(name); err != nil {
		return nil, err
	}
	if err := c.checkNameFree(ctx, name, ""); err != nil {
		return nil, err
	}
	policy, err := canary.ParsePolicy(marking)
	if err != nil {
		return nil, err
	}
	all := []string{c.prof.User}
	for _, m := range members {
		m = strings.TrimSpace(m)
		if m == "" || m == c.prof.User || slices.Contains(all, m) {
			continue
		}
		if !api.ValidName(m) {
			return nil, fmt.Errorf("%q is not a valid user name", m)
		}
		all = append(all, m)
	}
	if len(all) > MaxRoomMembers {
		return nil, ErrRoomFull
	}
	for _, m := range all[1:] {
		if _, err := c.contactOf(ctx, m, false); err != nil {
			return nil, err
		}
	}
	if err := c.refuseUnverified(ctx, mode, all); err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	if err := c.src.Bytes(nonce); err != nil {
		return nil, err
	}
	st := RoomState{ID: roomID(c.prof.User, nonce), Nonce: nonce, Name: name, Creator: c.prof.User, Members: all, Version: 1, Mode: mode, Marking: policy.String(), CreatedAt: c.opts.Now().UTC()}
	if err := st.validate(); err != nil {
		return nil, err
	}
	r := &Room{State: st, Joined: 1, WatchFrom: st.CreatedAt}
	if err := c.publishState(ctx, r, all, fmt.Sprintf("%s created the room with %s", c.prof.User, strings.Join(all[1:], ", "))); err != nil {
		return nil, err
	}
	r.Warnings = append(c.warnings, c.unverifiedWarnings(ctx, r)...)
	r.Verified = c.verifiedMembers(ctx, c.v, r.State.Members)
	r.Label = name // no other room of this user's has it: checkNameFree
	return r, nil
}

// publishState signs r's state, sends it to recipients, and stores it with
// a system message in the room's history.
func (c *Client) publishState(ctx context.Context, r *Room, recipients []string, note string) error {
	if !c.isPrimary() {
		return fmt.Errorf("room membership is signed with the account key: %w", ErrNotPrimary)
	}
	p := &payload{V: payloadVersion, Log: c.ourCheckpoint(ctx), Kind: KindRoom, ID: newID(), Room: r.State.ID, SentAt: c.opts.Now().UTC(), State: &r.State}
	if r.State.Mode == ModeOnRecord {
		// Deniable rooms' states are authenticated inside the pairwise
		// channels only: no signature a third party could check.
		p.Sig = c.user.Sign(r.State.signedBytes())
	}
	rec, err := c.compose(ctx, r, transcript.KindMembership, r.State.signedBytes(), p.SentAt)
	if err != nil {
		return err
	}
	p.Record = rec
	c.stamp(ctx, c.v, r, p)
	notePast(r)
	r.LastSent = p.SentAt
	var leaving []string
	for _, u := range recipients {
		if !r.State.has(u) {
			leaving = append(leaving, u)
		}
	}
	sys := Message{ID: p.ID, Room: r.State.ID, Sender: c.prof.User, SentAt: p.SentAt, Text: note, Kind: "system", ReceivedAt: p.SentAt, Entry: rec.hash()}
	err = c.fanOutLeaving(ctx, same(p), recipients, leaving, r.State.Mode == ModeOnRecord, func(ctx context.Context, tx *vault.Tx) error {
		ids, err := roomIDs(ctx, tx)
		if err != nil {
			return err
		}
		if err := putRoom(ctx, tx, r, ids); err != nil {
			return err
		}
		if err := storeRecord(ctx, tx, r.State.ID, rec); err != nil {
			return err
		}
		return appendMessage(ctx, tx, sys)
	})
	if err != nil && !errors.Is(err, ErrNotDelivered) {
		delete(c.logs, r.State.ID)
	}
	return err
}

// AddMember adds user to a room this user created.
func (c *Client) AddMember(ctx context.Context, roomRef, user string) error {
	return c.changeMembers(ctx, roomRef, func(st *RoomState) (string, error) {
		if !api.ValidName(user) {
			return "", fmt.Errorf("%q is not a valid user name", user)
		}
		if st.has(user) {
			return "", fmt.Errorf("%s is already a member", user)
		}
		if len(st.Members) >= MaxRoomMembers {
			return "", ErrRoomFull
		}
		if _, err := c.contactOf(ctx, user, false); err != nil {
			return "", err // as CreateRoom: an unknown name is refused, not added
		}
		st.Members = append(st.Members, user)
		return fmt.Sprintf("%s added %s", c.prof.User, user), nil
	})
}

// RemoveMember removes user from a room this user created; user receives
// nothing sent afterwards.
func (c *Client) RemoveMember(ctx context.Context, roomRef, user string) error {
	return c.changeMembers(ctx, roomRef, func(st *RoomState) (string, error) {
		if !st.has(user) {
			return "", fmt.Errorf("%s is not a member", user)
		}
		if user == st.Creator {
			return "", errors.New("the creator cannot be removed")
		}
		st.Members = slices.DeleteFunc(st.Members, func(m string) bool { return m == user })
		return fmt.Sprintf("%s removed %s", c.prof.User, user), nil
	})
}

func (c *Client) changeMembers(ctx context.Context, roomRef string, change func(*RoomState) (string, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return err
	}
	if r.State.Creator != c.prof.User {
		return ErrNotCreator
	}
	before := slices.Clone(r.State.Members)
	note, err := change(&r.State)
	if err != nil {
		return err
	}
	r.State.Version++
	recipients := union(before, r.State.Members)
	return c.publishState(ctx, r, recipients, note)
}

// RenameRoom gives a room this user created a new name: a new signed
// state, applied by every member in the same order as membership changes
// ("alice renamed the room to ..."). It returns the renamed room.
func (c *Client) RenameRoom(ctx context.Context, roomRef, name string) (*Room, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := CheckRoomName(name); err != nil {
		return nil, err
	}
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	if r.State.Creator != c.prof.User {
		return nil, ErrNotCreator
	}
	if r.Removed {
		return nil, fmt.Errorf("%w %q", ErrNotMember, r.State.Name)
	}
	if r.State.Name == name {
		return nil, fmt.Errorf("the room is already called %s", quoteName(name))
	}
	if err := c.checkNameFree(ctx, name, r.State.ID); err != nil {
		return nil, err
	}
	r.State.Name = name
	r.State.Version++
	if err := c.publishState(ctx, r, r.State.Members, renameNote(c.prof.User, name)); err != nil {
		return nil, err
	}
	r.Label = name
	return r, nil
}

// renameNote is the line every member's history shows for a rename.
func renameNote(by, name string) string {
	return fmt.Sprintf("%s renamed the room to %s", by, quoteName(name))
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// Leave leaves a room; the creator then issues a state without this user.
func (c *Client) Leave(ctx context.Context, roomRef string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return err
	}
	if r.Removed {
		return ErrNotMember
	}
	if r.State.Creator == c.prof.User {
		return errors.New("the creator cannot leave; remove the other members instead")
	}
	p := &payload{V: payloadVersion, Log: c.ourCheckpoint(ctx), Kind: KindLeave, ID: newID(), Room: r.State.ID, SentAt: c.opts.Now().UTC()}
	rec, err := c.compose(ctx, r, transcript.KindMembership, leaveContent(r.State.ID, c.prof.User), p.SentAt)
	if err != nil {
		return err
	}
	p.Record = rec
	c.stamp(ctx, c.v, r, p)
	err = c.fanOut(ctx, same(p), r.State.Members, r.State.Mode == ModeOnRecord, func(ctx context.Context, tx *vault.Tx) error {
		r.Removed = true
		ids, err := roomIDs(ctx, tx)
		if err != nil {
			return err
		}
		if err := putRoom(ctx, tx, r, ids); err != nil {
			return err
		}
		if err := storeRecord(ctx, tx, r.State.ID, rec); err != nil {
			return err
		}
		return appendMessage(ctx, tx, Message{ID: p.ID, Room: r.State.ID, Sender: c.prof.User, SentAt: p.SentAt, Text: c.prof.User + " left", Kind: "system", ReceivedAt: p.SentAt, Entry: rec.hash()})
	})
	if err != nil && !errors.Is(err, ErrNotDelivered) {
		delete(c.logs, r.State.ID)
	}
	return err
}

// leaveContent is what a leave's transcript entry commits to.
func leaveContent(room, user string) []byte {
	return []byte("backchannel leave v1\x00" + room + "\x00" + user)
}

// seenName keys de-duplication by room, sender and message id: another
// member reusing an id cannot suppress the real message.
func seenName(m Message) string { return "seen/" + m.Room + "/" + m.Sender + "/" + m.ID }

func appendMessage(ctx context.Context, tx *vault.Tx, m Message) error {
	if _, err := tx.Get(ctx, seenName(m)); err == nil {
		return nil // already stored: delivery is at-least-once, history is exactly-once
	}
	raw, _ := json.Marshal(m)
	if _, err := tx.Append(ctx, "msgs/"+m.Room, raw); err != nil {
		return err
	}
	return tx.Put(ctx, seenName(m), []byte{1})
}

// History returns a room's messages, the user's own included, oldest first,
// and the room.
func (c *Client) History(ctx context.Context, roomRef string) (*Room, []Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return nil, nil, err
	}
	out, err := arrivals(ctx, c.v, r)
	if err != nil {
		return nil, nil, err
	}
	r.Verified = c.verifiedMembers(ctx, c.v, r.State.Members)
	c.fillDelivery(ctx, r, out)
	if err := c.showStateOf(ctx, r, out); err != nil {
		return nil, nil, err
	}
	return r, c.causalOrder(ctx, r, out), nil
}

// causalOrder puts a room's history (stored in arrival order) in the
// transcript's causal order, with a notice above each message that arrived
// before a message it follows.
func (c *Client) causalOrder(ctx context.Context, r *Room, msgs []Message) []Message {
	rl, err := c.transcriptOf(ctx, c.v, r)
	if err != nil || len(msgs) < 2 {
		return msgs
	}
	dag := map[string][]string{}
	for _, rec := range rl.log.Records() {
		ps := make([]string, len(rec.Entry.Parents))
		for i, p := range rec.Entry.Parents {
			ps[i] = p.String()
		}
		dag[rec.Hash.String()] = ps
	}
	items := make([]room.Item, len(msgs))
	for i, m := range msgs {
		items[i] = room.Item{Key: m.Entry, Parents: dag[m.Entry], Time: m.SentAt, Sender: m.Sender}
	}
	order, moved := room.CausalOrder(items, dag)
	notes := map[int]Message{}
	for _, mv := range moved {
		a, b := msgs[order[mv.Index]], msgs[order[mv.Before]]
		notes[mv.Index] = Message{ID: "order-" + a.ID, Room: a.Room, Sender: a.Sender, SentAt: a.SentAt, ReceivedAt: a.ReceivedAt, Kind: KindNotice,
			Text: room.OrderNotice(a.Sender, a.SentAt, b.Sender, b.SentAt, time.Local)}
	}
	out := make([]Message, 0, len(msgs)+len(notes))
	for pos, i := range order {
		if n, ok := notes[pos]; ok {
			out = append(out, n)
		}
		out = append(out, msgs[i])
	}
	return out
}
