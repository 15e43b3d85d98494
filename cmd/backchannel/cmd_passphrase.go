package main

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"backchannel/client"
	"backchannel/vault"
)

func newPassphraseCmd(g *globals) *cobra.Command {
	var generate bool
	cmd := &cobra.Command{
		Use:   "passphrase",
		Short: "Change the passphrase of this profile",
		Long: `passphrase changes the passphrase that protects this profile. It needs no server.

The current passphrase comes from $BACKCHANNEL_PASSPHRASE or a prompt; the new one
from $BACKCHANNEL_NEW_PASSPHRASE, two prompts, or --generate-passphrase. The same
rule as at init applies (at least 12 characters, not a repeated pattern).

The change is one step: interrupted (Ctrl-C, a crash), the old passphrase still
works; done, only the new one opens the profile. Backups and other copies of the
profile made before keep the old passphrase: if the old one may be known to
someone who also has such a copy, that copy is as good as the profile to them.`,
		Example: `  backchannel passphrase
  BACKCHANNEL_PASSPHRASE=old BACKCHANNEL_NEW_PASSPHRASE='four long words here' backchannel passphrase`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := g.homeDir()
			if err != nil {
				return err
			}
			old, err := g.passphrase("Current passphrase: ")
			if err != nil {
				return err
			}
			pw, err := g.newPassphrase(cmd.ErrOrStderr(), "BACKCHANNEL_NEW_PASSPHRASE", generate)
			if err != nil {
				return err
			}
			if bytes.Equal(old, pw) {
				return usageError{errors.New("the new passphrase is the current one: nothing was changed")}
			}
			err = client.ChangePassphrase(cmd.Context(), home, old, pw, vault.Params{})
			switch {
			case errors.Is(err, vault.ErrWrongPassphrase):
				return because(vault.ErrWrongPassphrase, "wrong passphrase for the profile in %s (nothing was changed)", home)
			case errors.Is(err, vault.ErrNoVault):
				return because(vault.ErrNoVault, "no profile in %s (pass --home, or run 'backchannel init')", home)
			case errors.Is(err, vault.ErrInconsistent):
				return fmt.Errorf("the profile in %s cannot be trusted: %w", home, vault.ErrInconsistent)
			case err != nil:
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"home": home, "changed": true})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Passphrase changed for the profile in %s. Backups made before still open with the old one.\n", home)
			return nil
		},
	}
	cmd.Flags().BoolVar(&generate, "generate-passphrase", false, "generate the new passphrase (125 random bits) and print it once")
	return cmd
}
