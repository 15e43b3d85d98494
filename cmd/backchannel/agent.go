package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"backchannel/agent"
	"backchannel/client"
	"backchannel/live"
	"backchannel/vault"
	"backchannel/webapp"
)

// agentCommands are the top-level commands that work on an open profile:
// they run inside the profile's agent (started when none is running), so
// the passphrase is asked once and several terminals can use one profile.
// localCommands run in the calling process. Every command is in one list
// (TestEveryCommandChoosesWhereItRuns).
var (
	agentCommands = []string{"room", "send", "sync", "read", "search", "keys", "status", "share", "docs", "voice",
		"verify", "transcript", "trace", "pool", "chat", "devices", "backup", "settings"}
	localCommands = []string{"app", "serve", "init", "restore", "passphrase", "demo", "bench", "eval", "witness",
		"agent", "lock", "completion", "help", "version"}
)

// Environment variables.
const (
	// envAgent=off runs every command in its own process (one-shot
	// scripts; no background process is left behind).
	envAgent = "BACKCHANNEL_AGENT"
	// envAgentIdle sets the idle time after which an agent started on
	// demand locks (a Go duration; default defaultIdle).
	envAgentIdle = "BACKCHANNEL_AGENT_IDLE"
)

const (
	defaultIdle = 30 * time.Minute
	// startTimeout bounds how long a caller waits for the agent it started
	// (opening the profile runs Argon2id).
	startTimeout = 90 * time.Second
)

// forwardedEnv are the caller's variables an invocation inside the agent
// sees (the profile's passphrase is not among them: the agent has it).
func forwardedEnv(lookup func(string) (string, bool)) map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "BACKCHANNEL_") && k != "BACKCHANNEL_PASSPHRASE") ||
			k == "TERM" || k == "COLORTERM" || k == "NO_COLOR" {
			if v, ok := lookup(k); ok {
				m[k] = v
			}
		}
	}
	return m
}

// forward runs this invocation in the profile's agent when it belongs
// there, starting the agent if none is running; ok is false when the
// invocation runs here.
func (g *globals) forward(ctx context.Context, root *cobra.Command) (code int, ok bool) {
	if g.env.inAgent || len(g.args) == 0 {
		return 0, false
	}
	if v, _ := g.env.lookupEnv(envAgent); v == "off" {
		return 0, false
	}
	completing := strings.HasPrefix(g.args[0], "__complete")
	args := g.args
	if completing {
		args = args[1:]
	}
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		return 0, false
	}
	top := cmd
	for top.Parent() != root {
		top = top.Parent()
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return 0, false // the usage error is reported here
	}
	if h, _ := cmd.Flags().GetBool("help"); h {
		return 0, false
	}
	home, err := g.homeDir()
	if err != nil {
		return 0, false
	}
	if top.Name() == "passphrase" {
		// A new passphrase locks the profile first: the agent holds it open.
		if agent.Lock(ctx, home) == nil {
			awaitLocked(ctx, home)
			fmt.Fprintln(g.env.stderr, "(the agent for this profile was locked first)")
		}
		return 0, false
	}
	if !contains(agentCommands, top.Name()) {
		return 0, false
	}
	if _, err := os.Stat(filepath.Join(home, client.ProfileFile)); err != nil {
		return 0, false // no profile: the command says so, or needs none
	}
	req := agent.Request{Op: agent.OpExec, Args: g.args, Cwd: g.env.cwd, Env: forwardedEnv(g.env.lookupEnv),
		StdinTTY: g.env.stdinTTY, StdoutTTY: g.env.stdoutTTY}
	term := agent.Terminal{Stdin: g.env.stdin, Stdout: g.env.stdout, Stderr: g.env.stderr,
		Raw: g.env.raw, Size: g.env.size, Resized: g.env.resized,
		ReadSecret: func(p string) ([]byte, error) {
			b, err := g.env.readSecret(p)
			if errors.Is(err, errInterrupted) {
				return nil, agent.ErrInterrupted
			}
			return b, err
		}}
	code, err = agent.Run(ctx, home, req, term)
	if errors.Is(err, agent.ErrNotRunning) {
		if completing {
			return 0, false // completion never asks for a passphrase
		}
		if err = g.startAgent(ctx, home); err == nil {
			code, err = agent.Run(ctx, home, req, term)
		}
	}
	if err != nil {
		return report(g.env.stdout, g.env.stderr, wantsJSON(g.args), err), true
	}
	return code, true
}

