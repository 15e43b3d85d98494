package client

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"backchannel/vault"
)

// The local store's protection (docs/threat-model.md, "The client"): the
// profile directory and its files are owner-only (narrowed at Init and Open
// when found wider), the vault refuses a record set that does not match its
// sealed root, and the passphrase can change without the server.

// RepairedFiles lists the profile's files and directories whose permissions
// Open narrowed to owner-only because they were wider: something or someone
// made them readable by others, and the user should know.
func (c *Client) RepairedFiles() []string { return c.repaired }

// ChangePassphrase re-wraps the key of the profile in dir under newPass
// (Argon2id with p; the zero Params mean vault.DefaultParams). It needs no
// server and takes the profile lock, so no other backchannel process uses
// the profile meanwhile. The change is one vault transaction: interrupted,
// the old passphrase still works; done, only the new one opens this file
// (backups and other copies made before keep the old one).
func ChangePassphrase(ctx context.Context, dir string, oldPass, newPass []byte, p vault.Params) error {
	if p == (vault.Params{}) {
		p = vault.DefaultParams
	}
	path := filepath.Join(dir, ProfileFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w: %s", vault.ErrNoVault, dir)
	}
	if _, err := vault.SecureDir(dir); err != nil {
		return err
	}
	lock, err := lockProfile(dir)
	if err != nil {
		return err
	}
	if lock != nil {
		defer lock.Close()
	}
	v, err := vault.Open(ctx, path, oldPass)
	if err != nil {
		return err
	}
	defer v.Close()
	if err := v.ChangePassphrase(ctx, newPass, p); err != nil {
		return fmt.Errorf("change the passphrase: %w", err)
	}
	return nil
}
