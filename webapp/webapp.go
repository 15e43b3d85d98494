// Package webapp is the desktop app: a local web interface to an open
// profile, served on the loopback address by the process that holds the
// profile (the agent). docs/app.md is its specification.
//
// The contract:
//   - Every secret stays in this process. The browser is given what a user
//     reads (names, message texts, safety numbers, verdicts) and nothing it
//     could decrypt or sign with: no key, no document key or hash, no
//     marking key, no passphrase once checked.
//   - Only a browser that opened the URL with this start's token may call
//     the API: the token sets an HttpOnly, SameSite=Strict session cookie,
//     compared in constant time on every request. A request for another
//     Host (DNS rebinding) or from another Origin is refused before any
//     handler runs, and bodies are bounded before they are read.
//   - Nothing the page receives may be cached: every answer is no-store,
//     under a Content-Security-Policy that allows only this origin's own
//     scripts, styles and media. The page itself (static/) uses no browser
//     storage.
//   - The profile may be locked and unlocked while the server runs: while
//     locked, only the state, the unlock form and the event stream answer.
package webapp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"backchannel/client"
	"backchannel/live"
)

//go:embed static
var staticFiles embed.FS

// CookieName begins the name of the session cookie the token sets; the
// listener's port ends it (bc_session_8765), because cookies are not kept
// apart by port: two windows of two profiles in one browser would
// otherwise overwrite each other's.
const CookieName = "bc_session"

// InstanceHeader carries this start's instance id on every answer: the
// page pins it, and stops talking to a server that answers without it
// (another program that took the port after this one stopped).
const InstanceHeader = "X-Backchannel-Instance"

// InputHeader marks a request the user caused (a key, a click): only those
// count against the agent's idle time, not the page's own refreshes.
const InputHeader = "X-Backchannel-Input"

// TokenBytes is the size of the random per-start token.
const TokenBytes = 32

// Body bounds, applied before a body is read.
const (
	maxJSONBody = 1 << 20
	// maxUploadBody bounds a shared document; the server's blob limits
	// apply too (the client checks them before uploading).
	maxUploadBody = 1 << 30
)

// ContentSecurityPolicy is sent with every answer.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// ErrLocked: the profile is not open.
var ErrLocked = errors.New("the profile is locked: unlock it first")

// Options configure a Server.
type Options struct {
	// Unlock opens the profile with the passphrase the page sent and
	// Attaches it; nil when the page cannot unlock (the agent was unlocked
	// elsewhere and ends when it locks). It must return an error matching
	// vault.ErrWrongPassphrase or client.ErrProfileInUse for those cases.
	Unlock func(ctx context.Context, passphrase []byte) error
	// Lock closes the profile (the page's Lock button); nil: the button
	// answers with an error.
	Lock   func()
	Logger *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Server serves the app for one profile.
type Server struct {
	opts     Options
	token    string
	instance string
	files    fs.FS

	mu    sync.Mutex
	c     *client.Client
	hub   *live.Hub
	touch func()
	addr  string // host:port of the listener, once serving
	subs  map[chan event]struct{}
	link  *linkRun

	tl       *timelines
	stopWarm context.CancelFunc
	mux      *http.ServeMux // the API's routes (api.go)
}

// New returns a Server with a fresh token.
func New(opts Options) (*Server, error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	inst := make([]byte, 16)
	if _, err := rand.Read(inst); err != nil {
		return nil, err
	}
	s := &Server{opts: opts, token: base64.RawURLEncoding.EncodeToString(b), instance: base64.RawURLEncoding.EncodeToString(inst),
		files: sub, subs: map[chan event]struct{}{}, tl: newTimelines()}
	s.mux = s.routes()
	return s, nil
}

// Attach serves the open profile c with its live connection hub, and tells
// the pages it is unlocked. touch, when set, is called for every use of the
// window (not the event stream), so that the agent's idle time counts it.
func (s *Server) Attach(c *client.Client, hub *live.Hub, touch func()) {
	s.tl.reset()
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	if s.stopWarm != nil {
		s.stopWarm()
	}
	s.c, s.hub, s.touch, s.stopWarm = c, hub, touch, cancel
	s.mu.Unlock()
	go s.tl.warm(ctx, c, hub)
	s.broadcast(event{name: "unlocked", data: map[string]any{"user": c.User()}})
}

// Detach forgets the profile (it was locked) and tells the pages.
func (s *Server) Detach() {
	s.mu.Lock()
	if s.stopWarm != nil {
		s.stopWarm()
		s.stopWarm = nil
	}
	s.c, s.hub, s.touch = nil, nil, nil
	s.tl.reset()
	if s.link != nil {
		s.link.cancel()
		s.link = nil
	}
	s.mu.Unlock()
	s.broadcast(event{name: "locked", data: map[string]any{}})
}

func (s *Server) touched() {
	s.mu.Lock()
	t := s.touch
	s.mu.Unlock()
	if t != nil {
		t()
	}
}

func (s *Server) current() (*client.Client, *live.Hub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c, s.hub
}

// Listen binds addr, which must be a loopback address ("" means
// 127.0.0.1 on a free port).
func Listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: give host:port, such as 127.0.0.1:8080", addr)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("address %q is not a loopback address: the app serves only this machine (use 127.0.0.1)", addr)
	}
	return net.Listen("tcp", addr)
}

