//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// detach runs cmd in a session of its own, so the agent outlives the
// terminal and the shell's job control that started it.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} }
