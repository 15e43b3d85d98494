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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"backchannel/server"
	"backchannel/server/api"
)

// IdleConfig is an idle-connection run: Conns registered devices each hold
// one WebSocket push stream open, with nothing to deliver, for Hold.
type IdleConfig struct {
	Conns int `json:"conns"`
	// Hold is how long the connections are held once all are open (default
	// 35 s, longer than the server's 30 s ping interval, so that every
	// connection answers at least one ping).
	Hold time.Duration `json:"-"`
	// Timeout bounds the whole run (default 10 min).
	Timeout time.Duration `json:"-"`
}

// IdleResult is what an idle-connection run measured. Memory figures are
// of the whole process; the client ends of the connections are raw sockets
// without goroutines whose cost is estimated separately (ClientPerConn),
// so ServerPerConn approximates what the server spends per connection.
type IdleResult struct {
	Requested int     `json:"requested"`
	Conns     int     `json:"conns"` // opened (Requested unless the fd limit forced fewer)
	Held      int     `json:"held"`  // open on the server at the end (backchannel_push_connections)
	Pings     int64   `json:"pings_answered"`
	Closed    int64   `json:"closed_by_server"`
	FDLimit   FDLimit `json:"fd_limit"`

	RegisterSeconds float64 `json:"register_seconds"`
	RegisterPerSec  float64 `json:"register_per_sec"`
	ConnectSeconds  float64 `json:"connect_seconds"`
	HoldSeconds     float64 `json:"hold_seconds"`

	MemBefore MemSample `json:"mem_before"` // accounts registered, no connection
	MemHeld   MemSample `json:"mem_held"`   // all connections open (after GC)

	HeapPerConn       float64 `json:"heap_per_conn_bytes"`
	StackPerConn      float64 `json:"stack_per_conn_bytes"`
	SysPerConn        float64 `json:"sys_per_conn_bytes"`
	RSSPerConn        float64 `json:"rss_per_conn_bytes"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`
	// ClientPerConn estimates the client end's heap+stack (half the cost of
	// a plain loopback TCP connection pair, measured in the same process).
	ClientPerConn float64 `json:"client_per_conn_bytes"`
	// ServerPerConn is (heap+stack delta)/Conns − ClientPerConn.
	ServerPerConn float64 `json:"server_per_conn_bytes"`
	ServerTotal   float64 `json:"server_total_bytes"`
}

// fdReserve is the number of descriptors kept for everything else (store,
// listener, HTTP clients).
const fdReserve = 512

// RunIdle starts a fresh in-process server, registers cfg.Conns accounts,
// opens one push stream for each and holds them, then shuts down.
func RunIdle(ctx context.Context, cfg IdleConfig, dataDir string, progress ProgressFunc) (*IdleResult, error) {
	return runIdle(ctx, cfg, dataDir, newReporter(progress))
}

func runIdle(ctx context.Context, cfg IdleConfig, dataDir string, rep *reporter) (res *IdleResult, err error) {
	if cfg.Conns < 1 || cfg.Conns > 200_000 {
		return nil, fmt.Errorf("loadtest: idle connections must be in [1, 200000]")
	}
	if cfg.Hold <= 0 {
		cfg.Hold = server.PingInterval + 5*time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	res = &IdleResult{Requested: cfg.Conns, Conns: cfg.Conns}
	// Both ends live in this process: two descriptors per connection.
	res.FDLimit, err = raiseFDLimit(uint64(2*cfg.Conns + fdReserve))
	if err != nil {
		return nil, err
	}
	if res.FDLimit.Soft < res.FDLimit.Needed {
		res.Conns = max(0, int(res.FDLimit.Soft)-fdReserve) / 2
		if res.Conns < 1 {
			return nil, fmt.Errorf("loadtest: open-file limit %d is too low for idle connections", res.FDLimit.Soft)
		}
	}
	n := res.Conns

	in, err := startInstance(ctx, dataDir, benchLimits())
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := in.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	workers := 32
	hc, closeIdle := newHTTPClient(workers)
	defer closeIdle()

	// Register n accounts with real identity and device keys (no prekeys:
	// nobody starts a session with an idle device).
	keys := make([]ed25519.PrivateKey, n)
	var count atomic.Int64
	end := rep.phase("idle", "register", int64(n), &count)
	start := time.Now()
	err = parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		c, err := newClient(in.URL, idleName(i), hc)
		if err != nil {
			return err
		}
		if err := c.register(ctx); err != nil {
			return err
		}
		keys[i] = c.dev.SigningKey()
		return nil
	}, func() { count.Add(1) })
	end()
	if err != nil {
		return nil, err
	}
	res.RegisterSeconds = time.Since(start).Seconds()
	res.RegisterPerSec = float64(n) / res.RegisterSeconds
	closeIdle()

	client, err := calibrateClientSide(ctx, min(n, 2000))
	if err != nil {
		return nil, err
	}
	res.ClientPerConn = client

	res.MemBefore = sampleMem(true)
	conns := make([]*idleConn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.c.Close()
			}
		}
	}()
	addr := strings.TrimPrefix(in.URL, "http://")
	count.Store(0)
	end = rep.phase("idle", "connect", int64(n), &count)
	start = time.Now()
	err = parallel(ctx, n, 16, func(ctx context.Context, i int) error {
		c, err := dialIdle(ctx, addr, idleName(i), keys[i])
		conns[i] = c
		return err
	}, func() { count.Add(1) })
	if err == nil {
		err = waitGauge(ctx, in, hc, "backchannel_push_connections", float64(n))
	}
	end()
	if err != nil {
		return nil, err
	}
	res.ConnectSeconds = time.Since(start).Seconds()

	// Hold, answering pings.
	sweepCtx, stopSweep := context.WithCancel(ctx)
	var sweepWG sync.WaitGroup
	var pings, closed atomic.Int64
	sweepWG.Add(1)
	go func() {
		defer sweepWG.Done()
		sweep(sweepCtx, conns, &pings, &closed)
	}()
	var elapsed atomic.Int64
	end = rep.phase("idle", "hold", int64(cfg.Hold/time.Second), &elapsed)
	start = time.Now()
	tick := time.NewTicker(time.Second)
