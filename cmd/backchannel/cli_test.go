package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/spf13/cobra"

	"backchannel/localserver"
	"backchannel/server"
)

// TestCLI runs the scripts in testdata/cli against the real binary: every
// exit code of README.md's table, --json output of every command (errors
// included), plain error messages. Each script gets two fresh servers on
// loopback: $SERVER (open registration) and $CLOSED (invites only, its
// data in $CLOSEDDATA), which `stopserver closed` stops.
func TestCLI(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/cli",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":      cmdExits,
			"jsonout":    cmdJSONOut,
			"plainerr":   cmdPlainErr,
			"interrupt":  cmdInterrupt,
			"stopserver": cmdStopServer,
		},
		Setup: func(env *testscript.Env) error {
			servers := map[string]*localserver.Server{}
			for _, s := range []struct {
				name string
				cfg  server.Config
			}{{"open", server.Config{OpenRegistration: true}}, {"closed", server.Config{}}} {
				srv, err := localserver.Start(context.Background(), filepath.Join(env.WorkDir, ".server-"+s.name), "127.0.0.1:0", s.cfg, nil)
				if err != nil {
					return err
				}
				env.Defer(func() { srv.Stop() })
				servers[s.name] = srv
			}
			env.Values[serversKey{}] = servers
			env.Setenv("SERVER", servers["open"].URL)
			env.Setenv("CLOSED", servers["closed"].URL)
			env.Setenv("CLOSEDDATA", servers["closed"].Dir)
			env.Setenv("BACKCHANNEL_PASSPHRASE", "correct horse battery staple")
			env.Setenv("BACKCHANNEL_AGENT", "off") // one process per command: the statuses are its own
			return nil
		},
	})
}

type serversKey struct{}

// cmdExits: exits CODE PROGRAM ARGS... runs the program and fails unless it
// exits with CODE; stdout and stderr are kept for the next commands.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("%v", err)
	}
	if got != want {
		ts.Fatalf("exit status %d, want %d", got, want)
	}
}

// cmdJSONOut: jsonout [error CODE] checks that the last command's stdout is
// one or more JSON values and nothing else; with "error CODE", that it is
// the error object of an error with that exit code.
func cmdJSONOut(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: jsonout [error CODE]")
	}
	out := ts.ReadFile("stdout")
	if err := allJSON(out); err != nil {
		ts.Fatalf("stdout is not JSON: %v", err)
	}
	if len(args) == 0 {
		return
	}
	if len(args) != 2 || args[0] != "error" {
		ts.Fatalf("usage: jsonout [error CODE]")
	}
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Kind    string `json:"kind"`
			Message string `json:"message"`
		} `json:"error"`
	}
	ts.Check(json.Unmarshal([]byte(out), &e))
	if strconv.Itoa(e.Error.Code) != args[1] || e.Error.Kind == "" || e.Error.Message == "" {
		ts.Fatalf("error object %+v, want code %s with a kind and a message", e.Error, args[1])
	}
	if msg := badMessage(e.Error.Message); msg != "" {
		ts.Fatalf("error message %q: %s", e.Error.Message, msg)
	}
}

// allJSON checks that s is a non-empty sequence of JSON values.
func allJSON(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty")
	}
	dec := json.NewDecoder(strings.NewReader(s))
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// cmdPlainErr checks that the last command's error line on stderr reads
// as plain language (see badMessage).
func cmdPlainErr(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: plainerr")
	}
	var line string
	for _, l := range strings.Split(ts.ReadFile("stderr"), "\n") {
		if strings.HasPrefix(l, "backchannel: ") {
			line = strings.TrimPrefix(l, "backchannel: ")
		}
	}
	if line == "" {
		ts.Fatalf("no error line (backchannel: ...) on stderr")
	}
	if msg := badMessage(line); msg != "" {
		ts.Fatalf("error message %q: %s", line, msg)
	}
}

// goSlice is a Go slice printed with %v: "[alice bob]".
var goSlice = regexp.MustCompile(`\[[a-z0-9_-]+( [a-z0-9_-]+)+\]`)

// packagePrefix is a package's name in front of a message, at its start or
// after a colon: "client: ", "vault: ".
var packagePrefix = regexp.MustCompile(`(^|: )(client|apiclient|vault|backup|server|store|sqlite|transcript|keylog|verify|witness|canary|contacts|devicelist|devicelink|docstream|envelope|handshake|identity|ratchet|session|room|live|names|pad|api|leak|cobra|pflag): `)

// goLayout is a Go time layout or a Go type's text in a message.
var goLayout = regexp.MustCompile(`2006-01-02|15:04:05|0700|strconv\.|parsing "|\*[a-z]+\.[A-Z]|&\{|map\[|context canceled|<nil>`)

// badMessage says what makes an error message not plain, or "".
func badMessage(m string) string {
	switch {
	case packagePrefix.MatchString(m):
		return "starts with a package name"
	case goSlice.MatchString(m):
		return "shows a Go slice"
	case goLayout.MatchString(m):
		return "shows Go syntax or a Go time layout"
	}
	return ""
}

