package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
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

// Quota accounting: every stored chunk counts against its owner's quota
// from the moment it arrives, finalized or not. An upload that cannot
// finish gives its bytes back: a chunk refused for the blob maximum or the
// quota drops the whole upload at once; an owner's upload that received no
// chunk for Limits.BlobUploadIdle (the client went away) is dropped when
// that owner next starts an upload or reads the limits; a client that
// gives up deletes its upload itself.

// dropIdleUploads frees the caller's abandoned uploads.
func (s *Server) dropIdleUploads(r *http.Request, user string) error {
	n, freed, err := s.st.DropIdleUploads(r.Context(), user, nowUTC().Add(-s.lim.BlobUploadIdle))
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Debug("abandoned uploads dropped", "user", user, "blobs", n, "bytes", freed)
	}
	return nil
}

// blobLimits tells the caller the blob limits and its usage.
func (s *Server) blobLimits(w http.ResponseWriter, r *http.Request, c caller) error {
	if err := s.dropIdleUploads(r, c.User); err != nil {
		return err
	}
	used, err := s.st.BlobUsage(r.Context(), c.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.BlobLimits{ChunkBytes: s.lim.ChunkBytes, MaxBytes: s.lim.MaxBlobBytes, QuotaBytes: s.lim.BlobQuotaBytes, UsedBytes: used})
	return nil
}

// createBlob starts a chunked upload and returns the blob id (128 random
// bits, hex). The id is a capability: any account that knows it may read the
// finalized blob (its content is encrypted by clients).
func (s *Server) createBlob(w http.ResponseWriter, r *http.Request, c caller) error {
	if err := s.dropIdleUploads(r, c.User); err != nil {
		return err
	}
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
		store.BlobLimits{MaxBlobBytes: s.lim.MaxBlobBytes, QuotaBytes: s.lim.BlobQuotaBytes}, nowUTC())
	if errors.Is(err, store.ErrQuota) {
		return s.dropRefusedUpload(r, id, c.User, int64(len(c.body)))
	}
	if err != nil {
		return err
	}
	s.metrics.blobBytesIn.Add(float64(len(c.body)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dropRefusedUpload deletes an upload whose chunk was refused for the blob
// maximum or the quota (it can never be finalized within them) and says
// which limit it hit.
func (s *Server) dropRefusedUpload(r *http.Request, id, user string, chunk int64) error {
	info, err := s.st.Blob(r.Context(), id)
	if err != nil {
		return err
	}
	if err := s.st.DeleteBlob(r.Context(), id, user); err != nil {
		return err
	}
	if info.Size+chunk > s.lim.MaxBlobBytes {
		return errf(http.StatusRequestEntityTooLarge, api.CodeQuota,
			"this server accepts documents of at most %s (encrypted); the upload was discarded and its space freed", plainSize(s.lim.MaxBlobBytes))
	}
	return errf(http.StatusRequestEntityTooLarge, api.CodeQuota,
		"your documents on this server may take at most %s in all; the upload was discarded and its space freed", plainSize(s.lim.BlobQuotaBytes))
}

// plainSize writes n bytes in plain words: "900 bytes", "4.0 KiB",
// "256.0 MiB", "2.0 GiB".
func plainSize(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " bytes"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	case n < 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
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
