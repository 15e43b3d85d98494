package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File modes of a profile: readable by its owner only.
const (
	FileMode fs.FileMode = 0o600
	DirMode  fs.FileMode = 0o700
)

// SecureFiles narrows the vault file at path and its -wal and -shm files
// to FileMode, and returns the ones it changed. Missing files are skipped.
func SecureFiles(path string) ([]string, error) {
	var fixed []string
	for _, suffix := range []string{"", "-wal", "-shm"} {
		p := path + suffix
		changed, err := narrow(p, FileMode)
		if err != nil {
			return fixed, err
		}
		if changed {
			fixed = append(fixed, p)
		}
	}
	return fixed, nil
}

// SecureDir narrows a profile directory to DirMode and everything in it
// (recursively, without following symbolic links) to FileMode for files and
// DirMode for directories, and returns what it changed.
func SecureDir(dir string) ([]string, error) {
	var fixed []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		want := FileMode
		switch {
		case d.IsDir():
			want = DirMode
		case !d.Type().IsRegular():
			return nil // sockets, links: not ours to change
		}
		changed, err := narrow(p, want)
		if err != nil {
			return err
		}
		if changed {
			fixed = append(fixed, p)
		}
		return nil
	})
	if err != nil {
		return fixed, fmt.Errorf("secure the profile directory: %w", err)
	}
	return fixed, nil
}

// narrow removes every permission bit outside want.
func narrow(p string, want fs.FileMode) (bool, error) {
	st, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		return false, nil
	}
	perm := st.Mode().Perm()
	if perm&^want == 0 {
		return false, nil
	}
	if err := os.Chmod(p, perm&want); err != nil {
		return false, fmt.Errorf("narrow the permissions of %s: %w", p, err)
	}
	return true, nil
}

func appendNew(a, b []string) []string {
	for _, x := range b {
		seen := false
		for _, y := range a {
			seen = seen || x == y
		}
		if !seen {
			a = append(a, x)
		}
	}
	return a
}
