package webapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/skip2/go-qrcode"

	"backchannel/audio"
	"backchannel/canary"
	"backchannel/client"
	"backchannel/identity"
	"backchannel/vault"
)

// api routes an authorised /api/ request.
func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		// The mux's own 404 and 405 are plain text; the page reads JSON.
		writeError(w, http.StatusNotFound, "there is no such thing here")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// routes builds the API's routes, once.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/state", s.state)
	mux.HandleFunc("POST /api/unlock", s.unlock)
	mux.HandleFunc("GET /api/events", s.events)
	open := func(pattern string, h func(http.ResponseWriter, *http.Request, *client.Client)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			c, _ := s.current()
			if c == nil {
				writeJSON(w, http.StatusLocked, map[string]any{"error": ErrLocked.Error(), "locked": true})
				return
			}
			h(w, r, c)
		})
	}
	open("POST /api/lock", s.lock)
	open("GET /api/rooms", s.rooms)
	open("POST /api/rooms", s.createRoom)
	open("GET /api/rooms/{id}", s.room)
	open("POST /api/rooms/{id}/messages", s.send)
	open("POST /api/rooms/{id}/read", s.markRead)
	open("POST /api/rooms/{id}/docs", s.shareDoc)
	open("GET /api/rooms/{id}/docs/{msg}", s.getDoc)
	open("POST /api/rooms/{id}/voice", s.sendVoice)
	open("GET /api/rooms/{id}/voice/{msg}", s.getVoice)
	open("POST /api/rooms/{id}/members", s.addMember)
	open("DELETE /api/rooms/{id}/members/{user}", s.removeMember)
	open("GET /api/contacts/{user}", s.contact)
	open("GET /api/contacts/{user}/qr.png", s.contactQR)
	open("POST /api/contacts/{user}/verify", s.verifyContact)
	open("POST /api/contacts/{user}/accept", s.acceptChange)
	open("GET /api/notices", s.notices)
	open("GET /api/devices", s.devices)
	open("DELETE /api/devices/{id}", s.removeDevice)
	open("POST /api/devices/link", s.startLink)
	open("GET /api/devices/link", s.linkState)
	open("GET /api/devices/link/qr.png", s.linkQR)
	open("POST /api/devices/link/confirm", s.confirmLink)
	open("DELETE /api/devices/link", s.cancelLink)
	open("POST /api/verify", s.verifyLeak)
	open("POST /api/trace", s.trace)
	return mux
}

// fail answers err in plain words with the status its kind calls for.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
		err = fmt.Errorf("that is larger than the %d MiB this accepts", mbe.Limit>>20)
	case errors.Is(err, context.Canceled):
		status = http.StatusServiceUnavailable
	case errors.Is(err, client.ErrNotDelivered):
		status = http.StatusAccepted
	}
	writeError(w, status, err.Error())
}

// readJSON decodes a bounded JSON body into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errors.New("the request is not the JSON this expects")
	}
	return nil
}

// readBody reads a bounded raw body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("nothing was sent: paste a text or choose a file")
	}
	return b, nil
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	c, hub := s.current()
	out := map[string]any{"locked": c == nil, "can_unlock": s.opts.Unlock != nil, "can_lock": s.opts.Lock != nil, "instance": s.instance}
	if c != nil {
		out["user"], out["device"], out["primary"], out["server"] = c.User(), c.DeviceID(), c.Primary(), c.Server()
	}
	if hub != nil {
		st, reason := hub.State()
		out["connection"] = map[string]any{"state": string(st), "reason": reason}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request) {
	if s.opts.Unlock == nil {
		writeError(w, http.StatusConflict, "this page cannot unlock the profile: run 'backchannel app' again")
		return
	}
	if c, _ := s.current(); c != nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	pw, ok := readPassphrase(w, r)
	if !ok {
		return
	}
	defer clear(pw)
	if len(pw) == 0 {
		writeError(w, http.StatusBadRequest, "type the profile's passphrase")
		return
	}
	err := s.opts.Unlock(r.Context(), pw)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, vault.ErrWrongPassphrase):
		writeError(w, http.StatusUnauthorized, "wrong passphrase")
	case errors.Is(err, client.ErrProfileInUse):
		writeError(w, http.StatusConflict, "the profile is open in another backchannel process: lock it there ('backchannel lock') and try again")
	default:
		s.opts.Logger.Warn("unlock failed", "reason", err.Error())
		writeError(w, http.StatusInternalServerError, "the profile could not be opened: "+err.Error())
	}
}

