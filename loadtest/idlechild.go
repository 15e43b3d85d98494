package loadtest

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// IdleClientEnv is set in the environment of the process started with
// IdleConfig.ClientCommand. A program that supports it checks the variable
// first thing in main (or TestMain) and, when set, runs
// IdleClientMain(ctx, os.Stdin, os.Stdout) and exits.
const IdleClientEnv = "BACKCHANNEL_LOADTEST_IDLE_CLIENT"

// childRequest is the parent's only message to the child.
type childRequest struct {
	Addr  string      `json:"addr"`
	Conns []childConn `json:"conns"`
}

type childConn struct {
	User string `json:"user"`
	Seed []byte `json:"seed"` // Ed25519 seed of the device key
}

// childStatus is one line from the child.
type childStatus struct {
	Dialed    int64  `json:"dialed,omitempty"`
	Connected int    `json:"connected,omitempty"`
	Pings     int64  `json:"pings,omitempty"`
	Closed    int64  `json:"closed,omitempty"`
	Done      bool   `json:"done,omitempty"`
	Error     string `json:"error,omitempty"`
}

// IdleClientMain is the child side of an idle-connection run: it reads the
// server address and the device keys from in, opens one push stream per
// device, answers the server's pings until in reaches end of file, then
// closes the streams and reports on out. Status goes to out as JSON lines;
// nothing else may write to out meanwhile.
func IdleClientMain(ctx context.Context, in io.Reader, out io.Writer) error {
	enc := json.NewEncoder(out)
	var mu sync.Mutex
	send := func(st childStatus) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(st)
	}
	fail := func(err error) error {
		send(childStatus{Error: err.Error()})
		return err
	}
	br := bufio.NewReaderSize(in, 1<<20)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return fail(fmt.Errorf("idle client: read request: %w", err))
	}
	var req childRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return fail(fmt.Errorf("idle client: bad request: %w", err))
	}
	lim, err := raiseFDLimit(uint64(len(req.Conns) + fdReserve))
	if err != nil {
		return fail(err)
	}
	if lim.Soft < lim.Needed {
		return fail(fmt.Errorf("idle client: open-file limit %d, need %d", lim.Soft, lim.Needed))
	}
	users := make([]string, len(req.Conns))
	keys := make([]ed25519.PrivateKey, len(req.Conns))
	for i, c := range req.Conns {
		if len(c.Seed) != ed25519.SeedSize {
			return fail(fmt.Errorf("idle client: bad key for %s", c.User))
		}
		users[i], keys[i] = c.User, ed25519.NewKeyFromSeed(c.Seed)
	}
	req.Conns = nil

	// Stop when the parent closes our stdin (or ctx ends).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, br)
		cancel()
	}()

	var dialed atomic.Int64
	stopTicks := make(chan struct{})
	ticks := make(chan struct{})
	go func() {
		defer close(ticks)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopTicks:
				return
			case <-t.C:
				send(childStatus{Dialed: dialed.Load()})
			}
		}
	}()
	l := &localClients{}
	defer l.close()
	err = l.connect(ctx, req.Addr, users, keys, &dialed)
	close(stopTicks)
	<-ticks
	if err != nil {
		return fail(err)
	}
	send(childStatus{Connected: len(users)})
	<-ctx.Done()
	pings, closed, _ := l.stop(context.Background())
	send(childStatus{Pings: pings, Closed: closed, Done: true})
	return nil
}

// childClients holds the client ends in a child process.
type childClients struct {
	argv   []string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan childStatus
	stderr tailBuffer
}

func (c *childClients) connect(ctx context.Context, addr string, users []string, keys []ed25519.PrivateKey, dialed *atomic.Int64) error {
	c.cmd = exec.Command(c.argv[0], c.argv[1:]...)
	c.cmd.Env = append(os.Environ(), IdleClientEnv+"=1")
	c.cmd.Stderr = &c.stderr
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return fmt.Errorf("idle client process: %w", err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("idle client process: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start idle client process %q: %w", c.argv[0], err)
	}
	c.lines = make(chan childStatus, 16)
	go func() {
		defer close(c.lines)
		dec := json.NewDecoder(stdout)
		for {
			var st childStatus
			if err := dec.Decode(&st); err != nil {
				return
			}
			c.lines <- st
		}
	}()
	req := childRequest{Addr: addr, Conns: make([]childConn, len(users))}
	for i := range users {
		req.Conns[i] = childConn{User: users[i], Seed: keys[i].Seed()}
	}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("idle client process: %w", err)
	}
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("idle client process: write request: %w", err)
	}
	for {
		st, err := c.next(ctx)
		if err != nil {
			return err
		}
		if st.Dialed > 0 {
			dialed.Store(st.Dialed)
		}
		if st.Connected > 0 {
			dialed.Store(int64(st.Connected))
			return nil
		}
	}
}

// next returns the child's next status line; an error line, the end of its
// output or the end of ctx is an error.
func (c *childClients) next(ctx context.Context) (childStatus, error) {
	select {
	case st, ok := <-c.lines:
		if !ok {
			return st, fmt.Errorf("idle client process ended unexpectedly: %s", c.stderr.String())
		}
		if st.Error != "" {
			return st, fmt.Errorf("idle client process: %s", st.Error)
		}
		return st, nil
	case <-ctx.Done():
		return childStatus{}, fmt.Errorf("idle client process: %w", ctx.Err())
	}
}

func (c *childClients) stop(ctx context.Context) (int64, int64, error) {
	if c.stdin == nil {
		return 0, 0, errors.New("idle client process not started")
	}
	c.stdin.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		st, err := c.next(ctx)
		if err != nil {
			return 0, 0, err
		}
		if st.Done {
			c.close()
			return st.Pings, st.Closed, nil
		}
	}
}

// close ends the child: it waits briefly for a clean exit, then kills it.
func (c *childClients) close() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	if c.stdin != nil {
		c.stdin.Close()
	}
	exited := make(chan struct{})
	go func() {
		_ = c.cmd.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-exited
	}
	c.cmd = nil
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-4096:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
