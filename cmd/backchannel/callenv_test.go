package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every top-level command decides whether it runs inside the profile's
// agent or in the calling process: a new command cannot silently open the
// profile itself (and fail with "in use" while an agent holds it).
func TestEveryCommandChoosesWhereItRuns(t *testing.T) {
	root := newRootCmd()
	for _, c := range root.Commands() {
		name := c.Name()
		in, local := contains(agentCommands, name), contains(localCommands, name)
		switch {
		case in && local:
			t.Errorf("%q is in both agentCommands and localCommands", name)
		case !in && !local:
			t.Errorf("command %q is in neither agentCommands nor localCommands (cmd/backchannel/agent.go): decide where it runs", name)
		}
	}
}

// The rules that let a command run inside the agent on a caller's behalf,
// checked on the source: the caller's streams, variables and working
// directory come from callEnv, and nobody closes the agent's profile.
func TestCommandsUseTheCallersEnvironment(t *testing.T) {
	allowed := map[string]bool{"callenv.go": true, "agent.go": true, "main.go": true,
		"resize_unix.go": true, "resize_other.go": true}
	banned := regexp.MustCompile(`os\.(Stdin|Stdout|Stderr|Getenv|LookupEnv|Getwd|Chdir)\b`)
	// Where a client may be closed: the agent's own, release, and the
	// profiles init and restore create (they run in the calling process).
	closeRe := regexp.MustCompile(`\bc\.Close\(\)`)
	closes := map[string]int{}
	maxCloses := map[string]int{"agent.go": 3, "root.go": 1, "cmd_client.go": 2, "cmd_backup.go": 1}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || allowed[f] {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			code, _, _ := strings.Cut(line, "//")
			if banned.MatchString(code) && !strings.Contains(f, "serve") && !strings.Contains(f, "witness") && !strings.Contains(f, "bench") {
				t.Errorf("%s:%d uses the process's own environment (%s); use g.env (callEnv) so it works inside the agent", f, i+1, banned.FindString(code))
			}
			if closeRe.MatchString(code) {
				closes[f]++
			}
		}
	}
	for f, n := range closes {
		if n > maxCloses[f] {
			t.Errorf("%s closes a client %d times (at most %d): a command that got its client from g.open or withClient must use g.release, which keeps the agent's profile open", f, n, maxCloses[f])
		}
	}
}

// withClient and open hand out the agent's profile inside the agent, and
// release never closes it.
func TestReleaseKeepsTheAgentsProfileOpen(t *testing.T) {
	g := &globals{env: localEnv()}
	if _, ok := g.peek(); ok {
		t.Fatal("peek found a profile outside the agent")
	}
	op := &opened{}
	_, g2 := buildRoot(localEnv(), []string{"status"}, op)
	if g2.profile == nil {
		t.Fatal("inside the agent the command tree has no profile")
	}
	// release on the agent's profile must not call Close (a nil client
	// would panic if it did).
	g2.release(nil)
}
