package tui

import (
	"fmt"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

var (
	styleStatus = lipgloss.NewStyle().Reverse(true)
	styleWarn   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("3"))
	styleFaint  = lipgloss.NewStyle().Faint(true)
	styleMe     = lipgloss.NewStyle().Foreground(lipgloss.Color("6"))
	styleBold   = lipgloss.NewStyle().Bold(true)
)

// sidebarWidth is the room list's width (hidden below minSidebarScreen
// columns).
const (
	sidebarWidth     = 18
	minSidebarScreen = 60
)

func (m *Model) sidebar() int {
	if m.width >= minSidebarScreen {
		return sidebarWidth
	}
	return 0
}

func (m *Model) bodyHeight() int { return max(1, m.height-2) }

func (m *Model) timelineWidth() int {
	if sw := m.sidebar(); sw > 0 {
		return max(10, m.width-sw-1)
	}
	return max(10, m.width)
}

func (m *Model) layout() {
	m.input.SetWidth(max(1, m.width-len(m.input.Prompt)-1))
}

// View draws the screen: the room list and the timeline, the status line,
// the composer.
func (m *Model) View() tea.View {
	if m.quitting {
		return tea.NewView("")
	}
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.WindowTitle = "backchannel"
	if c := m.input.Cursor(); c != nil {
		c.X, c.Y = m.cursorX(), m.height-1
		v.Cursor = c
	}
	return v
}

// cursorX is the composer cursor's column: after the prompt, the width of
// what is shown of the line before the cursor (the line scrolls when it is
// wider than the screen; characters can be two cells wide).
func (m *Model) cursorX() int {
	line, pos := []rune(m.input.Value()), m.input.Position()
	pw := ansi.StringWidth(m.input.Prompt)
	if pos > len(line) {
		pos = len(line)
	}
	if ansi.StringWidth(string(line)) <= m.input.Width() {
		return pw + ansi.StringWidth(string(line[:pos]))
	}
	// The shown part starts where the line, from there, begins with it.
	shown := []rune(strings.TrimPrefix(ansi.Strip(m.input.View()), m.input.Prompt))
	for off := max(0, pos-len(shown)); off <= pos; off++ {
		n := min(len(shown), len(line)-off)
		if string(line[off:off+n]) == string(shown[:n]) {
			return pw + ansi.StringWidth(string(line[off:pos]))
		}
	}
	return pw + min(ansi.StringWidth(string(line[:pos])), m.input.Width())
}

// Render is the screen's text, one line per terminal row.
func (m *Model) Render() string {
	h := m.bodyHeight()
	tl := m.timeline(m.timelineWidth())
	end := max(0, len(tl)-m.scroll)
	m.scroll = len(tl) - end
	start := max(0, end-h)
	body := tl[start:end]
	for len(body) < h {
		body = append([]string{""}, body...)
	}
	if m.scroll > 0 && h > 1 {
		body[h-1] = styleFaint.Render(fit(fmt.Sprintf("  ↓ %d more lines below (PgDn, Esc)", m.scroll), m.timelineWidth()))
	}
	side := m.roomList(h)
	rows := make([]string, 0, m.height)
	for i := 0; i < h; i++ {
		row := pad(body[i], m.timelineWidth())
		if sw := m.sidebar(); sw > 0 {
			row = pad(side[i], sw) + styleFaint.Render("│") + row
		}
		rows = append(rows, row)
	}
	rows = append(rows, styleStatus.Render(pad(m.status(), m.width)))
	rows = append(rows, m.input.View())
	return strings.Join(rows[:min(len(rows), max(m.height, 2))], "\n")
}

// fit cuts s to width cells.
func fit(s string, width int) string { return ansi.Truncate(s, width, "…") }

// pad fits s to exactly width cells.
func pad(s string, width int) string {
	s = fit(s, width)
	if w := ansi.StringWidth(s); w < width {
		s += strings.Repeat(" ", width-w)
	}
	return s
}

