package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ttyPane runs a shell in a tmux pane (a real terminal) for prompts.
type ttyPane struct {
	t    *testing.T
	sock string
}

func newTTYPane(t *testing.T, w *agentWorld) *ttyPane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is not installed: the terminal tests need it (apt-get install tmux)")
	}
	p := &ttyPane{t: t, sock: fmt.Sprintf("bcag-%d-%d", os.Getpid(), time.Now().UnixNano())}
	env := []string{"PATH=" + w.bin + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + w.dir, "TERM=xterm-256color", "PS1=$ "}
	args := []string{"-L", p.sock, "-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", "-c", w.dir, "env", "-i"}
	args = append(args, env...)
	args = append(args, "sh")
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "-L", p.sock, "kill-server").Run() })
	return p
}

func (p *ttyPane) line(s string) {
	p.t.Helper()
	if out, err := exec.Command("tmux", "-L", p.sock, "send-keys", "-l", s).CombinedOutput(); err != nil {
		p.t.Fatalf("send-keys: %v: %s", err, out)
	}
	exec.Command("tmux", "-L", p.sock, "send-keys", "Enter").Run()
}

func (p *ttyPane) screen() string {
	out, _ := exec.Command("tmux", "-L", p.sock, "capture-pane", "-p").CombinedOutput()
	return string(out)
}

func (p *ttyPane) waitFor(want string) string {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := p.screen()
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the terminal never showed %q; it shows:\n%s", want, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A piped send with no BACKCHANNEL_PASSPHRASE asks on the terminal
// (/dev/tty), once: the agent it starts serves the next command without a
// prompt.
func TestPipedSendPromptsOnTheTerminalOnce(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	w.must(testPassphrase, "--home", "alice", "room", "create", "talks", "--members", "bob")
	w.must("", "--home", "alice", "lock")
	p := newTTYPane(t, w)
	p.line("echo 'Our red line is the northern border.' | backchannel --home alice send talks -; echo \"rc\"\"=$?\"")
	p.waitFor("Passphrase:")
	p.line(testPassphrase)
	s := p.waitFor("rc=")
	if !strings.Contains(s, "rc=0") || !strings.Contains(s, "Sent") {
		t.Fatalf("the piped send did not go out:\n%s", s)
	}
	p.line("clear; backchannel --home alice send talks 'no prompt this time'; echo \"rc2\"\"=$?\"")
	s = p.waitFor("rc2=")
	if strings.Contains(s, "Passphrase:") || !strings.Contains(s, "rc2=0") {
		t.Fatalf("the second command asked again or failed:\n%s", s)
	}
	read := w.must(testPassphrase, "--home", "bob", "read", "talks")
	for _, want := range []string{"northern", "no prompt this time"} {
		if !strings.Contains(stripInvisible(read), want) {
			t.Errorf("bob's read lacks %q:\n%s", want, read)
		}
	}
}

// Ctrl-C at the passphrase prompt gives up at once: exit 130, no agent,
// nothing called corrupted.
func TestCtrlCAtThePrompt(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	p := newTTYPane(t, w)
	p.line("backchannel --home alice status; echo \"rc\"\"=$?\"")
	p.waitFor("Passphrase:")
	exec.Command("tmux", "-L", p.sock, "send-keys", "C-c").Run()
	s := p.waitFor("rc=")
	if !strings.Contains(s, "rc=130") {
		t.Errorf("Ctrl-C at the prompt: want exit 130:\n%s", s)
	}
	for _, bad := range []string{"corrupt", "tamper"} {
		if strings.Contains(strings.ToLower(s), bad) {
			t.Errorf("Ctrl-C at the prompt reported %q:\n%s", bad, s)
		}
	}
	if _, err := os.Stat(filepath.Join(w.dir, "alice", "agent.sock")); err == nil {
		t.Error("an agent runs after Ctrl-C at the prompt")
	}
}

// stripInvisible drops the invisible marks so a test can look for words.
func stripInvisible(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
			return -1
		}
		return r
	}, s)
}
