package client

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"backchannel/backup"
	"backchannel/vault"
)

// Backup writes an encrypted backup of the whole profile to w: a snapshot
// of the vault (its records stay encrypted under the profile passphrase)
// sealed again under key (a backup passphrase or a recovery key).
//
// A backup is an old copy the moment it is written. Restore therefore
// never brings back the device it was taken from: the restored profile
// becomes a new device of the account (see renew.go), so no ratchet key or
// transcript position is ever used twice.
func (c *Client) Backup(ctx context.Context, w io.Writer, key backup.Key) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	dir, err := os.MkdirTemp("", "backchannel-backup-")
	if err != nil {
		return fmt.Errorf("write the backup: %w", err)
	}
	defer os.RemoveAll(dir)
	snap := filepath.Join(dir, ProfileFile)
	if err := c.v.Snapshot(ctx, snap); err != nil {
		return err
	}
	f, err := os.Open(snap)
	if err != nil {
		return fmt.Errorf("write the backup: %w", err)
	}
	defer f.Close()
	return backup.Write(c.src, w, f, key)
}

// Restore brings a profile back from a backup into dir, which must hold no
// profile. unlock supplies the backup's key; passphrase is the profile's
// own. The profile is marked restored, and the next Open makes it a new
// device of the account: on a primary that also removes the device the
// backup was taken from, whose keys may be in someone else's hands.
func Restore(ctx context.Context, dir string, r io.Reader, unlock func(backup.Kind) (backup.Key, error), passphrase []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create profile directory: %w", err)
	}
	path := filepath.Join(dir, ProfileFile)
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%w: %s already holds a profile (restore into an empty --home)", vault.ErrExists, dir)
	}
	if err := backup.RestoreFile(path, r, unlock); err != nil {
		return err
	}
	v, err := vault.Open(ctx, path, passphrase)
	if err != nil {
		removeProfile(path)
		return fmt.Errorf("open the restored profile: %w", err)
	}
	defer v.Close()
	if err := v.Put(ctx, restoredRecord, []byte{1}); err != nil {
		removeProfile(path)
		return err
	}
	return nil
}