// readPassphrase reads {"passphrase"} from the body; ok is false when an
// error was answered.
func readPassphrase(w http.ResponseWriter, r *http.Request) (pw []byte, ok bool) {
	var req struct {
		Passphrase string `json:"passphrase"`
	}
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return nil, false
	}
	return []byte(req.Passphrase), true
}

func (s *Server) lock(w http.ResponseWriter, r *http.Request, _ *client.Client) {
	if s.opts.Lock == nil {
		writeError(w, http.StatusConflict, "this agent cannot be locked from the page: use 'backchannel lock'")
		return
	}
	w.WriteHeader(http.StatusNoContent)
	go s.opts.Lock()
}

// Room is a room as the page sees it.
type Room struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Mode     string   `json:"mode"`
	Marking  string   `json:"marking"`
	Creator  string   `json:"creator"`
	Members  []Member `json:"members"`
	Unread   int      `json:"unread"`
	Removed  bool     `json:"removed"`
	Archived bool     `json:"archived"`
}

// Member is a room member and whether their safety number was compared.
type Member struct {
	Name     string `json:"name"`
	Verified bool   `json:"verified"`
}

func roomOf(r *client.Room) Room {
	name := r.State.Name
	if r.Label != "" {
		name = r.Label
	}
	out := Room{ID: r.State.ID, Name: visibleBidi(name), Mode: r.State.Mode, Marking: r.State.Marking, Creator: r.State.Creator,
		Members: []Member{}, Unread: r.Unread, Removed: r.Removed, Archived: r.Archived}
	for _, m := range r.State.Members {
		out.Members = append(out.Members, Member{Name: m, Verified: r.Verified[m]})
	}
	return out
}

// Message is a timeline entry as the page sees it: never a document's key
// or hash, never a copy salt.
type Message struct {
	ID         string    `json:"id"`
	Sender     string    `json:"sender"`
	SentAt     time.Time `json:"sent_at"`
	Kind       string    `json:"kind"`
	Text       string    `json:"text"`
	Doc        *Doc      `json:"doc,omitempty"`
	DurationMS int64     `json:"duration_ms,omitempty"`
	Delivery   *Delivery `json:"delivery,omitempty"`
	Mine       bool      `json:"mine"`
}

// Doc names a shared document.
type Doc struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Delivery is how far this user's own message got.
type Delivery struct {
	State     string `json:"state"`
	Delivered int    `json:"delivered"`
	Of        int    `json:"of"`
}

