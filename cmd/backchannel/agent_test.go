package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"backchannel/agent"
	"backchannel/localserver"
	"backchannel/server"
)

// agentWorld is a server on loopback and a directory where the real
// program runs as separate processes, the way several terminals would.
type agentWorld struct {
	t      testing.TB
	dir    string
	server string
	bin    string
}

func newAgentWorld(t testing.TB) *agentWorld {
	t.Helper()
	// A short path: a unix socket's path is limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "bcag")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := localserver.Start(context.Background(), filepath.Join(dir, "srv"), "127.0.0.1:0", server.Config{OpenRegistration: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &agentWorld{t: t, dir: dir, server: srv.URL, bin: filepath.Join(dir, "bin")}
	t.Cleanup(func() {
		// Removing the profiles' directories stops their agents.
		for _, h := range []string{"alice", "bob"} {
			agent.Lock(context.Background(), filepath.Join(dir, h))
		}
		// Under -race the agents are this race-enabled binary: a race in
		// them lands in their log, and fails the test here.
		for _, h := range []string{"alice", "bob"} {
			agent.Lock(context.Background(), filepath.Join(dir, h))
			for i := 0; i < 50 && agent.Ping(context.Background(), filepath.Join(dir, h)); i++ {
				time.Sleep(100 * time.Millisecond)
			}
			if b, err := os.ReadFile(filepath.Join(dir, h, "agent.log")); err == nil && bytes.Contains(b, []byte("DATA RACE")) {
				t.Errorf("%s's agent reported a data race:\n%s", h, b)
			}
		}
		srv.Stop()
		os.RemoveAll(dir)
	})
	// The test binary runs as the program when called "backchannel"
	// (TestMain), so agents started on demand are this code too.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(w.bin, 0o755)
	if err := os.Symlink(self, filepath.Join(w.bin, "backchannel")); err != nil {
		t.Fatal(err)
	}
	return w
}

const testPassphrase = "correct horse battery staple"

// cmd prepares the program with the given passphrase ("" for none at all).
func (w *agentWorld) cmd(pass string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(w.bin, "backchannel"), args...)
	c.Dir = w.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BACKCHANNEL_") && !strings.HasPrefix(kv, "PATH=") {
			c.Env = append(c.Env, kv)
		}
	}
	c.Env = append(c.Env, "PATH="+w.bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if pass != "" {
		c.Env = append(c.Env, "BACKCHANNEL_PASSPHRASE="+pass)
	}
	return c
}

// run runs the program to completion and returns its output and status.
func (w *agentWorld) run(pass string, args ...string) (stdout, stderr string, code int) {
	w.t.Helper()
	c := w.cmd(pass, args...)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func (w *agentWorld) must(pass string, args ...string) string {
	w.t.Helper()
	o, e, code := w.run(pass, args...)
	if code != 0 {
		w.t.Fatalf("backchannel %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, o, e)
	}
	return o
}

func (w *agentWorld) setup() {
	w.t.Helper()
	for _, name := range []string{"alice", "bob"} {
		w.must(testPassphrase, "--home", name, "init", "--server", w.server, "--name", name)
	}
}

// waitFor reads lines from r until one matches re or the deadline passes.
func waitFor(t *testing.T, lines <-chan string, re string, seen *[]string) {
	t.Helper()
	pat := regexp.MustCompile(re)
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before %q; it was:\n%s", re, strings.Join(*seen, "\n"))
			}
			*seen = append(*seen, l)
			if pat.MatchString(l) {
				return
			}
		case <-deadline:
			t.Fatalf("no line matching %q in time; output was:\n%s", re, strings.Join(*seen, "\n"))
		}
	}
}

