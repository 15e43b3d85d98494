//go:build linux

package main

import (
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// makeRaw puts the terminal in raw mode for a full-screen command, but
// keeps output processing (a newline also returns the carriage): the screen
// is drawn by a program that sees a stream, not this terminal (the agent),
// and such a program counts on the terminal mapping newlines.
func makeRaw(fd int) (*term.State, error) {
	s, err := term.MakeRaw(fd)
	if err != nil {
		return nil, err
	}
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return s, nil
	}
	t.Oflag |= unix.OPOST | unix.ONLCR
	unix.IoctlSetTermios(fd, unix.TCSETS, t)
	return s, nil
}
