package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
)

// Options set up a screen.
type Options struct {
	// Room is the room to open first (id or name; "" opens the first room
	// with unread messages, else the first).
	Room string
	// Now and Loc give the time and the zone dates are shown in (tests fix
	// them; nil means the clock and time.Local).
	Now func() time.Time
	Loc *time.Location
}

// maxHistory bounds the composer's history.
const maxHistory = 500

// item is a line of the screen's own in a room's timeline: a warning, a
// notice or a command's output, shown after the message that was last when
// it appeared.
type item struct {
	after string // the id of the message it follows ("" = the top)
	at    time.Time
	text  string
	warn  bool
}

// pending is a line being sent.
type pending struct {
	id   int
	text string
	at   time.Time
}

// Model is the chat screen (a tea.Model).
type Model struct {
	ctx  context.Context
	b    Backend
	opts Options

	width, height int

	rooms   []Room
	noRooms bool   // the rooms were listed, and there are none
	cur     string // the shown room's id
	room    Room
	msgs    []Message
	loaded  bool

	items    map[string][]item // per room id
	warned   map[string]bool   // warnings shown already (room id + text)
	pend     map[string][]pending
	pendN    int
	delivery map[string]string // own message id → state, when the backend says nothing
	drafts   map[string]string // room id → the line typed for it

	// queue holds the lines typed and not yet handed to the backend; busy:
	// one is being handled.
	queue []tea.Cmd
	busy  bool

	conn, reason string
	reconnected  bool // show "reconnected" until the next tick

	input   textinput.Model
	history []string
	histPos int    // len(history) when editing a new line
	draft   string // the new line while browsing history

	// showReconnected is how long "reconnected" stays on the status line.
	showReconnected time.Duration

	scroll   int // lines scrolled up from the bottom
	quitting bool
	events   <-chan Event
}

// New returns the screen for b.
func New(ctx context.Context, b Backend, opts Options) *Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Loc == nil {
		opts.Loc = time.Local
	}
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message, /help for commands"
	in.KeyMap.Paste = key.NewBinding(key.WithDisabled()) // pastes come from the terminal, as text
	in.KeyMap.NextSuggestion = key.NewBinding(key.WithDisabled())
	in.KeyMap.PrevSuggestion = key.NewBinding(key.WithDisabled())
	in.KeyMap.AcceptSuggestion = key.NewBinding(key.WithDisabled())
	in.SetVirtualCursor(false)
	in.CharLimit = 0
	in.Focus()
	m := &Model{
		ctx: ctx, b: b, opts: opts, width: 80, height: 24,
		items: map[string][]item{}, warned: map[string]bool{}, pend: map[string][]pending{}, delivery: map[string]string{}, drafts: map[string]string{},
		input: in, showReconnected: 5 * time.Second,
	}
	m.conn, m.reason = b.State()
	m.cur = opts.Room
	m.layout()
	return m
}

// Messages the screen gets from its commands.
type (
	roomsMsg struct {
		rooms []Room
		err   error
	}
	historyMsg struct {
		ref  string
		room Room
		msgs []Message
		err  error
	}
	sentMsg struct {
		room     string
		pend     int
		msg      Message
		warnings []string
		err      error
	}
	doneMsg struct {
		room Room
		out  Outcome
		err  error
	}
	eventMsg struct {
		ev Event
		ok bool
	}
	tickMsg struct{}
)

// Init loads the rooms and the first room, and starts following the
// connection.
func (m *Model) Init() tea.Cmd {
	var cmds []tea.Cmd
	if m.events == nil {
		ch, _ := m.b.Subscribe()
		m.events = ch
	}
	cmds = append(cmds, m.loadRooms())
	if m.cur != "" {
		cmds = append(cmds, m.loadHistory(m.cur))
	}
	cmds = append(cmds, m.waitEvent())
	return tea.Batch(cmds...)
}

func (m *Model) loadRooms() tea.Cmd {
	return func() tea.Msg {
		rs, err := m.b.Rooms(m.ctx)
		return roomsMsg{rooms: rs, err: err}
	}
}

