package webapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"backchannel/client"
	"backchannel/vault"
)

// linkRun is one device link in progress: the primary's side of
// client.LinkDevice, driven by the page (show the code, then confirm the
// words both devices display).
type linkRun struct {
	cancel context.CancelFunc

	mu     sync.Mutex
	state  string // waiting, confirm, done, failed
	code   string
	sas    string
	device *client.DeviceInfo
	err    string
	answer chan bool
}

func (l *linkRun) snapshot() map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]any{"state": l.state, "error": l.err}
	if l.state == "waiting" || l.state == "confirm" { // the code is of no use, and no one's business, after
		out["code"], out["sas"] = l.code, l.sas
	}
	if l.device != nil {
		out["device"] = Device{ID: l.device.ID, Name: l.device.Name, AddedAt: l.device.AddedAt, Accepted: l.device.Accepted}
	}
	return out
}

// reauthorise checks the passphrase in the request's JSON body: linking
// or removing a device changes who can read the account, so the window's
// session alone (a token that may have leaked) is not enough.
func reauthorise(w http.ResponseWriter, r *http.Request, c *client.Client) bool {
	pw, ok := readPassphrase(w, r)
	if !ok {
		return false
	}
	defer clear(pw)
	if len(pw) == 0 {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "type your passphrase: it is asked again before a device is linked or removed", "passphrase_needed": true})
		return false
	}
	if err := c.CheckPassphrase(r.Context(), pw); err != nil {
		if errors.Is(err, vault.ErrWrongPassphrase) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "wrong passphrase", "passphrase_needed": true})
		} else {
			fail(w, err)
		}
		return false
	}
	return true
}

func (s *Server) startLink(w http.ResponseWriter, r *http.Request, c *client.Client) {
	if !reauthorise(w, r, c) {
		return
	}
	s.mu.Lock()
	if s.link != nil {
		s.link.mu.Lock()
		busy := s.link.state == "starting" || s.link.state == "waiting" || s.link.state == "confirm"
		s.link.mu.Unlock()
		if busy {
			s.mu.Unlock()
			writeError(w, http.StatusConflict, "a device is being linked already: finish or cancel that first")
			return
		}
	}
	// The link outlives this request: it waits for the new device.
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	l := &linkRun{cancel: cancel, state: "starting", answer: make(chan bool, 1)}
	s.link = l
	s.mu.Unlock()

	shown := make(chan struct{})
	var once sync.Once
	go func() {
		defer cancel()
		dev, err := c.LinkDevice(ctx, func(code string) error {
			l.mu.Lock()
			l.state, l.code = "waiting", code
			l.mu.Unlock()
			once.Do(func() { close(shown) })
			return nil
		}, func(sas string) (bool, error) {
			l.mu.Lock()
			l.state, l.sas = "confirm", sas
			l.mu.Unlock()
			select {
			case ok := <-l.answer:
				return ok, nil
			case <-ctx.Done():
				return false, ctx.Err()
			}
		})
		l.mu.Lock()
		if err != nil {
			l.state, l.err = "failed", err.Error()
			if errors.Is(err, context.Canceled) {
				l.err = "the link was cancelled"
			}
		} else {
			l.state, l.device = "done", dev
		}
		l.mu.Unlock()
		once.Do(func() { close(shown) })
		s.changed()
	}()
	select {
	case <-shown:
	case <-r.Context().Done():
		return
	}
	snap := l.snapshot()
	if snap["state"] == "failed" {
		writeError(w, http.StatusBadRequest, fmt.Sprint(snap["error"]))
		return
	}
	writeJSON(w, http.StatusOK, snap)
}

// cancelLink ends the link in progress (DELETE /api/devices/link).
func (s *Server) cancelLink(w http.ResponseWriter, r *http.Request, _ *client.Client) {
	l := s.currentLink()
	if l == nil {
		writeError(w, http.StatusNotFound, "no device is being linked")
		return
	}
	l.cancel()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) currentLink() *linkRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.link
}

func (s *Server) linkState(w http.ResponseWriter, r *http.Request, _ *client.Client) {
	l := s.currentLink()
	if l == nil {
		writeJSON(w, http.StatusOK, map[string]any{"state": "none"})
		return
	}
	writeJSON(w, http.StatusOK, l.snapshot())
}

func (s *Server) linkQR(w http.ResponseWriter, r *http.Request, _ *client.Client) {
	l := s.currentLink()
	if l == nil {
		writeError(w, http.StatusNotFound, "no device is being linked")
		return
	}
	l.mu.Lock()
	code := l.code
	if l.state != "waiting" && l.state != "confirm" {
		code = ""
	}
	l.mu.Unlock()
	if code == "" {
		writeError(w, http.StatusNotFound, "the link code is not ready yet")
		return
	}
	writeQR(w, code)
}

func (s *Server) confirmLink(w http.ResponseWriter, r *http.Request, _ *client.Client) {
	var req struct {
		Match *bool `json:"match"`
	}
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	if req.Match == nil {
		writeError(w, http.StatusBadRequest, "say whether the words match (match: true or false)")
		return
	}
	l := s.currentLink()
	if l == nil {
		writeError(w, http.StatusNotFound, "no device is being linked")
		return
	}
	l.mu.Lock()
	waiting := l.state == "confirm"
	l.mu.Unlock()
	if !waiting {
		writeError(w, http.StatusConflict, "the new device has not shown its words yet")
		return
	}
	select {
	case l.answer <- *req.Match:
	default:
		writeError(w, http.StatusConflict, "already answered")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
