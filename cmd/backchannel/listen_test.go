package main

import (
	"net"
	"strings"
	"testing"
)

// TestListenErrorPlainWords: every way `serve --addr` can fail says what is
// wrong in plain words, without Go's "listen tcp" syntax.
func TestListenErrorPlainWords(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct{ addr, want string }{
		{"nocolon", "is not an address to listen on"},
		{"127.0.0.1:99999", "is not a port number"},
		{"no-such-host.invalid:8080", "is not known"},
		{"192.0.2.1:8080", "is not an address of this machine"},
		{busy.Addr().String(), "the port is in use"},
	} {
		ln, err := net.Listen("tcp", tc.addr)
		if err == nil {
			ln.Close()
			t.Errorf("%s: listening worked", tc.addr)
			continue
		}
		msg := listenError(tc.addr, err).Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "listen tcp") {
			t.Errorf("%s: %q, want %q in plain words", tc.addr, msg, tc.want)
		}
	}
}
