package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"backchannel/entropy"
	"backchannel/server/api"
	"backchannel/server/apiclient"
	"backchannel/session"
)

// reader is a receiving client: it holds a push stream, decrypts and
// acknowledges.
type reader struct {
	*client
	size     int
	messages int

	// Set up before the stream starts, then only read.
	from map[string]*expectFrom // by sender account name

	// Owned by the stream callback (one goroutine at a time).
	sessions    map[string]*session.Session
	lastID      int64
	redelivered int64
	duplicates  int64
	corrupt     int64
	hellos      *atomic.Int64

	mu           sync.Mutex // guards lat and lastDelivery
	lat          []time.Duration
	lastDelivery time.Time
}

// expectFrom is what a reader expects from one sender.
type expectFrom struct {
	idx         uint32
	identityKey []byte
	got         []bool // by sequence number
}

// setup creates and registers every client, publishes the readers'
// prekeys, starts the readers' push streams and runs one handshake per
// sender: the sender fetches the reader's bundle, sends a prekey message,
// and waits for the reader's reply, as a member of a new room would. Only
// after that does the measured phase begin.
func (r *relay) setup(ctx context.Context, url string, hc *http.Client) error {
	cfg := r.cfg
	r.allIn = make(chan struct{})
	workers := 4 * runtime.GOMAXPROCS(0)

	var made atomic.Int64
	end := r.rep.phase(cfg.Name, "register", int64(cfg.Senders+cfg.Readers), &made)
	r.readers = make([]*reader, cfg.Readers)
	r.senders = make([]*sender, cfg.Senders)
	perReader := make([]int, cfg.Readers)
	for i := range cfg.Senders {
		perReader[i%cfg.Readers]++
	}
	hellos := new(atomic.Int64)
	err := parallel(ctx, cfg.Readers+cfg.Senders, workers, func(ctx context.Context, i int) error {
		if i < cfg.Readers {
			c, err := newClient(url, fmt.Sprintf("r-%06d", i), hc)
			if err != nil {
				return err
			}
			if err := c.register(ctx); err != nil {
				return err
			}
			if err := c.publishPrekeys(ctx, perReader[i]); err != nil {
				return err
			}
			r.readers[i] = &reader{client: c, size: cfg.Size, messages: cfg.Messages, from: make(map[string]*expectFrom, perReader[i]),
				sessions: make(map[string]*session.Session, perReader[i]), hellos: hellos,
				lat: make([]time.Duration, 0, perReader[i]*cfg.Messages)}
			return nil
		}
		j := i - cfg.Readers
		c, err := newClient(url, fmt.Sprintf("s-%06d", j), hc)
		if err != nil {
			return err
		}
		if err := c.register(ctx); err != nil {
			return err
		}
		r.senders[j] = &sender{client: c, idx: uint32(j)}
		return nil
	}, func() { made.Add(1) })
	end()
	if err != nil {
		return err
	}
	for j, s := range r.senders {
		s.to = r.readers[j%cfg.Readers]
		s.to.from[s.name] = &expectFrom{idx: s.idx, identityKey: s.user.Public(), got: make([]bool, cfg.Messages)}
	}

	rctx, cancel := context.WithCancel(context.Background())
	r.readCancel = cancel
	for _, rd := range r.readers {
		r.readWG.Add(1)
		go func() {
			defer r.readWG.Done()
			err := rd.api.SubscribeDeliveries(rctx, 0, func(ctx context.Context, d *apiclient.Delivery) error {
				return rd.handle(ctx, d, r)
			})
			if err != nil && rctx.Err() == nil {
				r.readFailed(fmt.Errorf("reader %s: %w", rd.name, err))
			}
		}()
	}

	end = r.rep.phase(cfg.Name, "sessions", int64(cfg.Senders), hellos)
	err = parallel(ctx, cfg.Senders, workers, func(ctx context.Context, i int) error {
		return r.senders[i].handshake(ctx, cfg.Size)
	}, nil)
	end()
	return err
}

