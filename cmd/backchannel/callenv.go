package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/term"
)

// callEnv is what one invocation of a command sees of whoever called it:
// working directory, environment, standard streams and terminal. In a
// one-shot process it is this process's own; inside the agent it is the
// calling process's, forwarded over the agent's socket, so that relative
// paths, BACKCHANNEL_* variables and prompts belong to the caller and never
// to the agent. Commands reach files, variables and the terminal only
// through it (an invariant test greps for the exceptions).
type callEnv struct {
	cwd    string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) (string, bool)
	// stdinTTY and stdoutTTY: the caller's streams are terminals.
	stdinTTY, stdoutTTY bool
	// readSecret prompts on the caller's terminal and reads a line without
	// echo; errInterrupted when the user pressed Ctrl-C.
	readSecret func(prompt string) ([]byte, error)
	// size is the caller's terminal size (0, 0 when unknown).
	size func() (width, height int)
	// resized receives when the caller's terminal changed size.
	resized <-chan struct{}
	// raw switches the caller's terminal to raw mode and back (full-screen
	// commands).
	raw func(on bool) error
	// inAgent: this invocation runs inside the agent on an open profile.
	inAgent bool
}

// localEnv is this process's own environment.
func localEnv() *callEnv {
	cwd, _ := os.Getwd()
	in, out := int(os.Stdin.Fd()), int(os.Stdout.Fd())
	e := &callEnv{
		cwd: cwd, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		getenv:    os.LookupEnv,
		stdinTTY:  term.IsTerminal(in),
		stdoutTTY: term.IsTerminal(out),
		size: func() (int, int) {
			w, h, err := term.GetSize(out)
			if err != nil {
				return 0, 0
			}
			return w, h
		},
		resized: watchResize(),
	}
	e.readSecret = func(prompt string) ([]byte, error) {
		if e.stdinTTY {
			return readPassword(in, os.Stderr, prompt)
		}
		// stdin is a pipe (echo text | backchannel send ROOM -): ask on
		// the controlling terminal, as ssh and gpg do.
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return nil, errNoTerminal
		}
		defer tty.Close()
		if !term.IsTerminal(int(tty.Fd())) {
			return nil, errNoTerminal
		}
		return readPassword(int(tty.Fd()), tty, prompt)
	}
	var saved *term.State
	e.raw = func(on bool) error {
		if !e.stdinTTY {
			return nil
		}
		if on && saved == nil {
			s, err := makeRaw(in)
			if err != nil {
				return fmt.Errorf("set the terminal up: %w", err)
			}
			saved = s
			return nil
		}
		if !on && saved != nil {
			err := term.Restore(in, saved)
			saved = nil
			return err
		}
		return nil
	}
	return e
}

// errNoTerminal: a prompt was needed but the caller has no terminal.
var errNoTerminal = errors.New("no terminal to ask on")

// path resolves p against the caller's working directory.
func (e *callEnv) path(p string) string {
	if p == "" || p == "-" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(e.cwd, p)
}

// lookupEnv reads one of the caller's environment variables.
func (e *callEnv) lookupEnv(name string) (string, bool) { return e.getenv(name) }

// ttyAvailable: this process has a controlling terminal to prompt on.
func ttyAvailable() bool {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer tty.Close()
	return term.IsTerminal(int(tty.Fd()))
}
