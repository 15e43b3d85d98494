// Command backchannel is the server and the client of backchannel, a
// self-hosted secure line for high-stakes negotiations. This package only
// wires flags to the packages that hold the logic.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"backchannel/loadtest"
)

func main() { os.Exit(run()) }

// run is the whole program; it returns the exit status (see README.md).
func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Getenv(loadtest.IdleClientEnv) != "" {
		// The child side of `backchannel bench --idle`: hold connections.
		if err := loadtest.IdleClientMain(ctx, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "backchannel bench idle client:", err)
			return exitFailure
		}
		return exitOK
	}
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "backchannel:", safeLine(err.Error()))
		return exitCode(err)
	}
	return exitOK
}
