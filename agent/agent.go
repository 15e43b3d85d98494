// Package agent lets one process hold a profile unlocked and run commands
// for other processes of the same user, the way ssh-agent holds keys.
//
// The agent listens on a unix socket inside the profile directory (the
// directory is readable by its owner only, the socket is 0600, and on Linux
// every connection's peer credentials must show the agent's own user). A
// caller sends one Request per connection: the command line it was given,
// its working directory, the environment variables that concern the
// program, and whether its streams are terminals. The agent runs the
// command with the caller's streams forwarded: output goes back as it is
// written, stdin is sent only once the command reads it, prompts for a
// secret are asked on the caller's terminal, a full-screen command can put
// that terminal in raw mode, and Ctrl-C cancels the command. The exit
// status comes last.
//
// Secrets never cross the socket except a secret the user types at a prompt
// the command asked for (a backup passphrase, say), and never the profile's
// passphrase: the agent was given that once, when it started. What the
// agent does not protect against: any process running as the same user can
// connect and use the unlocked profile, exactly as it could read the
// memory of a backchannel process; `lock` (or the idle timeout) ends that.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// SocketName is the socket's file name inside the profile directory.
const SocketName = "agent.sock"

// Operations a Request can ask for.
const (
	OpExec = "exec" // run Args
	OpPing = "ping" // is an agent there? (exit status 0)
	OpLock = "lock" // stop: forget the unlocked profile
)

