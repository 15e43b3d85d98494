package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"backchannel/server"
	"backchannel/server/api"
	"backchannel/store/sqlite"
)

// crashServerEnv, when set to a data directory, makes the test binary run a
// plain server instead of the tests (see TestMain); TestCrashSafety uses it
// to run the server in a child process that it can SIGKILL.
const crashServerEnv = "BACKCHANNEL_TEST_CRASH_SERVER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashServerEnv); dir != "" {
		os.Exit(runChildServer(dir, os.Getenv("BACKCHANNEL_TEST_CRASH_SERVER_ADDR")))
	}
	os.Exit(m.Run())
}

func runChildServer(dir, addr string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	st, err := sqlite.OpenDir(ctx, dir, sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer st.Close()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("LISTENING %s\n", ln.Addr())
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The idle-streams benchmark opens thousands of streams from 127.0.0.1,
	// many per device: lift the per-address and per-device caps.
	lim := server.Limits{MaxConns: 1 << 20, MaxConnsPerAddress: 1 << 20, MaxStreamsPerDevice: 1 << 20}
	if err := server.New(server.Config{OpenRegistration: true, Limits: lim}, st, logger).Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild runs the server in a child process and returns it and its URL.
func startChild(t testing.TB, dir, addr string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashServerEnv+"="+dir, "BACKCHANNEL_TEST_CRASH_SERVER_ADDR="+addr)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child server: %v", err)
	}
	a, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTENING ")
	if !ok {
		t.Fatalf("child server said %q", line)
	}
	return cmd, "http://" + a
}

// TestCrashSafety kills the server with SIGKILL while several senders are
// sending, restarts it on the same data, and checks that every
// acknowledged message is in the recipient's mailbox.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess crash test")
	}
	dir := t.TempDir()
	cmd, url := startChild(t, dir, "")
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	reader := register(t, url, "reader", "")
	const senders = 6
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		wg    sync.WaitGroup
	)
	enough := make(chan struct{})
	var once sync.Once
	for i := range senders {
		s := register(t, url, fmt.Sprint("sender", i), "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for j := 0; ; j++ {
				payload := fmt.Sprintf("sender%d/%d", i, j)
				_, err := s.Send(ctx, 0, []api.OutgoingEnvelope{{To: "reader", Device: 1, Data: []byte(payload)}})
				if err != nil {
					return // the server is gone: this send was not acknowledged
				}
				mu.Lock()
				acked[payload] = true
				if len(acked) >= 300 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("senders made no progress")
	}
	time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond) // kill at an arbitrary point
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	cmd.Wait()
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()

	addr := strings.TrimPrefix(url, "http://")
	cmd2, url2 := startChild(t, dir, addr)
	defer func() {
		cmd2.Process.Signal(syscall.SIGTERM)
		if err := cmd2.Wait(); err != nil {
			t.Errorf("child server exit: %v", err)
		}
	}()
	if url2 != url {
		t.Fatalf("restarted on %s, want %s", url2, url)
	}
	ctx := context.Background()
	found := map[string]bool{}
	var after int64
	for {
		r, err := reader.Fetch(ctx, after, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.Messages {
			if found[string(m.Data)] {
				t.Fatalf("message %q stored twice", m.Data)
			}
			found[string(m.Data)] = true
			after = m.ID
		}
		if !r.More {
			break
		}
	}
	lost := 0
	for p := range acked {
		if !found[p] {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged message %q lost", p)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged messages lost", lost, n)
	}
	t.Logf("%d acknowledged before SIGKILL, all present after restart (%d stored in total)", n, len(found))
	// The restarted server still serves.
	if _, err := reader.Send(ctx, 0, []api.OutgoingEnvelope{{To: "reader", Device: 1, Data: []byte("after")}}); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
