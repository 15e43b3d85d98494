package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Exit codes, documented in README.md.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitVerify   = 3 // verification found a problem (bad signature, doctored text)
	exitNotFound = 4
)

// usageError marks errors caused by how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "backchannel",
		Short:         "A self-hosted secure line for high-stakes negotiations",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newDemoCmd())
	return root
}
