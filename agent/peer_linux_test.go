//go:build linux

package agent

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

// The peer check reads the connecting process's credentials from the
// kernel: this process is accepted as itself and refused as anyone else
// (another user of the computer connecting to a socket whose mode was
// loosened).
func TestPeerOfAnotherUserIsRefused(t *testing.T) {
	dir, err := os.MkdirTemp("", "peer")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("unix", filepath.Join(dir, "s"))
		if err == nil {
			defer c.Close()
			buf := make([]byte, 1)
			c.Read(buf)
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := checkPeerUID(conn, os.Getuid()); err != nil {
		t.Errorf("this user's own connection was refused: %v", err)
	}
	if err := checkPeerUID(conn, os.Getuid()+1); err == nil {
		t.Error("a connection from another uid was accepted")
	}
}
