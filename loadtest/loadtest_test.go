package loadtest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	full     = flag.Bool("full", false, "run the full benchmark (TestFullShape) and print its report")
	runsFlag = flag.String("runs", "shape,10,100,1000", "with -full: relay runs, comma-separated: shape or a client count")
	idleFlag = flag.Int("idle", 10000, "with -full: idle push connections (0 to skip)")
	holdFlag = flag.Duration("hold", 0, "with -full: how long to hold idle connections (default 35s)")
	jsonFlag = flag.String("json", "", "with -full: also write the report as JSON to this file")
	dataFlag = flag.String("data", "", "with -full: parent directory of the servers' data directories")
	inProc   = flag.Bool("idle-in-process", false, "with -full: keep the idle client ends in the test process instead of a child process")
)

// TestMain lets the test binary serve as the idle-connection client process.
func TestMain(m *testing.M) {
	if os.Getenv(IdleClientEnv) != "" {
		if err := IdleClientMain(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestIdleSubprocess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := IdleConfig{Conns: 30, Hold: 500 * time.Millisecond, ClientCommand: []string{os.Args[0]}}
	res, err := RunIdle(ctx, cfg, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ClientMode != "subprocess" || res.Conns != 30 || res.Held != 30 || res.Closed != 0 {
		t.Fatalf("got %+v, want 30 connections held by a subprocess", res)
	}
}

func TestTinyRelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		mu     sync.Mutex
		phases = map[string]bool{}
	)
	progress := func(p Progress) {
		mu.Lock()
		phases[p.Phase] = true
		mu.Unlock()
	}
	cfg := RelayConfig{Name: "tiny", Senders: 3, Readers: 1, Messages: 20, Size: 256}
	res, err := RunRelay(ctx, cfg, t.TempDir(), progress)
	if err != nil {
		t.Fatal(err)
	}
	checkRelay(t, res)
	for _, ph := range []string{"register", "sessions", "send", "deliver"} {
		if !phases[ph] {
			t.Errorf("no progress reported for phase %q", ph)
		}
	}
}

func TestTinyRunReport(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := Config{
		Relay:   []RelayConfig{{Name: "two-rooms", Senders: 4, Readers: 2, Messages: 5, Size: MinSize}},
		Idle:    IdleConfig{Conns: 50, Hold: 1500 * time.Millisecond},
		DataDir: t.TempDir(),
	}
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Relay) != 1 {
		t.Fatalf("got %d relay results", len(rep.Relay))
	}
	checkRelay(t, rep.Relay[0])
	idle := rep.Idle
	if idle == nil || idle.Conns != 50 || idle.Held != 50 || idle.Closed != 0 {
		t.Fatalf("idle result %+v, want 50 connections held", idle)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Idle.Held != 50 || back.Relay[0].Delivered != 20 {
		t.Fatalf("report does not round-trip through JSON: %v", err)
	}
	s := rep.String()
	for _, want := range []string{"two-rooms", "delivered/s", "idle push connections: 50 requested"} {
		if !strings.Contains(s, want) {
			t.Errorf("report text lacks %q:\n%s", want, s)
		}
	}
}

func checkRelay(t *testing.T, res *RelayResult) {
	t.Helper()
	want := int64(res.Config.Senders * res.Config.Messages)
	if res.Expected != want || res.Accepted != want || res.Delivered != want {
		t.Errorf("expected %d, accepted %d, delivered %d; want %d each", res.Expected, res.Accepted, res.Delivered, want)
	}
	if res.Missing != 0 || res.Duplicates != 0 || res.Corrupt != 0 || res.Unacked != 0 || !res.ExactlyOnce {
		t.Errorf("missing %d, duplicates %d, corrupt %d, unacked %d, exactly once %v", res.Missing, res.Duplicates, res.Corrupt, res.Unacked, res.ExactlyOnce)
	}
	if res.Commits == 0 || res.DeliveryP50Ms <= 0 {
		t.Errorf("no measurements: %+v", res)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	p := make([]byte, 256)
	putPayload(p, kindMessage, 7, 42, 123456789)
	pl, err := parsePayload(p, len(p))
	if err != nil || pl != (payload{kind: kindMessage, sender: 7, seq: 42, sentNanos: 123456789}) {
		t.Fatalf("got %+v, %v", pl, err)
	}
	for _, i := range []int{0, 1, 20, 100, 255} {
		q := append([]byte(nil), p...)
		q[i] ^= 1
		if pl2, err := parsePayload(q, len(q)); err == nil && pl2 == pl {
			t.Errorf("flipping byte %d went unnoticed", i)
		}
	}
	if _, err := parsePayload(p[:255], 256); err == nil {
		t.Error("short payload accepted")
	}
}

// TestIdlePong checks that a raw idle connection answers a ping with a
// masked pong carrying the same payload, and notices a close frame.
func TestIdlePong(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ic := &idleConn{c: c.(*net.TCPConn)}
	if ic.raw, err = ic.c.SyscallConn(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pings, closed atomic.Int64
	buf := make([]byte, 512)
	ic.poll(buf, &pings, &closed) // nothing to read: must not block
	// A ping split across two polls.
	srv.Write([]byte{0x89, 5, 'h', 'e'})
	time.Sleep(20 * time.Millisecond)
	ic.poll(buf, &pings, &closed)
	srv.Write([]byte{'l', 'l', 'o'})
	time.Sleep(20 * time.Millisecond)
	ic.poll(buf, &pings, &closed)
	if pings.Load() != 1 {
		t.Fatalf("answered %d pings, want 1", pings.Load())
	}
	srv.SetReadDeadline(time.Now().Add(2 * time.Second))
	f := make([]byte, 11)
	if _, err := ioReadFull(srv, f); err != nil {
		t.Fatal(err)
	}
	if f[0] != 0x8A || f[1] != 0x80|5 {
		t.Fatalf("bad pong header % x", f[:2])
	}
	for i := range 5 {
		if f[6+i]^f[2+i%4] != "hello"[i] {
			t.Fatalf("bad pong payload % x", f)
		}
	}
	srv.Write([]byte{0x88, 0})
	time.Sleep(20 * time.Millisecond)
	ic.poll(buf, &pings, &closed)
	if !ic.closed || closed.Load() != 1 {
		t.Fatal("close frame not noticed")
	}
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestFullShape runs the real benchmark; it is skipped unless -full is set:
//
//	go test ./loadtest -run TestFullShape -full -v -timeout 60m
func TestFullShape(t *testing.T) {
	if !*full {
		t.Skip("set -full to run the full benchmark")
	}
	cfg := Config{Idle: IdleConfig{Conns: *idleFlag, Hold: *holdFlag}, DataDir: *dataFlag}
	if !*inProc {
		cfg.Idle.ClientCommand = []string{os.Args[0]}
	}
	for _, r := range strings.Split(*runsFlag, ",") {
		switch r = strings.TrimSpace(r); r {
		case "":
		case "shape":
			cfg.Relay = append(cfg.Relay, Shape())
		default:
			n, err := strconv.Atoi(r)
			if err != nil {
				t.Fatalf("bad -runs entry %q", r)
			}
			cfg.Relay = append(cfg.Relay, Scale(n))
		}
	}
	last := ""
	cfg.Progress = func(p Progress) {
		if k := p.Run + "/" + p.Phase; k != last || p.Done == p.Total {
			last = k
			fmt.Fprintf(os.Stderr, "%s %s: %d/%d (%.1fs)\n", p.Run, p.Phase, p.Done, p.Total, p.Elapsed.Seconds())
		}
	}
	rep, err := Run(context.Background(), cfg)
	if rep != nil {
		fmt.Println(rep.String())
		if *jsonFlag != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(*jsonFlag, b, 0o644); werr != nil {
				t.Error(werr)
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Relay {
		if !r.ExactlyOnce {
			t.Errorf("run %s: not every message delivered exactly once", r.Config.Name)
		}
	}
}

func TestBadConfig(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []RelayConfig{
		{Name: "no-senders", Readers: 1, Messages: 1, Size: 256},
		{Name: "more-readers", Senders: 1, Readers: 2, Messages: 1, Size: 256},
		{Name: "tiny-size", Senders: 1, Readers: 1, Messages: 1, Size: MinSize - 1},
	} {
		if _, err := RunRelay(ctx, cfg, t.TempDir(), nil); err == nil {
			t.Errorf("%s: accepted", cfg.Name)
		}
	}
	if _, err := RunIdle(ctx, IdleConfig{}, t.TempDir(), nil); err == nil {
		t.Error("idle run with no connections accepted")
	}
	if _, err := RunIdle(ctx, IdleConfig{Conns: 1, ClientCommand: []string{"/nonexistent/loadtest-child"}}, t.TempDir(), nil); err == nil {
		t.Error("idle run with a missing client command succeeded")
	}
}
