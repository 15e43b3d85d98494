package server

// The link relay: short-lived mailboxes through which an account's existing
// device and a new device exchange the three opaque messages of device
// linking (package devicelink, docs/protocol.md section 15). The server
// keeps them in memory only, never parses them, and bounds them: at most
// MaxLinks open links (MaxLinksPerAccount per account), MaxLinkBytes of
// payload in all (reserved from the request's declared length before a body
// is read), and LinkTTL from creation. docs/api.md, "Linking devices",
// documents the endpoints.

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"sync"
	"time"

	"backchannel/server/api"
	"backchannel/store"
)

// Link relay limits.
const (
	LinkTTL            = 10 * time.Minute // a link's lifetime from creation
	MaxLinks           = 256              // open links on the server
	MaxLinksPerAccount = 4                // open links one account may hold
	MaxLinkBytes       = 64 << 20         // payload held (and being received) by all links together
	MaxLinkHello       = 256              // hello slot: the ephemeral key and the primary's device assignment
	MaxLinkRequest     = 4 << 10          // request slot
	MaxLinkResponse    = 64 << 20         // response slot
	MaxLinkWait        = 30 * time.Second // longest long-poll
	LinkAnonPerSec     = 1                // unauthenticated link requests per client IP per second
	LinkAnonBurst      = 30               // and their burst
	linkCreateBody     = 256
)

// linkClock is the relay's clock, read once when a server is built (tests
// replace it before building one).
var linkClock = time.Now

type linkSlot int

const (
	slotHello linkSlot = iota
	slotRequest
	slotResponse
	numSlots
)

var (
	slotNames  = [numSlots]string{"hello", "request", "response"}
	slotLimits = [numSlots]int64{MaxLinkHello, MaxLinkRequest, MaxLinkResponse}
)

func parseSlot(s string) (linkSlot, bool) {
	for i, n := range slotNames {
		if s == n {
			return linkSlot(i), true
		}
	}
	return 0, false
}

type link struct {
	id      string
	owner   store.Address
	expires time.Time
	data    [numSlots][]byte
	ready   [numSlots]chan struct{} // closed when the slot is written
	gone    chan struct{}           // closed when the link is deleted or expires
}

func (l *link) size() int64 {
	var n int64
	for _, d := range l.data {
		n += int64(len(d))
	}
	return n
}

// linkRelay holds the open links of one Server.
type linkRelay struct {
	s    *Server
	now  func() time.Time
	anon *limiter // unauthenticated requests per client IP

	mu       sync.Mutex
	links    map[string]*link
	accounts map[string]int // open links per user
	held     int64          // bytes stored in slots
	reserved int64          // bytes of bodies being received

	create, getRequest, remove http.HandlerFunc // authenticated handlers
}

func (s *Server) newLinkRelay() *linkRelay {
	lr := &linkRelay{
		s:        s,
		now:      linkClock,
		anon:     newLimiter(LinkAnonPerSec, LinkAnonBurst),
		links:    make(map[string]*link),
		accounts: make(map[string]int),
	}
	lr.create = s.authed(linkCreateBody, lr.createLink)
	lr.getRequest = s.authed(0, lr.getOwned)
	lr.remove = s.authed(0, lr.deleteLink)
	return lr
}

type linkCreateRequest struct {
	ID string `json:"id"`
}

// linkIDParam validates a link id: 16 bytes in lower-case hex.
func linkIDParam(id string) (string, error) {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != 16 || hex.EncodeToString(b) != id {
		return "", errf(http.StatusBadRequest, api.CodeBadRequest, "a link id is 32 lower-case hex digits")
	}
	return id, nil
}

var errNoLink = errf(http.StatusNotFound, api.CodeNotFound, "no such link (it expired, was deleted or its response was read)")

// liveLocked returns the link id if it exists and has not expired, after
// removing every expired link.
func (lr *linkRelay) liveLocked(id string) *link {
	now := lr.now()
	for _, l := range lr.links {
		if !now.Before(l.expires) {
			lr.deleteLocked(l)
		}
	}
	return lr.links[id]
}

func (lr *linkRelay) deleteLocked(l *link) {
	if lr.links[l.id] != l {
		return
	}
	delete(lr.links, l.id)
	lr.held -= l.size()
	if lr.accounts[l.owner.User]--; lr.accounts[l.owner.User] <= 0 {
		delete(lr.accounts, l.owner.User)
	}
	close(l.gone)
}

