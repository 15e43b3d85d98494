package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"backchannel/canary"
	"backchannel/tracepool"
	"backchannel/transcript/leak"
	"backchannel/vault"
)

// Pooled traces (issue 11, item 4; docs/protocol.md, "Pooled traces"): the
// investigator asks the room with a trace request; each member who
// consents answers the investigator alone with its contribution
// (tracepool.Answer); the investigator combines them (pool_combine.go).
// Neither payload is a transcript entry: a request is shown to every member
// as a notice, and answers are kept only by the investigator.

// Vault records: the requests a member received in a room (a
// tracepool.Ledger), the requests this account made (poolOut), and a
// member's standing consent for a room.
func poolInRecord(room string) string      { return "pool/in/" + room }
func poolConsentRecord(room string) string { return "pool/consent/" + room }

const poolOutRecord = "pool/out"

type poolOut struct {
	Inquiries []tracepool.Inquiry `json:"inquiries"`
}

func (o *poolOut) find(id string) *tracepool.Inquiry {
	id = strings.ToLower(id)
	var found *tracepool.Inquiry
	for i := range o.Inquiries {
		if len(id) >= 4 && strings.HasPrefix(o.Inquiries[i].ID, id) {
			if found != nil {
				return nil
			}
			found = &o.Inquiries[i]
		}
	}
	return found
}

func isPool(kind string) bool { return kind == KindTraceRequest || kind == KindTraceAnswer }

// checkPool is decodePayload's check of a pooled-trace payload.
func checkPool(p *payload) error {
	if p.Kind == KindTraceRequest {
		req, err := tracepool.DecodeRequest(p.Pool)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadPayload, err)
		}
		if req.ID != p.ID {
			return fmt.Errorf("%w: a trace request whose id is not its message's", ErrBadPayload)
		}
		return nil
	}
	if _, err := tracepool.DecodeAnswer(p.Pool); err != nil {
		return fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	return nil
}

func loadJSON(ctx context.Context, rd reader, name string, v any) error {
	raw, err := rd.Get(ctx, name)
	if errors.Is(err, vault.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("the stored %s does not parse: %w", name, err)
	}
	return nil
}

func putJSON(ctx context.Context, tx *vault.Tx, name string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(ctx, name, raw)
}

// applyPool handles a trace request or answer from sender in room r.
func (c *Client) applyPool(ctx context.Context, tx *vault.Tx, r *Room, sender string, p *payload, receivedAt time.Time, rep *SyncReport) (func() error, error) {
	if r.Removed || !r.State.has(sender) {
		c.warn(rep, "refused a %s in %q from %s, who is not a member of the room", p.Kind, r.State.Name, sender)
		return nil, nil
	}
	if sender == c.prof.User {
		return nil, nil // this account's other device: its own request or answer
	}
	if p.Kind == KindTraceAnswer {
		return nil, c.applyTraceAnswer(ctx, tx, r, sender, p, rep)
	}
	req, err := tracepool.DecodeRequest(p.Pool)
	if err != nil {
		c.warn(rep, "refused a trace request in %q from %s: %v", r.State.Name, sender, err)
		return nil, nil
	}
	var l tracepool.Ledger
	if err := loadJSON(ctx, tx, poolInRecord(r.State.ID), &l); err != nil {
		return nil, err
	}
	in, fresh := l.Admit(req, r.State.ID, sender, c.opts.Now().UTC())
	if !fresh {
		return nil, nil
	}
	if err := putJSON(ctx, tx, poolInRecord(r.State.ID), &l); err != nil {
		return nil, err
	}
	short := tracepool.Short(in.ID)
	standing := false
	if _, err := tx.Get(ctx, poolConsentRecord(r.State.ID)); err == nil {
		standing = true
	}
	text := fmt.Sprintf("%s asked the room to help trace a leak (request %s, %d words, ε = %.0e): 'backchannel pool show %s' shows the leaked text; 'backchannel pool answer %s' sends %s your evidence about it, 'backchannel pool decline %s' declines",
		sender, short, len(strings.Fields(string(in.Leak))), in.Epsilon, short, short, sender, short)
	switch {
	case in.State == tracepool.Refused:
		text = fmt.Sprintf("%s asked the room to help trace a leak (request %s); it cannot be answered: %s", sender, short, in.Note)
	case standing:
		text = fmt.Sprintf("%s asked the room to help trace a leak (request %s, %d words): your standing consent for this room answers it ('backchannel pool show %s' shows the leaked text)", sender, short, len(strings.Fields(string(in.Leak))), short)
	}
	msg := Message{ID: in.ID, Room: r.State.ID, Sender: sender, SentAt: p.SentAt, ReceivedAt: receivedAt, Kind: KindNotice, Text: text}
	if err := appendMessage(ctx, tx, msg); err != nil {
		return nil, err
	}
	rep.stored(msg)
	if !standing || in.State != tracepool.Pending {
		return nil, nil
	}
	id := in.ID
	return func() error {
		if _, err := c.answerLocked(context.Background(), id, true); err != nil {
			return fmt.Errorf("could not answer %s's trace request %s under your standing consent: %w", sender, short, err)
		}
		return nil
	}, nil
}

