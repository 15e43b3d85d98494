//go:build !unix

package client

import "os"

// lockProfile is a no-op where flock is not available.
func lockProfile(dir string) (*os.File, error) { return nil, nil }
