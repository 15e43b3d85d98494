//go:build linux

package agent

import (
	"fmt"
	"net"
	"os"
	"syscall"
)

// checkPeer refuses a connection from another user (the socket's mode
// already should; this holds even if the directory's was loosened).
func checkPeer(conn net.Conn) error { return checkPeerUID(conn, os.Getuid()) }

// checkPeerUID refuses a peer whose credentials show another uid than want.
func checkPeerUID(conn net.Conn, want int) error {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("not a unix socket connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if int(cred.Uid) != want {
		return fmt.Errorf("peer runs as user %d, not %d", cred.Uid, want)
	}
	return nil
}
