package loadtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"backchannel/server"
	"backchannel/store"
	"backchannel/store/sqlite"
)

// instance is a real server running in this process on 127.0.0.1 with an
// SQLite store in a fresh temporary directory.
type instance struct {
	URL    string
	dir    string
	st     *sqlite.Store
	limits server.Limits
	cancel context.CancelFunc
	done   chan error
}

// benchLimits are the server limits of a load run: the defaults, except that
// registration per client IP is unlimited (every load-tool account registers
// from 127.0.0.1; the default 30/min would make a 10,000-account run take
// hours). Per-account request limits keep their defaults.
func benchLimits() server.Limits {
	l := server.DefaultLimits()
	l.RegisterPerMin = math.MaxInt32
	// Every simulated user connects from 127.0.0.1: the per-address caps
	// meant for the internet would measure themselves, not the server.
	l.MaxConns = math.MaxInt32
	l.MaxConnsPerAddress = math.MaxInt32
	l.MaxUnauthBodies = 1024
	l.MaxUnauthBodiesPerAddress = 1024
	return l
}

// startInstance starts a server with open registration. parent is the
// directory under which the data directory is created ("" for the system
// temporary directory).
func startInstance(ctx context.Context, parent string, lim server.Limits) (*instance, error) {
	dir, err := os.MkdirTemp(parent, "backchannel-bench-*")
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	st, err := sqlite.OpenDir(ctx, dir, sqlite.Options{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("open store: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("listen: %w", err)
	}
	srv := server.New(server.Config{DataDir: dir, OpenRegistration: true, Limits: lim, ShutdownTimeout: 5 * time.Second}, st, nil)
	sctx, cancel := context.WithCancel(context.Background())
	in := &instance{URL: "http://" + ln.Addr().String(), dir: dir, st: st, limits: lim, cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- srv.Serve(sctx, ln) }()
	return in, nil
}

// close stops the server, closes the store and deletes the data directory.
func (in *instance) close() error {
	in.cancel()
	err := <-in.done
	if cerr := in.st.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close store: %w", cerr)
	}
	if rerr := os.RemoveAll(in.dir); rerr != nil && err == nil {
		err = fmt.Errorf("remove data dir: %w", rerr)
	}
	return err
}

func (in *instance) stats() store.Stats { return in.st.Stats() }

// gauge reads one unlabelled metric from the server's /metrics endpoint.
func (in *instance) gauge(ctx context.Context, hc *http.Client, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// MemSample is the Go runtime's memory accounting of the whole process at
// one moment (the server runs in the load tool's process, so it includes
// the load clients).
type MemSample struct {
	HeapAlloc  uint64 `json:"heap_alloc_bytes"` // live objects (after a GC)
	HeapInuse  uint64 `json:"heap_inuse_bytes"` // spans in use
	StackInuse uint64 `json:"stack_inuse_bytes"`
	Sys        uint64 `json:"sys_bytes"`
	RSS        uint64 `json:"rss_bytes"`
	Goroutines int    `json:"goroutines"`
}

// sampleMem reads memory statistics; with gc it first collects garbage so
// that HeapInuse approximates live memory.
func sampleMem(gc bool) MemSample {
	if gc {
		runtime.GC()
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return MemSample{HeapAlloc: ms.HeapAlloc, HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, Sys: ms.Sys, RSS: rss(), Goroutines: runtime.NumGoroutine()}
}

func maxMem(a, b MemSample) MemSample {
	return MemSample{HeapAlloc: max(a.HeapAlloc, b.HeapAlloc), HeapInuse: max(a.HeapInuse, b.HeapInuse), StackInuse: max(a.StackInuse, b.StackInuse),
		Sys: max(a.Sys, b.Sys), RSS: max(a.RSS, b.RSS), Goroutines: max(a.Goroutines, b.Goroutines)}
}

// rss returns the resident set size from /proc/self/statm (0 if unknown).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// memSampler records the peak of periodic samples until stopped.
type memSampler struct {
	stop chan struct{}
	done chan MemSample
}

func startMemSampler(every time.Duration) *memSampler {
	m := &memSampler{stop: make(chan struct{}), done: make(chan MemSample, 1)}
	go func() {
		peak := sampleMem(false)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				m.done <- maxMem(peak, sampleMem(false))
				return
			case <-t.C:
				peak = maxMem(peak, sampleMem(false))
			}
		}
	}()
	return m
}

func (m *memSampler) peak() MemSample {
	close(m.stop)
	return <-m.done
}

// fsType names the file system holding dir, to tell whether fsync means
// anything there (on tmpfs it does not).
func fsType(dir string) string {
	if dir == "" {
		dir = os.TempDir()
	}
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return "unknown"
	}
	switch uint64(s.Type) {
	case 0xEF53:
		return "ext4"
	case 0x01021994:
		return "tmpfs"
	case 0x9123683E:
		return "btrfs"
	case 0x58465342:
		return "xfs"
	case 0x794c7630:
		return "overlayfs"
	}
	return fmt.Sprintf("0x%x", uint64(s.Type))
}

// FDLimit reports the open-file limit of the process.
type FDLimit struct {
	Soft   uint64 `json:"soft"`
	Hard   uint64 `json:"hard"`
	Needed uint64 `json:"needed"`
	Raised bool   `json:"raised"`
}

// raiseFDLimit raises the soft open-file limit to need (and the hard limit
// too when the process may, e.g. as root). It reports the limit in force.
func raiseFDLimit(need uint64) (FDLimit, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return FDLimit{}, fmt.Errorf("getrlimit: %w", err)
	}
	lim := FDLimit{Soft: rl.Cur, Hard: rl.Max, Needed: need}
	if rl.Cur >= need {
		return lim, nil
	}
	want := syscall.Rlimit{Cur: need, Max: max(rl.Max, need)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Not allowed to raise the hard limit: go as far as it allows.
		want = syscall.Rlimit{Cur: rl.Max, Max: rl.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil && !errors.Is(err, syscall.EPERM) {
			return lim, fmt.Errorf("setrlimit: %w", err)
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return lim, fmt.Errorf("getrlimit: %w", err)
	}
	lim.Raised = rl.Cur > lim.Soft
	lim.Soft, lim.Hard = rl.Cur, rl.Max
	return lim, nil
}
