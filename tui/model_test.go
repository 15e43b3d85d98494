package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
	"unicode"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

func TestSendClearsComposer(t *testing.T) {
	f := newFake()
	s := open(t, f, "deal")
	s.typ("Thirty days, final.", "enter")
	if want := []string{"r1: Thirty days, final."}; fmt.Sprint(f.sent) != fmt.Sprint(want) {
		t.Fatalf("sent %q, want %q", f.sent, want)
	}
	if got := s.m.Composer(); got != "" {
		t.Fatalf("composer after Enter = %q, want empty", got)
	}
	s.shows("anna: Thirty days, final. (sent)", "anna: We need forty days. (delivered)")
}

func TestSlashCommands(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		shows      []string
		sent       []string
		quit       bool
	}{
		{"help is local", "/help", []string{"/verify NAME", "/share FILE", "Ctrl-C leaves", "Ctrl-N/Ctrl-P next/previous room"}, nil, false},
		{"unknown is refused", "/members", []string{"unknown command /members: nothing was sent"}, nil, false},
		{"unknown with text is refused", "/shrug hello", []string{"unknown command /shrug"}, nil, false},
		{"who lists verification", "/who", []string{"ben ✓ safety number compared", "carl ? not verified: /verify carl", "anna (you)"}, nil, false},
		{"verify shows the number and how to confirm", "/verify carl", []string{"Safety number with carl:", "11111 22222 33333 44444", "If every group matched: /verify carl confirm"}, nil, false},
		{"verify confirm records", "/verify carl confirm", []string{"Recorded: carl is verified."}, nil, false},
		{"verify needs a name", "/verify", []string{"/verify needs a name"}, nil, false},
		{"verify refuses oneself", "/verify anna", []string{"that is you"}, nil, false},
		{"share needs a file", "/share", []string{"/share needs a file"}, nil, false},
		{"leave", "/leave", []string{"You left deal."}, nil, false},
		{"double slash sends", "//shrug", nil, []string{"r1: /shrug"}, false},
		{"quit", "/quit", nil, nil, true},
		{"commands are case-insensitive", "/HELP", []string{"/verify NAME"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			s := open(t, f, "deal")
			s.typ(tc.line, "enter")
			s.shows(tc.shows...)
			if fmt.Sprint(f.sent) != fmt.Sprint(tc.sent) {
				t.Fatalf("sent %q, want %q", f.sent, tc.sent)
			}
			if s.quit != tc.quit {
				t.Fatalf("quit = %v, want %v", s.quit, tc.quit)
			}
		})
	}
}

func TestShareAndLeaveReachTheBackend(t *testing.T) {
	f := newFake()
	s := open(t, f, "deal")
	s.typ("/share terms.md", "enter")
	s.typ("/leave", "enter")
	if fmt.Sprint(f.shared) != "[r1: terms.md]" || fmt.Sprint(f.left) != "[r1]" {
		t.Fatalf("shared %q, left %q", f.shared, f.left)
	}
	if len(f.sent) != 0 {
		t.Fatalf("sent %q", f.sent)
	}
}

func TestHistory(t *testing.T) {
	f := newFake()
	s := open(t, f, "deal")
	s.typ("first", "enter")
	s.typ("/who", "enter")
	s.typ("draft in progress")
	for _, step := range []struct{ key, want string }{
		{"up", "/who"},
		{"up", "first"},
		{"up", "first"}, // the oldest stays
		{"down", "/who"},
		{"down", "draft in progress"}, // back to the line being typed
		{"down", "draft in progress"},
	} {
		s.send(keyNamed(step.key))
		if got := s.m.Composer(); got != step.want {
			t.Fatalf("after %s: composer %q, want %q", step.key, got, step.want)
		}
	}
	s.send(keyNamed("up"))
	s.send(keyNamed("up"))
	s.typ(" again", "enter")
	if got := f.sent[len(f.sent)-1]; got != "r1: first again" {
		t.Fatalf("an edited earlier line sent %q", got)
	}
}

