package loadtest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Config selects the runs of a benchmark. Each run gets a fresh server.
type Config struct {
	// Relay runs, in order (e.g. Shape() and Scale(10), Scale(100),
	// Scale(1000)).
	Relay []RelayConfig
	// Idle, if Idle.Conns > 0, holds that many idle push connections.
	Idle IdleConfig
	// DataDir is the parent of the servers' temporary data directories
	// ("" for the system temporary directory). It should be on the disk
	// whose fsync you mean to measure, not tmpfs.
	DataDir string
	// Progress, if set, receives progress updates (serialised).
	Progress ProgressFunc
}

// DefaultConfig is the full benchmark: the reference shape, the scaling
// runs at 10, 100 and 1,000 clients and 10,000 idle push connections.
func DefaultConfig() Config {
	return Config{
		Relay: []RelayConfig{Shape(), Scale(10), Scale(100), Scale(1000)},
		Idle:  IdleConfig{Conns: 10_000},
	}
}

// Report is the outcome of Run.
type Report struct {
	StartedAt  time.Time `json:"started_at"`
	Seconds    float64   `json:"seconds"`
	GoVersion  string    `json:"go_version"`
	OS         string    `json:"os"`
	Arch       string    `json:"arch"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	FileSystem string    `json:"file_system"` // of the data directory
	ServerMode string    `json:"server_mode"`
	Limits     string    `json:"limits"`
	// Load averages of the machine (1, 5, 15 min) when the run started and
	// ended: other work on the machine skews the figures.
	LoadAvgStart string         `json:"loadavg_start"`
	LoadAvgEnd   string         `json:"loadavg_end"`
	Relay        []*RelayResult `json:"relay"`
	Idle         *IdleResult    `json:"idle,omitempty"`
}

// Run carries out the runs of cfg one after another, each against a fresh
// server started in this process on 127.0.0.1 with an SQLite store in a
// temporary directory (deleted afterwards). It stops at the first run that
// cannot be carried out and returns the report so far with the error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	rep := &Report{
		StartedAt:    time.Now().UTC(),
		GoVersion:    runtime.Version(),
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		CPUs:         runtime.NumCPU(),
		GOMAXPROCS:   runtime.GOMAXPROCS(0),
		FileSystem:   fsType(cfg.DataDir),
		ServerMode:   "in-process (the load clients share the process, its CPUs and its memory figures)",
		Limits:       "server defaults, except registrations per client IP unlimited (all load accounts register from 127.0.0.1)",
		LoadAvgStart: loadAvg(),
	}
	start := time.Now()
	defer func() {
		rep.Seconds = time.Since(start).Seconds()
		rep.LoadAvgEnd = loadAvg()
	}()
	r := newReporter(cfg.Progress)
	for _, rc := range cfg.Relay {
		res, err := runRelay(ctx, rc, cfg.DataDir, r)
		if err != nil {
			return rep, fmt.Errorf("run %q: %w", rc.Name, err)
		}
		rep.Relay = append(rep.Relay, res)
	}
	if cfg.Idle.Conns > 0 {
		res, err := runIdle(ctx, cfg.Idle, cfg.DataDir, r)
		if err != nil {
			return rep, fmt.Errorf("idle run: %w", err)
		}
		rep.Idle = res
	}
	return rep, nil
}

// loadAvg returns the first three fields of /proc/loadavg ("" if unknown).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// cpuPressure returns the "some avg10" figure of /proc/pressure/cpu: the
// share of the last 10 s (in %) in which some runnable task waited for a
// CPU; -1 if unknown. Values well above what the load itself causes mean
// other work competed for the CPUs.
func cpuPressure() float64 {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return -1
	}
	for _, f := range strings.Fields(string(b)) {
		if v, ok := strings.CutPrefix(f, "avg10="); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return -1
			}
			return x
		}
	}
	return -1
}
