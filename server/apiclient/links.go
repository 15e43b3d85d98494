package apiclient

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Link slots (docs/api.md, "Linking devices").
const (
	LinkHello    = "hello"    // written by the creating device, read by anyone with the id
	LinkRequest  = "request"  // written by anyone with the id (once), read by the creating device
	LinkResponse = "response" // written by the creating device, read by anyone with the id
)

// maxLinkSlot bounds what WaitLink reads (the server's response limit).
const maxLinkSlot = 64 << 20

// linkPollWait is the long-poll WaitLink asks for (the server's maximum).
const linkPollWait = 30 * time.Second

// linkMinPoll is the least time between two polls.
const linkMinPoll = 500 * time.Millisecond

// NewAnonymous returns a client that signs nothing, for a device that has
// no account yet (a new device reading a link's hello and response and
// writing its request). Authenticated calls through it fail with
// ErrUnauthorized.
func NewAnonymous(baseURL string, opts ...Option) (*Client, error) {
	return New(baseURL, Identity{}, opts...)
}

func linkPath(id []byte, slot string) (string, error) {
	if len(id) != 16 {
		return "", fmt.Errorf("a link id is 16 bytes, not %d", len(id))
	}
	p := "/v1/links/" + hex.EncodeToString(id)
	switch slot {
	case "":
	case LinkHello, LinkRequest, LinkResponse:
		p += "/" + slot
	default:
		return "", fmt.Errorf("unknown link slot %q", slot)
	}
	return p, nil
}

// linkSigned reports whether a link call on slot is authenticated: the
// creator's writes and its read of the request are; the rest never carry a
// signature, even from a client that has an identity.
func linkSigned(method, slot string) bool {
	if slot == LinkRequest {
		return method == http.MethodGet
	}
	return method == http.MethodPut
}

func (c *Client) linkRequest(ctx context.Context, method, slot, path string, q url.Values, body []byte) (*http.Request, error) {
	if linkSigned(method, slot) {
		return c.newRequest(ctx, method, path, q, body, "application/octet-stream")
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	return req, nil
}

// CreateLink opens a link slot with the id chosen by the caller (the link
// code holds it). ErrConflict if the id is taken.
func (c *Client) CreateLink(ctx context.Context, id []byte) error {
	if len(id) != 16 {
		return fmt.Errorf("a link id is 16 bytes, not %d", len(id))
	}
	return c.do(ctx, http.MethodPost, "/v1/links", nil, map[string]string{"id": hex.EncodeToString(id)}, nil)
}

// PutLink writes one slot of a link. The hello and the response are signed
// (only the creating device may write them); the request is sent unsigned.
func (c *Client) PutLink(ctx context.Context, id []byte, slot string, data []byte) error {
	if slot == "" {
		return fmt.Errorf("PutLink needs a slot")
	}
	p, err := linkPath(id, slot)
	if err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	req, err := c.linkRequest(ctx, http.MethodPut, slot, p, nil, data)
	if err != nil {
		return err
	}
	return c.roundTrip(req, nil)
}

// WaitLink returns a slot's data, long-polling until it is written or ctx
// ends. Reading the response deletes the link on the server.
func (c *Client) WaitLink(ctx context.Context, id []byte, slot string) ([]byte, error) {
	if slot == "" {
		return nil, fmt.Errorf("WaitLink needs a slot")
	}
	p, err := linkPath(id, slot)
	if err != nil {
		return nil, err
	}
	q := url.Values{"wait": {linkPollWait.String()}}
	for {
		req, err := c.linkRequest(ctx, http.MethodGet, slot, p, q, nil)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		data, ok, err := c.linkGet(req)
		if err != nil || ok {
			return data, err
		}
		// A poll that came back at once (a server shutting down) is not
		// retried in a tight loop.
		pause := time.NewTimer(max(0, linkMinPoll-time.Since(start)))
		select {
		case <-ctx.Done():
			pause.Stop()
			return nil, fmt.Errorf("wait for link %s: %w", slot, ctx.Err())
		case <-pause.C:
		}
	}
}

// linkGet does one long-poll; ok is false on 204 (not written yet).
func (c *Client) linkGet(req *http.Request) ([]byte, bool, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, false, unreachable(req, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return nil, false, nil
	case resp.StatusCode >= 300:
		return nil, false, readError(resp)
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("%s %s: unexpected status %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLinkSlot+1))
	if err != nil {
		return nil, false, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if len(b) > maxLinkSlot {
		return nil, false, fmt.Errorf("%s %s: more than %d bytes", req.Method, req.URL.Path, maxLinkSlot)
	}
	if resp.ContentLength >= 0 && int64(len(b)) != resp.ContentLength {
		return nil, false, fmt.Errorf("%s %s: got %d of %d bytes", req.Method, req.URL.Path, len(b), resp.ContentLength)
	}
	return b, true, nil
}

// DeleteLink deletes a link the caller created.
func (c *Client) DeleteLink(ctx context.Context, id []byte) error {
	p, err := linkPath(id, "")
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, p, nil, nil, nil)
}
