package loadtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"backchannel/server/api"
	"backchannel/server/apiclient"
	"backchannel/session"
)

// RelayConfig is one message-relay run: Senders clients each send Messages
// messages of Size plaintext bytes, one after another (each waits for the
// server's acknowledgement, which the server gives only once the message is
// fsync'd), to one of Readers reading clients (sender i writes to reader
// i mod Readers). Each reader holds a WebSocket push stream, decrypts every
// message and acknowledges it.
type RelayConfig struct {
	Name     string `json:"name"`
	Senders  int    `json:"senders"`
	Readers  int    `json:"readers"`
	Messages int    `json:"messages_per_sender"`
	Size     int    `json:"size"`
	// Timeout bounds the whole run, setup included (default 10 min).
	Timeout time.Duration `json:"-"`
}

// Shape returns the reference shape, also measured on a peer server: 10
// senders each sending 1,000 messages of 256 bytes one after another into
// one room with one reader.
func Shape() RelayConfig {
	return RelayConfig{Name: "shape", Senders: 10, Readers: 1, Messages: 1000, Size: 256}
}

// Scale returns the scaling run at n clients: n senders in rooms of ten
// senders and one reader (n/10 copies of the reference room, at least one),
// each sender sending max(20, 20000/n) messages of 256 bytes, capped at
// 1,000, so every run moves 10,000 to 20,000 messages.
func Scale(n int) RelayConfig {
	return RelayConfig{
		Name:     fmt.Sprintf("scale-%d", n),
		Senders:  n,
		Readers:  max(1, n/10),
		Messages: min(1000, max(20, 20000/max(n, 1))),
		Size:     256,
	}
}

func (c RelayConfig) validate() error {
	switch {
	case c.Senders < 1 || c.Readers < 1 || c.Messages < 1:
		return fmt.Errorf("run %q: senders, readers and messages must be positive", c.Name)
	case c.Readers > c.Senders:
		return fmt.Errorf("run %q: more readers than senders", c.Name)
	case c.Size < MinSize || c.Size > 64<<10:
		return fmt.Errorf("run %q: size must be in [%d, 65536]", c.Name, MinSize)
	case c.Senders+c.Readers > 100_000 || c.Messages > 1_000_000:
		return fmt.Errorf("run %q: too large", c.Name)
	}
	return nil
}

// RelayResult is what one relay run measured.
type RelayResult struct {
	Config RelayConfig `json:"config"`

	Expected  int64 `json:"expected"`  // Senders × Messages
	Accepted  int64 `json:"accepted"`  // acknowledged by the server to senders
	Delivered int64 `json:"delivered"` // decrypted by readers, each (sender, sequence) once
	// Redelivered counts envelopes pushed again with an id already seen
	// (at-least-once delivery); readers drop them before decrypting.
	Redelivered int64 `json:"redelivered"`
	// Duplicates counts distinct envelopes carrying an already delivered
	// (sender, sequence); Corrupt counts envelopes that failed to decrypt
	// or decrypted to something other than what was sent. Both must be 0.
	Duplicates int64 `json:"duplicates"`
	Corrupt    int64 `json:"corrupt"`
	Missing    int64 `json:"missing"`
	// Unacked counts messages still in the readers' mailboxes after the
	// run (acknowledgements travel on the push stream without a reply).
	Unacked     int64 `json:"unacked"`
	RateLimited int64 `json:"rate_limited"` // sends refused with 429 and retried
	ExactlyOnce bool  `json:"exactly_once"` // every message delivered once, intact, and acknowledged

	SetupSeconds    float64 `json:"setup_seconds"`    // keys, registration, prekeys, handshakes
	SendSeconds     float64 `json:"send_seconds"`     // first send to last acknowledgement
	DeliverSeconds  float64 `json:"deliver_seconds"`  // first send to last decryption
	AcceptedPerSec  float64 `json:"accepted_per_sec"` // Accepted / SendSeconds
	DeliveredPerSec float64 `json:"delivered_per_sec"`

	// Send latency: from before encryption to the acknowledgement.
	SendP50Ms float64 `json:"send_p50_ms"`
	SendP99Ms float64 `json:"send_p99_ms"`
	// Delivery latency: from before the sender encrypts to the reader's
	// decryption (the send time travels inside the plaintext).
	DeliveryP50Ms float64 `json:"delivery_p50_ms"`
	DeliveryP90Ms float64 `json:"delivery_p90_ms"`
	DeliveryP99Ms float64 `json:"delivery_p99_ms"`
	DeliveryMaxMs float64 `json:"delivery_max_ms"`

	// Group commit during the measured phase: write transactions and the
	// operations they carried (sends, acks, nonces).
	Commits      uint64  `json:"commits"`
	CommittedOps uint64  `json:"committed_ops"`
	OpsPerCommit float64 `json:"ops_per_commit"`

	// LoadAvg and CPUPressure (see cpuPressure) when the measured phase
	// ended: signs of other work on the machine during the run.
	LoadAvg     string  `json:"loadavg"`
	CPUPressure float64 `json:"cpu_pressure_some_avg10"`

	// Memory of the whole process (server and load clients): before the
	// server started, after setup, the peak sampled during the run and after
	// the run (baseline, loaded and after are measured after a GC).
	MemBaseline MemSample `json:"mem_baseline"`
	MemLoaded   MemSample `json:"mem_loaded"`
	MemPeak     MemSample `json:"mem_peak"`
	MemAfter    MemSample `json:"mem_after"`
}

