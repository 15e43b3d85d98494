package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"backchannel/server/api"
	"backchannel/store"
)

// httpError is an error with an HTTP status and API code.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errf(status int, code, format string, args ...any) *httpError {
	return &httpError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeError maps err to a status and code and writes the JSON error.
// Store errors are mapped by sentinel; anything else is a 500 whose detail is
// logged, not returned.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var rb *store.RollbackError
	var pl *store.PrekeyLimitError
	var mq *store.MailboxQuotaError
	switch {
	case errors.As(err, &he):
	case errors.As(err, &mq):
		if mq.Recipient == r.Header.Get(api.HeaderUser) {
			he = errf(http.StatusRequestEntityTooLarge, api.CodeQuota,
				"your other devices have not yet fetched %s of messages from this account, the most the server keeps for them; they go through once those devices come online (or are removed)", mib(mq.Used))
		} else {
			he = errf(http.StatusRequestEntityTooLarge, api.CodeQuota,
				"%s's devices have not yet fetched %s of messages from you, the most the server keeps from one sender; try again once they have come online", mq.Recipient, mib(mq.Used))
		}
	case errors.As(err, &rb):
		writeJSON(w, http.StatusConflict, api.RollbackResponse{
			Error: fmt.Sprintf("send counter already used: this device's last accepted counter is %d; a restored or copied profile must not send", rb.Counter),
			Code:  api.CodeRollback, Counter: rb.Counter})
		return
	case errors.As(err, &pl):
		he = errf(http.StatusRequestEntityTooLarge, api.CodeTooLarge,
			"too many one-time prekeys: %d X25519 and %d ML-KEM stored, at most %d of each", pl.Stored.OneTime, pl.Stored.OneTimeKEM, pl.Max)
	case errors.Is(err, api.ErrInvalid):
		he = errf(http.StatusBadRequest, api.CodeBadRequest, "%s", err.Error())
	case errors.Is(err, store.ErrNotFound):
		he = errf(http.StatusNotFound, api.CodeNotFound, "not found")
	case errors.Is(err, store.ErrExists):
		he = errf(http.StatusConflict, api.CodeConflict, "already exists")
	case errors.Is(err, store.ErrConflict):
		he = errf(http.StatusConflict, api.CodeConflict, "conflicting state")
	case errors.Is(err, store.ErrQuota):
		he = errf(http.StatusRequestEntityTooLarge, api.CodeQuota, "blob size limit or account quota exceeded")
	case errors.Is(err, store.ErrMailboxFull):
		he = errf(http.StatusInsufficientStorage, api.CodeMailboxFull, "a recipient's mailbox is full")
	case errors.Is(err, store.ErrInviteName):
		he = errf(http.StatusForbidden, api.CodeInvalidInvite, "this invite is for another name")
	case errors.Is(err, store.ErrInvalidInvite):
		he = errf(http.StatusForbidden, api.CodeInvalidInvite, "the invite is unknown, used or expired: ask the server's operator for a new one (backchannel serve invite)")
	case errors.Is(err, store.ErrReplay):
		he = errf(http.StatusUnauthorized, api.CodeReplay, "replayed request")
	case errors.Is(err, store.ErrClosed):
		he = errf(http.StatusServiceUnavailable, api.CodeUnavailable, "server is shutting down")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		he = errf(http.StatusServiceUnavailable, api.CodeUnavailable, "request cancelled")
	default:
		s.log.Error("request failed", "method", r.Method, "route", r.Pattern, "err", err)
		he = errf(http.StatusInternalServerError, api.CodeInternal, "internal error")
	}
	if he.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if r.ContentLength != 0 {
		// A body may be left unread (a refusal before it was read): reply
		// at once and close, instead of reading up to 256 KiB of it first
		// as net/http would, at the client's pace.
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	writeJSON(w, he.status, api.ErrorResponse{Error: he.msg, Code: he.code})
}

// mib writes n bytes in plain words ("12.5 MiB").
func mib(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}

// statusRecorder records the status and bytes written.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (sr *statusRecorder) WriteHeader(code int) {
	if sr.status == 0 {
		sr.status = code
	}
	sr.ResponseWriter.WriteHeader(code)
}

func (sr *statusRecorder) Write(b []byte) (int, error) {
	if sr.status == 0 {
		sr.status = http.StatusOK
	}
	n, err := sr.ResponseWriter.Write(b)
	sr.bytes += int64(n)
	return n, err
}

