package main

import (
	"github.com/spf13/cobra"

	"backchannel/demo"
)

func newDemoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run the whole story on an embedded server on loopback, with no set-up",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return demo.Run(cmd.Context(), cmd.OutOrStdout(), demo.Options{})
		},
	}
}
