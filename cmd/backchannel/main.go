// Command backchannel is the server and the client of backchannel, a
// self-hosted secure line for high-stakes negotiations. This package only
// wires flags to the packages that hold the logic.
package main

import (
	"context"
	"errors"
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
	return execute(ctx, localEnv(), os.Args[1:])
}

// execute runs one invocation of the command tree for env with args and
// returns its exit status, having told the caller about any error. The
// agent runs forwarded invocations through the same function.
func execute(ctx context.Context, env *callEnv, args []string) int {
	root := newRootCmdEnv(env, args)
	if err := root.ExecuteContext(ctx); err != nil {
		var fw forwarded
		if errors.As(err, &fw) {
			return fw.code // the agent has told the caller already
		}
		fmt.Fprintln(env.stderr, "backchannel:", safeLine(err.Error()))
		return exitCode(err)
	}
	return exitOK
}

// forwarded is the outcome of an invocation the agent ran: its exit status.
type forwarded struct{ code int }

func (f forwarded) Error() string { return fmt.Sprintf("exit status %d", f.code) }