// awaitLocked waits (up to 10 s) until a locking agent has let go of the
// profile: its socket goes only after the profile is closed.
func awaitLocked(ctx context.Context, home string) {
	for i := 0; i < 200 && agent.Ping(ctx, home); i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// agentStartError is why an agent started on demand did not come up.
type agentStartError struct {
	code int
	msg  string
}

func (e agentStartError) Error() string   { return e.msg }
func (e agentStartError) exitStatus() int { return e.code }

// startAgent asks for the passphrase once, starts the profile's agent in
// the background and waits until it listens.
func (g *globals) startAgent(ctx context.Context, home string) error {
	pw, err := g.passphrase("Passphrase: ")
	if err != nil {
		return err
	}
	defer clear(pw)
	err = g.spawnAgent(ctx, home, pw)
	if errors.Is(err, errAgentInUse) {
		// Another caller's agent won the race, or one is stopping.
		return g.awaitAgent(ctx, home, pw)
	}
	return err
}

// errAgentInUse: the agent started could not take the profile's lock.
var errAgentInUse = errors.New("the profile is in use")

// spawnAgent starts `backchannel agent --detach` with pw on its stdin and
// waits for its one line on stdout.
func (g *globals) spawnAgent(ctx context.Context, home string, pw []byte) error {
	exe, err := selfExecutable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "--home", home, "agent", "--detach")
	cmd.Dir = home // not the caller's directory, which it would keep busy
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BACKCHANNEL_PASSPHRASE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdin = strings.NewReader(string(pw))
	logf, err := os.OpenFile(filepath.Join(home, "agent.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	defer logf.Close()
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	detach(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	ready := make(chan agentReady, 1)
	go func() {
		var r agentReady
		line, err := bufio.NewReader(out).ReadBytes('\n')
		if err != nil || json.Unmarshal(line, &r) != nil {
			r = agentReady{Code: exitFailure, Message: "the agent stopped while starting (see agent.log in the profile directory)"}
		}
		ready <- r
	}()
	var r agentReady
	select {
	case r = <-ready:
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		cmd.Wait()
		return errors.New("the agent did not start in time (see agent.log in the profile directory)")
	case <-ctx.Done():
		cmd.Process.Kill()
		cmd.Wait()
		return errInterrupted
	}
	if !r.OK {
		cmd.Wait()
		if r.InUse {
			return errAgentInUse
		}
		return agentStartError{r.Code, r.Message}
	}
	go cmd.Wait()
	return nil
}

// awaitAgent waits for another process's agent to answer, or for the
// profile to be free again (an agent that was locking) to start one.
func (g *globals) awaitAgent(ctx context.Context, home string, pw []byte) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if agent.Ping(ctx, home) {
			return nil
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-time.After(200 * time.Millisecond):
		}
		if !agent.Ping(ctx, home) {
			if err := g.spawnAgent(ctx, home, pw); !errors.Is(err, errAgentInUse) {
				return err
			}
		}
	}
	return errors.New("the profile is held by another backchannel process that is not an agent (close it, or use another --home)")
}

// agentReady is the one line a detached agent writes when it is up or
// has failed.
type agentReady struct {
	OK      bool   `json:"ok,omitempty"`
	Code    int    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	InUse   bool   `json:"in_use,omitempty"`
}

// selfExecutable is this program, as the caller ran it (a test binary
// under testscript is found by the name on PATH it was run as).
func selfExecutable() (string, error) {
	if strings.ContainsRune(os.Args[0], os.PathSeparator) {
		return filepath.Abs(os.Args[0])
	}
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		return filepath.Abs(p)
	}
	return os.Executable()
}