// visibleBidi shows the direction controls (U+202A–U+202E, U+2066–U+2069)
// as visible markers: "Price: \u202e00.0001$" would otherwise display as
// "Price: $1000.00" in the window while the text says otherwise. The
// zero-width marks of marked copies are left alone (they change nothing
// on screen, and a copied text must keep them).
func visibleBidi(s string) string {
	if !strings.ContainsFunc(s, isBidiControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isBidiControl(r) {
			fmt.Fprintf(&b, "⟨U+%04X⟩", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

func messageOf(me string, m *client.Message) Message {
	out := Message{ID: m.ID, Sender: m.Sender, SentAt: m.SentAt, Kind: m.Kind, Text: visibleBidi(m.Text), DurationMS: m.DurationMS, Mine: m.Sender == me}
	if m.Doc != nil {
		out.Doc = &Doc{Name: visibleBidi(m.Doc.Name), Size: m.Doc.Size}
	}
	if d := m.Delivery; d != nil {
		out.Delivery = &Delivery{State: d.State, Delivered: len(d.DeliveredTo), Of: d.Of}
	}
	return out
}

// sent is the answer to a message, document or voice note just sent: one
// saved here but not taken by the server yet is queued, not an error.
func sent(w http.ResponseWriter, me string, m *client.Message, err error) {
	if errors.Is(err, client.ErrNotDelivered) && m != nil {
		out := messageOf(me, m)
		out.Delivery = &Delivery{State: "queued"}
		writeJSON(w, http.StatusOK, map[string]any{"message": out, "warnings": []string{"not delivered yet: it is saved here and goes out when the server is reachable"}})
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": messageOf(me, m), "warnings": nonNil(m.Warnings)})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) rooms(w http.ResponseWriter, r *http.Request, c *client.Client) {
	rs, err := c.Rooms(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	out := make([]Room, len(rs))
	for i := range rs {
		out[i] = roomOf(&rs[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createRoom(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		Name    string   `json:"name"`
		Members []string `json:"members"`
		Mode    string   `json:"mode"`
		Marking string   `json:"marking"`
	}
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	// The page must choose both: a default would decide for the user what
	// the room keeps and how copies are marked.
	if req.Mode != client.ModeOnRecord && req.Mode != client.ModeDeniable {
		writeError(w, http.StatusBadRequest, "choose the room's mode: on-record or deniable")
		return
	}
	if strings.TrimSpace(req.Marking) == "" {
		writeError(w, http.StatusBadRequest, "choose the room's marking (all, lexical, typographic, invisible or off)")
		return
	}
	if _, err := canary.ParsePolicy(req.Marking); err != nil {
		fail(w, err)
		return
	}
	rm, err := c.CreateRoom(r.Context(), req.Name, req.Members, req.Mode, req.Marking)
	if errors.Is(err, client.ErrNotDelivered) && rm != nil {
		err = nil
	}
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"room": roomOf(rm), "warnings": nonNil(rm.Warnings)})
}

func (s *Server) room(w http.ResponseWriter, r *http.Request, c *client.Client) {
	ref := r.PathValue("id")
	body, err := s.tl.get(ref, func() ([]byte, error) { return roomAnswer(r.Context(), c, ref) })
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(body)
}

func (s *Server) send(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		Text string `json:"text"`
	}
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	if strings.TrimSpace(req.Text) == "" {
		writeError(w, http.StatusBadRequest, "the message is empty")
		return
	}
	m, err := c.Send(r.Context(), r.PathValue("id"), req.Text)
	s.changed()
	sent(w, c.User(), m, err)
}

func (s *Server) markRead(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		UpTo string `json:"up_to"`
	}
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	err := c.MarkRead(r.Context(), r.PathValue("id"), req.UpTo)
	s.tl.stale() // the room's unread count changed
	if err != nil {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) shareDoc(w http.ResponseWriter, r *http.Request, c *client.Client) {
	name := r.URL.Query().Get("name")
	if name == "" {
		writeError(w, http.StatusBadRequest, "the document needs a name")
		return
	}
	if r.ContentLength < 0 {
		writeError(w, http.StatusLengthRequired, "send the document's length")
		return
	}
	if r.ContentLength > maxUploadBody {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the document is larger than the %d MiB the app shares", maxUploadBody>>20))
		return
	}
	body := http.MaxBytesReader(w, r.Body, r.ContentLength)
	m, err := c.ShareSized(r.Context(), r.PathValue("id"), name, r.ContentLength, body)
	s.changed()
	sent(w, c.User(), m, err)
}

func (s *Server) getDoc(w http.ResponseWriter, r *http.Request, c *client.Client) {
	m, err := c.FindDoc(r.Context(), r.PathValue("id"), r.PathValue("msg"))
	if err != nil {
		fail(w, err)
		return
	}
	// Decrypted into memory first, so that a failure is an error and not a
	// truncated download.
	var buf bytes.Buffer
	if _, err := c.GetDoc(r.Context(), r.PathValue("id"), m.ID, &buf); err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", attachment(m.Doc.Name))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}

// attachment is a Content-Disposition naming the file (RFC 6266, with the
// UTF-8 form for names that are not plain ASCII).
func attachment(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, pathEscape(name))
}

func pathEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func (s *Server) sendVoice(w http.ResponseWriter, r *http.Request, c *client.Client) {
	data, err := readBody(w, r, audio.MaxFileBytes)
	if err != nil {
		fail(w, err)
		return
	}
	m, err := c.SendVoice(r.Context(), r.PathValue("id"), data)
	s.changed()
	sent(w, c.User(), m, err)
}

func (s *Server) getVoice(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var buf bytes.Buffer
	if _, err := c.GetVoice(r.Context(), r.PathValue("id"), r.PathValue("msg"), &buf); err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "audio/flac")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Write(buf.Bytes())
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request, c *client.Client) {
	var req struct {
		User string `json:"user"`
	}
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	err := c.AddMember(r.Context(), r.PathValue("id"), req.User)
	s.changed()
	if err != nil && !errors.Is(err, client.ErrNotDelivered) {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, c *client.Client) {
	err := c.RemoveMember(r.Context(), r.PathValue("id"), r.PathValue("user"))
	s.changed()
	if err != nil && !errors.Is(err, client.ErrNotDelivered) {
		fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) contact(w http.ResponseWriter, r *http.Request, c *client.Client) {
	user := r.PathValue("user")
	ci, err := c.Contact(r.Context(), user)
	if err != nil {
		fail(w, err)
		return
	}
	out := map[string]any{"name": ci.Name, "verified": ci.Verified, "key_changed": ci.KeyChanged,
		"pending_devices": nonNil(ci.Pending), "devices": devicesOf(ci.Devices)}
	if user != c.User() {
		n, old, err := c.SafetyNumber(r.Context(), user)
		if err != nil {
			fail(w, err)
			return
		}
		out["safety_number"] = identity.FormatSafetyNumber(n)
		if old != "" {
			out["previous_safety_number"] = identity.FormatSafetyNumber(old)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) contactQR(w http.ResponseWriter, r *http.Request, c *client.Client) {
	n, _, err := c.SafetyNumber(r.Context(), r.PathValue("user"))
	if err != nil {
		fail(w, err)
		return
	}
	writeQR(w, n)
}

func writeQR(w http.ResponseWriter, text string) {
	png, err := qrcode.Encode(text, qrcode.Medium, 256)
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

func (s *Server) verifyContact(w http.ResponseWriter, r *http.Request, c *client.Client) {
	if err := c.MarkVerified(r.Context(), r.PathValue("user")); err != nil {
		fail(w, err)
		return
	}
	s.changed()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) acceptChange(w http.ResponseWriter, r *http.Request, c *client.Client) {
	evs, err := c.AcceptChange(r.Context(), r.PathValue("user"))
	if err != nil {
		fail(w, err)
		return
	}
	s.changed()
	texts := []string{}
	for _, ev := range evs {
		texts = append(texts, ev.Text)
	}
	writeJSON(w, http.StatusOK, map[string]any{"accepted": texts})
}

func (s *Server) notices(w http.ResponseWriter, r *http.Request, c *client.Client) {
	ns, err := c.Notices(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	if ns == nil {
		ns = []client.Notice{}
	}
	writeJSON(w, http.StatusOK, ns)
}

// Device is one device of an account.
type Device struct {
	ID       uint32    `json:"id"`
	Name     string    `json:"name"`
	AddedAt  time.Time `json:"added_at"`
	Accepted bool      `json:"accepted"`
	This     bool      `json:"this_device"`
}

func devicesOf(ds []client.DeviceInfo) []Device {
	out := []Device{}
	for _, d := range ds {
		out = append(out, Device{ID: d.ID, Name: d.Name, AddedAt: d.AddedAt, Accepted: d.Accepted, This: d.This})
	}
	return out
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request, c *client.Client) {
	ds, err := c.Devices(r.Context())
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, devicesOf(ds))
}

func (s *Server) removeDevice(w http.ResponseWriter, r *http.Request, c *client.Client) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
	if err != nil {
		writeError(w, http.StatusBadRequest, "a device is named by its number")
		return
	}
	if !reauthorise(w, r, c) {
		return
	}
	if err := c.RemoveDevice(r.Context(), uint32(id)); err != nil {
		fail(w, err)
		return
	}
	s.changed()
	w.WriteHeader(http.StatusNoContent)
}

// maxEvidence bounds a leaked text sent to verify or trace.
const maxEvidence = 16 << 20

func (s *Server) verifyLeak(w http.ResponseWriter, r *http.Request, c *client.Client) {
	room := r.URL.Query().Get("room")
	if room == "" {
		writeError(w, http.StatusBadRequest, "choose the room the text claims to come from")
		return
	}
	data, err := readBody(w, r, maxEvidence)
	if err != nil {
		fail(w, err)
		return
	}
	rep, err := c.VerifyLeak(r.Context(), room, data)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) trace(w http.ResponseWriter, r *http.Request, c *client.Client) {
	room := r.URL.Query().Get("room")
	// A recording may be large, a text may not: the first bytes say which
	// before more than a text's bound is read.
	body := http.MaxBytesReader(w, r.Body, audio.MaxFileBytes)
	head := make([]byte, 512)
	n, _ := io.ReadFull(body, head)
	limit := int64(maxEvidence + 1)
	if audio.Sniff(head[:n]) != audio.FormatUnknown {
		limit = audio.MaxFileBytes
	}
	rest, err := io.ReadAll(io.LimitReader(body, limit-int64(n)))
	if err != nil {
		fail(w, err)
		return
	}
	data := append(head[:n], rest...)
	if len(data) == 0 {
		writeError(w, http.StatusBadRequest, "nothing was sent: paste a text or choose a file")
		return
	}
	if audio.Sniff(data) != audio.FormatUnknown {
		res, err := c.TraceAudio(r.Context(), room, data, canary.DefaultEpsilon)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, audioVerdict(res))
		return
	}
	if len(data) > maxEvidence {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the text is larger than %d MiB", maxEvidence>>20))
		return
	}
	if !utf8.Valid(data) {
		writeError(w, http.StatusBadRequest, "this is neither text nor a recording trace can read (WAV, FLAC, MP3, Ogg, M4A, WebM)")
		return
	}
	res, err := c.Trace(r.Context(), room, string(data), canary.DefaultEpsilon)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, textVerdict(res))
}