// reserve charges n bytes of a body about to be read to the relay budget.
func (lr *linkRelay) reserve(n int64) (release func(), err error) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	if lr.held+lr.reserved+n > MaxLinkBytes {
		return nil, errf(http.StatusServiceUnavailable, api.CodeUnavailable, "the link relay is full; try again in a few minutes")
	}
	lr.reserved += n
	var once sync.Once
	return func() {
		once.Do(func() {
			lr.mu.Lock()
			lr.reserved -= n
			lr.mu.Unlock()
		})
	}, nil
}

// bodyReservation reserves what a slot's body may hold, before it is read:
// the declared length, or the slot's limit if none is declared.
func (lr *linkRelay) bodyReservation(r *http.Request, slot linkSlot) (func(), error) {
	limit := slotLimits[slot]
	if r.ContentLength > limit {
		return nil, errf(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "a link %s is at most %d bytes", slotNames[slot], limit)
	}
	n := limit
	if r.ContentLength >= 0 {
		n = r.ContentLength
	}
	return lr.reserve(n)
}

// fillLocked stores data in an empty slot and wakes its waiters.
func (lr *linkRelay) fillLocked(l *link, slot linkSlot, data []byte) error {
	switch {
	case l.data[slot] != nil:
		return errf(http.StatusConflict, api.CodeConflict, "the link's %s was already written", slotNames[slot])
	case slot > slotHello && l.data[slot-1] == nil:
		return errf(http.StatusConflict, api.CodeConflict, "the link's %s comes before its %s", slotNames[slot-1], slotNames[slot])
	case len(data) == 0:
		return errf(http.StatusBadRequest, api.CodeBadRequest, "an empty link %s", slotNames[slot])
	}
	l.data[slot] = data
	lr.held += int64(len(data))
	close(l.ready[slot])
	return nil
}

func (lr *linkRelay) anonAllowed(r *http.Request) error {
	if !lr.anon.allow(lr.s.clientIP(r), time.Now()) {
		lr.s.metrics.rateLimited.Inc()
		return errf(http.StatusTooManyRequests, api.CodeRateLimited, "too many link requests from this address")
	}
	return nil
}

// handleCreate serves POST /v1/links.
func (lr *linkRelay) handleCreate(w http.ResponseWriter, r *http.Request) { lr.create(w, r) }

