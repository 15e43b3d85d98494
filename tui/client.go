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

	mu sync.Mutex
	// queued are this session's own messages the server has not taken
	// yet; sent those it took.
	queued map[string]bool
	sent   map[string]bool
}

// NewClientBackend adapts c and hub until ctx ends; path resolves a file
// name the user typed (against the caller's working directory).
func NewClientBackend(ctx context.Context, c *client.Client, hub *live.Hub, path func(string) string) Backend {
	if path == nil {
		path = func(p string) string { return p }
	}
	return &clientBackend{ctx: ctx, c: c, hub: hub, path: path, queued: map[string]bool{}, sent: map[string]bool{}}
}

func (b *clientBackend) Me() string { return b.c.User() }

func roomOf(r *client.Room) Room {
	return Room{
		ID: r.State.ID, Name: r.State.Name, Mode: r.State.Mode, Marking: r.State.Marking,
		Members: append([]string(nil), r.State.Members...), Verified: r.Verified, Removed: r.Removed,
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

func (b *clientBackend) History(ctx context.Context, ref string) (Room, []Message, error) {
	r, msgs, err := b.c.History(ctx, ref)
	if err != nil {
		return Room{}, nil, err
	}
	b.settle(ctx)
	out := make([]Message, len(msgs))
	b.mu.Lock()
	for i, m := range msgs {
		out[i] = Message{ID: m.ID, Sender: m.Sender, SentAt: m.SentAt, Text: m.Text, Kind: m.Kind}
		if m.Kind == client.KindDoc && m.Doc != nil {
			out[i].Text = fmt.Sprintf("shared %s (%d bytes): backchannel doc get %s %s", m.Doc.Name, m.Doc.Size, r.State.Name, shortID(m.ID))
		}
		switch {
		case b.queued[m.ID]:
			out[i].Delivery = DeliveryQueued
		case b.sent[m.ID]:
			out[i].Delivery = DeliverySent
		}
	}
	b.mu.Unlock()
	return roomOf(r), out, nil
}

func shortID(id string) string { return id[:min(12, len(id))] }

// settle marks this session's queued messages sent once the outbox is
// empty (a sync or the next send delivered them).
func (b *clientBackend) settle(ctx context.Context) {
	b.mu.Lock()
	n := len(b.queued)
	b.mu.Unlock()
	if n == 0 {
		return
	}
	if q, err := b.c.Queued(ctx); err != nil || q > 0 {
		return
	}
	b.mu.Lock()
	for id := range b.queued {
		b.sent[id] = true
	}
	clear(b.queued)
	b.mu.Unlock()
}

// delivered tells what became of a message sent to room: queued (the
// client saved it but the server did not take it) or sent.
func (b *clientBackend) delivered(ctx context.Context, room, text string, m *client.Message, err error) (Message, []string, error) {
	queued := errors.Is(err, client.ErrNotDelivered)
	if err != nil && !queued {
		return Message{}, nil, err
	}
	if m == nil {
		// The client returns no message when it queued it: it is the
		// last of this user's in the room's history.
		if _, msgs, herr := b.c.History(ctx, room); herr == nil {
			for i := len(msgs) - 1; i >= 0; i-- {
				if msgs[i].Sender == b.c.User() && (text == "" || msgs[i].Text == text) {
					m = &msgs[i]
					break
				}
			}
		}
		if m == nil {
			return Message{Delivery: DeliveryQueued}, nil, nil
		}
	}
	out := Message{ID: m.ID, Sender: m.Sender, SentAt: m.SentAt, Text: m.Text, Kind: m.Kind, Delivery: DeliverySent}
	if queued {
		out.Delivery = DeliveryQueued
	}
	b.mu.Lock()
	if queued {
		b.queued[m.ID] = true
	} else {
		b.sent[m.ID] = true
	}
	b.mu.Unlock()
	return out, m.Warnings, nil
}

func (b *clientBackend) Send(ctx context.Context, room, text string) (Message, []string, error) {
	m, err := b.c.Send(ctx, room, text)
	return b.delivered(ctx, room, text, m, err)
}

func (b *clientBackend) Share(ctx context.Context, room, path string) (Message, []string, error) {
	m, err := b.c.Share(ctx, room, b.path(path))
	return b.delivered(ctx, room, "", m, err)
}

func (b *clientBackend) Leave(ctx context.Context, room string) error {
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
	}
	s := Safety{User: user, Number: identity.FormatSafetyNumber(n), Verified: b.c.Verified(ctx, []string{user})[user]}
	if old != "" {
		s.Previous = identity.FormatSafetyNumber(old)
	}
	return s, nil
}

func (b *clientBackend) MarkRead(ctx context.Context, room string) error { return nil }

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
