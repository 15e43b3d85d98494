//go:build !unix

package witness

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates DIR/witness.lock exclusively where flock is unavailable; a
// crash leaves it behind, and the operator removes it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "witness.lock"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %s (%v)", ErrLocked, dir, err)
	}
	return f, nil
}