func (m *Model) loadHistory(ref string) tea.Cmd {
	return func() tea.Msg {
		r, msgs, err := m.b.History(m.ctx, ref)
		return historyMsg{ref: ref, room: r, msgs: msgs, err: err}
	}
}

func (m *Model) waitEvent() tea.Cmd {
	ch := m.events
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		ev, ok := <-ch
		return eventMsg{ev: ev, ok: ok}
	}
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.PasteMsg:
		msg.Content = cleanInput(msg.Content)
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	case roomsMsg:
		if msg.err != nil {
			m.notice(m.cur, "could not list the rooms: "+msg.err.Error(), true)
			return m, nil
		}
		m.rooms = m.rooms[:0]
		for _, r := range msg.rooms {
			if !r.Archived || r.ID == m.cur { // archived rooms stay out of the list
				m.rooms = append(m.rooms, r)
			}
		}
		m.noRooms = len(m.rooms) == 0
		if m.cur == "" && len(m.rooms) > 0 {
			m.cur = m.rooms[0].ID
			for _, r := range m.rooms {
				if r.Unread > 0 && !r.Removed {
					m.cur = r.ID
					break
				}
			}
			return m, m.loadHistory(m.cur)
		}
		return m, nil
	case historyMsg:
		return m, m.history1(msg)
	case sentMsg:
		next := m.next()
		m.dropPending(msg.room, msg.pend)
		if msg.err != nil {
			m.notice(msg.room, "not sent: "+msg.err.Error(), true)
			return m, next
		}
		if msg.msg.ID != "" && msg.msg.Delivery != "" {
			m.delivery[msg.msg.ID] = msg.msg.Delivery
		}
		m.warningsAfter(msg.room, msg.msg.ID, msg.warnings)
		return m, tea.Batch(next, m.loadHistory(msg.room))
	case doneMsg:
		return m, tea.Batch(m.next(), m.done(msg))
	case eventMsg:
		if !msg.ok {
			m.events = nil
			return m, nil
		}
		return m, tea.Batch(m.event(msg.ev), m.waitEvent())
	case tickMsg:
		m.reconnected = false
		return m, nil
	}
	return m, nil
}

func (m *Model) history1(msg historyMsg) tea.Cmd {
	if msg.err != nil {
		m.notice(m.cur, "could not open "+sanitizeLine(msg.ref)+": "+msg.err.Error(), true)
		return nil
	}
	if msg.ref != m.cur && msg.room.ID != m.cur {
		return nil // the user moved on
	}
	m.cur, m.room, m.msgs, m.loaded = msg.room.ID, msg.room, msg.msgs, true
	for i := range m.rooms {
		if m.rooms[i].ID == m.cur {
			m.rooms[i].Unread = 0
		}
	}
	if len(m.msgs) == 0 {
		return nil
	}
	id, last := m.cur, m.msgs[len(m.msgs)-1].ID
	return func() tea.Msg {
		_ = m.b.MarkRead(m.ctx, id, last) // unread counts are a convenience
		return nil
	}
}

func (m *Model) event(ev Event) tea.Cmd {
	prev := m.conn
	m.conn, m.reason = ev.State, ev.Reason
	var cmds []tea.Cmd
	switch {
	case ev.State == StateReconnecting && prev != StateReconnecting:
		m.notice(m.cur, "connection lost ("+ev.Reason+"): reconnecting…; what you send meanwhile is queued", true)
	case ev.State == StateConnected && prev == StateReconnecting:
		m.reconnected = true
		m.notice(m.cur, "reconnected", false)
		cmds = append(cmds, tea.Tick(m.showReconnected, func(time.Time) tea.Msg { return tickMsg{} }))
	case ev.State == StateRefused && prev != StateRefused:
		m.notice(m.cur, "the server refused this device ("+ev.Reason+"): nothing more arrives or leaves", true)
	}
	if ev.Missed > 0 {
		m.notice(m.cur, fmt.Sprintf("%d updates were skipped while the screen was busy; the timeline is reloaded", ev.Missed), false)
	}
	m.warnings(m.cur, ev.Warnings)
	if ev.Report || ev.Missed > 0 || (ev.State == StateConnected && prev != StateConnected) {
		cmds = append(cmds, m.loadRooms())
		if m.cur != "" {
			cmds = append(cmds, m.loadHistory(m.cur))
		}
	}
	return tea.Batch(cmds...)
}