// handshake starts the sender's session with its reader and completes it
// with one round trip.
func (s *sender) handshake(ctx context.Context, size int) error {
	b, err := s.api.Bundle(ctx, s.to.name, deviceID)
	if err != nil {
		return fmt.Errorf("%s: bundle of %s: %w", s.name, s.to.name, err)
	}
	hb, err := decodeBundle(b)
	if err != nil {
		return err
	}
	if !bytes.Equal(hb.Cert.UserKey, s.to.user.Public()) {
		return fmt.Errorf("%s: bundle of %s has the wrong identity key", s.name, s.to.name)
	}
	s.sess, err = session.Initiate(entropy.System{}, s.dev, hb)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	stream, err := s.api.Dial(ctx, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	defer stream.Close()
	pt := make([]byte, size)
	putPayload(pt, kindHello, s.idx, 0, time.Now().UnixNano())
	env, err := s.sess.Encrypt(pt)
	if err != nil {
		return fmt.Errorf("%s: encrypt: %w", s.name, err)
	}
	if _, err := s.send(ctx, []api.OutgoingEnvelope{{To: s.to.name, Device: deviceID, Data: env}}); err != nil {
		return fmt.Errorf("%s: send hello: %w", s.name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		msgs, err := stream.Next(wctx)
		if err != nil {
			return fmt.Errorf("%s: waiting for the reply of %s: %w", s.name, s.to.name, err)
		}
		ids := make([]int64, 0, len(msgs))
		done := false
		for _, m := range msgs {
			ids = append(ids, m.ID)
			if m.From != s.to.name || m.FromDevice != deviceID {
				return fmt.Errorf("%s: unexpected message from %s/%d", s.name, m.From, m.FromDevice)
			}
			p, err := s.sess.Decrypt(m.Data)
			if err != nil {
				return fmt.Errorf("%s: decrypt reply: %w", s.name, err)
			}
			pl, err := parsePayload(p, size)
			if err != nil || pl.kind != kindReply || pl.sender != s.idx {
				return fmt.Errorf("%s: bad reply: %v", s.name, errors.Join(err, errCorrupt))
			}
			done = true
		}
		if _, err := s.api.Ack(ctx, ids); err != nil {
			return fmt.Errorf("%s: ack reply: %w", s.name, err)
		}
		if done {
			return nil
		}
	}
}

// handle processes one pushed batch: de-duplicate by id, decrypt, check,
// record latency, reply to hellos, and acknowledge the batch on the push
// stream (an acknowledgement lost with a connection means redelivery, which
// the id check absorbs).
func (rd *reader) handle(ctx context.Context, d *apiclient.Delivery, r *relay) error {
	ids := make([]int64, 0, len(d.Messages))
	for _, m := range d.Messages {
		if m.ID <= rd.lastID {
			rd.redelivered++
			continue
		}
		rd.lastID = m.ID
		ids = append(ids, m.ID)
		exp := rd.from[m.From]
		if exp == nil || m.FromDevice != deviceID {
			rd.corrupt++
			continue
		}
		var (
			pt  []byte
			err error
		)
		sess := rd.sessions[m.From]
		if sess == nil {
			sess, pt, err = session.Accept(entropy.System{}, rd.dev, rd.pk, m.Data)
			if err == nil && !bytes.Equal(sess.Peer.UserKey, exp.identityKey) {
				err = session.ErrWrongIdentity
			}
			if err == nil {
				rd.sessions[m.From] = sess
			}
		} else {
			pt, err = sess.Decrypt(m.Data)
		}
		now := time.Now()
		if err != nil {
			rd.corrupt++
			continue
		}
		pl, err := parsePayload(pt, rd.size)
		if err != nil || pl.sender != exp.idx {
			rd.corrupt++
			continue
		}
		switch pl.kind {
		case kindHello:
			if err := rd.reply(ctx, sess, m.From, pl.sender); err != nil {
				return err
			}
			rd.hellos.Add(1)
		case kindMessage:
			if int(pl.seq) >= len(exp.got) {
				rd.corrupt++
				continue
			}
			if exp.got[pl.seq] {
				rd.duplicates++
				continue
			}
			exp.got[pl.seq] = true
			rd.mu.Lock()
			rd.lat = append(rd.lat, now.Sub(time.Unix(0, pl.sentNanos)))
			rd.lastDelivery = now
			rd.mu.Unlock()
			if r.delivered.Add(1) == r.res.Expected {
				r.allOnce.Do(func() { close(r.allIn) })
			}
		default:
			rd.corrupt++
		}
	}
	if len(ids) > 0 {
		if err := d.Ack(ctx, ids...); err != nil && ctx.Err() == nil {
			return fmt.Errorf("reader %s: %w", rd.name, err)
		}
	}
	return nil
}

// reply answers a sender's hello, which completes the handshake.
func (rd *reader) reply(ctx context.Context, sess *session.Session, to string, idx uint32) error {
	pt := make([]byte, rd.size)
	putPayload(pt, kindReply, idx, 0, time.Now().UnixNano())
	env, err := sess.Encrypt(pt)
	if err != nil {
		return fmt.Errorf("reader %s: encrypt reply: %w", rd.name, err)
	}
	if _, err := rd.send(ctx, []api.OutgoingEnvelope{{To: to, Device: deviceID, Data: env}}); err != nil {
		return fmt.Errorf("reader %s: send reply: %w", rd.name, err)
	}
	return nil
}
