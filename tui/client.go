package tui

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"backchannel/client"
	"backchannel/identity"
	"backchannel/live"
)

// clientBackend is Backend over an open profile and its live connection.
type clientBackend struct {
	ctx  context.Context
	c    *client.Client
	hub  *live.Hub
	path func(string) string
}

// NewClientBackend adapts c and hub until ctx ends; path resolves a file
// name the user typed (against the caller's working directory).
func NewClientBackend(ctx context.Context, c *client.Client, hub *live.Hub, path func(string) string) Backend {
	if path == nil {
		path = func(p string) string { return p }
	}
	return &clientBackend{ctx: ctx, c: c, hub: hub, path: path}
}

func (b *clientBackend) Me() string { return b.c.User() }

func roomOf(r *client.Room) Room {
	name := r.State.Name
	if r.Label != "" {
		name = r.Label
	}
	return Room{
		ID: r.State.ID, Name: name, Mode: r.State.Mode, Marking: r.State.Marking,
		Members: append([]string(nil), r.State.Members...), Verified: r.Verified,
		Unread: r.Unread, Removed: r.Removed, Archived: r.Archived,
	}
}

func (b *clientBackend) Rooms(ctx context.Context) ([]Room, error) {
	rs, err := b.c.Rooms(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Room, len(rs))
	for i := range rs {
		out[i] = roomOf(&rs[i])
	}
	return out, nil
}

func messageOf(r *client.Room, m *client.Message) Message {
	out := Message{ID: m.ID, Sender: m.Sender, SentAt: m.SentAt, Text: m.Text, Kind: m.Kind}
	if m.Kind == client.KindDoc && m.Doc != nil {
		out.Text = fmt.Sprintf("shared %s (%d bytes): backchannel docs get %s %s", m.Doc.Name, m.Doc.Size, r.State.Name, shortID(m.ID))
	}
	if d := m.Delivery; d != nil {
		out.Delivery, out.DeliveredTo, out.Of = d.State, len(d.DeliveredTo), d.Of
	}
	return out
}

func (b *clientBackend) History(ctx context.Context, ref string) (Room, []Message, error) {
	r, msgs, err := b.c.History(ctx, ref)
	if err != nil {
		return Room{}, nil, err
	}
	out := make([]Message, len(msgs))
	for i := range msgs {
		out[i] = messageOf(r, &msgs[i])
	}
	return roomOf(r), out, nil
}

func shortID(id string) string { return id[:min(12, len(id))] }

// delivered is what the screen is told of a message just sent: a message
// the client saved but the server did not take yet comes back as an
// error matching ErrNotDelivered, and is queued.
func delivered(m *client.Message, err error) (Message, []string, error) {
	if errors.Is(err, client.ErrNotDelivered) {
		return Message{Delivery: DeliveryQueued}, nil, nil
	}
	if err != nil {
		return Message{}, nil, err
	}
	return Message{ID: m.ID, Sender: m.Sender, SentAt: m.SentAt, Text: m.Text, Kind: m.Kind}, m.Warnings, nil
}

func (b *clientBackend) Send(ctx context.Context, room, text string) (Message, []string, error) {
	defer b.changed()
	return delivered(b.c.Send(ctx, room, text))
}

// changed tells the hub's other watchers (the desktop app, other chats in
// the agent) that this screen changed the profile.
func (b *clientBackend) changed() {
	if b.hub != nil {
		b.hub.Changed()
	}
}

func (b *clientBackend) Share(ctx context.Context, room, path string) (Message, []string, error) {
	defer b.changed()
	return delivered(b.c.Share(ctx, room, b.path(path)))
}

func (b *clientBackend) Leave(ctx context.Context, room string) error {
	defer b.changed()
	err := b.c.Leave(ctx, room)
	if errors.Is(err, client.ErrNotDelivered) {
		return nil // left here; the others are told once the server is back
	}
	return err
}

func (b *clientBackend) Verify(ctx context.Context, user string, confirm bool) (Safety, error) {
	n, old, err := b.c.SafetyNumber(ctx, user)
	if err != nil {
		return Safety{}, err
	}
	if confirm {
		if err := b.c.MarkVerified(ctx, user); err != nil {
			return Safety{}, err
		}
		b.changed()
	}
	s := Safety{User: user, Number: identity.FormatSafetyNumber(n), Verified: b.c.Verified(ctx, []string{user})[user]}
	if old != "" {
		s.Previous = identity.FormatSafetyNumber(old)
	}
	return s, nil
}

// MarkRead does not tell the hub: the screen marks read after every
// change it is told of, and would tell itself again (only unread counts
// elsewhere wait for the next change).
func (b *clientBackend) MarkRead(ctx context.Context, room, upTo string) error {
	return b.c.MarkRead(ctx, room, upTo)
}

// Subscribe follows the hub. When the connection comes back after it was
// lost, it syncs once: the push stream brings what arrived meanwhile, but
// only a sync sends what was queued meanwhile.
func (b *clientBackend) Subscribe() (<-chan Event, func()) {
	in, stop := b.hub.Subscribe()
	out := make(chan Event, 16)
	done := make(chan struct{})
	emit := func(e Event) bool {
		select {
		case out <- e:
			return true
		case <-done:
			return false
		}
	}
	var wg sync.WaitGroup
	go func() {
		defer func() { wg.Wait(); close(out) }()
		lost := false
		for ev := range in {
			e := Event{State: string(ev.State), Reason: ev.Reason, Missed: ev.Missed}
			if ev.Report != nil {
				e.Report, e.Received, e.Warnings = true, ev.Report.Received, ev.Report.Warnings
			}
			switch {
			case ev.State == live.StateReconnecting:
				lost = true
			case ev.State == live.StateConnected && lost && ev.Report == nil:
				lost = false
				wg.Add(1)
				go func() {
					defer wg.Done()
					rep, err := b.c.Sync(b.ctx)
					if err != nil || rep == nil {
						return
					}
					emit(Event{State: string(ev.State), Report: true, Received: rep.Received, Warnings: rep.Warnings})
				}()
			}
			if !emit(e) {
				return
			}
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			close(done)
			stop()
		})
	}
}

func (b *clientBackend) State() (string, string) {
	s, r := b.hub.State()
	return string(s), r
}