func linesOf(r io.Reader) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// The scenario: chat open in one terminal while send, status and
// read run in others, the passphrase given once.
func TestAgentServesSeveralTerminalsWithOnePassphrase(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	// The passphrase is given once per profile: the command that starts
	// the agent. Every later command has no passphrase at all.
	w.must(testPassphrase, "--home", "alice", "room", "create", "talks", "--members", "bob", "--marking", "off")
	w.must(testPassphrase, "--home", "bob", "status")

	chat := w.cmd("", "--home", "bob", "chat", "talks")
	in, err := chat.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := chat.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var chatErr bytes.Buffer
	chat.Stderr = &chatErr
	if err := chat.Start(); err != nil {
		t.Fatal(err)
	}
	lines := linesOf(out)
	var seen []string
	waitFor(t, lines, `^# talks`, &seen)

	w.must("", "--home", "alice", "send", "talks", "first, while bob chats")
	waitFor(t, lines, `alice: first, while bob chats`, &seen)

	// Bob's other terminals, side by side with his chat.
	st := w.must("", "--home", "bob", "status")
	if !strings.Contains(st, "bob") {
		t.Errorf("status from a second terminal: %q", st)
	}
	w.must("", "--home", "bob", "send", "talks", "from bob's second terminal")
	waitFor(t, lines, `bob: from bob's second terminal`, &seen)
	if _, err := io.WriteString(in, "typed in bob's chat\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, lines, `bob: typed in bob's chat`, &seen)
	read := w.must("", "--home", "alice", "read", "talks")
	for _, want := range []string{"first, while bob chats", "from bob's second terminal", "typed in bob's chat"} {
		if !strings.Contains(read, want) {
			t.Errorf("alice's read lacks %q:\n%s", want, read)
		}
	}
	in.Close()
	if err := chat.Wait(); err != nil {
		t.Errorf("chat: %v\n%s", err, chatErr.String())
	}
}

func TestLockForgetsTheProfile(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	w.must(testPassphrase, "--home", "alice", "status")
	w.must("", "--home", "alice", "status")
	if o := w.must("", "--home", "alice", "lock"); !strings.Contains(o, "Locked") {
		t.Errorf("lock said %q", o)
	}
	_, e, code := w.run("", "--home", "alice", "status")
	if code == 0 || !strings.Contains(e, "passphrase") {
		t.Errorf("after lock, status without a passphrase: exit %d, %q; want a failure asking for the passphrase", code, e)
	}
	// A wrong passphrase cannot start a new agent.
	_, e, code = w.run("wrong passphrase here", "--home", "alice", "status")
	if code != exitAuth || !strings.Contains(e, "wrong passphrase") {
		t.Errorf("wrong passphrase: exit %d, %q; want %d", code, e, exitAuth)
	}
	if agent.Ping(context.Background(), filepath.Join(w.dir, "alice")) {
		t.Error("an agent runs after a wrong passphrase")
	}
}

func TestAgentLocksWhenIdle(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	c := w.cmd(testPassphrase, "--home", "alice", "status")
	c.Env = append(c.Env, envAgentIdle+"=2s")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	home := filepath.Join(w.dir, "alice")
	if !agent.Ping(context.Background(), home) {
		t.Fatal("no agent after the first command")
	}
	deadline := time.Now().Add(30 * time.Second)
	for agent.Ping(context.Background(), home) {
		if time.Now().After(deadline) {
			t.Fatal("the agent did not lock after 2s idle")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Ctrl-C in a forwarded command ends it with status 130 and leaves the
// agent serving.
func TestInterruptedForwardedCommand(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	w.must(testPassphrase, "--home", "alice", "status")
	c := w.cmd("", "--home", "alice", "sync", "--follow")
	var o bytes.Buffer
	c.Stdout, c.Stderr = &o, &o
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // let it reach the agent; the outcome does not depend on it
	c.Process.Signal(syscall.SIGINT)
	err := c.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != agent.StatusInterrupted {
		t.Errorf("sync --follow after Ctrl-C: %v (%s), want exit %d", err, o.String(), agent.StatusInterrupted)
	}
	w.must("", "--home", "alice", "status")
}

// Relative paths, and the caller's variables, are the caller's: a file
// written by a command run in the agent lands in the caller's directory.
func TestForwardedPathsAreTheCallers(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	w.must(testPassphrase, "--home", "alice", "room", "create", "talks", "--members", "bob")
	w.must("", "--home", "alice", "send", "talks", "for the record")
	sub := filepath.Join(w.dir, "elsewhere")
	os.Mkdir(sub, 0o755)
	c := w.cmd("", "--home", "../alice", "transcript", "export", "talks", "-o", "excerpt.json")
	c.Dir = sub
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(sub, "excerpt.json")); err != nil {
		t.Errorf("the export is not in the caller's directory: %v", err)
	}
}

// sync --follow in the agent prints each message once: a second run does
// not repeat what the first printed (it arrived in the background since).
func TestFollowInTheAgentPrintsEachMessageOnce(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	w.must(testPassphrase, "--home", "alice", "room", "create", "talks", "--members", "bob", "--marking", "off")
	w.must(testPassphrase, "--home", "bob", "status")
	follow := func(post string) []string {
		c := w.cmd("", "--home", "bob", "sync", "--follow")
		out, err := c.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		lines := linesOf(out)
		time.Sleep(time.Second) // the outcome does not depend on it: either way post must appear once
		w.must("", "--home", "alice", "send", "talks", post)
		var seen []string
		waitFor(t, lines, "alice: "+post, &seen)
		c.Process.Signal(syscall.SIGINT)
		for l := range lines {
			seen = append(seen, l)
		}
		c.Wait()
		return seen
	}
	follow("post 1")
	second := follow("post 2")
	for _, l := range second {
		if strings.Contains(l, "post 1") {
			t.Errorf("the second sync --follow printed the first run's message again:\n%s", strings.Join(second, "\n"))
		}
	}
	if o := w.must("", "--home", "bob", "sync"); !strings.HasPrefix(o, "0 new") {
		t.Errorf("sync after both follows counts what they printed: %q", o)
	}
}
