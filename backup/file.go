package backup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExists: RestoreFile never replaces a file.
var ErrExists = errors.New("the destination file already exists")

// RestoreFile decrypts the backup read from r into a new file dst (mode
// 0600). The data goes to a temporary file in dst's directory, which is
// synced and only then linked to dst, so dst appears complete and
// authenticated or not at all. It never replaces an existing file.
func RestoreFile(dst string, r io.Reader, unlock func(kind Kind) (Key, error)) (err error) {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("%w: %s", ErrExists, dst)
	}
	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, ".backchannel-restore-*")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := Read(tmp, r, unlock); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// A hard link fails if dst exists, where a rename would replace it.
	if err := os.Link(tmp.Name(), dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, dst)
		}
		// No hard links here (some file systems): rename, having checked
		// again that dst is absent.
		if _, serr := os.Lstat(dst); serr == nil {
			return fmt.Errorf("%w: %s", ErrExists, dst)
		}
		if rerr := os.Rename(tmp.Name(), dst); rerr != nil {
			return fmt.Errorf("restore: %w", rerr)
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
