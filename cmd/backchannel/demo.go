package main

import (
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"backchannel/demo"
)

func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the whole story on an embedded server on loopback, with no set-up",
		Long: `demo plays the whole story on an embedded server on a loopback port, in a
temporary directory removed afterwards: three people verify each other's safety
numbers and negotiate in an on-record room with marking on; a member leaks a
retyped transcript with two doctored lines; verify flags them, trace names the
copy the leak came from; the server's storage is searched for plaintext; a ghost
device added by the server is refused. Each step shows the commands that do the
same by hand, then its outcome, and the demo fails if an outcome does not hold.

With --json it prints one JSON object per step, one per line:
{"step": "...", "title": "...", "command": "...", "outcome": {...}}.`,
		Example: `  backchannel demo
  backchannel demo --json | jq -r .step`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, _ := cmd.Flags().GetBool("json")
			out := cmd.OutOrStdout()
			// Reverse video only when the caller's stdout is a terminal;
			// brackets otherwise.
			f, isFile := out.(interface{ Fd() uintptr })
			highlight := isFile && term.IsTerminal(int(f.Fd()))
			_, err := demo.Run(cmd.Context(), out, demo.Options{JSON: asJSON, Highlight: highlight && !asJSON})
			return err
		},
	}
}