// Request is what a caller asks.
type Request struct {
	Op        string            `json:"op"`
	Args      []string          `json:"args,omitempty"`
	Cwd       string            `json:"cwd,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	StdinTTY  bool              `json:"stdin_tty,omitempty"`
	StdoutTTY bool              `json:"stdout_tty,omitempty"`
	Width     int               `json:"width,omitempty"`
	Height    int               `json:"height,omitempty"`
}

type size struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

type exitStatus struct {
	Code int `json:"code"`
}

// Call is one forwarded invocation, as the agent's command sees it.
type Call struct {
	Request
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	fw      *frameWriter
	mu      sync.Mutex
	size    size
	resized chan struct{}
	secrets chan secretReply
}

type secretReply struct {
	b   []byte
	err error
}

// ErrNoTerminal: a prompt was needed and the caller has no terminal.
var ErrNoTerminal = errors.New("the caller has no terminal to ask on")

// ErrInterrupted: the user pressed Ctrl-C at a prompt.
var ErrInterrupted = errors.New("interrupted at the prompt")

// ReadSecret asks the caller to prompt on its terminal and read a line
// without echo.
func (c *Call) ReadSecret(ctx context.Context, prompt string) ([]byte, error) {
	if err := c.fw.write(framePrompt, []byte(prompt)); err != nil {
		return nil, err
	}
	select {
	case r := <-c.secrets:
		return r.b, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Size is the caller's terminal size (0, 0 when it has none).
func (c *Call) Size() (width, height int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size.Width, c.size.Height
}

// Resized receives when the caller's terminal changed size.
func (c *Call) Resized() <-chan struct{} { return c.resized }

// Raw switches the caller's terminal to raw mode (on) or back.
func (c *Call) Raw(on bool) error {
	v := []byte("0")
	if on {
		v = []byte("1")
	}
	return c.fw.write(frameRaw, v)
}

// Server runs calls on one open profile.
type Server struct {
	// Exec runs one call and returns its exit status. Calls run
	// concurrently; ctx ends when the caller hangs up or presses Ctrl-C.
	Exec func(ctx context.Context, call *Call) int
	// Idle locks the agent (Serve returns) after this long with no call
	// running; 0 never.
	Idle time.Duration
	// Socket, when set, is watched: the agent stops when the file is
	// removed or replaced (its profile directory deleted, another agent).
	Socket string
	Logger *slog.Logger

	mu     sync.Mutex
	active int
	last   time.Time
}

// Touch counts as a call for the idle time: something else this process
// serves on the same open profile (the desktop app) was used.
func (s *Server) Touch() {
	s.mu.Lock()
	s.last = time.Now()
	s.mu.Unlock()
}

// Stop reasons Serve returns.
var (
	ErrLocked = errors.New("the agent was locked on request")
	ErrIdle   = errors.New("the agent locked itself after being idle")
	ErrGone   = errors.New("the agent stopped: its socket was removed")
)

// Serve accepts calls on ln until ctx ends, a lock is asked for, the idle
// time passes, or the socket file disappears; it returns why.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.mu.Lock()
	s.last = time.Now()
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	go s.watch(ctx, cancel)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return cause
			}
			return err
		}
		if err := checkPeer(conn); err != nil {
			s.Logger.Warn("refused a connection to the agent", "reason", err.Error())
			conn.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(ctx, conn, cancel)
		}()
	}
}

// watch stops the agent when idle too long or when its socket is gone.
func (s *Server) watch(ctx context.Context, stop context.CancelCauseFunc) {
	var ino os.FileInfo
	if s.Socket != "" {
		ino, _ = os.Stat(s.Socket)
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.Socket != "" {
			fi, err := os.Stat(s.Socket)
			if err != nil || (ino != nil && !os.SameFile(fi, ino)) {
				stop(ErrGone)
				return
			}
		}
		if s.Idle > 0 {
			s.mu.Lock()
			idle := s.active == 0 && time.Since(s.last) > s.Idle
			s.mu.Unlock()
			if idle {
				stop(ErrIdle)
				return
			}
		}
	}
}

func (s *Server) handle(ctx context.Context, conn net.Conn, stop context.CancelCauseFunc) {
	defer conn.Close()
	fw := &frameWriter{w: conn}
	t, b, err := readFrame(conn)
	if err != nil || t != frameRequest {
		return
	}
	var req Request
	if err := json.Unmarshal(b, &req); err != nil {
		return
	}
	exit := func(code int) {
		e, _ := json.Marshal(exitStatus{code})
		fw.write(frameExit, e)
	}
	switch req.Op {
	case OpPing:
		exit(0)
		return
	case OpLock:
		exit(0)
		stop(ErrLocked)
		return
	case OpExec:
	default:
		exit(2)
		return
	}
	s.mu.Lock()
	s.active++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.last = time.Now()
		s.mu.Unlock()
	}()

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	in := &pullStdin{ask: func() error { return fw.write(frameNeedStdin, nil) }}
	in.cond = sync.NewCond(&in.mu)
	call := &Call{
		Request: req,
		Stdout:  stream{fw, frameStdout},
		Stderr:  stream{fw, frameStderr},
		fw:      fw,
		size:    size{req.Width, req.Height},
		resized: make(chan struct{}, 1),
		secrets: make(chan secretReply, 1),
	}
	call.Stdin = in
	go func() {
		// The caller's side: stdin, sizes, secrets, Ctrl-C; a hang-up
		// cancels the command.
		defer cancel()
		defer in.end(io.ErrUnexpectedEOF)
		for {
			t, b, err := readFrame(conn)
			if err != nil {
				return
			}
			switch t {
			case frameStdin:
				in.put(b)
			case frameStdinEOF:
				in.end(io.EOF)
			case frameSize:
				var sz size
				if json.Unmarshal(b, &sz) == nil {
					call.mu.Lock()
					call.size = sz
					call.mu.Unlock()
					select {
					case call.resized <- struct{}{}:
					default:
					}
				}
			case frameSecret:
				call.secrets <- secretReply{b: b}
			case frameNoSecret:
				err := ErrNoTerminal
				if string(b) == "interrupted" {
					err = ErrInterrupted
				}
				call.secrets <- secretReply{err: err}
			case frameInterrupt:
				cancel()
				in.end(context.Canceled)
			}
		}
	}()
	code := s.Exec(cctx, call)
	exit(code)
}

// pullStdin is the caller's stdin, pulled a chunk at a time: the caller
// sends a chunk only when asked, so nothing is read from its terminal unless
// the command wants it, and a command that stops reading holds back the
// caller instead of filling the agent's memory.
type pullStdin struct {
	ask     func() error
	mu      sync.Mutex
	cond    *sync.Cond
	buf     []byte
	err     error // io.EOF once the caller's stdin ended
	pending bool  // asked, not answered yet
}

func (p *pullStdin) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && p.err == nil {
		if !p.pending {
			p.pending = true
			if err := p.ask(); err != nil {
				p.err = err
				break
			}
		}
		p.cond.Wait()
	}
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return 0, p.err
}

func (p *pullStdin) put(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = false
	p.buf = append(p.buf, b...)
	p.cond.Broadcast()
}

func (p *pullStdin) end(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
	p.cond.Broadcast()
}
