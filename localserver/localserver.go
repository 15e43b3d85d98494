// Package localserver runs a complete backchannel server in-process on a
// loopback port, with its SQLite store and its key log in a directory: what
// `backchannel demo`, the integration tests and the load tool start. Stop shuts it down
// gracefully and closes the store; Kill drops it without a graceful
// shutdown, closing the store, to test recovery.
package localserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"backchannel/keylog"
	"backchannel/server"
	"backchannel/store/sqlite"
)

// EpochDelay is how soon the in-process key log publishes an update (the
// real server's default is longer; tests and the demo need no wait).
const EpochDelay = 20 * time.Millisecond

// Server is a running in-process server.
type Server struct {
	URL    string
	Dir    string
	Store  *sqlite.Store
	Log    *keylog.Log
	srv    *server.Server
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Start opens (or creates) the store in dir and serves on addr
// ("127.0.0.1:0" picks a free port).
func Start(ctx context.Context, dir, addr string, cfg server.Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	st, err := sqlite.OpenDir(ctx, dir, sqlite.Options{})
	if err != nil {
		return nil, fmt.Errorf("open server store in %s: %w", dir, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	kl, err := keylog.Open(ctx, keylog.Config{Dir: filepath.Join(dir, "keylog"), Store: st, DefaultOrigin: keylog.Origin("localhost"), EpochDelay: EpochDelay, Logger: logger})
	if err != nil {
		ln.Close()
		st.Close()
		return nil, fmt.Errorf("open the key log in %s: %w", dir, err)
	}
	cfg.DataDir = dir
	cfg.KeyLog = kl
	s := &Server{URL: "http://" + ln.Addr().String(), Dir: dir, Store: st, Log: kl, srv: server.New(cfg, st, logger), done: make(chan error, 1)}
	sctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- s.srv.Serve(sctx, ln) }()
	return s, nil
}

// Stop shuts the server down gracefully and closes its store. Later calls
// return the first call's result.
func (s *Server) Stop() error {
	s.once.Do(func() {
		s.cancel()
		s.err = <-s.done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if cerr := s.Log.Close(ctx); s.err == nil {
			s.err = cerr
		}
		if cerr := s.Store.Close(); s.err == nil {
			s.err = cerr
		}
	})
	return s.err
}
