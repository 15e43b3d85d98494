package apiclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"backchannel/server/api"
)

// UploadBlob streams r to a new blob in chunks of the server's chunk size
// (memory: one chunk) and finalizes it. If the upload fails once the blob
// exists (a refused chunk, a read error, a cancelled ctx, a lost
// connection), the blob is deleted so that its bytes stop counting against
// the account's quota; the server also drops uploads that stall (docs/api.md,
// "Blobs").
func (c *Client) UploadBlob(ctx context.Context, r io.Reader) (api.BlobInfo, error) {
	var created api.BlobCreateResponse
	if err := c.do(ctx, http.MethodPost, "/v1/blobs", nil, nil, &created); err != nil {
		return api.BlobInfo{}, err
	}
	info, err := c.fillBlob(ctx, created, r)
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		// Best effort: the server may have dropped it already (a refused
		// chunk), and an unreachable server drops it once it is idle.
		_ = c.DeleteBlob(dctx, created.ID)
		return api.BlobInfo{}, err
	}
	return info, nil
}

func (c *Client) fillBlob(ctx context.Context, created api.BlobCreateResponse, r io.Reader) (api.BlobInfo, error) {
	if created.ChunkSize <= 0 {
		return api.BlobInfo{}, fmt.Errorf("the server offered chunks of %d bytes", created.ChunkSize)
	}
	buf := make([]byte, created.ChunkSize)
	chunks := 0
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			req, rerr := c.newRequest(ctx, http.MethodPut, "/v1/blobs/"+created.ID+"/chunks/"+strconv.Itoa(chunks), nil, buf[:n], "application/octet-stream")
			if rerr != nil {
				return api.BlobInfo{}, rerr
			}
			if rerr := c.roundTrip(req, nil); rerr != nil {
				return api.BlobInfo{}, rerr
			}
			chunks++
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return api.BlobInfo{}, fmt.Errorf("upload blob: read: %w", err)
		}
	}
	var info api.BlobInfo
	err := c.do(ctx, http.MethodPost, "/v1/blobs/"+created.ID+"/finalize", nil, api.BlobFinalizeRequest{Chunks: chunks}, &info)
	return info, err
}

// BlobLimits returns the server's blob limits and the bytes this account
// stores. A server older than the endpoint answers ErrNotFound or
// ErrBadRequest.
func (c *Client) BlobLimits(ctx context.Context) (api.BlobLimits, error) {
	var lim api.BlobLimits
	err := c.do(ctx, http.MethodGet, "/v1/blobs/limits", nil, nil, &lim)
	return lim, err
}

// OpenBlob starts downloading a blob from offset. The caller reads and closes
// the body; size is the total blob size.
func (c *Client) OpenBlob(ctx context.Context, id string, offset int64) (body io.ReadCloser, size int64, err error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/blobs/"+id, nil, nil, "")
	if err != nil {
		return nil, 0, err
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, unreachable(req, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, 0, readError(resp)
	}
	size = resp.ContentLength
	if resp.StatusCode == http.StatusPartialContent {
		var a, b int64
		if _, err := fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-%d/%d", &a, &b, &size); err != nil {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("download blob: bad Content-Range: %w", err)
		}
	}
	return resp.Body, size, nil
}

// DownloadBlob streams a whole blob to w and returns the bytes written.
func (c *Client) DownloadBlob(ctx context.Context, id string, w io.Writer) (int64, error) {
	body, size, err := c.OpenBlob(ctx, id, 0)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.Copy(w, body)
	if err != nil {
		return n, fmt.Errorf("download blob: %w", err)
	}
	if size >= 0 && n != size {
		return n, fmt.Errorf("download blob: got %d of %d bytes", n, size)
	}
	return n, nil
}

// DeleteBlob deletes one of c's blobs.
func (c *Client) DeleteBlob(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/blobs/"+id, nil, nil, nil)
}
