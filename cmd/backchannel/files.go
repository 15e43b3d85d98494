package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// One overwrite rule for every command that writes a file the user names
// (transcript export -o, backup -o, docs get -o): an existing file is
// refused unless --force, with the same plain message, and the file
// appears whole or not at all (written next to it, then moved into place).

// errExists refuses to overwrite path.
func errExists(path string) error {
	return usageError{fmt.Errorf("%s exists: pass --force to overwrite it, or give another file name", path)}
}

// writeFile writes the file out (as the caller named it, relative to the
// caller's working directory) with write, refusing an existing one unless
// force.
func (g *globals) writeFile(ctx context.Context, out string, force bool, write func(io.Writer) error) error {
	dst := g.env.path(out)
	st, err := os.Stat(dst)
	switch {
	case err == nil && st.IsDir():
		return usageError{fmt.Errorf("%s is a directory: give a file name", out)}
	case err == nil && !force:
		return errExists(out)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot write %s: %w", out, err)
	}
	if err := writeVerified(ctx, dst, force, write); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return errExists(out)
		}
		return fmt.Errorf("cannot write %s: %w", out, err)
	}
	return nil
}

// readError says that the file name (as the caller gave it) cannot be
// read, without Go's "open /abs/path:" in front of the reason.
func readError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot read %s: %w", name, err)
}

// andList names things in words: "alice", "alice and bob", "alice, bob and
// carol".
func andList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
