package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"backchannel/client"
	"backchannel/live"
	"backchannel/vault"
)

// globals are the flags every command shares.
type globals struct {
	home string
	json bool
	// env is the caller's side of this invocation (see callEnv).
	env *callEnv
	// args are the invocation's arguments, as given (forwarded to the
	// agent unchanged).
	args []string
	// profile, when set, provides the open profile instead of opening it
	// (inside the agent).
	profile func() *client.Client
	// hub, when set, is the agent's live connection for that profile.
	hub *live.Hub
	// web, when set, is the agent's desktop app (started on demand).
	web *agentWeb
}

// liveHub returns the open profile's live connection: the agent's when this
// runs inside it, otherwise a new one that runs until ctx ends. Anything
// that follows the push stream (chat, sync --follow) watches it instead of
// running a Follow loop of its own.
func (g *globals) liveHub(ctx context.Context, c *client.Client) *live.Hub {
	if g.hub != nil {
		return g.hub
	}
	h := live.New(c)
	go h.Run(ctx)
	return h
}

// peek returns the open profile when it can be had without asking anyone
// for a passphrase (inside the agent), for shell completions.
func (g *globals) peek() (*client.Client, bool) {
	if g.profile != nil {
		return g.profile(), true
	}
	return nil, false
}

func newRootCmd() *cobra.Command { return newRootCmdEnv(localEnv(), nil) }

// newRootCmdEnv builds the command tree for one invocation from env; args
// are what it will be executed with (nil: os.Args[1:]).
func newRootCmdEnv(env *callEnv, args []string) *cobra.Command {
	root, _ := buildRoot(env, args, nil)
	return root
}

// opened is the agent's open profile and its live connection.
type opened struct {
	c   *client.Client
	hub *live.Hub
	web *agentWeb // the desktop app this agent serves (cmd_app.go)
}

