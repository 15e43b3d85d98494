// Package apiclient is a Go client of the backchannel HTTP API (see
// docs/api.md). It signs every authenticated request with the device's
// Ed25519 key, streams blob uploads and downloads in bounded memory, and
// keeps a WebSocket push subscription alive across disconnects.
//
// A Client is safe for concurrent use. It does not retry failed requests
// (except Subscribe, which reconnects); the caller decides, using the error
// (*Error, matched with errors.Is against the sentinels below).
package apiclient

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"backchannel/server/api"
)

// Sentinel errors matched by *Error via errors.Is.
var (
	ErrUnauthorized  = errors.New("the server did not accept this device's credentials")
	ErrForbidden     = errors.New("the server refused: this account may not do that")
	ErrReplay        = errors.New("replayed request")
	ErrNotFound      = errors.New("not found")
	ErrConflict      = errors.New("conflict")
	ErrTooLarge      = errors.New("too large")
	ErrQuota         = errors.New("quota exceeded")
	ErrRateLimited   = errors.New("rate limited")
	ErrMailboxFull   = errors.New("recipient mailbox full")
	ErrInvalidInvite = errors.New("invalid invite")
	ErrBadRequest    = errors.New("bad request")
	ErrUnavailable   = errors.New("server unavailable")
	// ErrUnreachable: no answer from the server at all (refused
	// connection, unknown host, timeout); the error is an
	// *UnreachableError.
	ErrUnreachable = errors.New("cannot reach the server")
	// ErrRollback: the server refused a send counter this device has already
	// used (the error is a *RollbackError carrying the server's counter).
	ErrRollback = errors.New("send counter rolled back")
)

// RollbackError is the error of a send refused with 409 rollback: Counter
// is the highest counter the server has accepted from this device, so the
// profile sending is older than one that already sent (restored from a
// backup, or copied). errors.Is(err, ErrRollback) matches it, and
// errors.As finds the underlying *Error.
type RollbackError struct {
	Counter uint64
	Err     *Error
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("the server refused a send counter this device already used (the server has accepted counter %d): %v", e.Counter, e.Err)
}

// Unwrap returns the server's error reply.
func (e *RollbackError) Unwrap() error { return e.Err }

// Error is an error reply from the server.
type Error struct {
	Status  int    // HTTP status
	Code    string // api.Code* value
	Message string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = strings.ToLower(http.StatusText(e.Status))
	}
	return fmt.Sprintf("the server refused: %s (HTTP %d)", msg, e.Status)
}

// UnreachableError is a request that got no answer from the server.
type UnreachableError struct {
	Host string // the server's host:port
	Err  error  // what the network said (a *url.Error)
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the server at %s: %s", e.Host, netReason(e.Err))
}

// Unwrap returns the network's error (so that context.Canceled matches).
func (e *UnreachableError) Unwrap() error { return e.Err }

// Is matches ErrUnreachable.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// unreachable wraps a transport error of req.
func unreachable(req *http.Request, err error) error {
	return &UnreachableError{Host: req.URL.Host, Err: err}
}

// netReason is the last, plain part of a network error: "connection
// refused", not "dial tcp 127.0.0.1:1: connect: connection refused".
func netReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var se *os.SyscallError
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "no such host"
		}
		return dns.Err
	case errors.As(err, &se):
		return se.Err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	}
	return err.Error()
}

// Is matches the sentinel errors by code.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Code == api.CodeForbidden
	case ErrReplay:
		return e.Code == api.CodeReplay
	case ErrNotFound:
		return e.Code == api.CodeNotFound
	case ErrConflict:
		return e.Code == api.CodeConflict
	case ErrTooLarge:
		return e.Code == api.CodeTooLarge
	case ErrQuota:
		return e.Code == api.CodeQuota
	case ErrRateLimited:
		return e.Code == api.CodeRateLimited
	case ErrMailboxFull:
		return e.Code == api.CodeMailboxFull
	case ErrInvalidInvite:
		return e.Code == api.CodeInvalidInvite
	case ErrRollback:
		return e.Code == api.CodeRollback
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	}
	return false
}

// Identity is the device a Client acts as.
type Identity struct {
	User   string
	Device uint32
	Key    ed25519.PrivateKey // the device's request-signing key
}