// RunRelay starts a fresh in-process server (data under dataDir, "" for the
// system temporary directory), runs cfg against it and shuts it down. It
// returns an error only if the run could not be carried out; delivery
// failures are reported in the result (ExactlyOnce false).
func RunRelay(ctx context.Context, cfg RelayConfig, dataDir string, progress ProgressFunc) (*RelayResult, error) {
	return runRelay(ctx, cfg, dataDir, newReporter(progress))
}

func runRelay(ctx context.Context, cfg RelayConfig, dataDir string, rep *reporter) (res *RelayResult, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	res = &RelayResult{Config: cfg, Expected: int64(cfg.Senders) * int64(cfg.Messages)}
	res.MemBaseline = sampleMem(true)
	setupStart := time.Now()
	in, err := startInstance(ctx, dataDir, benchLimits())
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := in.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	hc, closeIdle := newHTTPClient(cfg.Senders + 2*cfg.Readers)
	defer closeIdle()

	r := &relay{cfg: cfg, rep: rep, res: res}
	defer r.stopReaders() // before the server stops
	if err := r.setup(ctx, in.URL, hc); err != nil {
		return nil, err
	}
	res.SetupSeconds = time.Since(setupStart).Seconds()

	res.MemLoaded = sampleMem(true)
	before := in.stats()
	sampler := startMemSampler(250 * time.Millisecond)
	if err := r.load(ctx); err != nil {
		sampler.peak()
		return nil, err
	}
	res.MemPeak = sampler.peak()
	res.LoadAvg, res.CPUPressure = loadAvg(), cpuPressure()
	if err := r.waitAcked(ctx); err != nil {
		return nil, err
	}
	after := in.stats()
	res.Commits = after.Commits - before.Commits
	res.CommittedOps = after.CommittedOps - before.CommittedOps
	if res.Commits > 0 {
		res.OpsPerCommit = float64(res.CommittedOps) / float64(res.Commits)
	}
	r.stopReaders()
	r.collect()
	res.MemAfter = sampleMem(true)
	return res, nil
}

// relay is the state of one relay run.
type relay struct {
	cfg     RelayConfig
	rep     *reporter
	res     *RelayResult
	senders []*sender
	readers []*reader

	readCancel context.CancelFunc
	readWG     sync.WaitGroup
	stopOnce   sync.Once
	readErrMu  sync.Mutex
	readErr    error

	delivered atomic.Int64
	allIn     chan struct{} // closed when every message was delivered
	allOnce   sync.Once
}

type sender struct {
	*client
	idx    uint32
	to     *reader
	sess   *session.Session
	lat    []time.Duration
	last   time.Time // last acknowledgement
	limits int64     // 429 replies
}

// stopReaders ends the readers' push streams and waits for them.
func (r *relay) stopReaders() {
	r.stopOnce.Do(func() {
		if r.readCancel != nil {
			r.readCancel()
		}
		r.readWG.Wait()
	})
}

func (r *relay) readFailed(err error) {
	r.readErrMu.Lock()
	defer r.readErrMu.Unlock()
	if r.readErr == nil {
		r.readErr = err
	}
}