func addAgentCmds(root *cobra.Command, g *globals) {
	root.AddCommand(newAgentCmd(g), newLockCmd(g), newAppCmd(g))
}

func newAgentCmd(g *globals) *cobra.Command {
	var idle time.Duration
	var detached bool
	cmd := &cobra.Command{
		Use:   "agent [--idle 30m]",
		Short: "Hold the profile unlocked so other commands need no passphrase (started on demand)",
		Long: `agent opens the profile once (asking for its passphrase), keeps the push
connection to the server, syncs in the background, and runs the commands of every
terminal of this user that use the profile: chat in one terminal, send, read and
status in another, without a passphrase prompt each time.

Any command that needs the profile starts the agent when none is running, so
running it by hand is only needed to keep it in the foreground (a service
manager, a tmux pane). It listens on agent.sock in the profile directory (readable
by you only). It locks — closes the profile and exits — after --idle without a
command (default 30m, or $BACKCHANNEL_AGENT_IDLE), on 'backchannel lock', or when
the profile directory is removed. BACKCHANNEL_AGENT=off makes every command run
in its own process instead.`,
		Example: `  backchannel agent                 # in the foreground, until Ctrl-C or 'backchannel lock'
  backchannel agent --idle 2h
  backchannel lock                  # lock now`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("idle") {
				idle = defaultIdle
				if v, ok := g.env.lookupEnv(envAgentIdle); ok {
					d, err := time.ParseDuration(v)
					if err != nil || d < 0 {
						return usageError{fmt.Errorf("%s=%q is not a duration like 30m or 2h", envAgentIdle, v)}
					}
					idle = d
				}
			}
			home, err := g.homeDir()
			if err != nil {
				return err
			}
			if detached {
				return runDetachedAgent(cmd.Context(), g, home, idle)
			}
			if agent.Ping(cmd.Context(), home) {
				return fmt.Errorf("an agent is already running for the profile in %s ('backchannel lock' stops it)", home)
			}
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.env.stdout, "Agent unlocked %s's profile in %s; it locks after %s without a command, on 'backchannel lock', or on Ctrl-C.\n", c.User(), home, idleText(idle))
			err = serveAgent(cmd.Context(), g, home, c, idle, func() {}, nil)
			fmt.Fprintln(g.env.stdout, "Locked:", lockReason(err))
			if errors.Is(err, context.Canceled) || errors.Is(err, agent.ErrLocked) || errors.Is(err, agent.ErrIdle) || errors.Is(err, agent.ErrGone) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&idle, "idle", defaultIdle, "lock after this long without a command (0: never)")
	cmd.Flags().BoolVar(&detached, "detach", false, "internal: started on demand, passphrase on stdin")
	cmd.Flags().MarkHidden("detach")
	return cmd
}

func idleText(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return d.String()
}

func lockReason(err error) string {
	switch {
	case errors.Is(err, agent.ErrLocked):
		return "on request"
	case errors.Is(err, agent.ErrIdle):
		return "idle for too long"
	case errors.Is(err, agent.ErrGone):
		return "its socket was removed"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return safeLine(fmt.Sprint(err))
}

// runDetachedAgent is the agent started by startAgent: passphrase on
// stdin, one agentReady line on stdout, then nothing more on it.
func runDetachedAgent(ctx context.Context, g *globals, home string, idle time.Duration) error {
	pw, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
	say := func(r agentReady) {
		b, _ := json.Marshal(r)
		os.Stdout.Write(append(b, '\n'))
		os.Stdout.Close()
	}
	if err != nil || len(pw) == 0 {
		say(agentReady{Code: exitUsage, Message: "the agent was started without a passphrase"})
		return forwarded{exitUsage}
	}
	c, err := client.Open(ctx, home, pw, client.Options{})
	clear(pw)
	if err != nil {
		r := agentReady{Code: exitCode(err), Message: openErrorText(home, err)}
		r.InUse = errors.Is(err, client.ErrProfileInUse)
		say(r)
		return forwarded{r.Code}
	}
	err = serveAgent(ctx, g, home, c, idle, func() { say(agentReady{OK: true}) }, nil)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, time.Now().Format(time.RFC3339), "agent stopped:", lockReason(err))
	}
	return forwarded{exitOK}
}

