package witness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Sentinel errors of add-checkpoint; each maps to one HTTP status
// (c2sp.org/tlog-witness). Client errors from AddCheckpoint wrap the same.
var (
	ErrUnknownLog   = errors.New("unknown log origin")                               // 404
	ErrBadSignature = errors.New("no valid signature by the log's key")              // 403
	ErrOldTooLarge  = errors.New("old size larger than the checkpoint")              // 400
	ErrFork         = errors.New("same size as the cosigned checkpoint, other root") // 409
	ErrBadProof     = errors.New("consistency proof does not verify")                // 422
	ErrLocked       = errors.New("data directory is in use by another witness")
)

// ConflictError is a 409 with the witness's latest cosigned size: the old
// size in the request was not that size (stale, or a rollback attempt).
type ConflictError struct{ Size uint64 }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("witness: old size does not match the latest cosigned size %d", e.Size)
}

// Log is one log a witness is configured for.
type Log struct {
	Origin      string // the checkpoint's first line
	VerifierKey string // the log's Ed25519 signed-note vkey
}

// Config configures a Server.
type Config struct {
	DataDir string // holds the state file, the lock and the evidence directory
	Key     *Key
	Logs    []Log
	Logger  *slog.Logger // nil: discard
}

// Server is a witness: an http.Handler for POST /add-checkpoint.
type Server struct {
	dir    string
	signer note.Signer
	logs   map[string]note.Verifier
	logger *slog.Logger
	lock   *os.File
	mux    *http.ServeMux

	mu    sync.Mutex // held across check, sign and persist
	state map[string]LogState
}

// NewServer opens (or creates) the witness state in cfg.DataDir and locks it.
// Call Close to release the lock.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Key == nil {
		return nil, errors.New("no key")
	}
	signer, err := cfg.Key.Signer()
	if err != nil {
		return nil, err
	}
	logs := make(map[string]note.Verifier, len(cfg.Logs))
	for _, l := range cfg.Logs {
		if l.Origin == "" {
			return nil, errors.New("a log without an origin")
		}
		if _, dup := logs[l.Origin]; dup {
			return nil, fmt.Errorf("log %q configured twice", l.Origin)
		}
		v, err := note.NewVerifier(l.VerifierKey)
		if err != nil {
			return nil, fmt.Errorf("log %q: verifier key: %w", l.Origin, err)
		}
		logs[l.Origin] = v
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	lock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	state, err := loadState(cfg.DataDir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{dir: cfg.DataDir, signer: signer, logs: logs, logger: logger, lock: lock, state: state}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST "+AddCheckpointPath, s.handleAdd)
	return s, nil
}

// Close releases the data directory.
func (s *Server) Close() error { return s.lock.Close() }

// State returns the latest checkpoint cosigned for origin.
func (s *Server) State(origin string) (LogState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.state[origin]
	return st, ok
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) handleAdd(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusBadRequest)
		return
	}
	req, err := ParseRequest(body)
	if err == nil {
		var sigs []byte
		if sigs, err = s.AddCheckpoint(req); err == nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(sigs)
			return
		}
	}
	var conflict *ConflictError
	switch {
	case errors.As(err, &conflict):
		w.Header().Set("Content-Type", SizeContentType)
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "%d\n", conflict.Size)
		return
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrOldTooLarge):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrUnknownLog):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrBadSignature):
		http.Error(w, err.Error(), http.StatusForbidden)
	case errors.Is(err, ErrFork):
		http.Error(w, err.Error(), http.StatusConflict)
	case errors.Is(err, ErrBadProof):
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
	default:
		s.logger.Error("witness: add-checkpoint failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

// AddCheckpoint runs the add-checkpoint checks on req and, if they pass,
// records the checkpoint durably and returns the cosignature line(s).
func (s *Server) AddCheckpoint(req *Request) ([]byte, error) {
	origin, _, _ := bytes.Cut(req.Checkpoint, []byte("\n"))
	v, ok := s.logs[string(origin)]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownLog, origin)
	}
	n, err := note.Open(req.Checkpoint, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
		return nil, fmt.Errorf("%w: checkpoint note: %v", ErrMalformed, err)
	}
	cp, err := ParseCheckpoint(n.Text)
	if err != nil {
		return nil, err
	}
	if cp.Origin != string(origin) {
		return nil, fmt.Errorf("%w: origin line", ErrMalformed)
	}
	if req.OldSize > cp.Size {
		return nil, fmt.Errorf("%w: old %d, checkpoint %d", ErrOldTooLarge, req.OldSize, cp.Size)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	prev, known := s.state[cp.Origin]
	if req.OldSize != prev.Size {
		return nil, &ConflictError{Size: prev.Size}
	}
	switch {
	case known && cp.Size == prev.Size:
		if cp.Root != prev.Root {
			s.keepEvidence(cp, prev.Checkpoint, req.Checkpoint)
			return nil, fmt.Errorf("%w: size %d", ErrFork, cp.Size)
		}
		if len(req.Proof) != 0 {
			return nil, fmt.Errorf("%w: a proof between equal sizes must be empty", ErrBadProof)
		}
	case req.OldSize == 0:
		// Nothing cosigned yet (or only an empty tree): every tree extends it.
		if len(req.Proof) != 0 {
			return nil, fmt.Errorf("%w: the proof from size 0 must be empty", ErrBadProof)
		}
	default:
		if err := tlog.CheckTree(req.Proof, int64(cp.Size), cp.Root, int64(prev.Size), prev.Root); err != nil {
			s.logger.Warn("witness: refused an inconsistent checkpoint", "origin", cp.Origin, "old", prev.Size, "size", cp.Size)
			return nil, fmt.Errorf("%w: from %d to %d: %v", ErrBadProof, prev.Size, cp.Size, err)
		}
	}

	signed, err := note.Sign(&note.Note{Text: n.Text}, s.signer)
	if err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	sigs := signed[len(n.Text)+1:] // after the text and the blank line

	next := make(map[string]LogState, len(s.state)+1)
	for k, st := range s.state {
		next[k] = st
	}
	next[cp.Origin] = LogState{Size: cp.Size, Root: cp.Root, Checkpoint: string(req.Checkpoint), Cosigned: time.Now().Unix()}
	if err := saveState(s.dir, next); err != nil {
		return nil, err
	}
	s.state = next
	return sigs, nil
}

// keepEvidence writes both signed checkpoints of a fork to DIR/evidence: two
// notes of one size with different roots, both signed by the log.
func (s *Server) keepEvidence(cp Checkpoint, cosigned string, refused []byte) {
	s.logger.Warn("witness: the log signed two different checkpoints of one size", "origin", cp.Origin, "size", cp.Size)
	dir := filepath.Join(s.dir, "evidence")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.logger.Error("witness: evidence directory", "err", err)
		return
	}
	name := "fork-" + strconv.FormatUint(cp.Size, 10) + "-" + strconv.FormatInt(time.Now().UnixNano(), 10) + ".txt"
	text := "cosigned:\n" + cosigned + "\nrefused:\n" + string(refused)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
		s.logger.Error("witness: write evidence", "err", err)
	}
}