func TestEscapeSequencesNeverSent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		paste string
		want  string
	}{
		{"colour codes", "\x1b[31mred\x1b[0m", "red"},
		{"cursor keys", "a\x1b[Db", "ab"},
		{"title change", "\x1b]0;owned\x07ok", "ok"},
		{"bell and backspace", "x\x07\x08y", "xy"},
		{"line breaks become spaces", "one\ntwo", "one two"},
		{"reordering characters", "abc\u202edef", "abcdef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			s := open(t, f, "deal")
			s.send(tea.PasteMsg{Content: tc.paste})
			if got := s.m.Composer(); got != tc.want {
				t.Fatalf("composer %q, want %q", got, tc.want)
			}
			s.typ("", "enter")
			if fmt.Sprint(f.sent) != fmt.Sprint([]string{"r1: " + tc.want}) {
				t.Fatalf("sent %q", f.sent)
			}
		})
	}
}

// TestKeysFromBytes feeds the bytes a terminal sends through a real
// program: keys edit the line and are never text, pastes lose their
// escape sequences.
func TestKeysFromBytes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		sent     []string
	}{
		{"left arrow moves the cursor", "hi\x1b[Dx\r", []string{"r1: hxi"}},
		{"function and unknown keys are dropped", "a\x1bOP\x1b[99~\x1b[15~b\r", []string{"r1: ab"}},
		{"ctrl-left moves a word", "one two\x1b[1;5Dx\r", []string{"r1: one xtwo"}},
		{"alt-letter is not text", "a\x1bxb\r", []string{"r1: ab"}},
		{"bracketed paste is cleaned", "\x1b[200~pa\x1b[31mste\x07\x1b[201~\r", []string{"r1: paste"}},
		{"up recalls, ctrl-u clears", "first\r\x1b[A\x15second\r", []string{"r1: first", "r1: second"}},
		{"a lone escape sends nothing", "\x1b\r", nil},
		{"lines go out in the order typed", "1\r2\r3\r4\r", []string{"r1: 1", "r1: 2", "r1: 3", "r1: 4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			m := New(context.Background(), f, Options{Room: "deal", Now: func() time.Time { return f.now }, Loc: time.UTC})
			in, typing := io.Pipe()
			p := tea.NewProgram(m, tea.WithInput(in), tea.WithOutput(io.Discard), tea.WithoutSignalHandler(), tea.WithWindowSize(80, 24), tea.WithEnvironment([]string{"TERM=xterm"}))
			ran := make(chan error, 1)
			go func() { _, err := p.Run(); ran <- err }()
			// A last line, sent after every line before it, tells when
			// the keys were handled; Ctrl-C then ends the program.
			io.WriteString(typing, tc.in+"\x15end\r")
			deadline := time.Now().Add(20 * time.Second)
			for !f.hasSent("r1: end") {
				if time.Now().After(deadline) {
					t.Fatalf("the last line was never sent; sent %q", f.sentLines())
				}
				time.Sleep(5 * time.Millisecond)
			}
			io.WriteString(typing, "\x03")
			if err := <-ran; err != nil {
				t.Fatal(err)
			}
			typing.Close()
			got := f.sentLines()
			got = got[:len(got)-1]
			if fmt.Sprint(got) != fmt.Sprint(tc.sent) {
				t.Fatalf("sent %q, want %q", got, tc.sent)
			}
		})
	}
}