func TestBadMessage(t *testing.T) {
	for _, c := range []struct {
		msg string
		bad bool
	}{
		{"unknown room \"talks\"", false},
		{"client: unknown room", true},
		{"open the profile: vault: wrong passphrase", true},
		{"the room has members [alice bob]", true},
		{"the room has members alice and bob", false},
		{"--from: parsing time \"x\" as \"2006-01-02T15:04:05Z07:00\"", true},
		{"invalid argument \"x\": strconv.ParseFloat: parsing \"x\": invalid syntax", true},
		{"give a time such as 2026-11-28T14:00:00Z", false},
		{"interrupted: context canceled", true},
	} {
		if got := badMessage(c.msg) != ""; got != c.bad {
			t.Errorf("badMessage(%q) = %v, want %v", c.msg, got, c.bad)
		}
	}
}

// cmdInterrupt: interrupt CODE REGEXP PROGRAM ARGS... starts the program,
// waits until a line of its output (stdout or stderr) matches REGEXP, sends
// it SIGINT and fails unless it then exits with status CODE.
func cmdInterrupt(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: interrupt CODE REGEXP PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	args = args[1:]
	ready := regexp.MustCompile(args[0])
	path, err := lookPath(ts, args[1])
	ts.Check(err)
	cmd := exec.Command(path, args[2:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = append(os.Environ(), "PATH="+ts.Getenv("PATH"), "HOME="+ts.Getenv("HOME"), "BACKCHANNEL_PASSPHRASE="+ts.Getenv("BACKCHANNEL_PASSPHRASE"), "BACKCHANNEL_AGENT=off")
	pr, pw := io.Pipe()
	var all bytes.Buffer
	// One writer for both streams: exec then writes from one goroutine at
	// a time (two writers raced on the buffer).
	out := io.MultiWriter(pw, &all)
	cmd.Stdout, cmd.Stderr = out, out
	ts.Check(cmd.Start())
	done := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); done <- err }()
	// A program that never gets ready must not hang the suite.
	guard := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer guard.Stop()
	seen := false
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if !seen && ready.MatchString(sc.Text()) {
			seen = true
			ts.Check(cmd.Process.Signal(os.Interrupt))
		}
	}
	err = <-done
	ts.Logf("[output]\n%s", all.String())
	if !seen {
		ts.Fatalf("the program ended (%v) before printing a line matching %q", err, args[0])
	}
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("after SIGINT: %v", err)
	}
	if got != want {
		ts.Fatalf("after SIGINT: exit status %d, want %d", got, want)
	}
}

func lookPath(ts *testscript.TestScript, name string) (string, error) {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New(name + " is not on the script's PATH")
}

// cmdStopServer: stopserver open|closed stops one of the script's servers.
func cmdStopServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stopserver open|closed")
	}
	srv := ts.Value(serversKey{}).(map[string]*localserver.Server)[args[0]]
	if srv == nil {
		ts.Fatalf("no server %q", args[0])
	}
	srv.Stop()
}

// testTree is the command tree as one invocation builds it.
func testTree() *cobra.Command {
	env := &callEnv{cwd: os.TempDir(), stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard,
		getenv: func(string) (string, bool) { return "", false }, readSecret: func(string) ([]byte, error) { return nil, errNoTerminal }}
	return newRootCmdEnv(env, []string{})
}

// TestEveryCommandHasAnExample: every command's --help shows an example
// and more than its one-line summary.
func TestEveryCommandHasAnExample(t *testing.T) {
	n := 0
	walk(testTree(), func(c *cobra.Command) {
		if c.Hidden || !c.Runnable() {
			return
		}
		n++
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("'%s --help' shows no example: set Example on the command or add it to examples.go", c.CommandPath())
		}
		if strings.TrimSpace(c.Long) == "" && c.Parent() != nil && c.Parent().Name() != "completion" && c.Name() != "completion" && c.Name() != "help" {
			t.Errorf("'%s --help' has only its one-line summary: set Long on the command or add it to examples.go's longHelp", c.CommandPath())
		}
	})
	if n < 30 {
		t.Fatalf("walked only %d commands", n)
	}
}

// TestProtocolRevisionIsDocumented: --version names the latest revision of
// docs/protocol.md.
func TestProtocolRevisionIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	head := regexp.MustCompile(`(?m)^# backchannel protocol, version (\d+)$`).FindSubmatch(doc)
	if head == nil {
		t.Fatal("docs/protocol.md has no '# backchannel protocol, version N' title")
	}
	latest := string(head[1]) + ".0"
	for _, m := range regexp.MustCompile(`(?m)^Revision (\d+\.\d+) `).FindAllSubmatch(doc, -1) {
		latest = string(m[1]) // revisions are listed oldest first
	}
	if protocolRevision != latest {
		t.Errorf("protocolRevision is %q, docs/protocol.md's latest revision is %q", protocolRevision, latest)
	}
}
