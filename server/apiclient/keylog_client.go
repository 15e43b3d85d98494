package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"backchannel/keylog"
	"backchannel/keylog/verify"
)

// KeyLogInfo is the reply of GET /v1/keylog/info: what a client pins about
// the server's key log (docs/protocol.md section 16).
type KeyLogInfo struct {
	Origin string `json:"origin"`
	LogKey string `json:"log_key"`
	VRFKey []byte `json:"vrf_key"`
}

// KeyLogInfo fetches the key log's origin, verifier key and VRF key.
func (c *Client) KeyLogInfo(ctx context.Context) (KeyLogInfo, error) {
	var out KeyLogInfo
	err := c.do(ctx, http.MethodGet, "/v1/keylog/info", nil, nil, &out)
	return out, err
}

// KeyLogLookup returns the raw lookup proof for user (package
// keylog/verify decodes and checks it).
func (c *Client) KeyLogLookup(ctx context.Context, user string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.doLimit(ctx, http.MethodGet, "/v1/keylog/lookup/"+url.PathEscape(user), nil, &out, verify.MaxLookupSize)
	return out, err
}

// maxConsistencyReply bounds a reply of GET /v1/keylog/consistency,
// decompressed: at most verify.MaxConsistency hashes of 44 base64 bytes.
const maxConsistencyReply = 16 << 10

// KeyLogConsistency returns an RFC 6962 consistency proof between two
// sizes of the key log.
func (c *Client) KeyLogConsistency(ctx context.Context, from, to uint64) ([][]byte, error) {
	var out struct {
		Proof [][]byte `json:"proof"`
	}
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(to, 10)}}
	err := c.doLimit(ctx, http.MethodGet, "/v1/keylog/consistency", q, &out, maxConsistencyReply)
	return out.Proof, err
}

// KeyLogLookupAt returns the raw proof of user's leaf at an earlier epoch,
// against the checkpoint of log size `size`.
func (c *Client) KeyLogLookupAt(ctx context.Context, user string, epoch, size uint64) (json.RawMessage, error) {
	var out json.RawMessage
	q := url.Values{"epoch": {strconv.FormatUint(epoch, 10)}, "size": {strconv.FormatUint(size, 10)}}
	err := c.doLimit(ctx, http.MethodGet, "/v1/keylog/lookup/"+url.PathEscape(user), q, &out, verify.MaxLookupSize)
	return out, err
}

// KeyLogChanges returns one page of the change lists of epochs from … to
// (GET /v1/keylog/changes); the caller continues from Through+1 while
// Through < to.
func (c *Client) KeyLogChanges(ctx context.Context, from, to uint64) (*keylog.ChangesPage, error) {
	var out keylog.ChangesPage
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(to, 10)}}
	if err := c.doLimit(ctx, http.MethodGet, "/v1/keylog/changes", q, &out, maxChangesReply); err != nil {
		return nil, err
	}
	return &out, nil
}

// KeyLogEntries returns one page of GET /v1/keylog/entries from epoch from
// (with frontier, the compact range of [0, from) too), decoded strictly;
// the caller verifies it (verify.ScanEntries) and continues from Through
// while Through is set.
func (c *Client) KeyLogEntries(ctx context.Context, from uint64, frontier bool) (*verify.EntriesPage, error) {
	var out json.RawMessage
	q := url.Values{"from": {strconv.FormatUint(from, 10)}}
	if frontier {
		q.Set("frontier", "1")
	}
	if err := c.doLimit(ctx, http.MethodGet, "/v1/keylog/entries", q, &out, verify.MaxEntriesPageSize); err != nil {
		return nil, err
	}
	return verify.DecodeEntriesPage(out)
}

// KeyLogOwn returns every leaf state the key log recorded for the caller's
// own account (GET /v1/keylog/own), ascending by updates.
func (c *Client) KeyLogOwn(ctx context.Context) ([]keylog.State, error) {
	var out keylog.OwnStates
	if err := c.do(ctx, http.MethodGet, "/v1/keylog/own", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.States, nil
}

// maxChangesReply bounds a reply of GET /v1/keylog/changes, decompressed: a
// page holds about keylog.ChangesPageSize changes of 64 bytes, 90 in base64,
// but one epoch's record is never split and may list every account.
const maxChangesReply = maxReply

// KeyLogChangesProved returns the page of change lists of epochs from …
// the latest, with the latest checkpoint, its latest entry and that entry's
// inclusion proof (GET /v1/keylog/changes?proof=1, to omitted); from may be
// one past the latest epoch. A size above 0 (of a checkpoint the caller
// holds) asks for the consistency proof from that size too. The caller
// verifies them (verify.VerifyLatest) and continues from Through+1 to Epoch
// while Through < Epoch.
func (c *Client) KeyLogChangesProved(ctx context.Context, from, size uint64) (*keylog.ProvedChangesPage, error) {
	var out keylog.ProvedChangesPage
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "proof": {"1"}}
	if size > 0 {
		q.Set("size", strconv.FormatUint(size, 10))
	}
	if err := c.doLimit(ctx, http.MethodGet, "/v1/keylog/changes", q, &out, maxChangesReply); err != nil {
		return nil, err
	}
	return &out, nil
}