hold:
	for {
		select {
		case <-tick.C:
			elapsed.Store(int64(time.Since(start) / time.Second))
			if time.Since(start) >= cfg.Hold {
				break hold
			}
		case <-ctx.Done():
			break hold
		}
	}
	tick.Stop()
	res.MemHeld = sampleMem(true)
	stopSweep()
	sweepWG.Wait()
	res.Pings, res.Closed = pings.Load(), closed.Load()
	end()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("loadtest: idle: holding: %w", err)
	}
	res.HoldSeconds = time.Since(start).Seconds()
	held, err := in.gauge(ctx, hc, "backchannel_push_connections")
	if err != nil {
		return nil, err
	}
	res.Held = int(held)

	b, h := res.MemBefore, res.MemHeld
	k := float64(n)
	res.HeapPerConn = (float64(h.HeapInuse) - float64(b.HeapInuse)) / k
	res.StackPerConn = (float64(h.StackInuse) - float64(b.StackInuse)) / k
	res.SysPerConn = (float64(h.Sys) - float64(b.Sys)) / k
	res.RSSPerConn = (float64(h.RSS) - float64(b.RSS)) / k
	res.GoroutinesPerConn = float64(h.Goroutines-b.Goroutines) / k
	res.ServerPerConn = res.HeapPerConn + res.StackPerConn - res.ClientPerConn
	res.ServerTotal = res.ServerPerConn * k
	return res, nil
}

func idleName(i int) string { return fmt.Sprintf("i-%06d", i) }

// waitGauge polls a server gauge until it reaches want (at most 60 s).
func waitGauge(ctx context.Context, in *instance, hc *http.Client, name string, want float64) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		v, err := in.gauge(ctx, hc, name)
		if err == nil && v >= want {
			return nil
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("loadtest: %s is %v, want %v: %w", name, v, want, errors.Join(err, ctx.Err()))
		}
	}
}

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
		return nil, fmt.Errorf("loadtest: idle %s: dial: %w", user, err)
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
		return nil, fmt.Errorf("loadtest: idle %s: upgrade: %w", user, err)
	}
	br := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("loadtest: idle %s: upgrade: %w", user, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("loadtest: idle %s: upgrade refused: %s", user, resp.Status)
	}
	c.SetDeadline(time.Time{})
	ic := &idleConn{c: c}
	if n := br.Buffered(); n > 0 {
		ic.pending, _ = br.Peek(n)
		ic.pending = append([]byte(nil), ic.pending...)
	}
	if ic.raw, err = c.SyscallConn(); err != nil {
		return nil, fmt.Errorf("loadtest: idle %s: %w", user, err)
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
		return 0, fmt.Errorf("loadtest: calibrate: %w", err)
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
			return 0, fmt.Errorf("loadtest: calibrate: %w", err)
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
	delta := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
	return max(0, delta/float64(n)/2), nil
}
