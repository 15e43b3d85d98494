package server

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"backchannel/devicelist"
	"backchannel/server/api"
	"backchannel/store"
)

// The server stores and serves device lists; clients verify them. It parses
// every list it accepts (so it never serves bytes that do not parse or
// whose signatures do not verify) and checks that each new version extends
// the stored one, so its chain never forks; but it cannot make a list, and
// a peer trusts only lists it has verified from the account key it pinned.

// parseList parses a device list from a request (400 if it is malformed or
// a signature does not verify).
func parseList(b []byte) (*devicelist.List, error) {
	l, err := devicelist.Parse(b)
	if err != nil {
		return nil, errf(http.StatusBadRequest, api.CodeBadRequest, "device list: %v", err)
	}
	return l, nil
}

// checkGenesis checks the list a registration carries: version 1 of the
// account, under its identity key, holding exactly the registered device.
func checkGenesis(req *api.RegisterRequest) (*devicelist.List, error) {
	l, err := parseList(req.DeviceList)
	if err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "device list: "+format, args...)
	}
	switch {
	case l.Version != 1:
		return nil, bad("a registration carries version 1, not %d", l.Version)
	case l.Account != req.Name:
		return nil, bad("the list is of %q, not %q", l.Account, req.Name)
	case !bytes.Equal(l.AccountKey, req.IdentityKey):
		return nil, bad("the list is signed under another identity key")
	case len(l.Devices) != 1:
		return nil, bad("version 1 lists exactly the registering device, not %d devices", len(l.Devices))
	}
	if e, ok := l.Device(req.Device.ID); !ok || !bytes.Equal(e.SigningKey, req.Device.SigningKey) {
		return nil, bad("the list does not hold device %d with the registered signing key", req.Device.ID)
	}
	return l, nil
}

// currentList returns the newest stored list of user (nil if it has none).
func (s *Server) currentList(ctx context.Context, user string) (*devicelist.List, uint64, error) {
	_, latest, err := s.st.DeviceLists(ctx, user, 0, 0)
	if err != nil || latest == 0 {
		return nil, latest, err
	}
	lists, _, err := s.st.DeviceLists(ctx, user, latest-1, 1)
	if err != nil {
		return nil, 0, err
	}
	if len(lists) != 1 {
		return nil, 0, errf(http.StatusConflict, api.CodeConflict, "the device list changed while it was read; retry")
	}
	cur, err := devicelist.Parse(lists[0])
	if err != nil {
		// Only parsed lists are stored: this is corruption, not a client error.
		return nil, 0, errors.Join(errors.New("stored device list does not parse"), err)
	}
	return cur, latest, nil
}