// buildRoot builds the command tree for one invocation; op, when set, is
// the agent's open profile the commands use.
func buildRoot(env *callEnv, args []string, op *opened) (*cobra.Command, *globals) {
	if args == nil {
		args = os.Args[1:]
	}
	g := &globals{env: env, args: args}
	if op != nil {
		g.profile = func() *client.Client { return op.c }
		g.hub = op.hub
		g.web = op.web
	}
	root := &cobra.Command{
		Use:   "backchannel",
		Short: "A self-hosted secure line for high-stakes negotiations",
		Long: `backchannel is an end-to-end encrypted, post-quantum messenger for negotiations:
one binary that is both the server (backchannel serve) and the client.

A client profile lives in --home (or $BACKCHANNEL_HOME, default ~/.backchannel),
readable by you only; its passphrase comes from $BACKCHANNEL_PASSPHRASE or a
prompt on a terminal ('backchannel passphrase' changes it).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.SetArgs(args)
	root.SetIn(env.stdin)
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	addAgentCmds(root, g)
	root.PersistentFlags().StringVar(&g.home, "home", "", "client profile directory (default $BACKCHANNEL_HOME or ~/.backchannel)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON")
	root.AddCommand(
		newDemoCmd(),
		newServeCmd(),
		newInitCmd(g),
		newRoomCmd(g),
		newSendCmd(g),
		newSyncCmd(g),
		newReadCmd(g),
		newSearchCmd(g),
		newKeysCmd(g),
		newStatusCmd(g),
		newShareCmd(g), newDocsCmd(g), newVoiceCmd(g),
		newVerifyCmd(g),
		newTranscriptCmd(g),
		newTraceCmd(g),
		newPoolCmd(g),
		newEvalCmd(g),
		newBenchCmd(g),
		newChatCmd(g),
		newDevicesCmd(g),
		newBackupCmd(g),
		newSettingsCmd(g),
		newRestoreCmd(g),
		newWitnessCmd(g),
		newPassphraseCmd(g),
	)
	finishTree(root, g) // errors.go, tree.go, examples.go, completion.go
	return root, g
}

func (g *globals) homeDir() (string, error) {
	if g.home != "" {
		return g.env.path(g.home), nil
	}
	if h, _ := g.env.lookupEnv("BACKCHANNEL_HOME"); h != "" {
		return g.env.path(h), nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --home given and no home directory: %w", err)
	}
	return filepath.Join(u, ".backchannel"), nil
}

// passphrase reads the caller's $BACKCHANNEL_PASSPHRASE, or prompts on the
// caller's terminal (/dev/tty when stdin is a pipe).
func (g *globals) passphrase(prompt string) ([]byte, error) {
	if p, ok := g.env.lookupEnv("BACKCHANNEL_PASSPHRASE"); ok {
		if p == "" {
			return nil, errors.New("BACKCHANNEL_PASSPHRASE is set but empty")
		}
		return []byte(p), nil
	}
	p, err := g.env.readSecret(prompt)
	if errors.Is(err, errNoTerminal) {
		return nil, usageError{errors.New("no passphrase: set BACKCHANNEL_PASSPHRASE or run on a terminal to be prompted")}
	}
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("the passphrase must not be empty")
	}
	return p, nil
}

// errInterrupted: Ctrl-C at a passphrase prompt.
var errInterrupted = errors.New("interrupted: nothing was changed")

// readPassword prompts on the terminal and reads a line without echo.
// Ctrl-C (SIGINT or SIGTERM) gives up at once, with the terminal's echo
// restored and nothing changed.
func readPassword(fd int, w io.Writer, prompt string) ([]byte, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	type result struct {
		p   []byte
		err error
	}
	done := make(chan result, 1)
	fmt.Fprint(w, prompt)
	go func() {
		p, err := term.ReadPassword(fd)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(w)
		if r.err != nil {
			return nil, fmt.Errorf("read passphrase: %w", r.err)
		}
		return r.p, nil
	case <-sig:
		term.Restore(fd, state)
		fmt.Fprintln(w)
		return nil, errInterrupted
	}
}

// newPassphrase chooses a new passphrase for a profile: generated (printed
// once), from the environment variable env (scripts; no confirmation), or
// typed twice on a terminal. Every one but a generated passphrase must meet
// the rule of vault.CheckPassphrase.
func (g *globals) newPassphrase(w io.Writer, env string, generate bool) ([]byte, error) {
	if generate {
		p, err := vault.GeneratePassphrase()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(w, "Your new passphrase (write it down or put it in a password manager; it is shown only now):\n\n  %s\n\n", p)
		return []byte(p), nil
	}
	if p, ok := g.env.lookupEnv(env); ok {
		if err := vault.CheckPassphrase([]byte(p)); err != nil {
			return nil, usageError{fmt.Errorf("%s: %w", env, err)}
		}
		return []byte(p), nil
	}
	noTTY := usageError{fmt.Errorf("no passphrase: set %s, pass --generate-passphrase, or run on a terminal to be prompted", env)}
	if !g.env.stdinTTY && !g.env.inAgent && !ttyAvailable() {
		return nil, noTTY
	}
	fmt.Fprintf(g.env.stderr, "Choose a passphrase of at least %d characters (several words are easiest), or press Ctrl-C and use --generate-passphrase.\n", vault.MinPassphraseChars)
	p, err := g.env.readSecret("New passphrase: ")
	if errors.Is(err, errNoTerminal) {
		return nil, noTTY
	}
	if err != nil {
		return nil, err
	}
	if err := vault.CheckPassphrase(p); err != nil {
		return nil, usageError{err}
	}
	again, err := g.env.readSecret("The same passphrase again: ")
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(p, again) != 1 {
		return nil, usageError{errors.New("the two passphrases differ: nothing was changed")}
	}
	return p, nil
}

// open opens the profile in the selected home (inside the agent: returns
// the agent's open profile). Close it with release, never with Close.
func (g *globals) open(ctx context.Context) (*client.Client, error) {
	if g.profile != nil {
		return g.profile(), nil
	}
	home, err := g.homeDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(home, client.ProfileFile)); err != nil {
		return nil, because(vault.ErrNoVault, "no profile in %s: run 'backchannel init' first (or pass --home)", home)
	}
	pw, err := g.passphrase("Passphrase: ")
	if err != nil {
		return nil, err
	}
	c, err := client.Open(ctx, home, pw, client.Options{})
	switch {
	case errors.Is(err, vault.ErrWrongPassphrase):
		return nil, because(vault.ErrWrongPassphrase, "wrong passphrase for the profile in %s", home)
	case errors.Is(err, vault.ErrInconsistent):
		return nil, fmt.Errorf("the profile in %s cannot be trusted: %w", home, vault.ErrInconsistent)
	case err != nil:
		return nil, err
	}
	if fixed := c.RepairedFiles(); len(fixed) > 0 {
		warn(g.env.stderr, fmt.Sprintf("the profile's files were readable by other users of this computer (%s); they are now readable by you only. If others could log in here, they may have copied it", strings.Join(fixed, ", ")))
	}
	return c, nil
}

// release closes a profile open returned, unless it is the agent's.
func (g *globals) release(c *client.Client) {
	if g.profile == nil {
		c.Close()
	}
}

// withClient wraps a command body that needs the open profile, closing it
// afterwards.
func (g *globals) withClient(body func(cmd *cobra.Command, args []string, c *client.Client) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := g.open(cmd.Context())
		if err != nil {
			return err
		}
		defer g.release(c)
		return body(cmd, args, c)
	}
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
