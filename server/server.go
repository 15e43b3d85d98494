// Package server is the backchannel relay: an HTTP API over a store.Store.
//
// The server never sees plaintext. It stores, for routing and key
// distribution only, bytes produced by clients: identity and device public
// keys, device certificates, signed device lists (which it parses and
// chains, but cannot make: clients verify them from the account key), prekey
// blobs, message envelopes and document blobs. Per device it keeps the
// highest send counter accepted, and refuses a batch under a used one. Every authenticated request is signed by a device key (see
// package backchannel/server/api); sends are acknowledged only once durable.
// docs/api.md documents every endpoint and docs/threat-model.md what the
// server sees.
//
// Use New to build a Server, then Serve or ListenAndServe (both stop
// gracefully when their context ends) or mount Handler yourself. The caller
// owns the store and closes it after the server has stopped.
//
// Push wake-ups travel inside the process: several server nodes sharing one
// store would each push only the messages sent through them (the others are
// still fetched by GET /v1/messages). Cross-node notification (PostgreSQL
// LISTEN/NOTIFY) belongs to the future scale-out store.
package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"backchannel/devicelist"
	"backchannel/keylog"
	"backchannel/server/api"
	"backchannel/store"
)

// DefaultAddr is the default listen address.
const DefaultAddr = "127.0.0.1:7450"

// Limits bound what one account and one request may do. Zero fields take
// the defaults of DefaultLimits.
type Limits struct {
	MaxBodyBytes        int64         // JSON request bodies (default 4 MiB)
	MaxEnvelopeBytes    int           // one message envelope (default 128 KiB)
	MaxBatch            int           // envelopes per send (default 256)
	MaxFetch            int           // messages per fetch or push frame (default 500)
	MaxPendingPerDevice int           // unacknowledged messages one device mailbox may hold (default 100,000)
	ChunkBytes          int           // maximum blob chunk (default 1 MiB)
	MaxBlobBytes        int64         // maximum blob size (default 256 MiB)
	BlobQuotaBytes      int64         // blob bytes per account (default 2 GiB)
	BlobUploadIdle      time.Duration // an unfinalized upload without a chunk for this long is abandoned and its bytes freed (default 15 min)
	RatePerSecond       float64       // authenticated requests per account per second (default 1000)
	RateBurst           int           // bucket size (default 2000)
	RegisterPerMin      float64       // registrations per client IP per minute (default 30)
	BundlesPerMin       float64       // prekey bundles an account may fetch per minute (default 600, burst the same)
	AuthFailuresPerSec  float64       // refused proofs per client IP per second before its requests are refused unchecked (default 20, burst 100)
	KeyLogPerMin        float64       // key log lookups and consistency proofs per account per minute (default 600, burst the same)
	ClockSkew           time.Duration // accepted proof timestamp skew (default 2 min)

	// Unauthenticated clients (guard.go, docs/api.md "Limits").
	MaxConns                  int     // open connections (default 4096); more are answered 503 and closed
	MaxConnsPerAddress        int     // open connections from one client address (default 256; trusted proxies exempt)
	MaxUnauthBodies           int     // bodies read before any proof can be checked (registration, link requests), all together (default 64)
	MaxUnauthBodiesPerAddress int     // the same from one client address (default 4)
	MaxRegisterBodyBytes      int64   // a registration body (default 16 KiB)
	DeviceAuthFailuresPerMin  float64 // refused proofs per claimed device per client address per minute before it is refused unchecked (default 30, burst 10)

	// Per-account quotas (docs/api.md "Limits").
	MaxStreamsPerDevice   int     // open push streams of one device (default 4)
	MaxMailboxBytes       int64   // unacknowledged bytes one device mailbox may hold (default 256 MiB)
	MailboxBytesPerSender int64   // unacknowledged bytes one sender account may hold in one recipient account's mailboxes, its own included (default 16 MiB)
	MaxDevices            int     // devices of one account (default devicelist.MaxDevices, 16)
	DeviceListsPerHour    float64 // device list versions one account may publish per hour (default 60, burst DeviceListBurst)
}

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{
		MaxBodyBytes:        4 << 20,
		MaxEnvelopeBytes:    128 << 10,
		MaxBatch:            256,
		MaxFetch:            500,
		MaxPendingPerDevice: 100_000,
		ChunkBytes:          1 << 20,
		MaxBlobBytes:        256 << 20,
		BlobQuotaBytes:      2 << 30,
		BlobUploadIdle:      15 * time.Minute,
		RatePerSecond:       1000,
		RateBurst:           2000,
		RegisterPerMin:      30,
		BundlesPerMin:       600,
		AuthFailuresPerSec:  20,
		KeyLogPerMin:        600,
		ClockSkew:           2 * time.Minute,

		MaxConns:                  4096,
		MaxConnsPerAddress:        256,
		MaxUnauthBodies:           64,
		MaxUnauthBodiesPerAddress: 4,
		MaxRegisterBodyBytes:      16 << 10,
		DeviceAuthFailuresPerMin:  30,

		MaxStreamsPerDevice:   4,
		MaxMailboxBytes:       256 << 20,
		MailboxBytesPerSender: 16 << 20,
		MaxDevices:            devicelist.MaxDevices,
		DeviceListsPerHour:    60,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = d.MaxBodyBytes
	}
	if l.MaxEnvelopeBytes <= 0 {
		l.MaxEnvelopeBytes = d.MaxEnvelopeBytes
	}
	if l.MaxBatch <= 0 {
		l.MaxBatch = d.MaxBatch
	}
	if l.MaxFetch <= 0 {
		l.MaxFetch = d.MaxFetch
	}
	if l.MaxPendingPerDevice <= 0 {
		l.MaxPendingPerDevice = d.MaxPendingPerDevice
	}
	if l.ChunkBytes <= 0 {
		l.ChunkBytes = d.ChunkBytes
	}
	if l.MaxBlobBytes <= 0 {
		l.MaxBlobBytes = d.MaxBlobBytes
	}
	if l.BlobQuotaBytes <= 0 {
		l.BlobQuotaBytes = d.BlobQuotaBytes
	}
	if l.BlobUploadIdle <= 0 {
		l.BlobUploadIdle = d.BlobUploadIdle
	}
	if l.RatePerSecond <= 0 {
		l.RatePerSecond = d.RatePerSecond
	}
	if l.RateBurst <= 0 {
		l.RateBurst = d.RateBurst
	}
	if l.RegisterPerMin <= 0 {
		l.RegisterPerMin = d.RegisterPerMin
	}
	if l.BundlesPerMin <= 0 {
		l.BundlesPerMin = d.BundlesPerMin
	}
	if l.AuthFailuresPerSec <= 0 {
		l.AuthFailuresPerSec = d.AuthFailuresPerSec
	}
	if l.ClockSkew <= 0 {
		l.ClockSkew = d.ClockSkew
	}
	if l.KeyLogPerMin <= 0 {
		l.KeyLogPerMin = d.KeyLogPerMin
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt64 := func(v *int64, def int64) {
		if *v <= 0 {
			*v = def
		}
	}
	setFloat := func(v *float64, def float64) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&l.MaxConns, d.MaxConns)
	setInt(&l.MaxConnsPerAddress, d.MaxConnsPerAddress)
	setInt(&l.MaxUnauthBodies, d.MaxUnauthBodies)
	setInt(&l.MaxUnauthBodiesPerAddress, d.MaxUnauthBodiesPerAddress)
	setInt64(&l.MaxRegisterBodyBytes, d.MaxRegisterBodyBytes)
	setFloat(&l.DeviceAuthFailuresPerMin, d.DeviceAuthFailuresPerMin)
	setInt(&l.MaxStreamsPerDevice, d.MaxStreamsPerDevice)
	setInt64(&l.MaxMailboxBytes, d.MaxMailboxBytes)
	setInt64(&l.MailboxBytesPerSender, d.MailboxBytesPerSender)
	setInt(&l.MaxDevices, d.MaxDevices)
	setFloat(&l.DeviceListsPerHour, d.DeviceListsPerHour)
	return l
}