func (m *Model) roomList(h int) []string {
	out := make([]string, h)
	sw := m.sidebar()
	if sw == 0 {
		return out
	}
	out[0] = styleBold.Render(fit("Rooms", sw))
	for i, r := range m.rooms {
		if i+1 >= h-1 {
			out[h-2] = styleFaint.Render(fit(fmt.Sprintf(" +%d more", len(m.rooms)-i), sw))
			break
		}
		mark := "  "
		if r.ID == m.cur {
			mark = "▸ "
		}
		name := sanitizeLine(r.Name)
		count := ""
		switch {
		case r.Removed:
			count = "left"
		case r.Unread > 0 && r.ID != m.cur:
			count = fmt.Sprint(r.Unread)
		}
		room := fit(mark+name, sw-len(count)-1)
		line := room + strings.Repeat(" ", max(1, sw-ansi.StringWidth(room)-len(count))) + count
		if r.ID == m.cur {
			line = styleBold.Render(line)
		}
		out[i+1] = line
	}
	if len(m.rooms) == 0 {
		out[min(1, h-1)] = styleFaint.Render(fit("  (none yet)", sw))
	}
	out[h-1] = styleFaint.Render(fit("^N/^P switch", sw))
	return out
}

// status is the status line: room, mode, marking, members, connection.
func (m *Model) status() string {
	conn := m.connText()
	if m.cur == "" || !m.loaded {
		if m.noRooms {
			return " no rooms │ " + conn
		}
		return " loading… │ " + conn
	}
	r := m.room
	members := append([]string(nil), r.Members...)
	sort.Strings(members)
	var ms []string
	for _, u := range members {
		switch {
		case u == m.b.Me():
			continue
		case r.Verified[u]:
			ms = append(ms, sanitizeLine(u)+"✓")
		default:
			ms = append(ms, sanitizeLine(u)+"?")
		}
	}
	who := strings.Join(ms, " ")
	if r.Removed {
		who = "you left"
	} else if who == "" {
		who = "only you"
	}
	head := fmt.Sprintf(" %s │ %s │ marking %s │ ", sanitizeLine(r.Name), sanitizeField(r.Mode), sanitizeField(r.Marking))
	tail := " │ " + conn
	room := m.width - ansi.StringWidth(head) - ansi.StringWidth(tail)
	if room < 8 {
		return fit(head+conn, m.width)
	}
	return head + fit(who, room) + tail
}

func (m *Model) connText() string {
	switch {
	case m.conn == StateReconnecting:
		return "reconnecting…"
	case m.conn == StateConnected && m.reconnected:
		return "reconnected"
	case m.conn == StateConnecting:
		return "connecting…"
	case m.conn == StateRefused:
		return "refused by the server"
	}
	return sanitizeField(m.conn)
}

// entry is one dated thing in the timeline.
type entry struct {
	at   time.Time
	msg  *Message
	item *item
	pend *pending
}

// entries merges the room's messages, the screen's own lines and the
// lines being sent, in order.
func (m *Model) entries() []entry {
	items := m.items[m.cur]
	byAfter := map[string][]*item{}
	known := map[string]bool{"": true}
	for i := range m.msgs {
		known[m.msgs[i].ID] = true
	}
	var orphans []*item
	for i := range items {
		it := &items[i]
		if known[it.after] {
			byAfter[it.after] = append(byAfter[it.after], it)
		} else {
			orphans = append(orphans, it)
		}
	}
	var out []entry
	for _, it := range byAfter[""] {
		out = append(out, entry{at: it.at, item: it})
	}
	for i := range m.msgs {
		msg := &m.msgs[i]
		out = append(out, entry{at: msg.SentAt, msg: msg})
		for _, it := range byAfter[msg.ID] {
			out = append(out, entry{at: it.at, item: it})
		}
	}
	for _, it := range orphans {
		out = append(out, entry{at: it.at, item: it})
	}
	for i := range m.pend[m.cur] {
		p := &m.pend[m.cur][i]
		out = append(out, entry{at: p.at, pend: p})
	}
	return out
}

