package server

// What the server spends before it knows who is asking (docs/threat-model.md,
// "Unauthenticated clients"):
//
//   - Connections: the listener holds at most Limits.MaxConns connections,
//     and at most Limits.MaxConnsPerAddress from one client address (trusted
//     proxies are exempt: they carry many clients). A connection over either
//     cap is answered 503 at once and closed.
//   - Bodies: an authenticated request's body is read only after its proof
//     headers name a known device (the signature is checked once the body is
//     in). Registration and the link request slot must read a body before
//     anything can be checked; they take one of Limits.MaxUnauthBodies slots
//     (at most Limits.MaxUnauthBodiesPerAddress per client address), refused
//     with 503 when none is free, and their bodies are small. Bodies are read
//     incrementally: nothing is allocated from Content-Length.
//   - Refused proofs: counted per client address and per claimed device at
//     that address. A claimed device over its budget is refused unchecked;
//     an address over its budget is refused unchecked except for devices
//     that authenticated from it recently, so one attacker behind a shared
//     address does not lock out the other users behind it.

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"backchannel/server/api"
)

// ParseTrustedProxies parses comma-separated CIDR prefixes or addresses (the
// serve --trusted-proxy flag). An address alone stands for itself (/32 or
// /128).
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if p, err := netip.ParsePrefix(s); err == nil {
				if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 { // ::ffff:a.b.c.d/n: the IPv4 prefix it means
					p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
				}
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, errors.New("trusted proxy " + s + " is neither an address nor a CIDR prefix such as 10.0.0.0/8")
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out, nil
}

func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func hostAddr(hostport string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(hostport); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(hostport); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// clientIP is the address a request's limits are charged to: the peer's
// address, or, when the peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not itself a trusted proxy. X-Forwarded-For from
// anyone else is ignored.
func (s *Server) clientIP(r *http.Request) string {
	peer, ok := hostAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if len(s.cfg.TrustedProxies) == 0 || !s.trusted(peer) {
		return peer.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, ok := hostAddr(strings.TrimSpace(parts[j]))
			if !ok {
				return client.String() // a malformed hop: stop at the last good one
			}
			client = a
			if !s.trusted(a) {
				return a.String()
			}
		}
	}
	return client.String()
}

// slots counts concurrent holders, overall and per key.
type slots struct {
	total, perKey int

	mu    sync.Mutex
	n     int
	byKey map[string]int
}

func newSlots(total, perKey int) *slots {
	return &slots{total: total, perKey: perKey, byKey: make(map[string]int)}
}

// take reserves a slot for key; release it with put.
func (s *slots) take(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n >= s.total || (s.perKey > 0 && key != "" && s.byKey[key] >= s.perKey) {
		return false
	}
	s.n++
	if key != "" {
		s.byKey[key]++
	}
	return true
}

func (s *slots) put(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n--
	if key == "" {
		return
	}
	if s.byKey[key]--; s.byKey[key] <= 0 {
		delete(s.byKey, key)
	}
}

// unauthBody reserves one of the unauthenticated body slots for r, or
// returns a 503 error.
func (s *Server) unauthBody(r *http.Request) (release func(), err error) {
	ip := s.clientIP(r)
	if !s.unauth.take(ip) {
		s.metrics.rateLimited.Inc()
		return nil, errf(http.StatusServiceUnavailable, api.CodeUnavailable,
			"the server is busy with other new connections; try again in a few seconds")
	}
	return func() { s.unauth.put(ip) }, nil
}

// limitListener caps the connections a listener hands out.
type limitListener struct {
	net.Listener
	s     *Server
	slots *slots
}

// refusal is what a connection over the cap reads before it is closed.
var refusal = func() []byte {
	body := `{"error":"the server has too many open connections; try again in a few seconds","code":"unavailable"}` + "\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nRetry-After: 5\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := ""
		if a, ok := hostAddr(c.RemoteAddr().String()); ok && !l.s.trusted(a) {
			key = a.String()
		}
		if !l.slots.take(key) {
			l.s.metrics.connsRefused.Inc()
			go func() {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = c.Write(refusal)
				_ = c.Close()
			}()
			continue
		}
		return &limitConn{Conn: c, release: func() { l.slots.put(key) }}, nil
	}
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// recentAuth remembers which claimed devices authenticated from which
// client address, so an address over its failure budget still serves them.
type recentAuth struct {
	ttl time.Duration

	mu   sync.Mutex
	seen map[string]time.Time
}

const maxRecentAuth = 100_000

func newRecentAuth(ttl time.Duration) *recentAuth {
	return &recentAuth{ttl: ttl, seen: make(map[string]time.Time)}
}

func (ra *recentAuth) mark(key string, now time.Time) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if _, ok := ra.seen[key]; !ok && len(ra.seen) >= maxRecentAuth {
		for k, t := range ra.seen {
			if now.Sub(t) > ra.ttl {
				delete(ra.seen, k)
			}
		}
		if len(ra.seen) >= maxRecentAuth {
			return // full of fresh entries: forget nothing, add nothing
		}
	}
	ra.seen[key] = now
}

func (ra *recentAuth) has(key string, now time.Time) bool {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	t, ok := ra.seen[key]
	return ok && now.Sub(t) <= ra.ttl
}

// RecentAuthTTL is how long a device that authenticated from an address
// stays served there while that address is over its failure budget.
const RecentAuthTTL = 24 * time.Hour