func TestReceiveWhileTyping(t *testing.T) {
	f := newFake()
	s := open(t, f, "deal")
	s.typ("half a sentce", "left", "left")
	pos := s.m.input.Position()
	f.add("r1", Message{ID: "m3", Sender: "ben", SentAt: f.now, Text: "A new message arrives.", Kind: KindText})
	s.send(eventMsg{ev: Event{State: StateConnected, Report: true, Received: 1}, ok: true})
	s.shows("ben: A new message arrives.", "> half a sentce")
	if got := s.m.Composer(); got != "half a sentce" || s.m.input.Position() != pos {
		t.Fatalf("composer %q at %d, want %q at %d", got, s.m.input.Position(), "half a sentce", pos)
	}
	s.typ("en", "enter")
	if got := f.sent[0]; got != "r1: half a sentence" {
		t.Fatalf("sent %q", got)
	}
}

func TestStatusLineAt80x24(t *testing.T) {
	f := newFake()
	s := openSized(t, f, "deal", 80, 24)
	rows := strings.Split(s.screenText(), "\n")
	if len(rows) != 24 {
		t.Fatalf("%d rows, want 24:\n%s", len(rows), s.screenText())
	}
	for i, r := range rows {
		if w := ansi.StringWidth(r); w > 80 {
			t.Fatalf("row %d is %d cells wide: %q", i, w, r)
		}
	}
	status := rows[22]
	for _, w := range []string{"deal", "on-record", "marking words", "ben✓", "carl?", "connected"} {
		if !strings.Contains(status, w) {
			t.Fatalf("status line %q lacks %q", status, w)
		}
	}
	if strings.Contains(status, "anna") {
		t.Fatalf("status line %q names the user", status)
	}
	if !strings.HasPrefix(rows[23], "> ") {
		t.Fatalf("last row %q is not the composer", rows[23])
	}
}

func TestConnectionStates(t *testing.T) {
	f := newFake()
	s := open(t, f, "deal")
	for _, step := range []struct {
		ev     Event
		status string
		shows  string
	}{
		{Event{State: StateReconnecting, Reason: "the server cannot be reached"}, "reconnecting…", "connection lost (the server cannot be reached): reconnecting…"},
		{Event{State: StateConnected}, "reconnected", "reconnected"},
		{Event{State: StateRefused, Reason: "the server refused this device"}, "refused by the server", "nothing more arrives or leaves"},
	} {
		s.m.showReconnected = time.Hour // the tick is not run before the check
		_, cmd := s.m.Update(eventMsg{ev: step.ev, ok: true})
		rows := strings.Split(s.screenText(), "\n")
		if status := rows[len(rows)-2]; !strings.Contains(status, step.status) {
			t.Fatalf("after %s: status %q lacks %q", step.ev.State, status, step.status)
		}
		s.shows(step.shows)
		_ = cmd // reloads and the tick, not needed here
	}
	s.send(tickMsg{})
	if rows := strings.Split(s.screenText(), "\n"); strings.Contains(rows[len(rows)-2], "reconnected") {
		t.Fatalf("status still says reconnected: %q", rows[len(rows)-2])
	}
}

func TestDaySeparatorsAndOrder(t *testing.T) {
	f := newFake()
	s := open(t, f, "deal")
	text := s.screenText()
	i1 := strings.Index(text, "Tuesday 1 December 2026")
	i2 := strings.Index(text, "Yesterday's offer stands.")
	i3 := strings.Index(text, "Wednesday 2 December 2026")
	i4 := strings.Index(text, "We need forty days.")
	if i1 < 0 || i2 < i1 || i3 < i2 || i4 < i3 {
		t.Fatalf("days and messages out of order (%d %d %d %d):\n%s", i1, i2, i3, i4, text)
	}
}

func TestWarningsInlineOnce(t *testing.T) {
	f := newFake()
	f.warns = []string{"carl is not verified"}
	s := open(t, f, "deal")
	s.typ("one", "enter")
	s.typ("two", "enter")
	s.send(eventMsg{ev: Event{State: StateConnected, Report: true, Warnings: []string{"a gap in ben's messages"}}, ok: true})
	s.shows("! warning: carl is not verified", "! warning: a gap in ben's messages")
	if n := strings.Count(s.screenText(), "carl is not verified"); n != 1 {
		t.Fatalf("the warning is shown %d times", n)
	}
}

