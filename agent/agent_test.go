package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// startServer serves exec on a socket in a fresh directory and returns the
// directory and a channel with Serve's result.
func startServer(t *testing.T, srv *Server) (string, <-chan error) {
	t.Helper()
	dir, err := os.MkdirTemp("", "agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	srv.Socket = SocketPath(dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	fin := make(chan struct{})
	go func() { done <- srv.Serve(ctx, ln); close(fin) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-fin:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	return dir, done
}

func TestCallForwardsStreamsAndStatus(t *testing.T) {
	srv := &Server{Exec: func(ctx context.Context, c *Call) int {
		fmt.Fprintf(c.Stdout, "args=%s cwd=%s env=%s tty=%v\n", strings.Join(c.Args, ","), c.Cwd, c.Env["BACKCHANNEL_X"], c.StdinTTY)
		in, err := io.ReadAll(c.Stdin)
		if err != nil {
			fmt.Fprintln(c.Stderr, "read:", err)
			return 1
		}
		fmt.Fprintf(c.Stderr, "stdin=%d bytes\n", len(in))
		return 7
	}}
	dir, _ := startServer(t, srv)
	big := bytes.Repeat([]byte("x"), 3<<20) // more than one frame and many pulls
	var out, errb bytes.Buffer
	code, err := Run(context.Background(), dir, Request{Op: OpExec, Args: []string{"send", "talks", "-"}, Cwd: "/w", Env: map[string]string{"BACKCHANNEL_X": "y"}, StdinTTY: true},
		Terminal{Stdin: bytes.NewReader(big), Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if code != 7 {
		t.Errorf("exit status %d, want 7", code)
	}
	if got, want := out.String(), "args=send,talks,- cwd=/w env=y tty=true\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got, want := errb.String(), fmt.Sprintf("stdin=%d bytes\n", len(big)); got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

// A command that never reads stdin never takes it from the caller.
func TestStdinIsReadOnlyWhenWanted(t *testing.T) {
	srv := &Server{Exec: func(ctx context.Context, c *Call) int { return 0 }}
	dir, _ := startServer(t, srv)
	in := &countingReader{}
	if _, err := Run(context.Background(), dir, Request{Op: OpExec}, Terminal{Stdin: in, Stdout: io.Discard, Stderr: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if n := in.n.Load(); n != 0 {
		t.Errorf("the caller's stdin was read %d times by a command that does not read it", n)
	}
}

type countingReader struct{ n atomic.Int32 }

func (c *countingReader) Read(p []byte) (int, error) { c.n.Add(1); return 0, io.EOF }

func TestSecretsArePromptedOnTheCallersTerminal(t *testing.T) {
	cases := []struct {
		name   string
		read   func(string) ([]byte, error)
		want   string
		wantEr error
	}{
		{"typed", func(p string) ([]byte, error) { return []byte("s3cret for " + p), nil }, "s3cret for Backup passphrase: ", nil},
		{"no terminal", nil, "", ErrNoTerminal},
		{"ctrl-c", func(string) ([]byte, error) { return nil, ErrInterrupted }, "", ErrInterrupted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			var gotErr error
			srv := &Server{Exec: func(ctx context.Context, c *Call) int {
				got, gotErr = c.ReadSecret(ctx, "Backup passphrase: ")
				return 0
			}}
			dir, _ := startServer(t, srv)
			if _, err := Run(context.Background(), dir, Request{Op: OpExec}, Terminal{Stdout: io.Discard, Stderr: io.Discard, ReadSecret: tc.read}); err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want || !errors.Is(gotErr, tc.wantEr) {
				t.Errorf("got %q, %v; want %q, %v", got, gotErr, tc.want, tc.wantEr)
			}
		})
	}
}

// Ctrl-C in the caller cancels the command in the agent.
func TestInterruptCancelsTheCall(t *testing.T) {
	cancelled := make(chan struct{})
	srv := &Server{Exec: func(ctx context.Context, c *Call) int {
		fmt.Fprintln(c.Stdout, "started")
		<-ctx.Done()
		close(cancelled)
		return 1
	}}
	dir, _ := startServer(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		// Press Ctrl-C once the command has started.
		buf := make([]byte, 8)
		pr.Read(buf)
		cancel()
	}()
	code, err := Run(ctx, dir, Request{Op: OpExec}, Terminal{Stdout: pw, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if code != StatusInterrupted {
		t.Errorf("exit status %d, want %d", code, StatusInterrupted)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the command in the agent was not cancelled")
	}
}

func TestRawModeAndResize(t *testing.T) {
	resized := make(chan [2]int, 1)
	srv := &Server{Exec: func(ctx context.Context, c *Call) int {
		w, h := c.Size()
		c.Raw(true)
		fmt.Fprintf(c.Stdout, "%dx%d\n", w, h)
		select {
		case <-c.Resized():
			w, h := c.Size()
			resized <- [2]int{w, h}
		case <-time.After(5 * time.Second):
		}
		return 0
	}}
	dir, _ := startServer(t, srv)
	var modes []bool
	sizes := make(chan struct{}, 1)
	width := atomic.Int32{}
	width.Store(80)
	pr, pw := io.Pipe()
	go func() {
		buf := make([]byte, 16)
		pr.Read(buf)
		width.Store(120)
		sizes <- struct{}{}
		io.Copy(io.Discard, pr)
	}()
	_, err := Run(context.Background(), dir, Request{Op: OpExec}, Terminal{Stdout: pw, Stderr: io.Discard,
		Raw:     func(on bool) error { modes = append(modes, on); return nil },
		Size:    func() (int, int) { return int(width.Load()), 24 },
		Resized: sizes})
	if err != nil {
		t.Fatal(err)
	}
	if got := <-resized; got != [2]int{120, 24} {
		t.Errorf("size after resize %v, want 120x24", got)
	}
	if len(modes) != 2 || !modes[0] || modes[1] {
		t.Errorf("raw mode switches %v, want on then restored off", modes)
	}
}

func TestLockAndPing(t *testing.T) {
	srv := &Server{Exec: func(ctx context.Context, c *Call) int { return 0 }}
	dir, done := startServer(t, srv)
	if !Ping(context.Background(), dir) {
		t.Fatal("no answer to ping")
	}
	if err := Lock(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrLocked) {
			t.Errorf("Serve returned %v, want ErrLocked", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the agent did not stop on lock")
	}
	os.Remove(SocketPath(dir))
	if Ping(context.Background(), dir) {
		t.Error("ping answered after lock")
	}
	if err := Lock(context.Background(), dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("lock with no agent: %v, want ErrNotRunning", err)
	}
}

func TestIdleLocks(t *testing.T) {
	srv := &Server{Idle: 1500 * time.Millisecond, Exec: func(ctx context.Context, c *Call) int { return 0 }}
	_, done := startServer(t, srv)
	select {
	case err := <-done:
		if !errors.Is(err, ErrIdle) {
			t.Errorf("Serve returned %v, want ErrIdle", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not lock when idle")
	}
}

// A running command keeps the agent from locking when idle.
func TestIdleWaitsForRunningCalls(t *testing.T) {
	release := make(chan struct{})
	srv := &Server{Idle: 500 * time.Millisecond, Exec: func(ctx context.Context, c *Call) int {
		<-release
		return 0
	}}
	dir, done := startServer(t, srv)
	finished := make(chan struct{})
	go func() {
		Run(context.Background(), dir, Request{Op: OpExec}, Terminal{Stdout: io.Discard, Stderr: io.Discard})
		close(finished)
	}()
	select {
	case err := <-done:
		t.Fatalf("the agent locked (%v) while a command ran", err)
	case <-time.After(2500 * time.Millisecond):
	}
	close(release)
	<-finished
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the agent did not lock once idle")
	}
}

func TestRemovedSocketStopsTheAgent(t *testing.T) {
	srv := &Server{Exec: func(ctx context.Context, c *Call) int { return 0 }}
	dir, done := startServer(t, srv)
	os.RemoveAll(filepath.Join(dir))
	select {
	case err := <-done:
		if !errors.Is(err, ErrGone) {
			t.Errorf("Serve returned %v, want ErrGone", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the agent outlived its socket")
	}
}

// A peer that sends garbage or an oversized frame is dropped without
// harming the agent.
func TestBadPeersAreDropped(t *testing.T) {
	srv := &Server{Exec: func(ctx context.Context, c *Call) int { return 0 }}
	dir, _ := startServer(t, srv)
	huge := make([]byte, 5)
	huge[0] = frameRequest
	binary.BigEndian.PutUint32(huge[1:], MaxFrame+1)
	for _, payload := range [][]byte{huge, []byte("R\x00\x00\x00\x03{{{"), {'Z', 0, 0, 0, 0}, []byte("R\x00\x00\x00\x0c{\"op\":\"rm\"}x")} {
		conn, err := net.Dial("unix", SocketPath(dir))
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(payload)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, conn)
		conn.Close()
	}
	if !Ping(context.Background(), dir) {
		t.Fatal("the agent stopped answering after bad peers")
	}
}
