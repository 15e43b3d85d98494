package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"backchannel/backup"
	"backchannel/client"
	"backchannel/entropy"
	"backchannel/vault"
)

// backupSecret reads the backup passphrase: $BACKCHANNEL_BACKUP_PASSPHRASE,
// or a prompt on the terminal.
func (g *globals) backupSecret(prompt string) ([]byte, error) {
	if p, ok := g.env.lookupEnv("BACKCHANNEL_BACKUP_PASSPHRASE"); ok {
		if p == "" {
			return nil, errors.New("BACKCHANNEL_BACKUP_PASSPHRASE is set but empty")
		}
		return []byte(p), nil
	}
	p, err := g.env.readSecret(prompt)
	if errors.Is(err, errNoTerminal) {
		return nil, errors.New("no backup passphrase: set BACKCHANNEL_BACKUP_PASSPHRASE, use --recovery-key, or run on a terminal to be prompted")
	}
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("the backup passphrase must not be empty")
	}
	return p, nil
}

func newBackupCmd(g *globals) *cobra.Command {
	var out string
	var recovery, force bool
	cmd := &cobra.Command{
		Use:   "backup -o FILE [--recovery-key]",
		Short: "Write an encrypted backup of this profile",
		Long: `backup writes the whole profile (keys, rooms, transcripts, history) to FILE,
encrypted under a backup passphrase (BACKCHANNEL_BACKUP_PASSPHRASE or a prompt) or,
with --recovery-key, under a new recovery key that is printed once: write it down.

A restored backup never sends as the device it was taken from: it becomes a new
device of your account (your contacts see the change), so no key is used twice.`,
		Example: `  backchannel backup -o alice.bcbackup
  backchannel backup -o alice.bcbackup --recovery-key`,
		Args: cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if out == "" {
				return usageError{errors.New("backup needs -o FILE")}
			}
			if _, err := os.Stat(g.env.path(out)); err == nil && !force {
				return errExists(out) // before any question is asked
			}
			var key backup.Key
			var shown string
			if recovery {
				rk, err := backup.NewRecoveryKey(entropy.System{})
				if err != nil {
					return err
				}
				key, shown = rk.Key(), rk.String()
			} else {
				// A new backup passphrase follows the profile's rule and is
				// typed twice: a typo here makes the backup unrecoverable.
				pw, err := g.newPassphrase(cmd.ErrOrStderr(), "BACKCHANNEL_BACKUP_PASSPHRASE", false)
				if err != nil {
					return err
				}
				key = backup.PassphraseKey(pw, backupParams)
			}
			if err := g.writeFile(cmd.Context(), out, force, func(w io.Writer) error {
				return c.Backup(cmd.Context(), w, key)
			}); err != nil {
				return err
			}
			if g.json {
				res := map[string]any{"file": out}
				if shown != "" {
					res["recovery_key"] = shown
				}
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote an encrypted backup to %s.\n", out)
			if shown != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Recovery key (write it down; it is shown only now):\n\n  %s\n", shown)
			}
			return nil
		}),
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the backup file to write (an existing one only with --force)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing backup file")
	cmd.Flags().BoolVar(&recovery, "recovery-key", false, "encrypt under a new printed recovery key instead of a passphrase")
	return cmd
}

func newRestoreCmd(g *globals) *cobra.Command {
	var recoveryKey string
	cmd := &cobra.Command{
		Use:   "restore FILE [--recovery-key KEY]",
		Short: "Bring a profile back from a backup into an empty --home",
		Long: `restore decrypts FILE (with the backup passphrase, or --recovery-key) into the
selected profile directory, which must be empty, and opens it with the profile's
own passphrase. The restored profile becomes a new device of your account: on
your primary device it also removes the device the backup was taken from, so a
lost laptop's keys stop working. Your contacts see a notice.`,
		Example: `  backchannel --home ./alice restore alice.bcbackup
  backchannel --home ./alice restore alice.bcbackup --recovery-key bcrk-...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			home, err := g.homeDir()
			if err != nil {
				return err
			}
			f, err := os.Open(g.env.path(args[0]))
			if err != nil {
				return readError(args[0], err)
			}
			defer f.Close()
			unlock := func(k backup.Kind) (backup.Key, error) {
				if k == backup.KindRecoveryKey {
					if recoveryKey == "" {
						return backup.Key{}, usageError{errors.New("this backup is encrypted under a recovery key: pass --recovery-key")}
					}
					rk, err := backup.ParseRecoveryKey(recoveryKey)
					if err != nil {
						return backup.Key{}, err
					}
					return rk.Key(), nil
				}
				pw, err := g.backupSecret("Backup passphrase: ")
				if err != nil {
					return backup.Key{}, err
				}
				return backup.PassphraseKey(pw, backupParams), nil
			}
			pw, err := g.passphrase("Passphrase of the backed-up profile: ")
			if err != nil {
				return err
			}
			if err := client.Restore(cmd.Context(), home, f, unlock, pw); err != nil {
				return err
			}
			c, err := client.Open(cmd.Context(), home, pw, client.Options{})
			if err != nil {
				return fmt.Errorf("the profile was restored to %s but could not become a new device yet (it will on the next command): %w", filepath.Clean(home), err)
			}
			defer c.Close()
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"user": c.User(), "home": home, "device": c.DeviceID()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Restored %s into %s; this is now device %d of the account.\n", c.User(), home, c.DeviceID())
			return nil
		},
	}
	cmd.Flags().StringVar(&recoveryKey, "recovery-key", "", "the recovery key printed by 'backup --recovery-key'")
	return cmd
}

// backupParams are the Argon2id costs of a new backup passphrase (the
// vault's defaults; a restore reads them from the file).
var backupParams = vault.DefaultParams