func TestSendFailureShownNotLost(t *testing.T) {
	f := newFake()
	f.sendErr = errors.New("ben's key changed: accept it first")
	s := open(t, f, "deal")
	s.typ("offer", "enter")
	s.shows("! not sent: ben's key changed: accept it first")
	s.send(keyNamed("up"))
	if got := s.m.Composer(); got != "offer" {
		t.Fatalf("the failed line is not in the history: %q", got)
	}
}

func TestRoomListAndSwitch(t *testing.T) {
	f := newFake()
	s := open(t, f, "deal")
	s.shows("▸ deal", "  ops            3│")
	s.send(keyNamed("ctrl+n"))
	s.shows("▸ ops", "dora: ops here", "ops │ deniable │ marking off")
	s.lacks("We need forty days.")
	s.typ("hello ops", "enter")
	if fmt.Sprint(f.sent) != "[r2: hello ops]" {
		t.Fatalf("sent %q", f.sent)
	}
}

func TestFirstRoomWithUnread(t *testing.T) {
	s := open(t, newFake(), "")
	s.shows("▸ ops", "dora: ops here")
}

func TestReceivedControlCharactersShownNotInterpreted(t *testing.T) {
	f := newFake()
	f.add("r1", Message{ID: "evil", Sender: "ben", SentAt: f.now, Text: "look\x1b[2J\x1b]0;title\x07\u202eright", Kind: KindText})
	s := open(t, f, "deal")
	raw := s.m.Render()
	for _, bad := range []string{"\x1b[2J", "\x1b]0;", "\x07", "\u202e"} {
		if strings.Contains(raw, bad) {
			t.Fatalf("the screen passes %q through", bad)
		}
	}
	s.shows("ben: look\uFFFD[2J\uFFFD]0;title\uFFFD\uFFFDright")
}

func TestCtrlCLeavesAtOnce(t *testing.T) {
	f := newFake()
	s := open(t, f, "deal")
	s.typ("unsent words")
	s.send(keyNamed("ctrl+c"))
	if !s.quit {
		t.Fatal("Ctrl-C did not quit")
	}
	if len(f.sent) != 0 {
		t.Fatalf("sent %q", f.sent)
	}
}

func TestLongMessagesWrapWithinTheWidth(t *testing.T) {
	f := newFake()
	f.add("r1", Message{ID: "long", Sender: "ben", SentAt: f.now, Text: strings.Repeat("word ", 60) + "end", Kind: KindText})
	s := openSized(t, f, "deal", 80, 24)
	for i, r := range strings.Split(s.screenText(), "\n") {
		if w := ansi.StringWidth(r); w > 80 {
			t.Fatalf("row %d is %d wide", i, w)
		}
	}
	s.shows("end")
}

func TestOpeningARoomMarksItRead(t *testing.T) {
	f := newFake()
	s := open(t, f, "deal")
	s.send(keyNamed("ctrl+n"))
	if want := "[r1: m2 r2: o1]"; fmt.Sprint(f.read) != want {
		t.Fatalf("marked read %q, want %q", f.read, want)
	}
	s.lacks("ops            3")
}

func TestDeliveryStates(t *testing.T) {
	f := newFake()
	f.rooms[0].Members = []string{"anna", "ben", "carl"}
	f.add("r1", Message{ID: "q", Sender: "anna", SentAt: f.now, Text: "still queued", Kind: KindText, Delivery: DeliveryQueued})
	f.add("r1", Message{ID: "p", Sender: "anna", SentAt: f.now, Text: "half there", Kind: KindText, Delivery: DeliveryDelivered, DeliveredTo: 1, Of: 2})
	f.add("r1", Message{ID: "b", Sender: "ben", SentAt: f.now, Text: "from ben", Kind: KindText, Delivery: DeliverySent})
	s := open(t, f, "deal")
	s.shows("anna: still queued (queued)", "anna: half there (delivered to 1 of 2)", "anna: We need forty days. (delivered)")
	s.lacks("from ben (sent)")
}