// applyTraceAnswer keeps an answer to one of this account's requests, or
// refuses it in plain words.
func (c *Client) applyTraceAnswer(ctx context.Context, tx *vault.Tx, r *Room, sender string, p *payload, rep *SyncReport) error {
	a, err := tracepool.DecodeAnswer(p.Pool)
	if err != nil {
		c.warn(rep, "refused a trace answer in %q from %s: %v", r.State.Name, sender, err)
		return nil
	}
	var out poolOut
	if err := loadJSON(ctx, tx, poolOutRecord, &out); err != nil {
		return err
	}
	q := out.find(a.Request)
	switch {
	case q == nil || q.ID != a.Request:
		c.warn(rep, "refused an answer from %s to trace request %s: you made no such request (a replayed or forged request id)", sender, tracepool.Short(a.Request))
		return nil
	case q.Room != r.State.ID:
		c.warn(rep, "refused an answer from %s to trace request %s: it came in %q, not in the room asked", sender, tracepool.Short(a.Request), r.State.Name)
		return nil
	}
	if a.Status == tracepool.Contributed {
		if _, err := checkContribution(a.Contribution, sender, q); err != nil {
			c.warn(rep, "refused an answer from %s to trace request %s: %v", sender, tracepool.Short(q.ID), err)
			return nil
		}
	}
	if err := q.Accept(sender, a); err != nil {
		c.warn(rep, "%v", err)
		return nil
	}
	return putJSON(ctx, tx, poolOutRecord, &out)
}