func (sr *statusRecorder) Unwrap() http.ResponseWriter { return sr.ResponseWriter }

// discardWriter captures only the status of the mux's own 404/405 replies.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }

// outer is the outermost middleware: recover, unmatched routes as JSON,
// metrics and structured access logs (no bodies, keys or signatures).
func (s *Server) outer(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "route", r.Pattern, "panic", fmt.Sprint(v))
				s.metrics.panics.Inc()
				if rec.status == 0 {
					s.writeError(rec, r, errf(http.StatusInternalServerError, api.CodeInternal, "internal error"))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
			s.metrics.duration.WithLabelValues(route).Observe(d.Seconds())
			// Who asked and from where is logged at debug level only
			// (docs/threat-model.md, "What the operator keeps").
			if status >= 500 {
				s.log.Warn("request failed", "method", r.Method, "route", route, "status", status, "duration", d)
			}
			s.log.Debug("request", "method", r.Method, "route", route, "status", status,
				"bytes", rec.bytes, "duration", d, "user", r.Header.Get(api.HeaderUser), "remote", s.clientIP(r))
		}()
		if _, pattern := mux.Handler(r); pattern == "" {
			h, _ := mux.Handler(r)
			d := &discardWriter{h: http.Header{}}
			h.ServeHTTP(d, r)
			if d.status == http.StatusMethodNotAllowed {
				rec.Header().Set("Allow", d.h.Get("Allow"))
				s.writeError(rec, r, errf(http.StatusMethodNotAllowed, api.CodeMethod, "method not allowed"))
			} else {
				s.writeError(rec, r, errf(http.StatusNotFound, api.CodeNotFound, "no such endpoint"))
			}
			return
		}
		mux.ServeHTTP(rec, r)
	})
}

// readBody reads at most limit bytes of the body (413 beyond). It grows its
// buffer as bytes arrive: a Content-Length is a claim, not an allocation.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errf(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "the request is larger than the server accepts (%d bytes at most)", limit)
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, errf(http.StatusBadRequest, api.CodeBadRequest, "reading body: %v", err)
	}
	if n > limit {
		return nil, errf(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "the request is larger than the server accepts (%d bytes at most)", limit)
	}
	return buf.Bytes(), nil
}

// caller is the authenticated device of a request.
type caller struct {
	store.Address
	body []byte
}

type authedHandler func(w http.ResponseWriter, r *http.Request, c caller) error

// A proof's public key comes either from the store, before the body is
// read (headerKey: every authenticated route), or from the body itself
// (bodyKey: registration, which proves possession of the key it registers).
type (
	headerKeyFunc func(p api.Proof) ([]byte, error)
	bodyKeyFunc   func(p api.Proof, body []byte) ([]byte, error)
)

// checkProof admits the request under the failure limits, parses the proof
// headers, checks freshness, finds the key (for headerKey before reading
// any body byte), reads the body and verifies the signature. The nonce is
// consumed only after the signature verifies, so unauthenticated requests
// cannot fill the nonce cache. Refused proofs are charged to the client
// address and to the claimed device at that address.
func (s *Server) checkProof(r *http.Request, bodyLimit int64, headerKey headerKeyFunc, bodyKey bodyKeyFunc) (api.Proof, []byte, error) {
	ip := s.clientIP(r)
	now := time.Now()
	p, perr := api.ParseProof(r.Header)
	claim := ""
	if perr == nil {
		claim = ip + "|" + p.User + "/" + strconv.FormatUint(uint64(p.Device), 10)
	}
	if err := s.admit(ip, claim, now); err != nil {
		return p, nil, err
	}
	var body []byte
	err := perr
	if err != nil {
		err = errf(http.StatusUnauthorized, api.CodeUnauthorized, "%v", err)
	} else {
		body, err = s.verifyProof(r, p, bodyLimit, headerKey, bodyKey)
	}
	if err != nil {
		var he *httpError
		if errors.Is(err, store.ErrReplay) || (errors.As(err, &he) && he.status == http.StatusUnauthorized) {
			s.failRate.allow(ip, now)
			if claim != "" {
				s.devFail.allow(claim, now)
			}
		}
		return p, nil, err
	}
	s.recent.mark(claim, now)
	return p, body, nil
}

