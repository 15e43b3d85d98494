package loadtest

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"backchannel/server/api"
)

// idleConn is the client end of an idle push stream: a raw socket with no
// goroutine of its own; sweep answers the server's pings.
type idleConn struct {
	c       *net.TCPConn
	raw     syscall.RawConn
	pending []byte // bytes of an incomplete frame
	closed  bool
}

// dialIdle opens a WebSocket push stream with a signed upgrade request.
func dialIdle(ctx context.Context, addr, user string, key ed25519.PrivateKey) (*idleConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("idle %s: dial: %w", user, err)
	}
	c := nc.(*net.TCPConn)
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/stream?after=0", nil)
	if err != nil {
		return nil, err
	}
	wsKey := make([]byte, 16)
	rand.Read(wsKey)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(wsKey))
	api.SignRequest(req, nil, user, deviceID, key, time.Now())
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if err := req.Write(c); err != nil {
		return nil, fmt.Errorf("idle %s: upgrade: %w", user, err)
	}
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("idle %s: upgrade: %w", user, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("idle %s: upgrade refused: %s", user, resp.Status)
	}
	c.SetDeadline(time.Time{})
	ic := &idleConn{c: c}
	if n := br.Buffered(); n > 0 {
		ic.pending, _ = br.Peek(n)
		ic.pending = append([]byte(nil), ic.pending...)
	}
	if ic.raw, err = c.SyscallConn(); err != nil {
		return nil, fmt.Errorf("idle %s: %w", user, err)
	}
	ok = true
	return ic, nil
}

// sweep polls every connection once a second without blocking and answers
// pings with pongs, until ctx ends.
func sweep(ctx context.Context, conns []*idleConn, pings, closed *atomic.Int64) {
	workers := max(1, runtime.GOMAXPROCS(0))
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var buf [512]byte
				for i := w; i < len(conns); i += workers {
					if ctx.Err() != nil {
						return
					}
					conns[i].poll(buf[:], pings, closed)
				}
			}()
		}
		wg.Wait()
	}
}

// poll reads whatever is available without waiting and handles complete
// frames.
func (ic *idleConn) poll(buf []byte, pings, closed *atomic.Int64) {
	if ic.closed {
		return
	}
	for {
		var n int
		var rerr error
		if err := ic.raw.Read(func(fd uintptr) bool {
			n, rerr = syscall.Read(int(fd), buf)
			return true
		}); err != nil {
			rerr = err
		}
		if errors.Is(rerr, syscall.EAGAIN) {
			break
		}
		if rerr != nil || n == 0 {
			ic.closed = true
			closed.Add(1)
			return
		}
		ic.pending = append(ic.pending, buf[:n]...)
		if n < len(buf) {
			break
		}
	}
	for len(ic.pending) >= 2 {
		op, l, hdr := ic.pending[0]&0x0f, int(ic.pending[1]&0x7f), 2
		switch l {
		case 126:
			if len(ic.pending) < 4 {
				return
			}
			l, hdr = int(ic.pending[2])<<8|int(ic.pending[3]), 4
		case 127:
			ic.closed = true // an idle stream never carries 64 KiB frames
			closed.Add(1)
			return
		}
		if len(ic.pending) < hdr+l {
			return
		}
		payload := ic.pending[hdr : hdr+l]
		switch op {
		case 0x9: // ping
			if ic.pong(payload) == nil {
				pings.Add(1)
			}
		case 0x8: // close
			ic.closed = true
			closed.Add(1)
			return
		}
		ic.pending = ic.pending[hdr+l:]
	}
	if len(ic.pending) == 0 {
		ic.pending = nil
	}
}

// pong writes a masked pong frame echoing payload (at most 125 bytes).
func (ic *idleConn) pong(payload []byte) error {
	f := make([]byte, 0, 6+len(payload))
	var mask [4]byte
	rand.Read(mask[:])
	f = append(f, 0x8A, 0x80|byte(len(payload)))
	f = append(f, mask[:]...)
	for i, b := range payload {
		f = append(f, b^mask[i%4])
	}
	ic.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := ic.c.Write(f)
	return err
}

// calibrateClientSide measures the heap+stack cost of n plain loopback TCP
// connection pairs held in this process without goroutines, and returns
// half of it per pair: an estimate of the client end of an idle stream.
func calibrateClientSide(ctx context.Context, n int) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("calibrate: %w", err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	before := sampleMem(true)
	var d net.Dialer
	mine := make([]net.Conn, 0, n)
	theirs := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range append(mine, theirs...) {
			c.Close()
		}
	}()
	for range n {
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			return 0, fmt.Errorf("calibrate: %w", err)
		}
		mine = append(mine, c)
		select {
		case a := <-accepted:
			theirs = append(theirs, a)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	after := sampleMem(true)
	delta := float64(after.HeapAlloc+after.StackInuse) - float64(before.HeapAlloc+before.StackInuse)
	return max(0, delta/float64(n)/2), nil
}

// idleClients holds the client ends of idle push streams.
type idleClients interface {
	// connect opens one stream per user, counting them in dialed, and
	// starts answering pings.
	connect(ctx context.Context, addr string, users []string, keys []ed25519.PrivateKey, dialed *atomic.Int64) error
	// stop ends ping answering, closes the streams and reports how many
	// pings were answered and how many streams the server had closed.
	stop(ctx context.Context) (pings, closed int64, err error)
	// close releases everything (idempotent; after stop or on error).
	close()
}

// localClients keeps the client ends in this process.
type localClients struct {
	conns         []*idleConn
	stopSweep     context.CancelFunc
	swept         sync.WaitGroup
	pings, closed atomic.Int64
}

func (l *localClients) connect(ctx context.Context, addr string, users []string, keys []ed25519.PrivateKey, dialed *atomic.Int64) error {
	l.conns = make([]*idleConn, len(users))
	err := parallel(ctx, len(users), 16, func(ctx context.Context, i int) error {
		c, err := dialIdle(ctx, addr, users[i], keys[i])
		l.conns[i] = c
		return err
	}, func() { dialed.Add(1) })
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.Background())
	l.stopSweep = cancel
	l.swept.Add(1)
	go func() {
		defer l.swept.Done()
		sweep(sctx, l.conns, &l.pings, &l.closed)
	}()
	return nil
}

func (l *localClients) stop(context.Context) (int64, int64, error) {
	l.close()
	return l.pings.Load(), l.closed.Load(), nil
}

func (l *localClients) close() {
	if l.stopSweep != nil {
		l.stopSweep()
		l.swept.Wait()
		l.stopSweep = nil
	}
	for i, c := range l.conns {
		if c != nil {
			c.c.Close()
			l.conns[i] = nil
		}
	}
}