// load releases every sender at once and waits until all messages are
// acknowledged and delivered (or ctx ends).
func (r *relay) load(ctx context.Context) error {
	var accepted atomic.Int64
	endSend := r.rep.phase(r.cfg.Name, "send", r.res.Expected, &accepted)
	start := time.Now()
	err := parallel(ctx, len(r.senders), len(r.senders), func(ctx context.Context, i int) error {
		return r.senders[i].run(ctx, r.cfg, &accepted)
	}, nil)
	endSend()
	if err != nil {
		return err
	}
	endDeliver := r.rep.phase(r.cfg.Name, "deliver", r.res.Expected, &r.delivered)
	wait := time.NewTimer(30 * time.Second)
	defer wait.Stop()
	select {
	case <-r.allIn:
	case <-wait.C: // reported as missing
	case <-ctx.Done():
		endDeliver()
		return fmt.Errorf("run %q: waiting for delivery: %w", r.cfg.Name, ctx.Err())
	}
	endDeliver()
	r.readErrMu.Lock()
	rerr := r.readErr
	r.readErrMu.Unlock()
	if rerr != nil {
		return rerr
	}

	var lastAck, lastDelivery time.Time
	var sendLat, delLat []time.Duration
	for _, s := range r.senders {
		r.res.Accepted += int64(len(s.lat))
		r.res.RateLimited += s.limits
		sendLat = append(sendLat, s.lat...)
		if s.last.After(lastAck) {
			lastAck = s.last
		}
	}
	for _, rd := range r.readers {
		rd.mu.Lock()
		delLat = append(delLat, rd.lat...)
		if rd.lastDelivery.After(lastDelivery) {
			lastDelivery = rd.lastDelivery
		}
		rd.mu.Unlock()
	}
	if !lastAck.IsZero() {
		r.res.SendSeconds = lastAck.Sub(start).Seconds()
		r.res.AcceptedPerSec = float64(r.res.Accepted) / r.res.SendSeconds
	}
	if !lastDelivery.IsZero() {
		r.res.DeliverSeconds = lastDelivery.Sub(start).Seconds()
		r.res.DeliveredPerSec = float64(len(delLat)) / r.res.DeliverSeconds
	}
	r.res.SendP50Ms, r.res.SendP99Ms = ms(percentile(sendLat, 50)), ms(percentile(sendLat, 99))
	r.res.DeliveryP50Ms = ms(percentile(delLat, 50))
	r.res.DeliveryP90Ms = ms(percentile(delLat, 90))
	r.res.DeliveryP99Ms = ms(percentile(delLat, 99))
	r.res.DeliveryMaxMs = ms(percentile(delLat, 100))
	return nil
}

// waitAcked waits (at most 10 s) until the readers' mailboxes are empty,
// that is until the server has processed every acknowledgement, and
// records what is left in Unacked.
func (r *relay) waitAcked(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		var left int64
		for _, rd := range r.readers {
			f, err := rd.api.Fetch(ctx, 0, 0)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return fmt.Errorf("reader %s: fetch: %w", rd.name, err)
			}
			left += int64(len(f.Messages))
		}
		r.res.Unacked = left
		if left == 0 {
			return nil
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return nil // reported in Unacked
		}
	}
}

// collect tallies what the readers saw, once they have stopped.
func (r *relay) collect() {
	res := r.res
	res.Delivered, res.Missing = 0, 0
	for _, rd := range r.readers {
		res.Redelivered += rd.redelivered
		res.Duplicates += rd.duplicates
		res.Corrupt += rd.corrupt
		for _, st := range rd.from {
			for _, got := range st.got {
				if got {
					res.Delivered++
				} else {
					res.Missing++
				}
			}
		}
	}
	res.ExactlyOnce = res.Delivered == res.Expected && res.Missing == 0 && res.Duplicates == 0 && res.Corrupt == 0 && res.Accepted == res.Expected &&
		res.Unacked == 0
}

// run sends the sender's messages one after another, each waiting for its
// acknowledgement. A send refused by the rate limit is retried after a pause
// (it was not stored).
func (s *sender) run(ctx context.Context, cfg RelayConfig, accepted *atomic.Int64) error {
	pt := make([]byte, cfg.Size)
	out := []api.OutgoingEnvelope{{To: s.to.name, Device: deviceID}}
	s.lat = make([]time.Duration, 0, cfg.Messages)
	for seq := 0; seq < cfg.Messages; seq++ {
		t0 := time.Now()
		putPayload(pt, kindMessage, s.idx, uint32(seq), t0.UnixNano())
		env, err := s.sess.Encrypt(pt)
		if err != nil {
			return fmt.Errorf("%s: encrypt: %w", s.name, err)
		}
		out[0].Data = env
		for attempt := 0; ; attempt++ {
			_, err = s.send(ctx, out)
			if !errors.Is(err, apiclient.ErrRateLimited) || attempt >= 100 {
				break
			}
			s.limits++
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return fmt.Errorf("%s: send: %w", s.name, ctx.Err())
			}
		}
		if err != nil {
			return fmt.Errorf("%s: send message %d: %w", s.name, seq, err)
		}
		now := time.Now()
		s.lat = append(s.lat, now.Sub(t0))
		s.last = now
		accepted.Add(1)
	}
	return nil
}

// percentile returns the p-th percentile (nearest rank) of d; it sorts d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	if !slices.IsSorted(d) {
		slices.Sort(d)
	}
	k := int(float64(len(d))*p/100+0.5) - 1
	return d[min(max(k, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
