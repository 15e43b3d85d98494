package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"backchannel/client"
	"backchannel/server/apiclient"
	"backchannel/vault"
)

// Exit codes, documented in README.md.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitVerify   = 3 // verification found a problem (bad signature, doctored text)
	exitNotFound = 4 // unknown room, user or message
	exitAuth     = 5 // wrong passphrase, or the server refused our identity
)

// usageError marks errors caused by how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// verifyError marks a verification that ran and found a problem.
type verifyError struct{ err error }

func (e verifyError) Error() string { return e.err.Error() }
func (e verifyError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ue usageError
	var ve verifyError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ve):
		return exitVerify
	case errors.Is(err, client.ErrUnknownRoom), errors.Is(err, apiclient.ErrNotFound), errors.Is(err, vault.ErrNoVault):
		return exitNotFound
	case errors.Is(err, vault.ErrWrongPassphrase), errors.Is(err, apiclient.ErrUnauthorized), errors.Is(err, client.ErrIdentityChanged):
		return exitAuth
	}
	return exitFailure
}

// globals are the flags every command shares.
type globals struct {
	home string
	json bool
}

func newRootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "backchannel",
		Short: "A self-hosted secure line for high-stakes negotiations",
		Long: `backchannel is an end-to-end encrypted, post-quantum messenger for negotiations:
one binary that is both the server (backchannel serve) and the client.

A client profile lives in --home (or $BACKCHANNEL_HOME, default ~/.backchannel);
its passphrase comes from $BACKCHANNEL_PASSPHRASE or a prompt on a terminal.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
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
		newKeysCmd(g),
		newStatusCmd(g),
		newShareCmd(g), newDocsCmd(g),
		newVerifyCmd(g),
		newTranscriptCmd(g),
		newTraceCmd(g),
		newEvalCmd(g),
		newBenchCmd(g),
		newChatCmd(g),
		newDevicesCmd(g),
		newBackupCmd(g),
		newSettingsCmd(g),
		newRestoreCmd(g),
		newWitnessCmd(g),
	)
	return root
}

func (g *globals) homeDir() (string, error) {
	if g.home != "" {
		return g.home, nil
	}
	if h := os.Getenv("BACKCHANNEL_HOME"); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --home given and no home directory: %w", err)
	}
	return filepath.Join(u, ".backchannel"), nil
}

// passphrase reads $BACKCHANNEL_PASSPHRASE, or prompts when stdin is a terminal.
func passphrase(prompt string) ([]byte, error) {
	if p, ok := os.LookupEnv("BACKCHANNEL_PASSPHRASE"); ok {
		if p == "" {
			return nil, errors.New("BACKCHANNEL_PASSPHRASE is set but empty")
		}
		return []byte(p), nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, errors.New("no passphrase: set BACKCHANNEL_PASSPHRASE or run on a terminal to be prompted")
	}
	fmt.Fprint(os.Stderr, prompt)
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("the passphrase must not be empty")
	}
	return p, nil
}

// open opens the profile in the selected home.
func (g *globals) open(ctx context.Context) (*client.Client, error) {
	home, err := g.homeDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(home, client.ProfileFile)); err != nil {
		return nil, fmt.Errorf("no profile in %s: run 'backchannel init' first (or pass --home): %w", home, vault.ErrNoVault)
	}
	pw, err := passphrase("Passphrase: ")
	if err != nil {
		return nil, err
	}
	c, err := client.Open(ctx, home, pw, client.Options{})
	if errors.Is(err, vault.ErrWrongPassphrase) {
		return nil, fmt.Errorf("wrong passphrase for the profile in %s: %w", home, err)
	}
	return c, err
}

// withClient wraps a command body that needs the open profile, closing it
// afterwards.
func (g *globals) withClient(body func(cmd *cobra.Command, args []string, c *client.Client) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := g.open(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		return body(cmd, args, c)
	}
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