// Config configures a Server.
type Config struct {
	Addr             string // listen address for ListenAndServe (default DefaultAddr)
	DataDir          string // informational; the caller opens the store (e.g. sqlite.OpenDir(DataDir))
	TLSCertFile      string // PEM certificate; TLS is used when both TLS files are set
	TLSKeyFile       string // PEM private key
	OpenRegistration bool   // allow registration without an invite (development, demo)
	Limits           Limits
	// ShutdownTimeout bounds graceful shutdown (default 10 s).
	ShutdownTimeout time.Duration
	// KeyLog, if set, is the key-transparency log the server records every
	// accepted device list in and serves (the caller opens it with
	// keylog.Open and closes it after the server has stopped).
	KeyLog *keylog.Log
	// TrustedProxies are the reverse proxies whose X-Forwarded-For the
	// server believes (serve --trusted-proxy); from anyone else the header
	// is ignored and limits are charged to the peer's address.
	TrustedProxies []netip.Prefix
}

// Server is the relay. Create it with New.
type Server struct {
	cfg        Config
	lim        Limits
	st         store.Store
	log        *slog.Logger
	handler    http.Handler
	metrics    *metrics
	rate       *limiter
	regRate    *limiter
	bundleRate *limiter
	lookupRate *limiter // key log lookups and consistency proofs per account
	failRate   *limiter // failed proofs per client IP
	devFail    *limiter // failed proofs per claimed device per client IP
	recent     *recentAuth
	unauth     *slots // bodies read before a proof can be checked
	listRate   *limiter
	hub        *hub
	keys       *deviceKeys

	stopOnce sync.Once
	stopping chan struct{}  // closed when shutdown begins (ends push streams)
	streams  sync.WaitGroup // push streams (hijacked: http.Server.Shutdown does not wait for them)
}