func TestArchivedRoomsLeftOut(t *testing.T) {
	f := newFake()
	f.rooms[1].Archived = true
	s := open(t, f, "deal")
	s.lacks("ops")
}

func TestSendWarningFollowsTheMessage(t *testing.T) {
	f := newFake()
	f.warns = []string{"carl is not verified"}
	s := open(t, f, "deal")
	s.typ("the offer", "enter")
	text := s.screenText()
	if i, j := strings.Index(text, "anna: the offer"), strings.Index(text, "warning: carl is not verified"); i < 0 || j < i {
		t.Fatalf("the warning is not after the message it is about:\n%s", text)
	}
}

func TestEachRoomKeepsItsDraft(t *testing.T) {
	f := newFake()
	s := open(t, f, "deal")
	s.typ("meant for deal")
	s.send(keyNamed("ctrl+n"))
	if got := s.m.Composer(); got != "" {
		t.Fatalf("ops's composer holds %q", got)
	}
	s.typ("for ops", "enter")
	s.send(keyNamed("ctrl+n")) // back to deal
	if got := s.m.Composer(); got != "meant for deal" {
		t.Fatalf("deal's draft is %q", got)
	}
	if fmt.Sprint(f.sent) != "[r2: for ops]" {
		t.Fatalf("sent %q", f.sent)
	}
}

func TestScrollBack(t *testing.T) {
	f := newFake()
	for i := 0; i < 60; i++ {
		f.add("r1", Message{ID: fmt.Sprint("n", i), Sender: "ben", SentAt: f.now, Text: fmt.Sprintf("line %02d", i), Kind: KindText})
	}
	s := openSized(t, f, "deal", 80, 24)
	s.shows("line 59")
	s.lacks("line 30")
	s.send(tea.KeyPressMsg{Code: tea.KeyPgUp})
	s.shows("line 30", "more lines below")
	s.lacks("line 59")
	s.send(tea.KeyPressMsg{Code: tea.KeyEscape})
	s.shows("line 59")
	s.lacks("more lines below")
}

func TestNarrowScreenHidesTheRoomList(t *testing.T) {
	f := newFake()
	s := openSized(t, f, "deal", 50, 12)
	rows := strings.Split(s.screenText(), "\n")
	if len(rows) != 12 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if w := ansi.StringWidth(r); w > 50 {
			t.Fatalf("row %d is %d wide", i, w)
		}
	}
	s.lacks("Rooms")
	s.shows("deal │ on-record", "We need forty")
}

func TestNoRoomsYet(t *testing.T) {
	f := newFake()
	f.rooms = nil
	s := open(t, f, "")
	s.shows("no rooms yet: create one with backchannel room create", " no rooms │ connected")
	s.typ("hello", "enter")
	s.shows("no room is open")
	if len(f.sent) != 0 {
		t.Fatalf("sent %q", f.sent)
	}
	// A room someone adds this user to appears with the next report.
	f.rooms = []Room{{ID: "r9", Name: "new", Mode: "deniable", Marking: "off", Members: []string{"anna", "ben"}}}
	f.msgs["r9"] = []Message{{ID: "x", Sender: "ben", SentAt: f.now, Text: "welcome", Kind: KindText}}
	s.send(eventMsg{ev: Event{State: StateConnected, Report: true, Received: 1}, ok: true})
	s.shows("▸ new", "ben: welcome")
}