// Client talks to one server as one device.
type Client struct {
	base *url.URL
	hc   *http.Client
	id   Identity
	now  func() time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client. The default is a client of its own
// with no total timeout (large blob transfers are bounded by their context)
// and a connection pool sized for concurrent use (net/http's default keeps
// only 2 idle connections per host, so concurrent callers would keep
// reconnecting).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithClock sets the clock used for request timestamps (tests).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// New returns a client for the server at baseURL (http:// or https://).
func New(baseURL string, id Identity, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("bad server URL %q", baseURL)
	}
	if id.Key != nil && len(id.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("device key must be an Ed25519 private key")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	c := &Client{base: u, hc: &http.Client{Transport: tr}, id: id, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Identity returns the device identity of c.
func (c *Client) Identity() Identity { return c.id }

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = ""
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// newRequest builds a signed request with an in-memory body.
func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, body []byte, contentType string) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.id.Key != nil {
		api.SignRequest(req, body, c.id.User, c.id.Device, c.id.Key, c.now())
	}
	return req, nil
}

// do sends a signed request with a JSON (or nil) body and decodes a JSON
// reply into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	req, err := c.newRequest(ctx, method, path, q, body, "application/json")
	if err != nil {
		return err
	}
	return c.roundTrip(req, out)
}

func (c *Client) roundTrip(req *http.Request, out any) error {
	return c.roundTripLimit(req, out, maxReply)
}

// maxReply bounds a JSON reply that no call bounds more tightly.
const maxReply = 64 << 20

// doLimit is do for replies a caller bounds more tightly than maxReply: a
// longer reply is an error before more than limit bytes are read.
func (c *Client) doLimit(ctx context.Context, method, path string, q url.Values, out any, limit int64) error {
	req, err := c.newRequest(ctx, method, path, q, nil, "application/json")
	if err != nil {
		return err
	}
	return c.roundTripLimit(req, out, limit)
}

func (c *Client) roundTripLimit(req *http.Request, out any, limit int64) error {
	resp, err := c.hc.Do(req)
	if err != nil {
		return unreachable(req, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return readError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if resp.ContentLength > limit {
		return fmt.Errorf("%s %s: the server's reply of %d bytes is longer than the %d this call accepts", req.Method, req.URL.Path, resp.ContentLength, limit)
	}
	lr := &io.LimitedReader{R: resp.Body, N: limit + 1}
	if err := json.NewDecoder(lr).Decode(out); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("%s %s: the server's reply is longer than the %d bytes this call accepts", req.Method, req.URL.Path, limit)
		}
		return fmt.Errorf("%s %s: decode reply: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var er api.RollbackResponse // an ErrorResponse, with the counter of a rollback
	if json.Unmarshal(b, &er) != nil || er.Code == "" {
		er = api.RollbackResponse{Error: strings.TrimSpace(string(b)), Code: "http_" + strconv.Itoa(resp.StatusCode)}
	}
	e := &Error{Status: resp.StatusCode, Code: er.Code, Message: er.Error}
	if er.Code == api.CodeRollback {
		return &RollbackError{Counter: er.Counter, Err: e}
	}
	return e
}

// Health checks GET /healthz.
func (c *Client) Health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/healthz", nil), nil)
	if err != nil {
		return fmt.Errorf("healthz: %w", err)
	}
	return c.roundTrip(req, nil)
}

// Register creates the account c.Identity().User with c's device as its
// first device. deviceList is version 1 of the account's device list
// (devicelist.Genesis, listing c's device). invite may be empty on servers
// with open registration.
func (c *Client) Register(ctx context.Context, identityKey, certificate, deviceList []byte, invite string) (api.AccountInfo, error) {
	var out api.AccountInfo
	req := api.RegisterRequest{
		Name: c.id.User, IdentityKey: identityKey, Invite: invite, DeviceList: deviceList,
		Device: api.DeviceInfo{ID: c.id.Device, SigningKey: c.id.Key.Public().(ed25519.PublicKey), Certificate: certificate},
	}
	err := c.do(ctx, http.MethodPost, "/v1/accounts", nil, req, &out)
	return out, err
}

// PutDeviceList uploads the next version of c's account's device list and
// returns its version. The server adds the devices new in it and removes
// the ones it no longer holds. ErrConflict if it does not extend the list
// the server holds (the message says which version that is).
func (c *Client) PutDeviceList(ctx context.Context, list []byte) (int, error) {
	var out api.DeviceListVersion
	err := c.do(ctx, http.MethodPut, "/v1/devicelist", nil, api.DeviceListRequest{List: list}, &out)
	return int(out.Version), err
}

// DeviceLists returns the stored device lists of user with version >
// after, oldest first (at most api.MaxDeviceListsPerFetch; More if there
// are further ones), and the newest version. They are unverified: check
// them with devicelist.VerifyChain against the pinned key and list.
func (c *Client) DeviceLists(ctx context.Context, user string, after uint64) (api.DeviceListsResponse, error) {
	var out api.DeviceListsResponse
	q := url.Values{"after": {strconv.FormatUint(after, 10)}}
	err := c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(user)+"/devicelists", q, nil, &out)
	return out, err
}

