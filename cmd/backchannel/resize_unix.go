//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// watchResize tells when this process's terminal changes size.
func watchResize() <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	out := make(chan struct{}, 1)
	go func() {
		for range sig {
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out
}
