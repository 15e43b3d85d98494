package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"backchannel/server/api"
	"backchannel/store"
)

func blobID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if len(id) != 32 {
		return "", errf(http.StatusBadRequest, api.CodeBadRequest, "bad blob id")
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", errf(http.StatusBadRequest, api.CodeBadRequest, "bad blob id")
	}
	return id, nil
}

// createBlob starts a chunked upload and returns the blob id (128 random
// bits, hex). The id is a capability: any account that knows it may read the
// finalized blob (its content is encrypted by clients).
func (s *Server) createBlob(w http.ResponseWriter, r *http.Request, c caller) error {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("blob id: %w", err)
	}
	id := hex.EncodeToString(raw)
	if err := s.st.CreateBlob(r.Context(), id, c.User, nowUTC()); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.BlobCreateResponse{ID: id, ChunkSize: s.lim.ChunkBytes, MaxBytes: s.lim.MaxBlobBytes})
	return nil
}

func (s *Server) putChunk(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := blobID(r)
	if err != nil {
		return err
	}
	maxChunks := s.lim.MaxBlobBytes/int64(s.lim.ChunkBytes) + 1
	index, err := strconv.ParseInt(r.PathValue("index"), 10, 64)
	if err != nil || index < 0 || index > maxChunks {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "chunk index must be in [0, %d]", maxChunks)
	}
	err = s.st.PutBlobChunk(r.Context(), id, c.User, int(index), c.body,
		store.BlobLimits{MaxBlobBytes: s.lim.MaxBlobBytes, QuotaBytes: s.lim.BlobQuotaBytes})
	if err != nil {
		return err
	}
	s.metrics.blobBytesIn.Add(float64(len(c.body)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) finalizeBlob(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := blobID(r)
	if err != nil {
		return err
	}
	var req api.BlobFinalizeRequest
	if err := api.Decode(c.body, &req); err != nil {
		return err
	}
	if req.Chunks < 0 {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "chunks must not be negative")
	}
	info, err := s.st.FinalizeBlob(r.Context(), id, c.User, req.Chunks)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.BlobInfo{ID: info.ID, Size: info.Size, Chunks: info.Chunks, CreatedAt: info.CreatedAt})
	return nil
}

// parseRange parses a single "bytes=" range against size.
func parseRange(h string, size int64) (off, n int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if a == "" { // suffix: last b bytes
		k, err := strconv.ParseInt(b, 10, 64)
		if err != nil || k <= 0 || size == 0 {
			return 0, 0, false
		}
		k = min(k, size)
		return size - k, k, true
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, 0, false
	}
	end := size - 1
	if b != "" {
		e, err := strconv.ParseInt(b, 10, 64)
		if err != nil || e < start {
			return 0, 0, false
		}
		end = min(e, size-1)
	}
	return start, end - start + 1, true
}

// getBlob streams a finalized blob, honouring a single byte range.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, _ caller) error {
	id, err := blobID(r)
	if err != nil {
		return err
	}
	info, err := s.st.Blob(r.Context(), id)
	if err != nil {
		return err
	}
	if !info.Final {
		return errf(http.StatusConflict, api.CodeConflict, "blob upload not finalized")
	}
	off, n, status := int64(0), info.Size, http.StatusOK
	if h := r.Header.Get("Range"); h != "" {
		var ok bool
		off, n, ok = parseRange(h, info.Size)
		if !ok {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", info.Size))
			return errf(http.StatusRequestedRangeNotSatisfiable, api.CodeRangeInvalid, "unsatisfiable range")
		}
		status = http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, info.Size))
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	cw := &countWriter{w: w}
	err = s.st.ReadBlob(r.Context(), id, off, n, cw)
	s.metrics.blobBytesOut.Add(float64(cw.n))
	if err != nil {
		// Headers are sent; abort the response so the client sees a
		// truncated body rather than a wrong one.
		s.log.Debug("blob download aborted", "blob", id, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func (s *Server) deleteBlob(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := blobID(r)
	if err != nil {
		return err
	}
	if err := s.st.DeleteBlob(r.Context(), id, c.User); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