func TestCursorColumn(t *testing.T) {
	f := newFake()
	s := openSized(t, f, "deal", 40, 10)
	long := strings.Repeat("abcdefghij", 8) // wider than the screen
	for _, tc := range []struct {
		name string
		do   func()
		want int
	}{
		{"empty", func() {}, 2},
		{"short", func() { s.typ("héllo") }, 7},
		{"wide characters", func() { s.m.input.SetValue("日本"); s.m.input.CursorEnd() }, 6},
		{"long line at its end", func() { s.m.input.SetValue(long); s.m.input.CursorEnd() }, -1},
		{"long line, ten back from its end", func() {
			s.m.input.SetValue(long)
			s.m.input.CursorEnd()
			for i := 0; i < 10; i++ {
				s.send(keyNamed("left"))
			}
		}, -11},
		{"long line at its start", func() { s.m.input.SetValue(long); s.m.input.CursorEnd(); s.send(tea.KeyPressMsg{Code: tea.KeyHome}) }, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.m.input.SetValue("")
			tc.do()
			v := s.m.View()
			if v.Cursor == nil {
				t.Fatal("no cursor")
			}
			composer := strings.Split(ansi.Strip(v.Content), "\n")[9]
			want := tc.want
			if want < 0 { // counted back from just after the last character shown
				want = ansi.StringWidth(strings.TrimRight(composer, " ")) + want + 1
			}
			if v.Cursor.X != want || v.Cursor.Y != 9 {
				t.Fatalf("cursor at %d,%d, want %d,9; composer %q", v.Cursor.X, v.Cursor.Y, want, composer)
			}
		})
	}
}

// TestFormatCharactersNeverDrawn: a received message full of the canary's
// zero-width marks (and a room, a reason and a warning with them) is drawn
// without a single format character (Unicode Cf), so every row is exactly
// as wide as the screen and the terminal cannot join cells.
func TestFormatCharactersNeverDrawn(t *testing.T) {
	marked := "Th\u200Birty\u200C da\u200Dys,\u2060 fi\uFEFFnal\u00AD.\u200D\u200D\u200B " +
		strings.Repeat("wo\u200Drd\u200B\u2060 ", 30) + "e\u200Dnd\u200D"
	for _, tc := range []struct {
		name          string
		width, height int
	}{{"80x24 with the room list", 80, 24}, {"50x12 without it", 50, 12}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.rooms[0].Mode = "on-\u200Drecord"
			f.rooms[0].Marking = "wor\u200Bds"
			s := openSized(t, f, "deal", tc.width, tc.height)
			f.add("r1", Message{ID: "m3", Sender: "ben", SentAt: f.now, Text: marked, Kind: KindText})
			s.send(eventMsg{ev: Event{State: StateConnected, Report: true, Received: 1, Warnings: []string{"a gap\u200D in ben's messages"}}, ok: true})
			s.send(eventMsg{ev: Event{State: StateReconnecting, Reason: "the server\u200B\uFEFF cannot be reached"}, ok: true})

			raw := s.m.Render()
			for i, r := range raw {
				if unicode.Is(unicode.Cf, r) {
					t.Fatalf("the screen draws U+%04X at byte %d:\n%q", r, i, raw)
				}
			}
			rows := strings.Split(raw, "\n")
			if len(rows) != tc.height {
				t.Fatalf("%d rows, want %d", len(rows), tc.height)
			}
			for i, r := range rows[:len(rows)-1] { // the composer is the last
				if w := ansi.StringWidth(r); w != tc.width {
					t.Fatalf("row %d is %d cells wide, want %d: %q", i, w, tc.width, ansi.Strip(r))
				}
			}
			if w := ansi.StringWidth(rows[len(rows)-1]); w > tc.width {
				t.Fatalf("the composer row is %d cells wide: %q", w, rows[len(rows)-1])
			}
			status := ansi.Strip(rows[len(rows)-2])
			if !strings.HasSuffix(strings.TrimRight(status, " "), "reconnecting…") {
				t.Fatalf("the status line %q does not end with the connection", status)
			}
			s.shows("ben: Thirty days, final. word word", "connection lost (the server cannot be")
			if tc.width >= minSidebarScreen {
				s.shows("on-record │ marking words")
			}
		})
	}
}