// PutCertificate uploads the certificate of c's device, once it is listed
// (a device added by a new list has none until it uploads one).
func (c *Client) PutCertificate(ctx context.Context, cert []byte) error {
	return c.do(ctx, http.MethodPut, "/v1/devices/self/certificate", nil, api.CertificateRequest{Certificate: cert}, nil)
}

// Account returns a user's identity key.
func (c *Client) Account(ctx context.Context, user string) (api.AccountInfo, error) {
	var out api.AccountInfo
	err := c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(user), nil, nil, &out)
	return out, err
}

// Devices lists a user's devices with their certificates.
func (c *Client) Devices(ctx context.Context, user string) ([]api.DeviceInfo, error) {
	var out api.DevicesResponse
	err := c.do(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(user)+"/devices", nil, nil, &out)
	return out.Devices, err
}

// UploadPrekeys uploads or replenishes c's prekeys.
func (c *Client) UploadPrekeys(ctx context.Context, up api.PrekeyUpload) (api.PrekeyCounts, error) {
	var out api.PrekeyCounts
	err := c.do(ctx, http.MethodPut, "/v1/prekeys", nil, up, &out)
	return out, err
}

// PrekeyCounts reports c's remaining one-time prekeys.
func (c *Client) PrekeyCounts(ctx context.Context) (api.PrekeyCounts, error) {
	var out api.PrekeyCounts
	err := c.do(ctx, http.MethodGet, "/v1/prekeys", nil, nil, &out)
	return out, err
}

// Bundle fetches a prekey bundle for one device (consuming its one-time prekeys).
func (c *Client) Bundle(ctx context.Context, user string, device uint32) (api.Bundle, error) {
	var out api.Bundle
	err := c.do(ctx, http.MethodGet, "/v1/bundles/"+url.PathEscape(user)+"/"+strconv.FormatUint(uint64(device), 10), nil, nil, &out)
	return out, err
}

// Bundles fetches a bundle for every device of user that has prekeys.
func (c *Client) Bundles(ctx context.Context, user string) ([]api.Bundle, error) {
	var out api.BundlesResponse
	err := c.do(ctx, http.MethodGet, "/v1/bundles/"+url.PathEscape(user), nil, nil, &out)
	return out.Bundles, err
}

// Send stores a batch of envelopes; it returns once they are durable.
// counter is the device's rollback counter: higher than that of every batch
// sent before, or the same with the same messages to retransmit a batch
// whose reply was lost (0 for a device that does not count). A used counter
// fails with a *RollbackError (ErrRollback).
func (c *Client) Send(ctx context.Context, counter uint64, msgs []api.OutgoingEnvelope) (api.SendResponse, error) {
	var out api.SendResponse
	err := c.do(ctx, http.MethodPost, "/v1/messages", nil, api.SendRequest{Messages: msgs, Counter: counter}, &out)
	return out, err
}

// Self returns c's device id and the highest send counter the server has
// accepted from it.
func (c *Client) Self(ctx context.Context) (api.SelfInfo, error) {
	var out api.SelfInfo
	err := c.do(ctx, http.MethodGet, "/v1/devices/self", nil, nil, &out)
	return out, err
}

// Fetch returns up to limit pending messages with id > after (limit 0: the
// server's maximum).
func (c *Client) Fetch(ctx context.Context, after int64, limit int) (api.FetchResponse, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out api.FetchResponse
	err := c.do(ctx, http.MethodGet, "/v1/messages", q, nil, &out)
	return out, err
}

// Ack deletes delivered messages from c's mailbox (at most api.MaxAckIDs
// per call) and returns how many were deleted.
func (c *Client) Ack(ctx context.Context, ids []int64) (int, error) {
	var out api.AckResponse
	err := c.do(ctx, http.MethodPost, "/v1/messages/ack", nil, api.AckRequest{IDs: ids}, &out)
	return out.Acked, err
}
