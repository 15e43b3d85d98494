package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"backchannel/store"
)

// metrics are the server's Prometheus metrics, on a registry of their own.
type metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	rateLimited  prometheus.Counter
	panics       prometheus.Counter
	enqueued     prometheus.Counter
	pushed       prometheus.Counter
	acked        prometheus.Counter
	blobBytesIn  prometheus.Counter
	blobBytesOut prometheus.Counter
	connsRefused prometheus.Counter
}

func newMetrics(st store.Store, h *hub) *metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backchannel_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "backchannel_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30},
		}, []string{"route"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backchannel_auth_failures_total", Help: "Refused request proofs by reason.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backchannel_rate_limited_total", Help: "Requests refused by the per-account rate limit.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backchannel_panics_total", Help: "Handler panics recovered (should stay 0).",
		}),
		enqueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backchannel_messages_enqueued_total", Help: "Envelopes durably stored.",
		}),
		pushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backchannel_messages_pushed_total", Help: "Envelopes written to push streams.",
		}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backchannel_messages_acked_total", Help: "Envelopes acknowledged and deleted.",
		}),
		blobBytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backchannel_blob_bytes_uploaded_total", Help: "Blob bytes stored.",
		}),
		blobBytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backchannel_blob_bytes_downloaded_total", Help: "Blob bytes served.",
		}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backchannel_connections_refused_total", Help: "Connections closed at once because the connection caps were reached.",
		}),
	}
	f(m.requests)
	f(m.duration)
	f(m.authFailures)
	f(m.rateLimited)
	f(m.panics)
	f(m.enqueued)
	f(m.pushed)
	f(m.acked)
	f(m.blobBytesIn)
	f(m.blobBytesOut)
	f(m.connsRefused)
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "backchannel_push_connections", Help: "Open WebSocket push streams.",
	}, func() float64 { return float64(h.count()) }))
	if sr, ok := st.(store.StatsReporter); ok {
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "backchannel_store_commits_total", Help: "Write transactions committed (group commits).",
		}, func() float64 { return float64(sr.Stats().Commits) }))
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "backchannel_store_committed_ops_total", Help: "Write operations committed; divided by commits gives the batching factor.",
		}, func() float64 { return float64(sr.Stats().CommittedOps) }))
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "backchannel_store_queue_depth", Help: "Write operations waiting for the writer.",
		}, func() float64 { return float64(sr.Stats().QueueDepth) }))
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
