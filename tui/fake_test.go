package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// fakeBackend is a profile in memory: rooms, their messages, what was
// sent.
type fakeBackend struct {
	mu       sync.Mutex
	me       string
	rooms    []Room
	msgs     map[string][]Message
	sent     []string // "room: text"
	shared   []string
	left     []string
	read     []string // MarkRead calls, "room: up to"
	verified map[string]bool
	sendErr  error
	warns    []string
	state    string
	events   chan Event // nil: no live connection in the test
	now      time.Time
}

func newFake() *fakeBackend {
	now := time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC)
	return &fakeBackend{
		me: "anna",
		rooms: []Room{
			{ID: "r1", Name: "deal", Mode: "on-record", Marking: "words", Members: []string{"anna", "ben", "carl"}, Verified: map[string]bool{"anna": true, "ben": true}},
			{ID: "r2", Name: "ops", Mode: "deniable", Marking: "off", Members: []string{"anna", "dora"}, Unread: 3},
		},
		msgs: map[string][]Message{
			"r1": {
				{ID: "m1", Sender: "ben", SentAt: now.Add(-24 * time.Hour), Text: "Yesterday's offer stands.", Kind: KindText},
				{ID: "m2", Sender: "anna", SentAt: now.Add(-time.Hour), Text: "We need forty days.", Kind: KindText, Delivery: DeliveryDelivered},
			},
			"r2": {{ID: "o1", Sender: "dora", SentAt: now, Text: "ops here", Kind: KindText}},
		},
		verified: map[string]bool{},
		state:    StateConnected,
		now:      now,
	}
}

func (f *fakeBackend) Me() string { return f.me }
func (f *fakeBackend) Rooms(context.Context) ([]Room, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Room(nil), f.rooms...), nil
}
func (f *fakeBackend) History(_ context.Context, ref string) (Room, []Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rooms {
		if r.ID == ref || r.Name == ref {
			return r, append([]Message(nil), f.msgs[r.ID]...), nil
		}
	}
	return Room{}, nil, errors.New("unknown room")
}
func (f *fakeBackend) add(room string, m Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs[room] = append(f.msgs[room], m)
}
func (f *fakeBackend) Send(_ context.Context, room, text string) (Message, []string, error) {
	if f.sendErr != nil {
		return Message{}, nil, f.sendErr
	}
	f.mu.Lock()
	for _, r := range f.rooms {
		if r.Name == room {
			room = r.ID // found by name, as the client does
		}
	}
	f.sent = append(f.sent, room+": "+text)
	m := Message{ID: fmt.Sprintf("s%d", len(f.sent)), Sender: f.me, SentAt: f.now, Text: text, Kind: KindText}
	f.mu.Unlock()
	f.add(room, m)
	m.Delivery = DeliverySent
	return m, f.warns, nil
}
func (f *fakeBackend) sentLines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...)
}

func (f *fakeBackend) hasSent(line string) bool {
	for _, l := range f.sentLines() {
		if l == line {
			return true
		}
	}
	return false
}

func (f *fakeBackend) Share(_ context.Context, room, path string) (Message, []string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shared = append(f.shared, room+": "+path)
	return Message{ID: "d1", Delivery: DeliveryQueued}, nil, nil
}
func (f *fakeBackend) Leave(_ context.Context, room string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left = append(f.left, room)
	return nil
}
func (f *fakeBackend) Verify(_ context.Context, user string, confirm bool) (Safety, error) {
	if user != "ben" && user != "carl" {
		return Safety{}, errors.New("no such user")
	}
	if confirm {
		f.verified[user] = true
	}
	return Safety{User: user, Number: "11111 22222 33333 44444\n55555 66666 77777 88888\n99999 00000 12345 67890", Verified: f.verified[user]}, nil
}
func (f *fakeBackend) MarkRead(_ context.Context, room, upTo string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.read = append(f.read, room+": "+upTo)
	return nil
}
func (f *fakeBackend) Subscribe() (<-chan Event, func()) { return f.events, func() {} }
func (f *fakeBackend) State() (string, string)           { return f.state, "" }

// screen drives a Model the way the program would, running every command
// to completion (the fake never blocks).
type screen struct {
	t    *testing.T
	m    *Model
	f    *fakeBackend
	quit bool
}

// open shows room on a screen wide enough that no line wraps (the layout
// at 80×24 has its own test).
func open(t *testing.T, f *fakeBackend, room string) *screen {
	t.Helper()
	return openSized(t, f, room, 160, 40)
}

func openSized(t *testing.T, f *fakeBackend, room string, w, h int) *screen {
	t.Helper()
	m := New(context.Background(), f, Options{Room: room, Now: func() time.Time { return f.now }, Loc: time.UTC})
	m.showReconnected = 0
	s := &screen{t: t, m: m, f: f}
	s.run(m.Init())
	s.send(tea.WindowSizeMsg{Width: w, Height: h})
	return s
}

func (s *screen) run(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			s.run(c)
		}
	case tea.QuitMsg:
		s.quit = true
	default:
		s.send(msg)
	}
}

func (s *screen) send(msg tea.Msg) {
	_, cmd := s.m.Update(msg)
	s.run(cmd)
}

// typ types text then presses the named keys.
func (s *screen) typ(text string, keys ...string) {
	for _, r := range text {
		s.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	for _, k := range keys {
		s.send(keyNamed(k))
	}
}

func keyNamed(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case "ctrl+n":
		return tea.KeyPressMsg{Code: 'n', Mod: tea.ModCtrl}
	case "ctrl+w":
		return tea.KeyPressMsg{Code: 'w', Mod: tea.ModCtrl}
	}
	panic("no key " + k)
}

// screenText is what the terminal shows, without colours.
func (s *screen) screenText() string { return ansi.Strip(s.m.Render()) }

func (s *screen) shows(want ...string) {
	s.t.Helper()
	got := s.screenText()
	for _, w := range want {
		if !strings.Contains(got, w) {
			s.t.Fatalf("the screen lacks %q:\n%s", w, got)
		}
	}
}

func (s *screen) lacks(unwanted ...string) {
	s.t.Helper()
	got := s.screenText()
	for _, w := range unwanted {
		if strings.Contains(got, w) {
			s.t.Fatalf("the screen shows %q:\n%s", w, got)
		}
	}
}
