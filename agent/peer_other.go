//go:build !linux

package agent

import "net"

// checkPeer relies on the socket's file mode (0600, in a 0700 directory)
// where peer credentials are not read.
func checkPeer(net.Conn) error { return nil }