// New returns a Server over st. A nil logger discards logs.
func New(cfg Config, st store.Store, logger *slog.Logger) *Server {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lim := cfg.Limits.withDefaults()
	s := &Server{
		cfg:        cfg,
		lim:        lim,
		st:         st,
		log:        logger,
		rate:       newLimiter(lim.RatePerSecond, float64(lim.RateBurst)),
		regRate:    newLimiter(lim.RegisterPerMin/60, max(lim.RegisterPerMin/2, 1)),
		failRate:   newLimiter(lim.AuthFailuresPerSec, max(5*lim.AuthFailuresPerSec, 1)),
		bundleRate: newLimiter(lim.BundlesPerMin/60, max(lim.BundlesPerMin, 1)),
		lookupRate: newLimiter(lim.KeyLogPerMin/60, max(lim.KeyLogPerMin, 1)),
		devFail:    newLimiter(lim.DeviceAuthFailuresPerMin/60, max(lim.DeviceAuthFailuresPerMin/3, 1)),
		recent:     newRecentAuth(RecentAuthTTL),
		unauth:     newSlots(lim.MaxUnauthBodies, lim.MaxUnauthBodiesPerAddress),
		listRate:   newLimiter(lim.DeviceListsPerHour/3600, max(lim.DeviceListsPerHour, DeviceListBurst)),
		hub:        newHub(),
		keys:       newDeviceKeys(DeviceKeyCacheTTL),
		stopping:   make(chan struct{}),
	}
	s.metrics = newMetrics(st, s.hub)
	s.handler = s.routes()
	return s
}

// Handler returns the HTTP handler of the API (including /healthz and /metrics).
func (s *Server) Handler() http.Handler { return s.handler }

// ListenAndServe listens on cfg.Addr and serves until ctx ends, then shuts
// down gracefully.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then stops accepting, ends push
// streams, waits up to the shutdown timeout for in-flight requests and
// returns. It closes ln. The store stays open.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// net/http's own messages name client addresses ("TLS handshake
		// error from ..."): debug only.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	ln = &limitListener{Listener: ln, s: s, slots: newSlots(s.lim.MaxConns, s.lim.MaxConnsPerAddress)}
	tlsOn := s.cfg.TLSCertFile != "" && s.cfg.TLSKeyFile != ""
	s.log.Info("server listening", "addr", ln.Addr().String(), "tls", tlsOn, "open_registration", s.cfg.OpenRegistration)
	errc := make(chan error, 1)
	go func() {
		if tlsOn {
			errc <- hs.ServeTLS(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		s.stop()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("server shutting down")
	s.stop()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err == nil {
		// Every stream has started (Shutdown waited for the requests that
		// became streams to be hijacked); wait for them to end.
		streamsDone := make(chan struct{})
		go func() { s.streams.Wait(); close(streamsDone) }()
		select {
		case <-streamsDone:
		case <-sctx.Done():
			s.log.Warn("push streams still open after the shutdown timeout")
		}
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		hs.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	s.log.Info("server stopped")
	return nil
}

func (s *Server) stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// DeviceKeyCacheTTL bounds how long a device key removed through another
// server node sharing the store can still authenticate requests here.
const DeviceKeyCacheTTL = 10 * time.Second

// InviteTTL is the default lifetime of invite tokens.
const InviteTTL = 7 * 24 * time.Hour

// CreateInvite mints a one-time registration token valid for ttl (InviteTTL
// if ttl <= 0) that registers any name. Only its SHA-256 is stored; the
// token is returned once.
func CreateInvite(ctx context.Context, st store.Invites, ttl time.Duration) (string, error) {
	return CreateInviteFor(ctx, st, "", ttl)
}

// CreateInviteFor is CreateInvite for a token that registers only the
// account name (any name if name is empty). Registering another name with
// it is refused and leaves it unused.
func CreateInviteFor(ctx context.Context, st store.Invites, name string, ttl time.Duration) (string, error) {
	if name != "" && !api.ValidName(name) {
		return "", fmt.Errorf("invite: name %q must match [a-z0-9_-]{1,32}", name)
	}
	if ttl <= 0 {
		ttl = InviteTTL
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("invite: %w", err)
	}
	token := "bci_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := st.CreateInvite(ctx, inviteHash(token), name, time.Now().Add(ttl)); err != nil {
		return "", fmt.Errorf("invite: %w", err)
	}
	return token, nil
}

// inviteHash is what the store keeps and looks up: the token is never
// stored, and a lookup by hash reveals nothing about it through timing.
func inviteHash(token string) []byte {
	h := sha256.Sum256([]byte("backchannel invite v1\n" + token))
	return h[:]
}

func nowUTC() time.Time { return time.Now().UTC() }

// DeviceListBurst is how many device list versions an account may publish
// at once before Limits.DeviceListsPerHour applies.
const DeviceListBurst = 200
