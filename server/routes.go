package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"backchannel/devicelist"
	"backchannel/server/api"
	"backchannel/store"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	json := s.lim.MaxBodyBytes
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("POST /v1/accounts", s.register)
	mux.HandleFunc("GET /v1/accounts/{user}", s.authed(0, s.account))
	mux.HandleFunc("GET /v1/accounts/{user}/devices", s.authed(0, s.devices))
	mux.HandleFunc("GET /v1/accounts/{user}/devicelists", s.authed(0, s.deviceLists))
	mux.HandleFunc("PUT /v1/devicelist", s.authed(json, s.putDeviceList))
	mux.HandleFunc("GET /v1/devices/self", s.authed(0, s.self))
	mux.HandleFunc("PUT /v1/devices/self/certificate", s.authed(json, s.putCertificate))
	mux.HandleFunc("PUT /v1/prekeys", s.authed(json, s.putPrekeys))
	mux.HandleFunc("GET /v1/prekeys", s.authed(0, s.prekeyCounts))
	mux.HandleFunc("GET /v1/bundles/{user}", s.authed(0, s.bundles))
	mux.HandleFunc("GET /v1/bundles/{user}/{device}", s.authed(0, s.bundle))
	mux.HandleFunc("POST /v1/messages", s.authed(json, s.send))
	mux.HandleFunc("GET /v1/messages", s.authed(0, s.fetch))
	mux.HandleFunc("POST /v1/messages/ack", s.authed(json, s.ack))
	mux.HandleFunc("GET /v1/stream", s.authed(0, s.stream))
	mux.HandleFunc("POST /v1/blobs", s.authed(0, s.createBlob))
	mux.HandleFunc("GET /v1/blobs/limits", s.authed(0, s.blobLimits))
	mux.HandleFunc("PUT /v1/blobs/{id}/chunks/{index}", s.authed(int64(s.lim.ChunkBytes), s.putChunk))
	mux.HandleFunc("POST /v1/blobs/{id}/finalize", s.authed(json, s.finalizeBlob))
	mux.HandleFunc("GET /v1/blobs/{id}", s.authed(0, s.getBlob))
	mux.HandleFunc("DELETE /v1/blobs/{id}", s.authed(0, s.deleteBlob))
	links := s.newLinkRelay() // device linking (links.go)
	mux.HandleFunc("POST /v1/links", links.handleCreate)
	mux.HandleFunc("PUT /v1/links/{id}/{slot}", links.handlePut)
	mux.HandleFunc("GET /v1/links/{id}/{slot}", links.handleGet)
	mux.HandleFunc("DELETE /v1/links/{id}", links.handleDelete)
	s.keyLogRoutes(mux) // the key log (keylog.go)
	return s.outer(mux)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if err := s.st.Ping(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, api.Health{Status: "unavailable"})
		return
	}
	select {
	case <-s.stopping:
		writeJSON(w, http.StatusServiceUnavailable, api.Health{Status: "stopping"})
	default:
		writeJSON(w, http.StatusOK, api.Health{Status: "ok"})
	}
}

func deviceInfo(d store.Device) api.DeviceInfo {
	cert := d.Certificate
	if cert == nil {
		cert = []byte{} // "" on the wire, not null, for a device without one yet
	}
	return api.DeviceInfo{ID: d.ID, SigningKey: d.SigningKey, Certificate: cert, CreatedAt: d.CreatedAt}
}