// openErrorText says why the profile did not open, in the words open uses.
func openErrorText(home string, err error) string {
	switch {
	case errors.Is(err, vault.ErrWrongPassphrase):
		return fmt.Sprintf("wrong passphrase for the profile in %s", home)
	case errors.Is(err, vault.ErrInconsistent):
		return fmt.Sprintf("the profile in %s cannot be trusted: %v", home, err)
	}
	return err.Error()
}

// serveAgent listens on the profile's socket and runs calls on c until the
// agent locks, then closes c; ready runs once it listens. The socket goes
// only after the profile is closed, so whoever sees it gone can open the
// profile. web, when set, is the desktop app that started this agent
// (backchannel app): it serves c while the agent runs; otherwise the agent
// starts one when 'app' asks.
func serveAgent(ctx context.Context, g *globals, home string, c *client.Client, idle time.Duration, ready func(), web *webapp.Server) error {
	sock := agent.SocketPath(home)
	// We hold the profile's lock: a socket file left here is stale.
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		c.Close()
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		c.Close()
		os.Remove(sock)
		return err
	}
	hctx, stopHub := context.WithCancel(ctx)
	hubDone := make(chan struct{})
	hub := live.New(c)
	go func() {
		defer close(hubDone)
		hub.Run(hctx)
	}()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)) // agent.log when started on demand
	srv := &agent.Server{Idle: idle, Socket: sock, Logger: logger}
	aw := &agentWeb{ctx: hctx, home: home, log: logger, srv: web, touch: srv.Touch}
	if web != nil {
		web.Attach(c, hub, srv.Touch)
	}
	defer func() {
		aw.detach()
		stopHub()
		<-hubDone
		c.Close()
		os.Remove(sock)
	}()
	op := &opened{c: c, hub: hub, web: aw}
	srv.Exec = func(ctx context.Context, call *agent.Call) int {
		code := executeIn(ctx, callEnvFor(ctx, call), call.Args, op)
		hub.Changed() // what this call sent or changed shows in other terminals' chats
		return code
	}
	ready()
	return srv.Serve(ctx, ln)
}

// callEnvFor is a forwarded call's environment.
func callEnvFor(ctx context.Context, call *agent.Call) *callEnv {
	env := call.Env
	return &callEnv{
		cwd: call.Cwd, stdin: call.Stdin, stdout: call.Stdout, stderr: call.Stderr,
		getenv:   func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		stdinTTY: call.StdinTTY, stdoutTTY: call.StdoutTTY,
		readSecret: func(prompt string) ([]byte, error) {
			b, err := call.ReadSecret(ctx, prompt)
			switch {
			case errors.Is(err, agent.ErrNoTerminal):
				return nil, errNoTerminal
			case errors.Is(err, agent.ErrInterrupted):
				return nil, errInterrupted
			}
			return b, err
		},
		size: call.Size, resized: call.Resized(), raw: call.Raw,
		inAgent: true,
	}
}

func newLockCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Lock the profile: stop its agent, so the next command asks for the passphrase",
		Example: `  backchannel lock
  backchannel --home ./alice lock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := g.homeDir()
			if err != nil {
				return err
			}
			err = agent.Lock(cmd.Context(), home)
			locked := err == nil
			if err != nil && !errors.Is(err, agent.ErrNotRunning) {
				return err
			}
			if locked {
				awaitLocked(cmd.Context(), home)
			}
			if g.json {
				return printJSON(g.env.stdout, map[string]any{"home": home, "locked": locked, "was_running": locked})
			}
			if locked {
				fmt.Fprintf(g.env.stdout, "Locked: the agent for %s has stopped; the next command asks for the passphrase.\n", home)
			} else {
				fmt.Fprintf(g.env.stdout, "Nothing to lock: no agent is running for %s.\n", home)
			}
			return nil
		},
	}
}
