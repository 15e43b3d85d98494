//go:build !linux

package main

import "golang.org/x/term"

// makeRaw puts the terminal in raw mode for a full-screen command.
func makeRaw(fd int) (*term.State, error) { return term.MakeRaw(fd) }
