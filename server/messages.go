package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"backchannel/server/api"
	"backchannel/store"
)

// PingInterval is how often an idle push stream is pinged.
const PingInterval = 30 * time.Second

func apiMessages(msgs []store.Message) []api.Message {
	out := make([]api.Message, len(msgs))
	for i, m := range msgs {
		out[i] = api.Message{ID: m.ID, From: m.From.User, FromDevice: m.From.Device, Data: m.Data, ReceivedAt: m.ReceivedAt}
	}
	return out
}

// send checks the batch's rollback counter and stores the batch durably (in
// one store operation), then acknowledges it and wakes the recipients' push
// streams. A counter the device has already used for another batch is
// refused with 409 rollback: a restored or copied client profile must not
// send again under ratchet states it has used.
func (s *Server) send(w http.ResponseWriter, r *http.Request, c caller) error {
	var req api.SendRequest
	if err := api.Decode(c.body, &req); err != nil {
		return err
	}
	if err := req.Validate(s.lim.MaxBatch, s.lim.MaxEnvelopeBytes); err != nil {
		if len(req.Messages) > s.lim.MaxBatch {
			return errf(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "%v", err)
		}
		return err
	}
	envs := make([]store.Envelope, len(req.Messages))
	for i, m := range req.Messages {
		envs[i] = store.Envelope{To: store.Address{User: m.To, Device: m.Device}, Data: m.Data}
	}
	now := time.Now().UTC()
	digest := api.BatchDigest(req.Messages)
	var msgs []store.Message
	var err error
	if q, ok := s.st.(store.MailboxQuotas); ok {
		msgs, err = q.EnqueueLimited(r.Context(), c.Address, req.Counter, digest[:], envs, now, store.MailboxLimits{
			MaxPending: s.lim.MaxPendingPerDevice, MaxBytes: s.lim.MaxMailboxBytes, MaxSenderBytes: s.lim.MailboxBytesPerSender})
	} else {
		msgs, err = s.st.EnqueueCounted(r.Context(), c.Address, req.Counter, digest[:], envs, now, s.lim.MaxPendingPerDevice)
	}
	if err != nil {
		return err
	}
	s.hub.notify(msgs)
	s.metrics.enqueued.Add(float64(len(msgs)))
	resp := api.SendResponse{IDs: make([]int64, len(msgs)), ReceivedAt: now}
	for i, m := range msgs {
		resp.IDs[i] = m.ID
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func queryInt(r *http.Request, name string, def, lo, hi int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, errf(http.StatusBadRequest, api.CodeBadRequest, "query parameter %s must be an integer in [%d, %d]", name, lo, hi)
	}
	return n, nil
}

func (s *Server) fetch(w http.ResponseWriter, r *http.Request, c caller) error {
	after, err := queryInt(r, "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", int64(s.lim.MaxFetch), 1, int64(s.lim.MaxFetch))
	if err != nil {
		return err
	}
	msgs, err := s.st.Pending(r.Context(), c.Address, after, int(limit))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.FetchResponse{Messages: apiMessages(msgs), More: len(msgs) == int(limit)})
	return nil
}

func (s *Server) ack(w http.ResponseWriter, r *http.Request, c caller) error {
	var req api.AckRequest
	if err := api.Decode(c.body, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	n, err := s.st.Ack(r.Context(), c.Address, req.IDs)
	if err != nil {
		return err
	}
	s.metrics.acked.Add(float64(n))
	writeJSON(w, http.StatusOK, api.AckResponse{Acked: n})
	return nil
}

// stream is the WebSocket push endpoint. It sends every pending message with
// id > after, then new ones as they arrive, as api.PushFrame text messages.
// Clients acknowledge over HTTP or with api.AckFrame text messages on the
// stream; after a disconnect they resume with after set to the last id they
// received.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, c caller) error {
	after, err := queryInt(r, "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	s.streams.Add(1)
	defer s.streams.Done()
	select {
	case <-s.stopping:
		return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "server is shutting down")
	default:
	}
	wake, unsubscribe, ok := s.hub.subscribeMax(c.Address, s.lim.MaxStreamsPerDevice)
	if !ok {
		s.metrics.rateLimited.Inc()
		return errf(http.StatusTooManyRequests, api.CodeRateLimited,
			"this device already has %d push connections open, the most the server allows; close one (another running copy of the program?) and try again", s.lim.MaxStreamsPerDevice)
	}
	defer unsubscribe()
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return nil // Accept has written the HTTP error
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 10)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go s.readAcks(ctx, cancel, conn, c.Address)
	ping := time.NewTicker(PingInterval)
	defer ping.Stop()
	cursor := after
	for {
		msgs, err := s.st.Pending(ctx, c.Address, cursor, s.lim.MaxFetch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("push stream: reading a mailbox failed", "err", err)
				s.log.Debug("push stream: reading mailbox", "user", c.User, "device", c.Device, "err", err)
				conn.Close(websocket.StatusInternalError, "mailbox unavailable")
			}
			return nil
		}
		if len(msgs) > 0 {
			b, err := json.Marshal(api.PushFrame{Type: "messages", Messages: apiMessages(msgs)})
			if err != nil {
				return nil
			}
			wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err = conn.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return nil
			}
			cursor = msgs[len(msgs)-1].ID
			s.metrics.pushed.Add(float64(len(msgs)))
			if len(msgs) == s.lim.MaxFetch {
				continue
			}
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil
		case <-s.stopping:
			conn.Close(websocket.StatusGoingAway, "server shutting down")
			return nil
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return nil
			}
		}
	}
}

// readAcks applies the acknowledgements a client sends on its push stream.
// It ends the stream (cancel) when the connection closes or misbehaves.
func (s *Server) readAcks(ctx context.Context, cancel context.CancelFunc, conn *websocket.Conn, addr store.Address) {
	defer cancel()
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var f api.AckFrame
		if typ != websocket.MessageText || api.Decode(b, &f) != nil || f.Type != "ack" || len(f.IDs) == 0 || len(f.IDs) > api.MaxAckIDs {
			conn.Close(websocket.StatusUnsupportedData, "expected an ack frame")
			return
		}
		if !s.rate.allow(addr.User, time.Now()) {
			s.metrics.rateLimited.Inc()
			conn.Close(websocket.StatusTryAgainLater, "rate limit exceeded")
			return
		}
		n, err := s.st.Ack(ctx, addr, f.IDs)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("push stream: an acknowledgement failed", "err", err)
				s.log.Debug("push stream: ack", "user", addr.User, "device", addr.Device, "err", err)
				conn.Close(websocket.StatusInternalError, "ack failed")
			}
			return
		}
		s.metrics.acked.Add(float64(n))
	}
}