// putDeviceList stores the next version of the caller's device list and
// makes the account's devices match it: listed devices that are new are
// added (without a certificate until they upload one), unlisted ones are
// removed with their prekeys and mailboxes.
func (s *Server) putDeviceList(w http.ResponseWriter, r *http.Request, c caller) error {
	var req api.DeviceListRequest
	if err := api.Decode(c.body, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	next, err := parseList(req.List)
	if err != nil {
		return err
	}
	if len(next.Devices) > s.lim.MaxDevices {
		return errf(http.StatusRequestEntityTooLarge, api.CodeQuota,
			"an account may have at most %d devices on this server; remove a device before adding another", s.lim.MaxDevices)
	}
	if !s.listRate.allow(c.User, time.Now()) {
		s.metrics.rateLimited.Inc()
		return errf(http.StatusTooManyRequests, api.CodeRateLimited,
			"this account changed its devices too often (%d times at once, then %g an hour); try again later", DeviceListBurst, s.lim.DeviceListsPerHour)
	}
	ctx := r.Context()
	acct, err := s.st.Account(ctx, c.User)
	if err != nil {
		return err
	}
	if next.Account != c.User {
		return errf(http.StatusForbidden, api.CodeForbidden, "the device list is of %q, not of the caller's account %q", next.Account, c.User)
	}
	if !bytes.Equal(next.AccountKey, acct.IdentityKey) {
		return errf(http.StatusForbidden, api.CodeForbidden, "the device list is signed under another key than the account's identity key")
	}
	cur, latest, err := s.currentList(ctx, c.User)
	if err != nil {
		return err
	}
	if cur == nil {
		if next.Version != 1 {
			return errf(http.StatusConflict, api.CodeConflict, "the server holds no device list for %q yet: send version 1, not %d", c.User, next.Version)
		}
	} else if err := devicelist.VerifyNext(cur, next); err != nil {
		return errf(http.StatusConflict, api.CodeConflict, "device list version %d does not extend the server's version %d: %v", next.Version, latest, err)
	}
	// The devices table follows the list: a device stays only if the list
	// holds it with the same signing key.
	have, err := s.st.Devices(ctx, c.User)
	if err != nil {
		return err
	}
	now := nowUTC()
	var add []store.Device
	var removed []uint32
	for _, d := range have {
		if e, ok := next.Device(d.ID); !ok || !bytes.Equal(e.SigningKey, d.SigningKey) {
			removed = append(removed, d.ID)
		}
	}
	for _, e := range next.Devices {
		if d, ok := deviceByID(have, e.ID); ok && bytes.Equal(d.SigningKey, e.SigningKey) {
			continue
		}
		add = append(add, store.Device{User: c.User, ID: e.ID, SigningKey: bytes.Clone(e.SigningKey), CreatedAt: now})
	}
	err = s.st.PutDeviceList(ctx, c.User, next.Version, req.List, add, removed)
	for _, id := range removed {
		s.keys.forget(store.Address{User: c.User, Device: id})
	}
	if errors.Is(err, store.ErrConflict) {
		_, latest, lerr := s.st.DeviceLists(ctx, c.User, 0, 0)
		if lerr != nil {
			return lerr
		}
		return errf(http.StatusConflict, api.CodeConflict, "device list version %d does not extend the server's version %d (another update won)", next.Version, latest)
	}
	if err != nil {
		return err
	}
	s.log.Debug("device list updated", "user", c.User, "version", next.Version, "added", len(add), "removed", len(removed))
	s.keyLogUpdate(ctx, c.User, next.Version, next.Hash())
	writeJSON(w, http.StatusOK, api.DeviceListVersion{Version: next.Version})
	return nil
}

func deviceByID(ds []store.Device, id uint32) (store.Device, bool) {
	for _, d := range ds {
		if d.ID == id {
			return d, true
		}
	}
	return store.Device{}, false
}

// deviceLists serves the stored lists of an account newer than ?after=N.
func (s *Server) deviceLists(w http.ResponseWriter, r *http.Request, _ caller) error {
	u, err := userParam(r)
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	lists, latest, err := s.st.DeviceLists(r.Context(), u, uint64(after), api.MaxDeviceListsPerFetch+1)
	if err != nil {
		return err
	}
	resp := api.DeviceListsResponse{Lists: lists, Latest: latest}
	if len(lists) > api.MaxDeviceListsPerFetch {
		resp.Lists, resp.More = lists[:api.MaxDeviceListsPerFetch], true
	}
	if resp.Lists == nil {
		resp.Lists = [][]byte{}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// putCertificate stores the certificate of a listed device that has none.
// The server checks only its size and that it names the calling device's
// signing key; clients verify its signature against the account key.
func (s *Server) putCertificate(w http.ResponseWriter, r *http.Request, c caller) error {
	var req api.CertificateRequest
	if err := api.Decode(c.body, &req); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return err
	}
	d, err := s.st.Device(r.Context(), c.User, c.Device)
	if err != nil {
		return err
	}
	if !bytes.Equal(req.Certificate[api.CertificateKeyOffset:api.CertificateKeyOffset+32], d.SigningKey) {
		return errf(http.StatusBadRequest, api.CodeBadRequest, "the certificate names another signing key than this device's")
	}
	err = s.st.SetCertificate(r.Context(), c.User, c.Device, req.Certificate)
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusConflict, api.CodeConflict, "this device already has another certificate")
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