// Serve answers on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
		hs.Close()
	}()
	err := hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// URL is the address to open, with this start's token; "" before Serve.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == "" {
		return ""
	}
	return "http://" + s.addr + "/?token=" + s.token
}

// ServeHTTP checks who is asking, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "microphone=(self), camera=()")
	h.Set(InstanceHeader, s.instance)
	if !s.hostOK(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, "this address serves only "+s.origin())
		return
	}
	if o := r.Header.Get("Origin"); o != "" && o != s.origin() {
		writeError(w, http.StatusForbidden, "requests from another site are refused")
		return
	}
	if t := r.URL.Query().Get("token"); t != "" && r.URL.Path == "/" {
		s.openWithToken(w, r, t)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if !s.authorised(r) {
			writeError(w, http.StatusUnauthorized, "open the address that 'backchannel app' printed (this page's session is not known)")
			return
		}
		if r.Header.Get(InputHeader) != "" {
			s.touched()
		}
		s.api(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "not allowed")
		return
	}
	// The file server's own errors drop Cache-Control; a missing file gets
	// this answer instead.
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	if fi, err := fs.Stat(s.files, name); err != nil || fi.IsDir() {
		writeError(w, http.StatusNotFound, "there is no such page")
		return
	}
	http.FileServerFS(s.files).ServeHTTP(w, r)
}

func (s *Server) origin() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr
}

func (s *Server) hostOK(host string) bool {
	s.mu.Lock()
	addr := s.addr
	s.mu.Unlock()
	if addr == "" {
		return false
	}
	// Only the address as printed: "localhost" may resolve to ::1, where
	// another user of this computer can listen on the same port.
	return host == addr
}

func (s *Server) cookieName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, port, _ := net.SplitHostPort(s.addr)
	return CookieName + "_" + port
}

func (s *Server) tokenOK(t string) bool {
	return subtle.ConstantTimeCompare([]byte(t), []byte(s.token)) == 1
}

// authorised: one of the request's session cookies holds the token.
// Cookies are not kept apart by port, so another local page may have set a
// cookie of the same name; it must not lock the window out.
func (s *Server) authorised(r *http.Request) bool {
	for _, ck := range r.CookiesNamed(s.cookieName()) {
		if s.tokenOK(ck.Value) {
			return true
		}
	}
	return false
}

// openWithToken sets the session cookie for the right token and sends the
// browser on to the page, so the token leaves the address bar.
func (s *Server) openWithToken(w http.ResponseWriter, r *http.Request, t string) {
	if !s.tokenOK(t) {
		writeError(w, http.StatusUnauthorized, "this link is not (or no longer) valid: run 'backchannel app' again and open the address it prints")
		return
	}
	// Path=/api: cookies are not kept apart by port, so a browser sends
	// this one to other servers on this host too, but only for their
	// /api paths (docs/threat-model.md, "The desktop app").
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: s.token, Path: "/api", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg})
}