// register creates an account with its first device and version 1 of its
// device list. The request is signed by the device key it registers, which
// proves possession of that key.
func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	if !s.regRate.allow(s.clientIP(r), time.Now()) {
		s.metrics.rateLimited.Inc()
		s.writeError(w, r, errf(http.StatusTooManyRequests, api.CodeRateLimited, "too many registrations"))
		return
	}
	// The key that signs a registration is in its body: the body is read
	// before anything is checked, so it holds one of the few
	// unauthenticated body slots and is small.
	release, err := s.unauthBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req api.RegisterRequest
	lift := withBodyDeadline(w)
	_, _, err = s.checkProof(r, s.lim.MaxRegisterBodyBytes, nil, func(p api.Proof, body []byte) ([]byte, error) {
		if err := api.Decode(body, &req); err != nil {
			return nil, err
		}
		if err := req.Validate(); err != nil {
			return nil, err
		}
		if p.User != req.Name || p.Device != req.Device.ID {
			return nil, errf(http.StatusUnauthorized, api.CodeUnauthorized, "proof must name the registered user and device")
		}
		return req.Device.SigningKey, nil
	})
	lift()
	release()
	var genesis *devicelist.List
	if err == nil {
		genesis, err = checkGenesis(&req)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var hash []byte
	if !s.cfg.OpenRegistration || req.Invite != "" {
		if req.Invite == "" {
			s.writeError(w, r, errf(http.StatusForbidden, api.CodeInvalidInvite, "registration on this server needs an invite: ask its operator for one (backchannel serve invite)"))
			return
		}
		hash = inviteHash(req.Invite)
	}
	now := time.Now().UTC()
	err = s.st.CreateAccount(r.Context(),
		store.Account{Name: req.Name, IdentityKey: req.IdentityKey, CreatedAt: now},
		store.Device{User: req.Name, ID: req.Device.ID, SigningKey: req.Device.SigningKey, Certificate: req.Device.Certificate, CreatedAt: now},
		req.DeviceList, hash, now)
	if errors.Is(err, store.ErrExists) {
		s.writeError(w, r, errf(http.StatusConflict, api.CodeConflict, "name %q is taken", req.Name))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("account registered", "invite", hash != nil)
	s.log.Debug("account registered", "user", req.Name, "device", req.Device.ID)
	s.keyLogUpdate(r.Context(), req.Name, genesis.Version, genesis.Hash())
	writeJSON(w, http.StatusCreated, api.AccountInfo{Name: req.Name, IdentityKey: req.IdentityKey, CreatedAt: now})
}

func userParam(r *http.Request) (string, error) {
	u := r.PathValue("user")
	if !api.ValidName(u) {
		return "", errf(http.StatusBadRequest, api.CodeBadRequest, "bad user name")
	}
	return u, nil
}

func deviceParam(r *http.Request, name string) (uint32, error) {
	v, err := strconv.ParseUint(r.PathValue(name), 10, 32)
	if err != nil {
		return 0, errf(http.StatusBadRequest, api.CodeBadRequest, "bad device id")
	}
	return uint32(v), nil
}

func (s *Server) account(w http.ResponseWriter, r *http.Request, _ caller) error {
	u, err := userParam(r)
	if err != nil {
		return err
	}
	a, err := s.st.Account(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.AccountInfo{Name: a.Name, IdentityKey: a.IdentityKey, CreatedAt: a.CreatedAt})
	return nil
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request, _ caller) error {
	u, err := userParam(r)
	if err != nil {
		return err
	}
	ds, err := s.st.Devices(r.Context(), u)
	if err != nil {
		return err
	}
	resp := api.DevicesResponse{User: u, Devices: make([]api.DeviceInfo, 0, len(ds))}
	for _, d := range ds {
		resp.Devices = append(resp.Devices, deviceInfo(d))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// self describes the calling device: its id and the highest send counter
// accepted from it (a client checks it before sending from a profile that
// may have been restored from a copy).
func (s *Server) self(w http.ResponseWriter, r *http.Request, c caller) error {
	n, err := s.st.SendCounter(r.Context(), c.Address)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.SelfInfo{User: c.User, ID: c.Device, Counter: n})
	return nil
}

func prekeyPtr(p *api.Prekey) *store.Prekey {
	if p == nil {
		return nil
	}
	return &store.Prekey{ID: p.ID, Data: p.Data}
}

func prekeyList(ps []api.Prekey) []store.Prekey {
	out := make([]store.Prekey, len(ps))
	for i, p := range ps {
		out[i] = store.Prekey{ID: p.ID, Data: p.Data}
	}
	return out
}

func apiPrekey(p *store.Prekey) *api.Prekey {
	if p == nil {
		return nil
	}
	return &api.Prekey{ID: p.ID, Data: p.Data}
}

func (s *Server) putPrekeys(w http.ResponseWriter, r *http.Request, c caller) error {
	var up api.PrekeyUpload
	if err := api.Decode(c.body, &up); err != nil {
		return err
	}
	if err := up.Validate(); err != nil {
		return err
	}
	counts, err := s.st.PutPrekeys(r.Context(), c.Address, store.PrekeyUpload{
		SignedPrekey: prekeyPtr(up.SignedPrekey), LastResortKEM: prekeyPtr(up.LastResortKEM),
		OneTimePrekeys: prekeyList(up.OneTimePrekeys), OneTimeKEMPrekeys: prekeyList(up.OneTimeKEMPrekeys),
		ReplaceOneTime: up.ReplaceOneTime, MaxOneTime: api.MaxStoredOneTime,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.PrekeyCounts{OneTime: counts.OneTime, OneTimeKEM: counts.OneTimeKEM})
	return nil
}

func (s *Server) prekeyCounts(w http.ResponseWriter, r *http.Request, c caller) error {
	counts, err := s.st.PrekeyCounts(r.Context(), c.Address)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.PrekeyCounts{OneTime: counts.OneTime, OneTimeKEM: counts.OneTimeKEM})
	return nil
}

func apiBundle(b store.Bundle) api.Bundle {
	return api.Bundle{
		User: b.Device.User, IdentityKey: b.IdentityKey, Device: deviceInfo(b.Device),
		SignedPrekey: apiPrekey(b.SignedPrekey), OneTimePrekey: apiPrekey(b.OneTimePrekey),
		KEMPrekey: apiPrekey(b.KEMPrekey), KEMLastResort: b.KEMLastResort,
		Remaining: api.PrekeyCounts{OneTime: b.Remaining.OneTime, OneTimeKEM: b.Remaining.OneTimeKEM},
	}
}

// takeBundleAllowed charges the caller's bundle budget, which stops one
// account from draining everyone's one-time prekeys.
func (s *Server) takeBundleAllowed(c caller) error {
	if !s.bundleRate.allow(c.User, time.Now()) {
		s.metrics.rateLimited.Inc()
		return errf(http.StatusTooManyRequests, api.CodeRateLimited, "too many prekey bundles fetched")
	}
	return nil
}

func (s *Server) bundle(w http.ResponseWriter, r *http.Request, c caller) error {
	u, err := userParam(r)
	if err != nil {
		return err
	}
	if err := s.takeBundleAllowed(c); err != nil {
		return err
	}
	id, err := deviceParam(r, "device")
	if err != nil {
		return err
	}
	b, err := s.st.TakeBundle(r.Context(), store.Address{User: u, Device: id})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, apiBundle(b))
	return nil
}

// bundles returns a bundle for every device of the user that has a
// certificate and a signed prekey (devices without either are skipped).
func (s *Server) bundles(w http.ResponseWriter, r *http.Request, c caller) error {
	u, err := userParam(r)
	if err != nil {
		return err
	}
	ds, err := s.st.Devices(r.Context(), u)
	if err != nil {
		return err
	}
	resp := api.BundlesResponse{Bundles: []api.Bundle{}}
	for _, d := range ds {
		if len(d.Certificate) == 0 {
			continue // listed, but has not uploaded its certificate yet
		}
		if err := s.takeBundleAllowed(c); err != nil {
			return err
		}
		b, err := s.st.TakeBundle(r.Context(), store.Address{User: u, Device: d.ID})
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		resp.Bundles = append(resp.Bundles, apiBundle(b))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
