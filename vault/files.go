package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// SecureDir narrows a profile directory to DirMode and the profile's own
// files in it — regular files whose names start with ProfilePrefix
// (profile.db, its -wal and -shm, profile.lock) or ".backchannel-" (a
// restore in progress) — to FileMode, and returns what it changed. Nothing
// else in the directory is touched: --home may name a directory that holds
// other files.
func SecureDir(dir string) ([]string, error) {
	var fixed []string
	changed, err := narrow(dir, DirMode)
	if err != nil {
		return nil, fmt.Errorf("secure the profile directory: %w", err)
	}
	if changed {
		fixed = append(fixed, dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fixed, fmt.Errorf("secure the profile directory: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !(strings.HasPrefix(name, ProfilePrefix) || strings.HasPrefix(name, ".backchannel-")) {
			continue
		}
		p := filepath.Join(dir, name)
		changed, err := narrow(p, FileMode)
		if err != nil {
			return fixed, fmt.Errorf("secure the profile directory: %w", err)
		}
		if changed {
			fixed = append(fixed, p)
		}
	}
	return fixed, nil
}

// ProfilePrefix starts the name of every file a profile keeps.
const ProfilePrefix = "profile."

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
