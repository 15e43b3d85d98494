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

	"backchannel/agent"
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
	return executeIn(ctx, env, args, nil)
}

// executeIn is execute on the agent's open profile op (nil: none).
func executeIn(ctx context.Context, env *callEnv, args []string, op *opened) int {
	root, g := buildRoot(env, args, op)
	if code, ok := g.forward(ctx, root); ok {
		return code
	}
	cmd, err := root.ExecuteContextC(ctx)
	if cause := context.Cause(ctx); op != nil && (err != nil || ctx.Err() != nil) &&
		(errors.Is(cause, agent.ErrLocked) || errors.Is(cause, agent.ErrIdle) || errors.Is(cause, agent.ErrGone)) {
		// The agent locked under this command (backchannel lock, the idle
		// time, the profile removed): say that, not "interrupted".
		return report(env.stdout, env.stderr, g.json || wantsJSON(args), errLockedMeanwhile)
	}
	if err != nil {
		var fw forwarded
		if errors.As(err, &fw) {
			return fw.code // the agent has told the caller already
		}
		if ctx.Err() != nil && !errors.Is(err, errInterrupted) {
			err = fmt.Errorf("interrupted: %w", ctx.Err())
		}
		return report(env.stdout, env.stderr, g.json || wantsJSON(args), err)
	}
	if ctx.Err() != nil && cmd.Annotations[annotationDaemon] == "" {
		return exitInterrupted // Ctrl-C ended a command that stops quietly (sync --follow)
	}
	return exitOK
}

// errLockedMeanwhile: the agent locked while a command ran in it.
var errLockedMeanwhile = errors.New("the profile was locked while this ran (backchannel lock, or the agent's idle time); run the command again to unlock it")

// forwarded is the outcome of an invocation the agent ran: its exit status.
type forwarded struct{ code int }

func (f forwarded) Error() string { return fmt.Sprintf("exit status %d", f.code) }
