//go:build !unix

package main

import "os/exec"

// detach: no sessions here; the agent runs as a plain child.
func detach(*exec.Cmd) {}
