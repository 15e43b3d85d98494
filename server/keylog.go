package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"backchannel/keylog"
	"backchannel/server/api"
)

// The key log (package keylog; docs/api.md "Key log"): its public C2SP
// tlog-tiles resources under /log/, its identity, and authenticated,
// rate-limited lookups, consistency proofs, change lists and the caller's
// own leaf states. Every accepted registration
// and device list is recorded with keylog.Log.Update in the same request,
// after the store accepted it; a failure is logged, and the log's
// sequencer records the list from the store later.

// maxLogResource bounds a served tile or entry bundle (a full tile is 8 KiB;
// a bundle of 256 epoch entries about 15 KiB).
const maxLogResource = 1 << 20

// keyLogUpdateTimeout bounds recording one update (detached from the
// request, so a client that hangs up does not cancel it).
const keyLogUpdateTimeout = 10 * time.Second

func (s *Server) keyLogRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /log/checkpoint", s.logResource)
	mux.HandleFunc("GET /log/tile/", s.logResource)
	mux.HandleFunc("GET /log/key", s.logKey)
	mux.HandleFunc("GET /v1/keylog/info", s.keyLogInfo)
	mux.HandleFunc("GET /v1/keylog/lookup/{user}", s.authed(0, s.keyLogLookup))
	mux.HandleFunc("GET /v1/keylog/consistency", s.authed(0, s.keyLogConsistency))
	mux.HandleFunc("GET /v1/keylog/changes", s.authed(0, s.keyLogChanges))
	mux.HandleFunc("GET /v1/keylog/own", s.authed(0, s.keyLogOwn))
	mux.HandleFunc("GET /v1/keylog/entries", s.authed(0, s.keyLogEntries))
}

// keyLogEntries serves GET /v1/keylog/entries?from=F[&frontier=1]: the
// latest checkpoint and every epoch from F on (an empty epoch as its time),
// with frontier=1 the compact range of [0, F) (docs/protocol.md §16,
// "Reading every entry").
func (s *Server) keyLogEntries(w http.ResponseWriter, r *http.Request, c caller) error {
	kl := s.cfg.KeyLog
	if kl == nil {
		return errNoKeyLog
	}
	q := r.URL.Query()
	if q.Get("from") == "" {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "query parameter from is required")
	}
	from, err := queryInt(r, "from", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	frontier := false
	if q.Has("frontier") {
		if q.Get("frontier") != "1" {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "query parameter frontier must be 1")
		}
		frontier = true
	}
	if err := s.keyLogAllowed(c); err != nil {
		return err
	}
	page, err := kl.Entries(r.Context(), uint64(from), frontier)
	if err != nil {
		if errors.Is(err, keylog.ErrRange) {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "query parameter from is after the latest published epoch")
		}
		return keyLogError(err)
	}
	writeKeyLogJSON(w, r, http.StatusOK, page)
	return nil
}

// minGzipReply is the smallest key log reply worth compressing.
const minGzipReply = 256

