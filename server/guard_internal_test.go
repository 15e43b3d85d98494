package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestClientIP(t *testing.T) {
	proxies, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.1, 2001:db8::/32", "::ffff:172.16.0.0/108"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: Config{TrustedProxies: proxies}}
	plain := &Server{}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want, plain  string
	}{
		{"direct client", "203.0.113.5:4000", nil, "203.0.113.5", "203.0.113.5"},
		{"direct client lying", "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5", "203.0.113.5"},
		{"one proxy", "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1", "10.1.2.3"},
		{"client prepends a lie", "10.1.2.3:4000", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1", "10.1.2.3"},
		{"two proxies", "192.0.2.1:4000", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1", "192.0.2.1"},
		{"two headers", "10.1.2.3:4000", []string{"198.51.100.1", "10.9.9.9"}, "198.51.100.1", "10.1.2.3"},
		{"only proxies", "10.1.2.3:4000", []string{"10.9.9.9"}, "10.9.9.9", "10.1.2.3"},
		{"malformed hop", "10.1.2.3:4000", []string{"198.51.100.1, junk"}, "10.1.2.3", "10.1.2.3"},
		{"no header", "10.1.2.3:4000", nil, "10.1.2.3", "10.1.2.3"},
		{"IPv6 proxy", "[2001:db8::1]:4000", []string{"2001:db9::7"}, "2001:db9::7", "2001:db8::1"},
		{"IPv4-mapped client", "[::ffff:203.0.113.5]:4000", nil, "203.0.113.5", "203.0.113.5"},
		{"IPv4-mapped proxy prefix", "172.16.0.9:4000", []string{"198.51.100.1"}, "198.51.100.1", "172.16.0.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote, Header: http.Header{}}
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientIP(r); got != tc.want {
				t.Errorf("with trusted proxies: %q, want %q", got, tc.want)
			}
			if got := plain.clientIP(r); got != tc.plain {
				t.Errorf("without trusted proxies: %q, want %q", got, tc.plain)
			}
		})
	}
}

// FuzzClientIP: whatever a trusted proxy forwards, the address charged is
// an address (never the raw header) and is the peer for untrusted peers.
func FuzzClientIP(f *testing.F) {
	f.Add("10.1.2.3:80", "198.51.100.1, 10.0.0.1")
	f.Add("203.0.113.5:80", "1.2.3.4")
	f.Add("10.1.2.3:80", ",,, ,")
	f.Add("[::1]:80", "::ffff:1.2.3.4")
	proxies, _ := ParseTrustedProxies([]string{"10.0.0.0/8", "::1"})
	s := &Server{cfg: Config{TrustedProxies: proxies}}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := s.clientIP(r)
		peer, ok := hostAddr(remote)
		if !ok {
			if got != remote {
				t.Fatalf("unparsable peer %q charged as %q", remote, got)
			}
			return
		}
		if !s.trusted(peer) && got != peer.String() {
			t.Fatalf("untrusted peer %q charged as %q (header %q)", remote, got, xff)
		}
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("charged %q, not an address", got)
		}
	})
}

func TestSlots(t *testing.T) {
	s := newSlots(3, 2)
	steps := []struct {
		take string
		want bool
	}{{"a", true}, {"a", true}, {"a", false}, {"b", true}, {"c", false}}
	for i, st := range steps {
		if got := s.take(st.take); got != st.want {
			t.Fatalf("step %d: take(%q) = %v", i, st.take, got)
		}
	}
	s.put("a")
	if !s.take("c") {
		t.Fatal("a released slot was not reusable")
	}
	if s.take("a") {
		t.Fatal("over the overall cap")
	}
}

func TestRecentAuthExpires(t *testing.T) {
	ra := newRecentAuth(time.Minute)
	now := time.Now()
	ra.mark("k", now)
	if !ra.has("k", now.Add(59*time.Second)) || ra.has("k", now.Add(61*time.Second)) || ra.has("other", now) {
		t.Fatal("recentAuth does not keep exactly its window")
	}
}

// identifying is what info-level (and higher) log calls must not carry:
// who asked, from where, and which blob (docs/threat-model.md).
var identifying = map[string]bool{
	"user": true, "device": true, "remote": true, "ip": true, "addr_client": true,
	"blob": true, "from": true, "to": true, "name": true, "account": true, "sender": true, "recipient": true,
}

// TestInfoLogCallsCarryNoIdentifiers reads the package's source: every
// Info, Warn or Error call on a logger passes no attribute named for a user,
// device, client address or blob (those go to Debug calls only).
func TestInfoLogCallsCarryNoIdentifiers(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	// The key log runs inside the server and logs through its logger.
	more, err := filepath.Glob("../keylog/*.go")
	if err != nil || len(more) == 0 {
		t.Fatalf("the key log's source is not next to the server's: %v", err)
	}
	files = append(files, more...)
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch sel.Sel.Name {
			case "Info", "Warn", "Error", "Log":
			default:
				return true
			}
			recv, ok := sel.X.(*ast.SelectorExpr)
			if !ok || recv.Sel.Name != "log" {
				return true
			}
			checked++
			for _, arg := range call.Args[1:] {
				lit, ok := arg.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				key, err := strconv.Unquote(lit.Value)
				if err == nil && identifying[key] {
					t.Errorf("%s: s.log.%s passes %q at info level or above", fset.Position(call.Pos()), sel.Sel.Name, key)
				}
			}
			return true
		})
	}
	if checked < 5 {
		t.Fatalf("only %d log calls found: the check is not reading the package", checked)
	}
}

// FuzzParseTrustedProxies: whatever the flag holds, the parser returns an
// error or masked prefixes, each of which contains its own address.
func FuzzParseTrustedProxies(f *testing.F) {
	f.Add("10.0.0.0/8, 192.0.2.1")
	f.Add("2001:db8::/32,::ffff:10.0.0.1")
	f.Add(" , ,")
	f.Add("300.1.1.1/8")
	f.Fuzz(func(t *testing.T, flag string) {
		ps, err := ParseTrustedProxies([]string{flag})
		if err != nil {
			return
		}
		for _, p := range ps {
			if p != p.Masked() || !p.Contains(p.Addr()) {
				t.Fatalf("%q gave %v", flag, p)
			}
		}
	})
}