func (lr *linkRelay) createLink(w http.ResponseWriter, _ *http.Request, c caller) error {
	var req linkCreateRequest
	if err := api.Decode(c.body, &req); err != nil {
		return err
	}
	id, err := linkIDParam(req.ID)
	if err != nil {
		return err
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	switch {
	case lr.liveLocked(id) != nil:
		return errf(http.StatusConflict, api.CodeConflict, "link id taken")
	case len(lr.links) >= MaxLinks:
		return errf(http.StatusServiceUnavailable, api.CodeUnavailable, "too many open links on this server; try again in a few minutes")
	case lr.accounts[c.User] >= MaxLinksPerAccount:
		return errf(http.StatusTooManyRequests, api.CodeRateLimited, "this account has %d open links; delete one or let it expire", MaxLinksPerAccount)
	}
	l := &link{id: id, owner: c.Address, expires: lr.now().Add(LinkTTL), gone: make(chan struct{})}
	for i := range l.ready {
		l.ready[i] = make(chan struct{})
	}
	lr.links[id] = l
	lr.accounts[c.User]++
	writeJSON(w, http.StatusCreated, linkCreateRequest{ID: id})
	return nil
}

// handlePut serves PUT /v1/links/{id}/{slot}.
func (lr *linkRelay) handlePut(w http.ResponseWriter, r *http.Request) {
	if err := lr.put(w, r); err != nil {
		lr.s.writeError(w, r, err)
	}
}

func (lr *linkRelay) put(w http.ResponseWriter, r *http.Request) error {
	slot, ok := parseSlot(r.PathValue("slot"))
	if !ok {
		return errf(http.StatusNotFound, api.CodeNotFound, "a link has the slots hello, request and response")
	}
	if slot == slotRequest {
		if err := lr.anonAllowed(r); err != nil {
			return err
		}
	}
	id, err := linkIDParam(r.PathValue("id"))
	if err != nil {
		return err
	}
	lr.mu.Lock()
	exists := lr.liveLocked(id) != nil
	lr.mu.Unlock()
	if !exists {
		return errNoLink
	}
	release, err := lr.bodyReservation(r, slot)
	if err != nil {
		return err
	}
	defer release()
	if slot != slotRequest {
		// The body is read (within the reservation) and the signature
		// checked before the handler runs.
		lr.s.authed(slotLimits[slot], func(w http.ResponseWriter, _ *http.Request, c caller) error {
			lr.mu.Lock()
			defer lr.mu.Unlock()
			l := lr.liveLocked(id)
			switch {
			case l == nil:
				return errNoLink
			case l.owner != c.Address:
				return errf(http.StatusForbidden, api.CodeForbidden, "only the device that created the link writes its %s", slotNames[slot])
			}
			if err := lr.fillLocked(l, slot, c.body); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		})(w, r)
		return nil
	}
	// The request is unauthenticated: the new device has no account yet,
	// and the link id is the capability.
	releaseSlot, err := lr.s.unauthBody(r)
	if err != nil {
		return err
	}
	lift := withBodyDeadline(w)
	body, err := readBody(r, MaxLinkRequest)
	lift()
	releaseSlot()
	if err != nil {
		return err
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	l := lr.liveLocked(id)
	if l == nil {
		return errNoLink
	}
	if err := lr.fillLocked(l, slot, body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleGet serves GET /v1/links/{id}/{slot}?wait=DURATION.
func (lr *linkRelay) handleGet(w http.ResponseWriter, r *http.Request) {
	slot, ok := parseSlot(r.PathValue("slot"))
	if !ok {
		lr.s.writeError(w, r, errf(http.StatusNotFound, api.CodeNotFound, "a link has the slots hello, request and response"))
		return
	}
	if slot == slotRequest {
		lr.getRequest(w, r)
		return
	}
	if err := lr.anonAllowed(r); err != nil {
		lr.s.writeError(w, r, err)
		return
	}
	if err := lr.wait(w, r, slot, nil); err != nil {
		lr.s.writeError(w, r, err)
	}
}

func (lr *linkRelay) getOwned(w http.ResponseWriter, r *http.Request, c caller) error {
	return lr.wait(w, r, slotRequest, &c.Address)
}

func parseWait(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errf(http.StatusBadRequest, api.CodeBadRequest, "wait must be a duration such as 30s")
	}
	return min(d, MaxLinkWait), nil
}

// wait answers with the slot's data once it is written, or 204 after the
// requested wait. A read response deletes the link.
func (lr *linkRelay) wait(w http.ResponseWriter, r *http.Request, slot linkSlot, owner *store.Address) error {
	id, err := linkIDParam(r.PathValue("id"))
	if err != nil {
		return err
	}
	d, err := parseWait(r)
	if err != nil {
		return err
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		lr.mu.Lock()
		l := lr.liveLocked(id)
		if l == nil {
			lr.mu.Unlock()
			return errNoLink
		}
		if owner != nil && l.owner != *owner {
			lr.mu.Unlock()
			return errf(http.StatusForbidden, api.CodeForbidden, "only the device that created the link reads its request")
		}
		if data := l.data[slot]; data != nil {
			lr.mu.Unlock()
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			if r.Method == http.MethodHead {
				return nil // a HEAD delivers nothing, so it consumes nothing
			}
			if _, err := w.Write(data); err == nil && slot == slotResponse {
				lr.mu.Lock()
				lr.deleteLocked(l)
				lr.mu.Unlock()
			}
			return nil
		}
		ready, gone, left := l.ready[slot], l.gone, l.expires.Sub(lr.now())
		lr.mu.Unlock()
		expiry := time.NewTimer(left)
		select {
		case <-ready:
		case <-gone:
		case <-expiry.C:
		case <-deadline.C:
			expiry.Stop()
			w.WriteHeader(http.StatusNoContent)
			return nil
		case <-lr.s.stopping:
			expiry.Stop()
			w.WriteHeader(http.StatusNoContent)
			return nil
		case <-r.Context().Done():
			expiry.Stop()
			return nil
		}
		expiry.Stop()
	}
}

// handleDelete serves DELETE /v1/links/{id}.
func (lr *linkRelay) handleDelete(w http.ResponseWriter, r *http.Request) { lr.remove(w, r) }

func (lr *linkRelay) deleteLink(w http.ResponseWriter, r *http.Request, c caller) error {
	id, err := linkIDParam(r.PathValue("id"))
	if err != nil {
		return err
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	l := lr.liveLocked(id)
	switch {
	case l == nil:
		return errNoLink
	case l.owner != c.Address:
		return errf(http.StatusForbidden, api.CodeForbidden, "only the device that created the link deletes it")
	}
	lr.deleteLocked(l)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
