package server_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"backchannel/server"
	"backchannel/server/api"
	"backchannel/server/apiclient"
)

// BenchmarkRelay drives the target load shape through a real server on
// loopback with the Go API client (no end-to-end encryption: this measures
// the relay alone): senders each send messages of 256 bytes one after
// another, each waiting for its durable acknowledgement, to one reader that
// receives them over the push stream and acknowledges them. It reports
// accepted messages/s and the p50/p99 delivery latency (send call to push
// receipt).
//
//	go test -run '^$' -bench Relay -benchtime 1x ./server/
func BenchmarkRelay(b *testing.B) {
	for _, shape := range []struct{ senders, each int }{{10, 1000}, {100, 100}} {
		b.Run(fmt.Sprintf("senders=%d/each=%d", shape.senders, shape.each), func(b *testing.B) {
			for range b.N {
				relayOnce(b, shape.senders, shape.each)
			}
		})
	}
}

func relayOnce(b *testing.B, senders, each int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ts := startServer(b, server.Config{OpenRegistration: true, Limits: server.Limits{RegisterPerMin: 1e6}})
	reader := register(b, ts.URL, "reader", "")
	total := senders * each
	latencies := make([]time.Duration, 0, total)
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		_ = reader.SubscribeDeliveries(ctx, 0, func(ctx context.Context, d *apiclient.Delivery) error {
			now := time.Now()
			msgs := d.Messages
			ids := make([]int64, len(msgs))
			mu.Lock()
			for i, m := range msgs {
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(m.Data)))
				latencies = append(latencies, now.Sub(sent))
				ids[i] = m.ID
			}
			n := len(latencies)
			mu.Unlock()
			if err := d.Ack(ctx, ids...); err != nil {
				return err
			}
			if n >= total {
				close(done)
				return context.Canceled
			}
			return nil
		})
	}()
	clients := make([]*user, senders)
	for i := range clients {
		clients[i] = register(b, ts.URL, fmt.Sprint("sender", i), "")
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, 256)
			for j := range each {
				binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
				// Counted sends, as clients make them: the rollback check
				// is part of every send transaction.
				if _, err := c.Send(ctx, uint64(j+1), []api.OutgoingEnvelope{{To: "reader", Device: 1, Data: payload}}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	accepted := time.Since(start)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatal("reader did not receive everything")
	}
	delivered := time.Since(start)
	b.StopTimer()
	mu.Lock()
	slices.Sort(latencies)
	p50, p99 := latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	mu.Unlock()
	b.ReportMetric(float64(total)/accepted.Seconds(), "accepted_msgs/s")
	b.ReportMetric(float64(total)/delivered.Seconds(), "delivered_msgs/s")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	if st := ts.st.Stats(); st.Commits > 0 {
		b.ReportMetric(float64(st.CommittedOps)/float64(st.Commits), "ops/commit")
	}
}