func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	switch k.String() {
	case "ctrl+c":
		m.quitting = true
		return tea.Quit
	case "enter":
		return m.enter()
	case "up":
		m.browse(-1)
		return nil
	case "down":
		m.browse(+1)
		return nil
	case "ctrl+n", "alt+down":
		return m.switchRoom(+1)
	case "ctrl+p", "alt+up":
		return m.switchRoom(-1)
	case "pgup":
		m.scroll += max(1, m.bodyHeight()-2)
		return nil
	case "pgdown":
		m.scroll = max(0, m.scroll-max(1, m.bodyHeight()-2))
		return nil
	case "esc":
		m.scroll = 0
		return nil
	case "tab", "ctrl+v":
		return nil
	}
	if k.Text != "" {
		k.Text = cleanInput(k.Text)
		if k.Text == "" {
			return nil
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	return cmd
}

// browse moves through the composer's history (dir -1: older).
func (m *Model) browse(dir int) {
	if len(m.history) == 0 {
		return
	}
	if m.histPos == len(m.history) {
		m.draft = m.input.Value()
	}
	p := min(max(m.histPos+dir, 0), len(m.history))
	if p == m.histPos {
		return
	}
	m.histPos = p
	if p == len(m.history) {
		m.input.SetValue(m.draft)
	} else {
		m.input.SetValue(m.history[p])
	}
	m.input.CursorEnd()
}

func (m *Model) remember(line string) {
	if n := len(m.history); n == 0 || m.history[n-1] != line {
		m.history = append(m.history, line)
		if len(m.history) > maxHistory {
			m.history = m.history[len(m.history)-maxHistory:]
		}
	}
	m.histPos, m.draft = len(m.history), ""
}

func (m *Model) enter() tea.Cmd {
	line := strings.TrimSpace(cleanInput(m.input.Value()))
	if line == "" {
		return nil
	}
	m.remember(line)
	m.input.SetValue("")
	m.scroll = 0
	c, err := Parse(line)
	if err != nil {
		m.notice(m.cur, err.Error(), true)
		return nil
	}
	if c.Name == "quit" {
		m.quitting = true
		return tea.Quit
	}
	if m.cur == "" {
		if c.Name == "help" {
			m.lines(m.cur, HelpLines())
			return nil
		}
		m.notice(m.cur, "no room is open: create one with backchannel room create NAME --members NAMES", true)
		return nil
	}
	room := m.room
	if !m.loaded {
		// Typed before the room's history arrived: the backend finds the
		// room by the reference it was opened with.
		room = Room{ID: m.cur, Name: m.cur}
	}
	if c.Name == "" {
		m.pendN++
		p := pending{id: m.pendN, text: c.Arg, at: m.opts.Now()}
		m.pend[room.ID] = append(m.pend[room.ID], p)
		return m.enqueue(func() tea.Msg {
			msg, warns, err := m.b.Send(m.ctx, room.ID, c.Arg)
			return sentMsg{room: room.ID, pend: p.id, msg: msg, warnings: warns, err: err}
		})
	}
	if c.Name == "help" {
		m.lines(room.ID, append(HelpLines(), keyLines...))
		return nil
	}
	return m.enqueue(func() tea.Msg {
		out, err := Execute(m.ctx, m.b, room, c)
		return doneMsg{room: room, out: out, err: err}
	})
}

// enqueue runs job after the jobs queued before it: what the user typed
// reaches the backend one line at a time, in the order typed (tea runs
// commands concurrently).
func (m *Model) enqueue(job tea.Cmd) tea.Cmd {
	m.queue = append(m.queue, job)
	if m.busy {
		return nil
	}
	return m.next()
}

// next starts the next queued job, if any; its sentMsg or doneMsg calls
// next again.
func (m *Model) next() tea.Cmd {
	if len(m.queue) == 0 {
		m.busy = false
		return nil
	}
	job := m.queue[0]
	m.queue = m.queue[1:]
	m.busy = true
	return job
}

// keyLines list the screen's keys (after the commands in /help).
var keyLines = []string{
	"Keys: Enter sends · ↑/↓ earlier lines · Ctrl-C leaves",
	"  ←/→ Home End Ctrl-A/E/W/U/K edit the line",
	"  Ctrl-N/Ctrl-P next/previous room",
	"  PgUp/PgDn scroll, Esc back to the end",
	"Status line: NAME✓ safety number compared, NAME? not verified (/verify NAME)",
}

func (m *Model) done(msg doneMsg) tea.Cmd {
	id := msg.room.ID
	if msg.err != nil {
		m.notice(id, msg.err.Error(), true)
		return nil
	}
	m.lines(id, msg.out.Lines)
	if msg.out.Sent != nil {
		m.warningsAfter(id, msg.out.Sent.ID, msg.out.Warnings)
	}
	if msg.out.Sent != nil && msg.out.Sent.Delivery != "" {
		m.delivery[msg.out.Sent.ID] = msg.out.Sent.Delivery
	}
	if msg.out.Sent != nil || msg.out.Left {
		return tea.Batch(m.loadRooms(), m.loadHistory(id))
	}
	return nil
}

func (m *Model) switchRoom(dir int) tea.Cmd {
	if len(m.rooms) == 0 {
		return nil
	}
	i := 0
	for j, r := range m.rooms {
		if r.ID == m.cur {
			i = j
		}
	}
	i = (i + dir + len(m.rooms)) % len(m.rooms)
	// Each room keeps the line typed for it: nothing meant for one room
	// is sent to the next by a slip of Ctrl-N.
	m.drafts[m.cur] = m.input.Value()
	m.input.SetValue(m.drafts[m.rooms[i].ID])
	m.input.CursorEnd()
	m.histPos = len(m.history)
	m.cur, m.loaded, m.scroll = m.rooms[i].ID, false, 0
	m.room, m.msgs = m.rooms[i], nil
	return m.loadHistory(m.cur)
}

// notice adds a line of the screen's own to room's timeline, after its
// last message.
func (m *Model) notice(room, text string, warn bool) {
	var after string
	if room == m.cur && len(m.msgs) > 0 {
		after = m.msgs[len(m.msgs)-1].ID
	}
	m.noticeAfter(room, after, text, warn)
}

// noticeAfter adds a line after the message with id after (which may not
// be in the timeline yet: a message just sent).
func (m *Model) noticeAfter(room, after, text string, warn bool) {
	m.items[room] = append(m.items[room], item{after: after, at: m.opts.Now(), text: text, warn: warn})
}

func (m *Model) lines(room string, ls []string) {
	for _, l := range ls {
		m.notice(room, l, false)
	}
}

// warnings shows each distinct warning once per room.
func (m *Model) warnings(room string, ws []string) {
	var after string
	if room == m.cur && len(m.msgs) > 0 {
		after = m.msgs[len(m.msgs)-1].ID
	}
	m.warningsAfter(room, after, ws)
}

// warningsAfter shows the warnings about the message with id after.
func (m *Model) warningsAfter(room, after string, ws []string) {
	for _, w := range ws {
		k := room + "\x00" + w
		if m.warned[k] {
			continue
		}
		m.warned[k] = true
		m.noticeAfter(room, after, "warning: "+sanitizeLine(w), true)
	}
}

func (m *Model) dropPending(room string, id int) {
	ps := m.pend[room]
	for i, p := range ps {
		if p.id == id {
			m.pend[room] = append(ps[:i:i], ps[i+1:]...)
			return
		}
	}
}

// Composer is the composer's current line (for tests and the agent).
func (m *Model) Composer() string { return m.input.Value() }
