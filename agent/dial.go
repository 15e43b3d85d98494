package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrNotRunning: no agent answers on the profile's socket.
var ErrNotRunning = errors.New("no agent is running for this profile")

// ErrNotYours: the agent's socket cannot be used by this user.
var ErrNotYours = errors.New("this profile's agent is not yours")

// ErrHungUp: the agent closed the connection before the command ended (it
// refused this process, or it stopped).
var ErrHungUp = errors.New("the profile's agent closed the connection before the command ended (it refused this process, or it stopped; see agent.log in the profile directory)")

// Terminal is the caller's side of a call.
type Terminal struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// ReadSecret prompts and reads a line without echo (nil: no terminal).
	ReadSecret func(prompt string) ([]byte, error)
	// Raw switches the terminal to raw mode and back (nil: no terminal).
	Raw func(on bool) error
	// Size reads the terminal's size; Resized tells when it changed.
	Size    func() (width, height int)
	Resized <-chan struct{}
}

// interruptGrace is how long a cancelled call may take to finish.
const interruptGrace = 3 * time.Second

// StatusInterrupted is the exit status of a call the caller gave up on.
const StatusInterrupted = 130

// SocketPath is the agent's socket for the profile in dir.
func SocketPath(dir string) string { return filepath.Join(dir, SocketName) }

// Dial connects to the agent of the profile in dir.
func Dial(ctx context.Context, dir string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", SocketPath(dir))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, ErrNotRunning
		}
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("%w: %s belongs to another user, who holds this profile unlocked", ErrNotYours, SocketPath(dir))
		}
		return nil, fmt.Errorf("cannot reach the agent at %s: %w", SocketPath(dir), err)
	}
	return conn, nil
}

// Ping reports whether an agent answers for the profile in dir.
func Ping(ctx context.Context, dir string) bool {
	code, err := simple(ctx, dir, OpPing)
	return err == nil && code == 0
}

// Lock asks the agent of the profile in dir to stop; ErrNotRunning if none.
func Lock(ctx context.Context, dir string) error {
	_, err := simple(ctx, dir, OpLock)
	return err
}

func simple(ctx context.Context, dir, op string) (int, error) {
	conn, err := Dial(ctx, dir)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	return run(ctx, conn, Request{Op: op}, Terminal{Stdout: io.Discard, Stderr: io.Discard})
}

// Run sends req to the agent of the profile in dir and serves the call from
// t until the agent reports the exit status, which Run returns. When ctx
// ends (Ctrl-C) the agent is told to cancel; Run returns StatusInterrupted.
func Run(ctx context.Context, dir string, req Request, t Terminal) (int, error) {
	conn, err := Dial(ctx, dir)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return run(ctx, conn, req, t)
}

func run(ctx context.Context, conn net.Conn, req Request, t Terminal) (int, error) {
	fw := &frameWriter{w: conn}
	if t.Size != nil {
		req.Width, req.Height = t.Size()
	}
	b, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	if err := fw.write(frameRequest, b); err != nil {
		return 0, fmt.Errorf("reach the agent: %w", err)
	}
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	stdinReq := make(chan struct{}, 1)
	rawOn := false
	go func() {
		defer close(stdinReq)
		for {
			ft, b, err := readFrame(conn)
			if err != nil {
				done <- result{0, ErrHungUp}
				return
			}
			switch ft {
			case frameStdout:
				t.Stdout.Write(b)
			case frameStderr:
				t.Stderr.Write(b)
			case frameNeedStdin:
				select {
				case stdinReq <- struct{}{}:
				default:
				}
			case framePrompt:
				go func(prompt string) {
					if t.ReadSecret == nil {
						fw.write(frameNoSecret, []byte("no terminal"))
						return
					}
					s, err := t.ReadSecret(prompt)
					switch {
					case err == nil:
						fw.write(frameSecret, s)
					case errors.Is(err, ErrInterrupted):
						fw.write(frameNoSecret, []byte("interrupted"))
					default:
						fw.write(frameNoSecret, []byte("no terminal"))
					}
				}(string(b))
			case frameRaw:
				if t.Raw != nil {
					on := string(b) == "1"
					if t.Raw(on) == nil {
						rawOn = on
					}
				}
			case frameExit:
				var st exitStatus
				if err := json.Unmarshal(b, &st); err != nil {
					done <- result{0, fmt.Errorf("the agent sent a bad exit status: %w", err)}
					return
				}
				done <- result{st.Code, nil}
				return
			}
		}
	}()
	defer func() {
		if rawOn && t.Raw != nil {
			t.Raw(false)
		}
	}()
	// stdin, pulled: one chunk per request from the agent.
	go func() {
		if t.Stdin == nil {
			for range stdinReq {
				fw.write(frameStdinEOF, nil)
			}
			return
		}
		buf := make([]byte, 32<<10)
		for range stdinReq {
			n, err := t.Stdin.Read(buf)
			if n > 0 {
				if fw.write(frameStdin, buf[:n]) != nil {
					return
				}
			}
			if err != nil {
				fw.write(frameStdinEOF, nil)
				return
			}
			if n == 0 {
				select {
				case stdinReq <- struct{}{}:
				default:
				}
			}
		}
	}()
	for {
		select {
		case r := <-done:
			return r.code, r.err
		case <-t.Resized:
			if t.Size != nil {
				w, h := t.Size()
				b, _ := json.Marshal(size{w, h})
				fw.write(frameSize, b)
			}
		case <-ctx.Done():
			fw.write(frameInterrupt, nil)
			select {
			case r := <-done:
				if r.err == nil && r.code != 0 {
					return StatusInterrupted, nil
				}
				return StatusInterrupted, r.err
			case <-time.After(interruptGrace):
				return StatusInterrupted, nil
			}
		}
	}
}