// admit refuses, before any work, a claimed device with too many refused
// proofs from this address, and an address with too many refused proofs
// unless the claimed device authenticated from it recently.
func (s *Server) admit(ip, claim string, now time.Time) error {
	if claim != "" && !s.devFail.has(claim, now) {
		s.metrics.rateLimited.Inc()
		return errf(http.StatusTooManyRequests, api.CodeRateLimited,
			"too many failed sign-ins for this account and device from your address; wait a minute, and check that this device is still part of the account")
	}
	if !s.failRate.has(ip, now) && (claim == "" || !s.recent.has(claim, now)) {
		s.metrics.rateLimited.Inc()
		return errf(http.StatusTooManyRequests, api.CodeRateLimited,
			"too many failed sign-ins from your address; try again in a minute")
	}
	return nil
}

func (s *Server) verifyProof(r *http.Request, p api.Proof, bodyLimit int64, headerKey headerKeyFunc, bodyKey bodyKeyFunc) ([]byte, error) {
	now := time.Now()
	if !p.Fresh(now, s.lim.ClockSkew) {
		s.metrics.authFailures.WithLabelValues("expired").Inc()
		return nil, errf(http.StatusUnauthorized, api.CodeUnauthorized, "request timestamp outside the accepted window of ±%s: check this computer's clock", s.lim.ClockSkew)
	}
	var pub []byte
	if headerKey != nil {
		var err error
		if pub, err = headerKey(p); err != nil {
			return nil, err
		}
	}
	body, err := readBody(r, bodyLimit)
	if err != nil {
		return nil, err
	}
	if bodyKey != nil {
		if pub, err = bodyKey(p, body); err != nil {
			return nil, err
		}
	}
	if !p.Verify(pub, r.Method, r.URL.RequestURI(), sha256.Sum256(body)) {
		s.metrics.authFailures.WithLabelValues("signature").Inc()
		return nil, errf(http.StatusUnauthorized, api.CodeUnauthorized, "bad request signature")
	}
	expires := time.UnixMilli(p.Timestamp).Add(s.lim.ClockSkew + time.Second)
	if err := s.st.UseNonce(r.Context(), p.User+"/"+strconv.FormatUint(uint64(p.Device), 10), []byte(p.Nonce), now, expires); err != nil {
		if errors.Is(err, store.ErrReplay) {
			s.metrics.authFailures.WithLabelValues("replay").Inc()
		}
		return nil, err
	}
	return body, nil
}

// BodyReadTimeout bounds how long a client may take to send a request body
// (slow-body attacks); it is lifted once the body is read, so push streams
// and long downloads are unaffected.
const BodyReadTimeout = time.Minute

// withBodyDeadline sets the read deadline for the body and returns a func
// that lifts it.
func withBodyDeadline(w http.ResponseWriter) func() {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(BodyReadTimeout)) != nil {
		return func() {}
	}
	return func() { _ = rc.SetReadDeadline(time.Time{}) }
}

// authed wraps h with device authentication and the per-account rate limit.
func (s *Server) authed(bodyLimit int64, h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lift := withBodyDeadline(w)
		p, body, err := s.checkProof(r, bodyLimit, func(p api.Proof) ([]byte, error) {
			addr := store.Address{User: p.User, Device: p.Device}
			now := time.Now()
			if key := s.keys.get(addr, now); key != nil {
				return key, nil
			}
			d, err := s.st.Device(r.Context(), p.User, p.Device)
			if errors.Is(err, store.ErrNotFound) {
				s.metrics.authFailures.WithLabelValues("unknown_device").Inc()
				return nil, errf(http.StatusUnauthorized, api.CodeUnauthorized, "unknown user or device")
			}
			if err != nil {
				return nil, fmt.Errorf("look up device: %w", err)
			}
			s.keys.put(addr, d.SigningKey, now)
			return d.SigningKey, nil
		}, nil)
		lift()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if !s.rate.allow(p.User, time.Now()) {
			s.metrics.rateLimited.Inc()
			s.writeError(w, r, errf(http.StatusTooManyRequests, api.CodeRateLimited, "rate limit exceeded"))
			return
		}
		if err := h(w, r, caller{Address: store.Address{User: p.User, Device: p.Device}, body: body}); err != nil {
			s.writeError(w, r, err)
		}
	}
}
