package tui_test

// These tests drive the real binary's full-screen chat in a real terminal:
// tmux at 80×24, keys typed with send-keys, the screen read with
// capture-pane, against an in-process server on loopback.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"backchannel/localserver"
	"backchannel/server"
)

const passphrase = "correct horse battery staple"

// waitFor bounds every wait for the screen or a command.
const waitFor = 45 * time.Second

var (
	worlds    atomic.Int64 // numbers each world's tmux socket
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// binary builds cmd/backchannel once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "backchannel-tui-test-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "backchannel")
		out, err := exec.Command("go", "build", "-o", binPath, "backchannel/cmd/backchannel").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// world is a server, two profiles (anna and ben) sharing the on-record
// room "deal", and a tmux server to run anna's chat in.
type world struct {
	t *testing.T
	// oneProcess: every command runs in its own process (no agent).
	oneProcess bool
	bin        string
	dir        string
	srv        *localserver.Server
	addr       string
	sock       string
	token      int
}

func newWorld(t *testing.T, oneProcess bool) *world {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is not installed: the chat's terminal tests need it (apt-get install tmux)")
	}
	w := &world{t: t, bin: binary(t), dir: t.TempDir(), oneProcess: oneProcess}
	w.start("127.0.0.1:0")
	t.Cleanup(func() { w.srv.Stop() })
	t.Cleanup(func() { // the agents the commands started
		for _, u := range []string{"anna", "ben"} {
			cmd := exec.Command(w.bin, "lock")
			cmd.Env = w.env(u)
			cmd.Run()
		}
	})
	w.sock = fmt.Sprintf("bctest-%d-%d", os.Getpid(), worlds.Add(1))
	t.Cleanup(func() { exec.Command("tmux", "-L", w.sock, "kill-server").Run() })
	w.cli("anna", "init", "--server", w.srv.URL, "--name", "anna")
	w.cli("ben", "init", "--server", w.srv.URL, "--name", "ben")
	w.cli("anna", "room", "create", "deal", "--members", "ben", "--marking", "off")
	w.cli("ben", "send", "deal", "Ben here, ready when you are.")
	return w
}

