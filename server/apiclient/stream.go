package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"backchannel/server/api"
)

// Stream is one WebSocket push connection.
type Stream struct {
	conn *websocket.Conn
}

// Dial opens a push stream that delivers every pending message with
// id > after, then new messages as they arrive.
func (c *Client) Dial(ctx context.Context, after int64) (*Stream, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/stream", q, nil, "")
	if err != nil {
		return nil, err
	}
	u := *req.URL
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: c.hc, HTTPHeader: req.Header})
	if err != nil {
		if resp != nil && resp.StatusCode >= 300 {
			if resp.Body != nil {
				defer resp.Body.Close()
				return nil, readError(resp)
			}
			return nil, &Error{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: err.Error()}
		}
		return nil, fmt.Errorf("dial push stream: %w", err)
	}
	conn.SetReadLimit(256 << 20)
	return &Stream{conn: conn}, nil
}

// Next blocks until the server pushes messages.
func (s *Stream) Next(ctx context.Context) ([]api.Message, error) {
	for {
		typ, b, err := s.conn.Read(ctx)
		if err != nil {
			return nil, fmt.Errorf("push stream: %w", err)
		}
		if typ != websocket.MessageText {
			continue
		}
		var f api.PushFrame
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("push stream: bad frame: %w", err)
		}
		if f.Type == "messages" && len(f.Messages) > 0 {
			return f.Messages, nil
		}
	}
}

// Ack acknowledges messages on the stream (at most api.MaxAckIDs per call)
// without waiting for the server: an ack lost with the connection only means
// the messages are delivered again, so callers de-duplicate by message id.
func (s *Stream) Ack(ctx context.Context, ids []int64) error {
	b, err := json.Marshal(api.AckFrame{Type: "ack", IDs: ids})
	if err != nil {
		return fmt.Errorf("ack frame: %w", err)
	}
	if err := s.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("push stream ack: %w", err)
	}
	return nil
}

// Delivery is one batch of pushed messages handed to a Subscribe callback.
type Delivery struct {
	Messages []api.Message
	s        *Stream
}

// Ack acknowledges the given message ids (all of the batch if none are
// given) over the push stream, in chunks of api.MaxAckIDs, without waiting
// for the server. See Stream.Ack.
func (d *Delivery) Ack(ctx context.Context, ids ...int64) error {
	if len(ids) == 0 {
		ids = make([]int64, len(d.Messages))
		for i, m := range d.Messages {
			ids[i] = m.ID
		}
	}
	for start := 0; start < len(ids); start += api.MaxAckIDs {
		if err := d.s.Ack(ctx, ids[start:min(start+api.MaxAckIDs, len(ids))]); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the stream.
func (s *Stream) Close() error {
	return s.conn.Close(websocket.StatusNormalClosure, "")
}

// Backoff bounds Subscribe's reconnection delays.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// Subscribe keeps a push stream open until ctx ends or fn returns an error,
// reconnecting with jittered exponential backoff and resuming after the last
// message passed to fn. fn receives batches in id order; messages stay on
// the server until acknowledged with Client.Ack, so at-least-once delivery
// holds across reconnects. Authentication failures (401) are returned, not
// retried. It returns ctx.Err() or fn's error. SubscribeDeliveries is the
// same with acknowledgements on the stream, which is much cheaper for a busy
// reader than an HTTP round trip per batch.
func (c *Client) Subscribe(ctx context.Context, after int64, fn func(ctx context.Context, msgs []api.Message) error) error {
	return c.SubscribeDeliveries(ctx, after, func(ctx context.Context, d *Delivery) error {
		return fn(ctx, d.Messages)
	})
}

// SubscribeDeliveries is Subscribe handing fn each batch as a Delivery, whose
// Ack acknowledges on the push stream without waiting for the server.
func (c *Client) SubscribeDeliveries(ctx context.Context, after int64, fn func(ctx context.Context, d *Delivery) error) error {
	return c.SubscribeWatched(ctx, after, fn, nil)
}

// SubscribeWatched is SubscribeDeliveries telling state about the push
// stream: up=true once a stream is open, up=false with the reason when it
// failed or dropped and a reconnection is due. state runs on Subscribe's
// goroutine and must not block.
func (c *Client) SubscribeWatched(ctx context.Context, after int64, fn func(ctx context.Context, d *Delivery) error, state func(up bool, err error)) error {
	if state == nil {
		state = func(bool, error) {}
	}
	cursor := after
	backoff := minBackoff
	for {
		s, err := c.Dial(ctx, cursor)
		if err == nil {
			backoff = minBackoff
			state(true, nil)
			for {
				var msgs []api.Message
				msgs, err = s.Next(ctx)
				if err != nil {
					break
				}
				if ferr := fn(ctx, &Delivery{Messages: msgs, s: s}); ferr != nil {
					s.conn.CloseNow()
					return ferr
				}
				cursor = msgs[len(msgs)-1].ID
			}
			s.conn.CloseNow()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrUnauthorized) && !errors.Is(err, ErrReplay) {
			return err
		}
		state(false, err)
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