// RequestPooledTrace asks every member of a room to help trace leakText
// and records the request; AwaitPooledTrace collects the answers and
// PooledTrace combines them.
func (c *Client) RequestPooledTrace(ctx context.Context, roomRef string, leakText []byte, epsilon float64) (*tracepool.Inquiry, error) {
	if err := leak.CheckInput(leakText); err != nil {
		return nil, err
	}
	if len(leakText) > tracepool.MaxLeakBytes {
		return nil, fmt.Errorf("the leak is %d KiB; a pooled trace sends it to every member and takes at most %d KiB (trace an excerpt)", len(leakText)>>10, tracepool.MaxLeakBytes>>10)
	}
	// The senders whose answers are awaited: those of the messages the
	// leak matches, or every member who wrote in the room if none match.
	r, msgs, err := c.History(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	if r.Removed || !r.State.has(c.prof.User) {
		return nil, fmt.Errorf("%w %q", ErrNotMember, r.State.Name)
	}
	senders := map[string]bool{}
	if vr, err := c.VerifyLeak(ctx, r.State.ID, leakText); err == nil {
		for _, ln := range vr.Lines {
			if ln.MessageID != "" && ln.Sender != "" {
				senders[ln.Sender] = true
			}
		}
	}
	if len(senders) == 0 {
		for _, m := range msgs {
			if m.Kind == KindText {
				senders[m.Sender] = true
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	q := tracepool.Inquiry{ID: newID(), Room: r.State.ID, Leak: leakText, Epsilon: epsilon, At: c.opts.Now().UTC(),
		Requester: c.prof.User, Members: slices.Clone(r.State.Members)}
	for _, m := range r.State.Members {
		if senders[m] && m != c.prof.User {
			q.Senders = append(q.Senders, m)
		}
	}
	req := tracepool.Request{V: tracepool.Version, ID: q.ID, Leak: leakText, Epsilon: epsilon}
	raw, err := json.Marshal(&req)
	if err != nil {
		return nil, err
	}
	p := &payload{V: payloadVersion, Kind: KindTraceRequest, ID: q.ID, Room: r.State.ID, SentAt: q.At, Pool: raw}
	notice := Message{ID: q.ID, Room: r.State.ID, Sender: c.prof.User, SentAt: q.At, ReceivedAt: q.At, Kind: KindNotice,
		Text: fmt.Sprintf("%s asked the room to help trace a leak (request %s, %d words)", c.prof.User, tracepool.Short(q.ID), len(strings.Fields(string(leakText))))}
	err = c.fanOut(ctx, same(p), r.State.Members, false, func(ctx context.Context, tx *vault.Tx) error {
		var out poolOut
		if err := loadJSON(ctx, tx, poolOutRecord, &out); err != nil {
			return err
		}
		out.Inquiries = append(out.Inquiries, q)
		if len(out.Inquiries) > tracepool.MaxKept {
			out.Inquiries = out.Inquiries[len(out.Inquiries)-tracepool.MaxKept:]
		}
		if err := putJSON(ctx, tx, poolOutRecord, &out); err != nil {
			return err
		}
		return appendMessage(ctx, tx, notice)
	})
	if err != nil && !errors.Is(err, ErrNotDelivered) {
		return nil, fmt.Errorf("send the trace request to %q: %w", r.State.Name, err)
	}
	return &q, err
}

// Inquiry returns one of this account's trace requests by id or id prefix.
func (c *Client) Inquiry(ctx context.Context, id string) (*tracepool.Inquiry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inquiry(ctx, id)
}

func (c *Client) inquiry(ctx context.Context, id string) (*tracepool.Inquiry, error) {
	var out poolOut
	if err := loadJSON(ctx, c.v, poolOutRecord, &out); err != nil {
		return nil, err
	}
	q := out.find(id)
	if q == nil {
		return nil, fmt.Errorf("%w %q among the trace requests you made (they are kept on the device that made them)", tracepool.ErrUnknownRequest, id)
	}
	return q, nil
}

// AwaitPooledTrace syncs until every sender awaited answered request id or
// wait ends (ctx ending stops it early without an error).
func (c *Client) AwaitPooledTrace(ctx context.Context, id string, wait time.Duration) (*tracepool.Inquiry, []string, error) {
	deadline := time.Now().Add(wait)
	var warnings []string
	for {
		rep, err := c.Sync(ctx)
		if err != nil && ctx.Err() == nil {
			warnings = append(warnings, "sync: "+err.Error())
		}
		if rep != nil {
			warnings = append(warnings, rep.Warnings...)
		}
		q, err := c.Inquiry(ctx, id)
		if err != nil {
			return nil, warnings, err
		}
		if q.Complete() || !time.Now().Before(deadline) || ctx.Err() != nil {
			return q, warnings, nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Second, time.Until(deadline))):
		}
	}
}

// TraceRequests lists the trace requests received in a room (every room
// when roomRef is empty), newest last.
func (c *Client) TraceRequests(ctx context.Context, roomRef string) ([]tracepool.Incoming, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rooms, err := c.poolRooms(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	var all []tracepool.Incoming
	for _, r := range rooms {
		var l tracepool.Ledger
		if err := loadJSON(ctx, c.v, poolInRecord(r.State.ID), &l); err != nil {
			return nil, err
		}
		all = append(all, l.Requests...)
	}
	slices.SortStableFunc(all, func(a, b tracepool.Incoming) int { return a.At.Compare(b.At) })
	return all, nil
}

func (c *Client) poolRooms(ctx context.Context, roomRef string) ([]*Room, error) {
	if roomRef != "" {
		r, err := c.resolveRoom(ctx, roomRef)
		if err != nil {
			return nil, err
		}
		return []*Room{r}, nil
	}
	return c.allRooms(ctx, c.v)
}

// SetTraceConsent sets or clears this member's standing consent for a
// room: with it, every trace request in the room within the rate limit is
// answered without asking.
func (c *Client) SetTraceConsent(ctx context.Context, roomRef string, on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.resolveRoom(ctx, roomRef)
	if err != nil {
		return err
	}
	return c.v.Update(ctx, func(tx *vault.Tx) error {
		if on {
			return tx.Put(ctx, poolConsentRecord(r.State.ID), []byte{1})
		}
		if _, err := tx.Get(ctx, poolConsentRecord(r.State.ID)); err != nil {
			return nil
		}
		return tx.Delete(ctx, poolConsentRecord(r.State.ID))
	})
}

// AnswerTraceRequest answers a trace request this member received: with
// its contribution when consent is true (or "too little of my text" when
// its own messages hold too few of the leak's marks), declined otherwise.
// The answer goes to the requester only.
func (c *Client) AnswerTraceRequest(ctx context.Context, id string, consent bool) (*tracepool.Answer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answerLocked(ctx, id, consent)
}

func (c *Client) answerLocked(ctx context.Context, id string, consent bool) (*tracepool.Answer, error) {
	rooms, err := c.allRooms(ctx, c.v)
	if err != nil {
		return nil, err
	}
	var r *Room
	var l tracepool.Ledger
	var in *tracepool.Incoming
	for _, rr := range rooms {
		var ll tracepool.Ledger
		if err := loadJSON(ctx, c.v, poolInRecord(rr.State.ID), &ll); err != nil {
			return nil, err
		}
		found, err := ll.Find(id)
		if errors.Is(err, tracepool.ErrUnknownRequest) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if in != nil {
			return nil, fmt.Errorf("request id %s is ambiguous: give more of it", id)
		}
		r, l, in = rr, ll, found
	}
	if in == nil {
		return nil, fmt.Errorf("%w %q ('backchannel pool list' lists them)", tracepool.ErrUnknownRequest, id)
	}
	in, _ = l.Find(in.ID) // the copy inside l, which Decide changes
	if r.Removed || !r.State.has(c.prof.User) {
		return nil, fmt.Errorf("%w %q", ErrNotMember, r.State.Name)
	}
	if !r.State.has(in.Requester) {
		return nil, fmt.Errorf("%s is no longer a member of %q: their request is not answered", in.Requester, r.State.Name)
	}
	if in.State != tracepool.Pending {
		return nil, l.Decide(in.ID, tracepool.Answered, "") // says why it cannot be answered again
	}
	a := &tracepool.Answer{V: tracepool.Version, Request: in.ID, LeakSHA256: tracepool.LeakHash(in.Leak), Status: tracepool.Declined}
	state, note := string(tracepool.Declined), "declined"
	if consent {
		part, slots, err := c.contribution(ctx, r, string(in.Leak))
		if err != nil {
			return nil, err
		}
		state = tracepool.Answered
		if a.Status = tracepool.Gate(slots); a.Status == tracepool.Contributed {
			a.Contribution = part
			note = fmt.Sprintf("contributed (%d marks read in your messages)", slots)
		} else {
			a.Reason = tracepool.TooLittleReason
			note = fmt.Sprintf("answered: too little of your text (%d marks read; at least %d are needed before any score is returned)", slots, tracepool.MinSlots)
		}
	}
	if err := l.Decide(in.ID, state, note); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	p := &payload{V: payloadVersion, Kind: KindTraceAnswer, ID: newID(), Room: r.State.ID, SentAt: c.opts.Now().UTC(), Pool: raw}
	err = c.fanOut(ctx, same(p), []string{in.Requester}, false, func(ctx context.Context, tx *vault.Tx) error {
		return putJSON(ctx, tx, poolInRecord(r.State.ID), &l)
	})
	if err != nil && !errors.Is(err, ErrNotDelivered) {
		return nil, fmt.Errorf("send the answer to %s: %w", in.Requester, err)
	}
	return a, err
}

// senderTracer indexes this user's own marked messages in room r, as
// Trace does for one room (nil when it sent none).
func (c *Client) senderTracer(ctx context.Context, r *Room) (*canary.Tracer, error) {
	msgs, err := arrivals(ctx, c.v, r)
	if err != nil {
		return nil, err
	}
	// A copy disclosed to the room in an equivocation report could be
	// leaked by anyone who saw the report: it names nobody.
	disclosed, err := receivedProofs(ctx, c.v, r.State.ID)
	if err != nil {
		return nil, err
	}
	var sent []canary.Message
	for _, m := range msgs {
		if m.Sender != c.prof.User || len(m.Recipients) == 0 || (m.Kind != KindText && m.Kind != KindDoc) || len(disclosed[m.Entry]) > 0 {
			continue
		}
		p, err := canary.ParsePolicy(m.Marking)
		if err != nil {
			return nil, err
		}
		text := m.Text
		if m.Kind == KindDoc {
			if text, err = c.sentDocText(ctx, m.ID); err != nil {
				return nil, fmt.Errorf("the original of document %s: %w", m.ID, err)
			}
		}
		sent = append(sent, canary.Message{ID: m.ID, Text: text, Recipients: m.Recipients, Policy: p})
	}
	if len(sent) == 0 {
		return nil, nil
	}
	return canary.NewTracer(c.prof.MarkingKey, sent)
}