// timeline renders the entries as lines of at most width cells, with a
// separator line before each new day.
func (m *Model) timeline(width int) []string {
	var out []string
	var day string
	if m.cur != "" && !m.loaded && len(m.items[m.cur]) == 0 {
		return []string{styleFaint.Render("  loading…")}
	}
	for _, e := range m.entries() {
		at := e.at.In(m.opts.Loc)
		if d := at.Format("Monday 2 January 2006"); d != day {
			day = d
			out = append(out, styleFaint.Render(fit(centre(" "+d+" ", width), width)))
		}
		hm := at.Format("15:04")
		switch {
		case e.msg != nil:
			out = append(out, m.messageLines(hm, e.msg, width)...)
		case e.pend != nil:
			out = append(out, wrapped(hm+" ", styleMe.Render(sanitizeLine(m.b.Me()))+": ", sanitizeText(e.pend.text), styleFaint.Render(" (sending…)"), width)...)
		case e.item.warn:
			for _, l := range wrapped(hm+" ", "! ", sanitizeText(e.item.text), "", width) {
				out = append(out, styleWarn.Render(l))
			}
		default:
			for _, l := range wrapped("  ", "", sanitizeText(e.item.text), "", width) {
				out = append(out, styleFaint.Render(l))
			}
		}
	}
	if m.noRooms && m.cur == "" {
		out = append(out, styleFaint.Render("  no rooms yet: create one with backchannel room create NAME --members NAMES"),
			styleFaint.Render("  (or wait here: a room someone adds you to appears on the left)"))
	}
	if len(out) == 0 && m.loaded {
		out = append(out, styleFaint.Render("  no messages yet: type one and press Enter"))
	}
	return out
}

func centre(s string, width int) string {
	w := ansi.StringWidth(s)
	if w >= width {
		return s
	}
	left := (width - w) / 2
	return strings.Repeat("─", left) + s + strings.Repeat("─", width-w-left)
}

func (m *Model) messageLines(hm string, msg *Message, width int) []string {
	text := sanitizeText(msg.Text)
	switch msg.Kind {
	case KindSystem:
		return wrapped(hm+" ", "* ", text, "", width)
	case KindNotice:
		ls := wrapped(hm+" ", "! ", text, "", width)
		for i := range ls {
			ls[i] = styleWarn.Render(ls[i])
		}
		return ls
	}
	who := sanitizeLine(msg.Sender) + ": "
	tail := ""
	if msg.Sender == m.b.Me() {
		who = styleMe.Render(sanitizeLine(msg.Sender)) + ": "
		d := msg.Delivery
		if d == "" {
			d = m.delivery[msg.ID]
		}
		if d == DeliveryDelivered && msg.Of > 1 && msg.DeliveredTo < msg.Of {
			d = fmt.Sprintf("delivered to %d of %d", msg.DeliveredTo, msg.Of)
		}
		if d != "" {
			tail = styleFaint.Render(" (" + d + ")")
		}
	}
	return wrapped(hm+" ", who, text, tail, width)
}

// wrapped lays out text after lead and label, wrapped to width with the
// continuation lines indented under the text; tail ends the last line.
func wrapped(lead, label string, text []string, tail string, width int) []string {
	indent := ansi.StringWidth(lead)
	first := lead + label
	avail := max(8, width-indent)
	var out []string
	for i, para := range text {
		prefix := strings.Repeat(" ", indent)
		if i == len(text)-1 {
			para += tail
		}
		if i == 0 {
			// The label shares the first paragraph's first line.
			para = label + para
			prefix = lead
		}
		for j, l := range strings.Split(ansi.Wrap(para, avail, ""), "\n") {
			if i == 0 && j == 0 {
				out = append(out, prefix+l)
				continue
			}
			out = append(out, strings.Repeat(" ", indent)+l)
		}
	}
	if len(out) == 0 {
		out = append(out, first)
	}
	return out
}