// writeKeyLogJSON is writeJSON for the key log's replies (lookups,
// consistency proofs, change lists): gzip-compressed when the client
// accepts gzip (Go's client asks for it and decompresses by itself; its
// bound on a reply then counts decompressed bytes). The owner's own leaf
// states (GET /v1/keylog/own) are never compressed: they open its
// commitments, and compression is not worth any length side channel there.
func writeKeyLogJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil || len(b) < minGzipReply || !acceptsGzip(r.Header.Values("Accept-Encoding")) {
		writeJSON(w, status, v)
		return
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(append(b, '\n'))
	if zw.Close() != nil {
		writeJSON(w, status, v)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Encoding", "gzip")
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// acceptsGzip reports whether Accept-Encoding values name gzip with a
// nonzero quality (RFC 9110 section 12.5.3).
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if q, err := strconv.ParseFloat(strings.TrimSpace(val), 64); strings.EqualFold(strings.TrimSpace(k), "q") && err == nil && q == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

var errNoKeyLog = errf(http.StatusNotFound, api.CodeNotFound, "this server runs no key log")

// keyLogUpdate records an accepted device list in the key log.
func (s *Server) keyLogUpdate(ctx context.Context, user string, version uint64, listHash [32]byte) {
	kl := s.cfg.KeyLog
	if kl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyLogUpdateTimeout)
	defer cancel()
	if err := kl.Update(ctx, user, version, listHash); err != nil {
		s.log.Error("key log update failed; the sequencer records it from the store", "err", err)
		s.log.Debug("key log update failed", "user", user, "version", version)
	}
}

func (s *Server) logResource(w http.ResponseWriter, r *http.Request) {
	kl := s.cfg.KeyLog
	dir := ""
	if kl != nil {
		dir = kl.PublicDir()
	}
	if dir == "" {
		s.writeError(w, r, errNoKeyLog)
		return
	}
	rel, kind, partial, ok := keylog.PublicPath(strings.TrimPrefix(r.URL.Path, "/log/"))
	if !ok {
		s.writeError(w, r, errf(http.StatusNotFound, api.CodeNotFound, "no such log resource"))
		return
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		s.writeError(w, r, errf(http.StatusNotFound, api.CodeNotFound, "no such log resource"))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxLogResource {
		s.writeError(w, r, errf(http.StatusNotFound, api.CodeNotFound, "no such log resource"))
		return
	}
	h := w.Header()
	switch {
	case kind == keylog.ResourceCheckpoint:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
	case partial:
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Cache-Control", "no-cache")
	default: // a full tile or bundle never changes
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, io.LimitReader(f, st.Size()))
}

func (s *Server) logKey(w http.ResponseWriter, r *http.Request) {
	kl := s.cfg.KeyLog
	if kl == nil {
		s.writeError(w, r, errNoKeyLog)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, kl.Info().LogKey+"\n")
}

func (s *Server) keyLogInfo(w http.ResponseWriter, r *http.Request) {
	kl := s.cfg.KeyLog
	if kl == nil {
		s.writeError(w, r, errNoKeyLog)
		return
	}
	writeJSON(w, http.StatusOK, kl.Info())
}

// keyLogAllowed charges the caller's key log budget.
func (s *Server) keyLogAllowed(c caller) error {
	if !s.lookupRate.allow(c.User, time.Now()) {
		s.metrics.rateLimited.Inc()
		return errf(http.StatusTooManyRequests, api.CodeRateLimited, "too many key log requests")
	}
	return nil
}

func keyLogError(err error) error {
	switch {
	case errors.Is(err, keylog.ErrNotFound):
		return errf(http.StatusNotFound, api.CodeNotFound, "no such account in the key log")
	case errors.Is(err, keylog.ErrNotReady), errors.Is(err, keylog.ErrClosed):
		return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the key log has no published epoch yet")
	case errors.Is(err, keylog.ErrRange):
		return errf(http.StatusBadRequest, api.CodeBadRequest, "%s", err.Error())
	}
	return err
}

func (s *Server) keyLogLookup(w http.ResponseWriter, r *http.Request, c caller) error {
	kl := s.cfg.KeyLog
	if kl == nil {
		return errNoKeyLog
	}
	u, err := userParam(r)
	if err != nil {
		return err
	}
	if err := s.keyLogAllowed(c); err != nil {
		return err
	}
	var l *keylog.Lookup
	if q := r.URL.Query(); q.Has("epoch") || q.Has("size") {
		// A lookup at an earlier epoch, against a checkpoint the client holds.
		epoch, err := queryInt(r, "epoch", 0, 0, math.MaxInt64)
		if err != nil {
			return err
		}
		size, err := queryInt(r, "size", 0, 1, math.MaxInt64)
		if err != nil {
			return err
		}
		l, err = kl.LookupAt(r.Context(), u, uint64(epoch), uint64(size))
		if err != nil {
			return keyLogError(err)
		}
	} else {
		l, err = kl.Lookup(r.Context(), u)
		if err != nil {
			return keyLogError(err)
		}
	}
	writeKeyLogJSON(w, r, http.StatusOK, l)
	return nil
}

func (s *Server) keyLogConsistency(w http.ResponseWriter, r *http.Request, c caller) error {
	kl := s.cfg.KeyLog
	if kl == nil {
		return errNoKeyLog
	}
	q := r.URL.Query()
	if q.Get("from") == "" || q.Get("to") == "" {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "query parameters from and to are required")
	}
	from, err := queryInt(r, "from", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	to, err := queryInt(r, "to", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	if err := s.keyLogAllowed(c); err != nil {
		return err
	}
	proof, err := kl.Consistency(r.Context(), uint64(from), uint64(to))
	if err != nil {
		return keyLogError(err)
	}
	writeKeyLogJSON(w, r, http.StatusOK, keylog.ConsistencyProof{Proof: proof})
	return nil
}

// keyLogChanges serves the change lists of epochs from … to.
func (s *Server) keyLogChanges(w http.ResponseWriter, r *http.Request, c caller) error {
	kl := s.cfg.KeyLog
	if kl == nil {
		return errNoKeyLog
	}
	q := r.URL.Query()
	if q.Has("proof") {
		return s.keyLogChangesProved(w, r, c, kl)
	}
	if q.Get("from") == "" || q.Get("to") == "" {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "query parameters from and to are required")
	}
	from, err := queryInt(r, "from", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	to, err := queryInt(r, "to", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	if from > to {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "query parameter from must not be greater than to")
	}
	if err := s.keyLogAllowed(c); err != nil {
		return err
	}
	page, err := kl.Changes(r.Context(), uint64(from), uint64(to))
	if err != nil {
		if errors.Is(err, keylog.ErrRange) {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "query parameter to is after the latest published epoch")
		}
		return keyLogError(err)
	}
	writeKeyLogJSON(w, r, http.StatusOK, page)
	return nil
}

// keyLogChangesProved serves GET /v1/keylog/changes?proof=1: the page of
// from … to (to omitted: the latest epoch; from may be one past to) with
// the latest checkpoint, entry to and its inclusion proof, and with size=S
// the consistency proof from S to the checkpoint's size.
func (s *Server) keyLogChangesProved(w http.ResponseWriter, r *http.Request, c caller, kl *keylog.Log) error {
	q := r.URL.Query()
	if q.Get("proof") != "1" {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "query parameter proof must be 1")
	}
	if q.Get("from") == "" {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "query parameter from is required")
	}
	from, err := queryInt(r, "from", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	var to int64
	latest := !q.Has("to")
	if !latest {
		if to, err = queryInt(r, "to", 0, 0, math.MaxInt64); err != nil {
			return err
		}
		if from > to+1 {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "query parameter from must be at most to+1")
		}
	}
	since, err := queryInt(r, "size", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	if err := s.keyLogAllowed(c); err != nil {
		return err
	}
	page, err := kl.ChangesProved(r.Context(), uint64(from), uint64(to), latest, uint64(since))
	if err != nil {
		if errors.Is(err, keylog.ErrRange) {
			return errf(http.StatusBadRequest, api.CodeBadRequest, "the epochs asked for are after the latest published epoch")
		}
		return keyLogError(err)
	}
	writeKeyLogJSON(w, r, http.StatusOK, page)
	return nil
}

// keyLogOwn serves every leaf state the log recorded for the caller's own
// account (only the owner may open its commitments).
func (s *Server) keyLogOwn(w http.ResponseWriter, r *http.Request, c caller) error {
	kl := s.cfg.KeyLog
	if kl == nil {
		return errNoKeyLog
	}
	if err := s.keyLogAllowed(c); err != nil {
		return err
	}
	states, err := kl.OwnStates(r.Context(), c.User)
	if err != nil {
		return keyLogError(err)
	}
	writeJSON(w, http.StatusOK, keylog.OwnStates{States: states})
	return nil
}
