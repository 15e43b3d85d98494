package loadtest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"backchannel/server"
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
	// ClientCommand, if set, is the command line of a process that holds
	// the client ends of the connections: it must call IdleClientMain when
	// the environment variable IdleClientEnv is set (the test binary of this
	// package does; the backchannel binary may). Then the client ends cost
	// this process nothing and need no descriptors here. If empty, the
	// client ends are bare sockets in this process (two descriptors per
	// connection; their cost is estimated and subtracted).
	ClientCommand []string `json:"-"`
}

// IdleResult is what an idle-connection run measured. Memory figures are
// of the whole process; the client ends of the connections are raw sockets
// without goroutines whose cost is estimated separately (ClientPerConn),
// so ServerPerConn approximates what the server spends per connection.
type IdleResult struct {
	Requested  int     `json:"requested"`
	ClientMode string  `json:"client_mode"` // "subprocess" or "in-process"
	Conns      int     `json:"conns"`       // opened (Requested unless the fd limit forced fewer)
	Held       int     `json:"held"`        // open on the server at the end (backchannel_push_connections)
	Pings      int64   `json:"pings_answered"`
	Closed     int64   `json:"closed_by_server"`
	FDLimit    FDLimit `json:"fd_limit"`

	RegisterSeconds float64 `json:"register_seconds"`
	RegisterPerSec  float64 `json:"register_per_sec"`
	ConnectSeconds  float64 `json:"connect_seconds"`
	HoldSeconds     float64 `json:"hold_seconds"`

	MemBefore MemSample `json:"mem_before"` // accounts registered, no connection
	MemHeld   MemSample `json:"mem_held"`   // all connections open (after GC)

	HeapAllocPerConn  float64 `json:"heap_alloc_per_conn_bytes"` // live heap
	HeapPerConn       float64 `json:"heap_inuse_per_conn_bytes"` // heap spans in use
	StackPerConn      float64 `json:"stack_per_conn_bytes"`
	SysPerConn        float64 `json:"sys_per_conn_bytes"`
	RSSPerConn        float64 `json:"rss_per_conn_bytes"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn"`
	// ClientPerConn estimates the client end's live heap and stack (half the
	// cost of a plain loopback TCP connection pair held in the same process).
	ClientPerConn float64 `json:"client_per_conn_bytes"`
	// ServerPerConn is (heap in use + stack in use)/Conns − ClientPerConn.
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
		return nil, fmt.Errorf("idle connections must be in [1, 200000]")
	}
	if cfg.Hold <= 0 {
		cfg.Hold = server.PingInterval + 5*time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	res = &IdleResult{Requested: cfg.Conns, Conns: cfg.Conns, ClientMode: "in-process"}
	perConn := 2 // both ends in this process
	if len(cfg.ClientCommand) > 0 {
		res.ClientMode, perConn = "subprocess", 1
	}
	res.FDLimit, err = raiseFDLimit(uint64(perConn*cfg.Conns + fdReserve))
	if err != nil {
		return nil, err
	}
	if res.FDLimit.Soft < res.FDLimit.Needed {
		res.Conns = max(0, int(res.FDLimit.Soft)-fdReserve) / perConn
		if res.Conns < 1 {
			return nil, fmt.Errorf("open-file limit %d is too low for idle connections", res.FDLimit.Soft)
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

	var clients idleClients
	if len(cfg.ClientCommand) > 0 {
		clients = &childClients{argv: cfg.ClientCommand}
	} else {
		if res.ClientPerConn, err = calibrateClientSide(ctx, min(n, 2000)); err != nil {
			return nil, err
		}
		clients = &localClients{}
	}
	defer clients.close()

	res.MemBefore = sampleMem(true)
	addr := strings.TrimPrefix(in.URL, "http://")
	users := make([]string, n)
	for i := range users {
		users[i] = idleName(i)
	}
	count.Store(0)
	end = rep.phase("idle", "connect", int64(n), &count)
	start = time.Now()
	err = clients.connect(ctx, addr, users, keys, &count)
	if err == nil {
		err = waitGauge(ctx, in, hc, "backchannel_push_connections", float64(n))
	}
	end()
	if err != nil {
		return nil, err
	}
	res.ConnectSeconds = time.Since(start).Seconds()

	// Hold while the client ends answer pings.
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
	res.HoldSeconds = time.Since(start).Seconds()
	held, gerr := in.gauge(ctx, hc, "backchannel_push_connections")
	res.Held = int(held)
	res.Pings, res.Closed, err = clients.stop(ctx)
	end()
	if err != nil {
		return nil, err
	}
	if gerr != nil {
		return nil, gerr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("idle: holding: %w", err)
	}

	b, h := res.MemBefore, res.MemHeld
	k := float64(n)
	res.HeapAllocPerConn = (float64(h.HeapAlloc) - float64(b.HeapAlloc)) / k
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
			return fmt.Errorf("%s is %v, want %v: %w", name, v, want, errors.Join(err, ctx.Err()))
		}
	}
}
