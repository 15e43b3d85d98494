package keylog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"backchannel/keylog"
	"backchannel/store"
)

// BenchmarkUpdate: updates per second through Update (durable in SQLite)
// and the sequencer, until an epoch holding all of them is published.
func BenchmarkUpdate(b *testing.B) {
	e := newEnv(b)
	l := e.mustOpen(keylog.Config{Heartbeat: time.Hour, EpochDelay: 200 * time.Millisecond})
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			name := fmt.Sprintf("user%d", i)
			if err := l.Update(ctx, name, 1, listHash(name, 1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for {
		if ep, ok := l.Latest(); ok && ep.Entry.Leaves >= uint64(n.Load()) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "updates/s")
}

// BenchmarkUpdateToPublished: the time from Update to the change being
// answered from a published checkpoint, over 200 updates spread over 3 s
// (run with -benchtime=1x).
func BenchmarkUpdateToPublished(b *testing.B) {
	const updates = 200
	e := newEnv(b)
	for i := range updates {
		e.account(fmt.Sprintf("user%d", i), 1)
	}
	l := e.mustOpen(keylog.Config{Heartbeat: keylog.DefaultHeartbeat}) // default epoch delay
	ctx := context.Background()
	// One round of 200 measured updates, whatever b.N (the round takes 3 s).
	b.ResetTimer()
	lat := make([]time.Duration, updates)
	var wg sync.WaitGroup
	for i := range updates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 15 * time.Millisecond)
			name := fmt.Sprintf("user%d", i)
			t0 := time.Now()
			if err := l.Update(ctx, name, 1, listHash(name, 1)); err != nil {
				b.Error(err)
				return
			}
			for {
				if lk, err := l.Lookup(ctx, name); err == nil && lk.Version == 1 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			lat[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[updates/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[updates*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[updates-1].Microseconds())/1000, "max-ms")
}

// BenchmarkLookupSize: the bytes of a lookup proof among 10,000 accounts
// (after the few epochs the set-up takes). binary-B counts the proof fields without the device list
// (checkpoint note, entry, inclusion, VRF proof, updates, version, nonce,
// path, and the listing: entry U, its inclusion, position, change proof);
// json-B is the whole response with a 1-byte device list.
func BenchmarkLookupSize(b *testing.B) {
	const accounts = 10_000
	e := newEnv(b)
	ctx := context.Background()
	l := e.mustOpen(keylog.Config{Heartbeat: time.Hour})
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < accounts; i += 32 {
				name := fmt.Sprintf("u%d", i)
				a := store.Account{Name: name, IdentityKey: []byte("ik"), CreatedAt: time.Now()}
				d := store.Device{User: name, ID: 1, SigningKey: []byte("k"), CreatedAt: time.Now()}
				if err := e.st.CreateAccount(ctx, a, d, []byte("x"), nil, time.Now()); err != nil {
					b.Error(err)
				}
				if err := l.Update(ctx, name, 1, listHash(name, 1)); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for {
		if ep, ok := l.Latest(); ok && ep.Entry.Leaves == accounts {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	var lk *keylog.Lookup
	for i := range b.N {
		var err error
		lk, err = l.Lookup(ctx, fmt.Sprintf("u%d", i%accounts))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	bin := len(lk.Checkpoint) + len(lk.Entry) + 32*len(lk.Inclusion) + len(lk.VRFProof) + 8 + 8 + len(lk.Nonce) + 32*len(lk.Path) + 8
	// The listing proof: epoch U, entry U, its inclusion, the position and the change proof.
	ch := lk.Changed
	bin += 8 + len(ch.Entry) + 32*len(ch.Inclusion) + 4 + 32*len(ch.Path)
	js, _ := json.Marshal(lk)
	b.ReportMetric(float64(bin), "binary-B")
	b.ReportMetric(float64(len(js)), "json-B")
	b.ReportMetric(float64(len(lk.Path)), "path-hashes")
	b.ReportMetric(float64(len(lk.Inclusion)), "inclusion-hashes")
	b.ReportMetric(float64(len(ch.Path)), "change-path-hashes")
}
