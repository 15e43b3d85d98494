package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"backchannel/server/api"
	"backchannel/server/apiclient"
)

// BenchmarkIdleStreams holds N idle push streams (env
// BACKCHANNEL_BENCH_STREAMS, default 2000) open against a server running in
// a child process and reports the server's memory per connection, read from
// its /metrics. Each stream is a separate TCP connection from this process;
// the process needs about 2N file descriptors in all.
//
//	BACKCHANNEL_BENCH_STREAMS=9000 go test -run '^$' -bench IdleStreams -benchtime 1x ./server/
func BenchmarkIdleStreams(b *testing.B) {
	n := 2000
	if v := os.Getenv("BACKCHANNEL_BENCH_STREAMS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	cmd, url := startChild(b, b.TempDir(), "")
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	before := serverMemory(b, url)
	const perUser = 1000 // stays under the per-account burst
	var users []*user
	for i := 0; i*perUser < n; i++ {
		users = append(users, register(b, url, fmt.Sprint("idle", i), ""))
	}
	streams := make([]*apiclient.Stream, 0, n)
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	b.ResetTimer()
	for i := range n {
		s, err := users[i/perUser].Dial(ctx, 0)
		if err != nil {
			b.Fatalf("stream %d: %v", i, err)
		}
		streams = append(streams, s)
	}
	time.Sleep(time.Second)
	after := serverMemory(b, url)
	// Still live: a message reaches the last stream.
	last := users[len(users)-1]
	if _, err := last.Send(ctx, 0, []api.OutgoingEnvelope{{To: last.name, Device: 1, Data: []byte("ping")}}); err != nil {
		b.Fatal(err)
	}
	if msgs, err := streams[len(streams)-1].Next(ctx); err != nil || len(msgs) != 1 {
		b.Fatalf("push to an idle stream: %v %v", msgs, err)
	}
	b.StopTimer()
	for _, k := range []string{"process_resident_memory_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes"} {
		b.ReportMetric((after[k]-before[k])/float64(n), strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(k, "go_memstats_"), "process_"), "_bytes")+"_B/conn")
	}
	b.ReportMetric(after["backchannel_push_connections"], "streams")
	b.ReportMetric(after["process_resident_memory_bytes"]/(1<<20), "server_rss_MiB")
}

func serverMemory(b *testing.B, url string) map[string]float64 {
	b.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out
}