func (w *world) start(addr string) {
	w.t.Helper()
	srv, err := localserver.Start(context.Background(), filepath.Join(w.dir, "server"), addr, server.Config{OpenRegistration: true}, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.srv, w.addr = srv, strings.TrimPrefix(srv.URL, "http://")
}

// stop stops the server (start(w.addr) brings it back on the same port,
// with the same data).
func (w *world) stop() {
	w.t.Helper()
	if err := w.srv.Stop(); err != nil {
		w.t.Fatalf("stop the server: %v", err)
	}
}

func (w *world) env(user string) []string {
	return append(os.Environ(), w.vars(user)...)
}

// vars are the variables every command of user gets.
func (w *world) vars(user string) []string {
	vs := []string{"BACKCHANNEL_PASSPHRASE=" + passphrase, "BACKCHANNEL_HOME=" + filepath.Join(w.dir, user), "TZ=UTC"}
	if w.oneProcess {
		vs = append(vs, "BACKCHANNEL_AGENT=off")
	}
	return vs
}

// cli runs the binary as user and returns its output.
func (w *world) cli(user string, args ...string) string {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = w.env(user)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("%s: backchannel %s: %v\n%s", user, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// tmux runs a tmux command on this world's tmux server.
func (w *world) tmux(args ...string) string {
	w.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", w.sock, "-f", "/dev/null"}, args...)...).CombinedOutput()
	if err != nil {
		w.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// chat opens user's chat in room in a new 80×24 tmux session.
func (w *world) chat(user, room string) *pane {
	w.t.Helper()
	w.token++
	name := fmt.Sprintf("chat%d", w.token)
	args := []string{"new-session", "-d", "-x", "80", "-y", "24", "-s", name}
	for _, kv := range w.vars(user) {
		args = append(args, "-e", kv)
	}
	// The exit status goes to a file (tmux can be slow to reap the pane),
	// and the shell then waits, so that what the chat printed last stays
	// on the screen (tmux can drop a dying pane's last output).
	status := filepath.Join(w.dir, name+".status")
	args = append(args, fmt.Sprintf("%s chat %s; echo $? > %s; read _", w.bin, room, status))
	w.tmux(args...)
	w.tmux("set-option", "-t", name, "remain-on-exit", "on")
	return &pane{w: w, target: name, status: status}
}

type pane struct {
	w      *world
	target string
	status string // the file the chat's exit status is written to
}

// exited waits for the chat to end and returns its exit status.
func (p *pane) exited() string {
	p.w.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		if b, err := os.ReadFile(p.status); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			p.w.t.Fatalf("the chat did not end; the screen:\n%s", p.capture())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *pane) capture() string { return p.w.tmux("capture-pane", "-p", "-t", p.target) }

// keys sends tmux key names (Enter, Left, C-c).
func (p *pane) keys(keys ...string) {
	p.w.tmux(append([]string{"send-keys", "-t", p.target}, keys...)...)
}

// typ types text literally.
func (p *pane) typ(text string) { p.w.tmux("send-keys", "-t", p.target, "-l", text) }

// waitUntil polls the screen until ok holds, or fails with the screen.
func (p *pane) waitUntil(what string, ok func(screen string) bool) string {
	p.w.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		s := p.capture()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.w.t.Fatalf("the chat never showed %s; the screen:\n%s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *pane) waitFor(text string) string {
	p.w.t.Helper()
	return p.waitUntil(fmt.Sprintf("%q", text), func(s string) bool { return strings.Contains(s, text) })
}

// statusRow is the second row from the bottom of an 80×24 screen.
func statusRow(screen string) string {
	rs := strings.Split(screen, "\n")
	if len(rs) < 24 {
		return ""
	}
	return rs[22]
}

func composerRow(screen string) string {
	rs := strings.Split(screen, "\n")
	if len(rs) < 24 {
		return ""
	}
	return rs[23]
}

// waitRead polls user's `read ROOM` until it holds want.
func (w *world) waitRead(user, room, want string) string {
	w.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		out := w.cli(user, "read", room)
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s's read %s never showed %q:\n%s", user, room, want, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestChatInTerminal runs the chat inside the agent (as commands do by
// default) and in a process of its own (BACKCHANNEL_AGENT=off).
func TestChatInTerminal(t *testing.T) {
	for _, tc := range []struct {
		name       string
		oneProcess bool
	}{{"in the agent", false}, {"one process", true}} {
		t.Run(tc.name, func(t *testing.T) { chatInTerminal(t, newWorld(t, tc.oneProcess)) })
	}
}

func chatInTerminal(t *testing.T, w *world) {
	p := w.chat("anna", "deal")

	// The room opens at 80×24 with its status line.
	s := p.waitUntil("the status line, connected", func(s string) bool {
		st := statusRow(s)
		return strings.Contains(st, "connected") && strings.Contains(st, "deal")
	})
	if size := strings.TrimSpace(w.tmux("display-message", "-p", "-t", p.target, "#{pane_width}x#{pane_height}")); size != "80x24" {
		t.Fatalf("the pane is %s", size)
	}
	st := statusRow(s)
	for _, want := range []string{"deal", "on-record", "marking off", "ben?", "connected"} {
		if !strings.Contains(st, want) {
			t.Fatalf("status line %q lacks %q; the screen:\n%s", st, want, s)
		}
	}
	if !strings.HasPrefix(composerRow(s), ">") {
		t.Fatalf("the last row is not the composer; the screen:\n%s", s)
	}
	p.waitFor("ben: Ben here, ready when you are.")

	// A resize redraws the screen at the new size (forwarded by the agent
	// too), and back.
	w.tmux("resize-window", "-t", p.target, "-x", "100", "-y", "30")
	p.waitUntil("the status line on row 29 of 30", func(s string) bool {
		rs := strings.Split(s, "\n")
		return len(rs) >= 30 && strings.Contains(rs[28], "connected") && strings.HasPrefix(rs[29], ">")
	})
	w.tmux("resize-window", "-t", p.target, "-x", "80", "-y", "24")
	p.waitUntil("the status line on row 23 of 24", func(s string) bool {
		return strings.Contains(statusRow(s), "connected") && strings.HasPrefix(composerRow(s), ">")
	})

	// Send; a warning (ben is not verified in an on-record room) shows inline.
	p.typ("First offer: thirty days.")
	p.keys("Enter")
	p.waitFor("anna: First offer: thirty days. (sent)")
	p.waitFor("warning: ben is not verified")
	w.waitRead("ben", "deal", "anna: First offer: thirty days.")

	// Line editing: ← moves the cursor, the arrow never becomes text.
	p.typ("abc")
	p.keys("Left", "Left")
	p.typ("X")
	p.keys("Enter")
	p.waitFor("anna: aXbc")

	// Receive while typing: the composer's line stays intact.
	p.typ("half typed")
	w.cli("ben", "send", "deal", "Ben replies while anna types.")
	s = p.waitFor("ben: Ben replies while anna types.")
	if got := strings.TrimRight(composerRow(s), " "); got != "> half typed" {
		t.Fatalf("the composer row is %q after a message arrived; the screen:\n%s", got, s)
	}
	p.typ(" and finished")
	p.keys("Enter")
	p.waitFor("anna: half typed and finished")

	// History: ↑ recalls the last line.
	p.keys("Up")
	p.waitUntil("the last line recalled", func(s string) bool {
		return strings.HasPrefix(composerRow(s), "> half typed and finished")
	})
	p.keys("C-u")
	p.waitUntil("an empty composer", func(s string) bool { return !strings.Contains(composerRow(s), "half typed") })

	// Slash commands are local: unknown ones refused, /help and /verify shown.
	p.typ("/members")
	p.keys("Enter")
	p.waitFor("unknown command /members: nothing was sent")
	p.typ("/help")
	p.keys("Enter")
	p.waitFor("/share FILE")
	p.typ("/verify ben")
	p.keys("Enter")
	p.waitFor("If every group matched")
	terms := filepath.Join(w.dir, "terms.txt")
	if err := os.WriteFile(terms, []byte("Clause 4: joint monitors report to both capitals.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.typ("/share " + terms)
	p.keys("Enter")
	p.waitFor("anna: shared terms.txt")
	p.typ("Last line.")
	p.keys("Enter")
	p.waitFor("anna: Last line. (sent)")
	read := w.waitRead("ben", "deal", "anna: Last line.")
	for _, never := range []string{"/members", "/help", "/verify", "[D", "\x1b"} {
		if strings.Contains(read, never) {
			t.Fatalf("ben received %q:\n%s", never, read)
		}
	}
	if docs := w.cli("ben", "docs", "deal"); !strings.Contains(docs, "terms.txt") {
		t.Fatalf("ben's docs lack the shared file:\n%s", docs)
	}
	for _, want := range []string{"anna: aXbc", "anna: half typed and finished"} {
		if !strings.Contains(read, want) {
			t.Fatalf("ben's read lacks %q:\n%s", want, read)
		}
	}

	// Ctrl-C leaves at once, with a zero exit.
	p.keys("C-c")
	if st := p.exited(); st != "0" {
		t.Fatalf("the chat ended with exit status %s after Ctrl-C", st)
	}

	// An unknown room is refused before the screen opens: not found (4).
	q := w.chat("anna", "nosuch")
	if st := q.exited(); st != "4" {
		t.Fatalf("chat nosuch exited %s, want 4; the pane:\n%s", st, q.capture())
	}
	q.waitFor(`unknown room "nosuch"`)
}

func TestChatReconnectsAfterServerRestart(t *testing.T) {
	w := newWorld(t, false)
	p := w.chat("anna", "deal")
	p.waitUntil("connected", func(s string) bool { return strings.Contains(statusRow(s), "connected") })
	p.waitFor("ben: Ben here, ready when you are.")

	w.stop()
	p.waitUntil("reconnecting in the status line", func(s string) bool { return strings.Contains(statusRow(s), "reconnecting") })
	p.waitFor("connection lost")

	// Typed while the server is down: kept, and shown as queued.
	p.typ("Sent while the server was down.")
	p.keys("Enter")
	p.waitFor("anna: Sent while the server was down. (queued)")

	w.start(w.addr)
	p.waitFor("reconnected")
	p.waitUntil("connected in the status line", func(s string) bool { return strings.Contains(statusRow(s), "connected") })
	p.waitFor("anna: Sent while the server was down. (sent)")
	w.cli("ben", "send", "deal", "Back after the restart.")
	p.waitFor("ben: Back after the restart.")
	w.waitRead("ben", "deal", "anna: Sent while the server was down.")
}

// TestChatDrawsNoMarks: in a room with every marking, anna's copy of ben's
// message carries zero-width marks (her `read` shows them), and her chat
// draws the words without them: no U+200D or U+200B reaches the terminal,
// and the status line still ends with the connection.
func TestChatDrawsNoMarks(t *testing.T) {
	w := newWorld(t, false)
	w.cli("anna", "room", "create", "talks", "--members", "ben", "--marking", "all")
	text := "We can accept the monitors if the report goes to both capitals at the same time, " +
		"and the first review happens after thirty days rather than sixty. Reference Kestrel."
	w.cli("ben", "send", "talks", text)
	read := w.waitRead("anna", "talks", "Kestrel")
	if !strings.ContainsAny(read, "\u200B\u200C\u200D\u2060") {
		t.Fatalf("anna's read shows no zero-width mark, so this test proves nothing:\n%q", read)
	}

	p := w.chat("anna", "talks")
	s := p.waitUntil("ben's message and the status line, connected", func(s string) bool {
		return strings.Contains(s, "Kestrel") && strings.Contains(statusRow(s), "connected")
	})
	for _, bad := range []string{"\u200D", "\u200B", "\u200C", "\u2060", "\uFEFF"} {
		if strings.Contains(s, bad) {
			t.Fatalf("the screen shows %+q:\n%q", bad, s)
		}
	}
	if st := strings.TrimRight(statusRow(s), " "); !strings.HasSuffix(st, "│ connected") {
		t.Fatalf("the status row %q does not end with the connection; the screen:\n%s", st, s)
	}
	p.keys("C-c")
	if st := p.exited(); st != "0" {
		t.Fatalf("the chat ended with exit status %s after Ctrl-C", st)
	}
}
