package server_test

// Attacks on the server's unauthenticated surface and quotas, each performed
// against a real server on 127.0.0.1 (issue 10, items 11 to 14).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"backchannel/server"
	"backchannel/server/api"
	"backchannel/server/apiclient"
	"backchannel/store/sqlite"
)

// dialFrom opens a TCP connection to the server from a loopback source
// address (all of 127.0.0.0/8 is loopback on Linux), so one test can play
// several client addresses.
func dialFrom(t testing.TB, serverURL, from string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(serverURL, "http://"))
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	return c
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// 1,000 connections without an account each announce a large body and send
// one byte of it. Before the fix the server allocated every body from its
// Content-Length (150 connections: +577 MiB). Now it reads a body only after
// the proof names a known device, holds few unauthenticated bodies, and
// those are small: the heap stays within 64 MiB of idle, and a registered
// user keeps sending and receiving throughout.
func TestUnauthenticatedBodiesDoNotExhaustMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	if runtime.GOOS != "linux" {
		t.Skip("plays ten client addresses from 127.0.0.2 on, which only Linux routes to loopback by default")
	}
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	alice, bob := register(t, ts.URL, "alice", ""), register(t, ts.URL, "bob", "")
	idle := heapInUse()

	const conns, addrs = 1000, 10
	routes := []struct {
		method, path string
		length       int64
		signed       bool
	}{
		{"POST", "/v1/accounts", 16 << 10, true}, // just under the registration cap: holds a body slot
		{"POST", "/v1/accounts", 1 << 30, true},  // refused from its Content-Length
		{"POST", "/v1/messages", 4 << 20, true},  // proof of an unknown device: refused before the body
		{"PUT", "/v1/blobs/" + strings.Repeat("ab", 16) + "/chunks/0", 1 << 20, true},
		{"POST", "/v1/messages/ack", 4 << 20, false}, // no proof at all
	}
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := range conns {
		from := fmt.Sprintf("127.0.0.%d", 2+i%addrs)
		c := dialFrom(t, ts.URL, from)
		open = append(open, c)
		rt := routes[i%len(routes)]
		req, err := http.NewRequest(rt.method, ts.URL+rt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rt.signed {
			api.SignRequest(req, []byte("x"), fmt.Sprintf("nobody%d", i), 1, newKey(t), time.Now())
		}
		var head bytes.Buffer
		fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", rt.method, rt.path, rt.length)
		for k, vs := range req.Header {
			for _, v := range vs {
				fmt.Fprintf(&head, "%s: %s\r\n", k, v)
			}
		}
		head.WriteString("\r\nx") // one body byte, and no more
		if _, err := c.Write(head.Bytes()); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	time.Sleep(2 * time.Second) // let the server read every header and byte

	// The legitimate users keep working while the connections are open.
	for i := range 5 {
		if _, err := alice.Send(ctx, 0, []api.OutgoingEnvelope{{To: "bob", Device: 1, Data: []byte(fmt.Sprint("during the attack ", i))}}); err != nil {
			t.Fatalf("alice sends during the attack: %v", err)
		}
	}
	got, err := bob.Fetch(ctx, 0, 10)
	if err != nil || len(got.Messages) != 5 {
		t.Fatalf("bob fetches during the attack: %d messages, %v", len(got.Messages), err)
	}
	carol := register(t, ts.URL, "carol", "") // a new registration from an address the attack does not use
	if _, err := carol.PrekeyCounts(ctx); err != nil {
		t.Fatalf("carol during the attack: %v", err)
	}

	under := heapInUse()
	grew := int64(under) - int64(idle)
	t.Logf("heap: idle %.1f MiB, under %d connections %.1f MiB (%+.1f MiB)", mibf(idle), conns, mibf(under), float64(grew)/(1<<20))
	if grew > 64<<20 {
		t.Fatalf("the heap grew by %.1f MiB under %d unauthenticated connections, more than 64 MiB", float64(grew)/(1<<20), conns)
	}
	if path := os.Getenv("BACKCHANNEL_HEAP_REPORT"); path != "" {
		_ = os.WriteFile(path, fmt.Appendf(nil, "idle_mib=%.1f under_mib=%.1f grew_mib=%.1f conns=%d\n", mibf(idle), mibf(under), float64(grew)/(1<<20), conns), 0o644)
	}
}

func mibf(n uint64) float64 { return float64(n) / (1 << 20) }

// readReply reads one HTTP response from c.
func readReply(t testing.TB, c net.Conn) (*http.Response, api.ErrorResponse) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var er api.ErrorResponse
	if resp.StatusCode >= 300 {
		if err := json.Unmarshal(b, &er); err != nil || er.Error == "" {
			t.Fatalf("status %d with a body that is no JSON error: %q", resp.StatusCode, b)
		}
	}
	return resp, er
}

// The connection caps answer with a JSON 503 and close; the registration
// body slots are held per address and overall.
func TestConnectionAndBodyCaps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("plays several client addresses from 127.0.0.2 on, which only Linux routes to loopback by default")
	}
	ts := startServer(t, server.Config{OpenRegistration: true, Limits: server.Limits{
		MaxConns: 12, MaxConnsPerAddress: 5, MaxUnauthBodies: 3, MaxUnauthBodiesPerAddress: 2}})
	// alice opens a new connection per request, so she holds none while
	// the connection caps are probed.
	key, ik := newKey(t), newKey(t)
	alice := clientFor(t, ts.URL, "alice", 1, key, apiclient.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}))
	if err := registerWith(context.Background(), t, alice, ik, key, nil, ""); err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// Five connections from one address are served; the sixth is refused.
	for range 5 {
		held = append(held, dialFrom(t, ts.URL, "127.0.0.2"))
	}
	time.Sleep(100 * time.Millisecond)
	sixth := dialFrom(t, ts.URL, "127.0.0.2")
	resp, er := readReply(t, sixth)
	sixth.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(er.Error, "too many open connections") {
		t.Fatalf("sixth connection from one address: %d %+v", resp.StatusCode, er)
	}
	// Another address still gets in (until the overall cap).
	for range 5 {
		held = append(held, dialFrom(t, ts.URL, "127.0.0.3"))
	}
	for range 2 {
		held = append(held, dialFrom(t, ts.URL, "127.0.0.4"))
	}
	time.Sleep(100 * time.Millisecond)
	over := dialFrom(t, ts.URL, "127.0.0.5")
	resp, _ = readReply(t, over)
	over.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("connection over the overall cap: %d", resp.StatusCode)
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	time.Sleep(100 * time.Millisecond)

	// Registration bodies that never finish hold their slots: two per
	// address, three overall; the next one is refused at once.
	startBody := func(from string) net.Conn {
		c := dialFrom(t, ts.URL, from)
		req, _ := http.NewRequest("POST", ts.URL+"/v1/accounts", nil)
		api.SignRequest(req, []byte("x"), "slow", 1, newKey(t), time.Now())
		var head bytes.Buffer
		fmt.Fprintf(&head, "POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\n")
		for k, vs := range req.Header {
			for _, v := range vs {
				fmt.Fprintf(&head, "%s: %s\r\n", k, v)
			}
		}
		head.WriteString("\r\n{")
		if _, err := c.Write(head.Bytes()); err != nil {
			t.Fatal(err)
		}
		return c
	}
	held = append(held, startBody("127.0.0.2"), startBody("127.0.0.2"))
	time.Sleep(200 * time.Millisecond)
	third := startBody("127.0.0.2")
	resp, er = readReply(t, third)
	third.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(er.Error, "busy") {
		t.Fatalf("third slow registration from one address: %d %+v", resp.StatusCode, er)
	}
	held = append(held, startBody("127.0.0.3"))
	time.Sleep(200 * time.Millisecond)
	fourth := startBody("127.0.0.4")
	resp, _ = readReply(t, fourth)
	fourth.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("slow registration over the overall cap: %d", resp.StatusCode)
	}
	// Authenticated traffic needs no slot: alice is served while every
	// registration slot is held.
	if _, err := alice.PrekeyCounts(context.Background()); err != nil {
		t.Fatalf("alice while the registration slots are held: %v", err)
	}
}

// About 66 bad-signature requests a second from one address: before the
// fix they locked out every user at that address. Now the claimed device is
// refused unchecked after its budget, and the address's budget refuses
// claims of devices that have not authenticated from it, but carol, who
// signs in from the same address, keeps working.
func TestBadSignaturesDoNotLockOutTheAddress(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	carol := register(t, ts.URL, "carol", "")
	mallory := register(t, ts.URL, "mallory", "") // the account whose device the attacker claims
	_ = mallory
	if _, err := carol.PrekeyCounts(ctx); err != nil {
		t.Fatal(err)
	}
	wrong := newKey(t)
	statuses := map[int]int{}
	var lastErr api.ErrorResponse
	var mu sync.Mutex
	sent := 0
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 { // four attackers' connections, as fast as they go
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < 3*time.Second {
				req, _ := http.NewRequest("GET", ts.URL+"/v1/prekeys", nil)
				api.SignRequest(req, nil, "mallory", 1, wrong, time.Now())
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				var er api.ErrorResponse
				_ = json.NewDecoder(resp.Body).Decode(&er)
				resp.Body.Close()
				mu.Lock()
				sent++
				statuses[resp.StatusCode]++
				if resp.StatusCode == http.StatusTooManyRequests {
					lastErr = er
				}
				mu.Unlock()
			}
		}()
	}
	// carol, at the same address, signs in every 50 ms meanwhile.
	carolErr := make(chan error, 1)
	go func() {
		defer close(carolErr)
		for time.Since(start) < 3*time.Second {
			if _, err := carol.PrekeyCounts(ctx); err != nil {
				carolErr <- err
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	wg.Wait()
	if err := <-carolErr; err != nil {
		t.Fatalf("carol during the attack: %v", err)
	}
	rate := float64(sent) / time.Since(start).Seconds()
	t.Logf("%d bad-signature requests at %.0f/s: %v", sent, rate, statuses)
	if rate < 66 {
		t.Fatalf("the attack ran at %.0f requests/s, want 66 or more", rate)
	}
	if statuses[http.StatusTooManyRequests] == 0 || !strings.Contains(lastErr.Error, "this account and device") {
		t.Fatalf("the claimed device was never limited: %v %+v", statuses, lastErr)
	}
	// Rotating the claimed device does not help the attacker: the address
	// is over its budget, so a claim of a device that has not signed in
	// from here is refused unchecked...
	refused := 0
	for i := range 150 {
		status, _ := rawRequest(t, "GET", ts.URL+"/v1/prekeys", nil, fmt.Sprint("ghost", i), 1, wrong, time.Now())
		if status == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("rotating claimed devices was never limited by the address budget")
	}
	// ... while carol is still served.
	if _, err := carol.Send(ctx, 0, []api.OutgoingEnvelope{{To: "carol", Device: 1, Data: []byte("still here")}}); err != nil {
		t.Fatalf("carol after the attack: %v", err)
	}
}

// X-Forwarded-For is believed only from a trusted proxy.
func TestTrustedProxy(t *testing.T) {
	prefixes, err := server.ParseTrustedProxies([]string{"127.0.0.1/32"})
	if err != nil {
		t.Fatal(err)
	}
	lim := server.Limits{AuthFailuresPerSec: 0.001}
	for _, tc := range []struct {
		name    string
		proxies []netip.Prefix
		// a new claim from another forwarded address after one address
		// used up its failures
		want int
	}{
		{"trusted proxy: addresses are told apart", prefixes, http.StatusUnauthorized},
		{"no trusted proxy: the header is ignored", nil, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, server.Config{OpenRegistration: true, Limits: lim, TrustedProxies: tc.proxies})
			bad := func(forwarded, user string) int {
				req, _ := http.NewRequest("GET", ts.URL+"/v1/prekeys", nil)
				api.SignRequest(req, nil, user, 1, newKey(t), time.Now())
				req.Header.Set("X-Forwarded-For", forwarded)
				status, _ := doRaw(t, req)
				return status
			}
			if s := bad("198.51.100.7", "ghost1"); s != http.StatusUnauthorized {
				t.Fatalf("first bad request: %d", s)
			}
			if s := bad("198.51.100.7", "ghost2"); s != http.StatusTooManyRequests {
				t.Fatalf("second bad request from the same address: %d", s)
			}
			if s := bad("203.0.113.9", "ghost3"); s != tc.want {
				t.Fatalf("a bad request from another forwarded address: %d, want %d", s, tc.want)
			}
		})
	}
	if _, err := server.ParseTrustedProxies([]string{"10.0.0.0/8, not-an-address"}); err == nil {
		t.Fatal("a malformed trusted proxy was accepted")
	}
}

// The quota attacks of item 14, each refused with a clear error.
func TestQuotas(t *testing.T) {
	ctx := context.Background()
	t.Run("prekeys: 4 KiB junk blobs", func(t *testing.T) {
		ts := startServer(t, server.Config{OpenRegistration: true})
		alice := register(t, ts.URL, "alice", "")
		junk := bytes.Repeat([]byte{7}, 4096)
		up := api.PrekeyUpload{}
		for i := range api.MaxStoredOneTime {
			up.OneTimeKEMPrekeys = append(up.OneTimeKEMPrekeys, api.Prekey{ID: uint32(10 + i), Data: junk})
		}
		_, err := alice.UploadPrekeys(ctx, up)
		wantStatus(t, err, http.StatusBadRequest, "1 to 1256 bytes")
		up = api.PrekeyUpload{}
		for i := range api.MaxStoredOneTime + 1 {
			up.OneTimePrekeys = append(up.OneTimePrekeys, api.Prekey{ID: uint32(10 + i), Data: junk[:32]})
		}
		_, err = alice.UploadPrekeys(ctx, up)
		wantStatus(t, err, http.StatusRequestEntityTooLarge, "too many one-time prekeys")
	})
	t.Run("certificates: 16 KiB junk", func(t *testing.T) {
		ts := startServer(t, server.Config{OpenRegistration: true})
		key, ik := newKey(t), newKey(t)
		c := clientFor(t, ts.URL, "alice", 1, key)
		err := registerWith(ctx, t, c, ik, key, bytes.Repeat([]byte{1}, 16<<10), "")
		wantStatus(t, err, http.StatusRequestEntityTooLarge, "larger than the server accepts")
		err = registerWith(ctx, t, c, ik, key, bytes.Repeat([]byte{1}, 1<<10), "")
		wantStatus(t, err, http.StatusBadRequest, "a device certificate is 164 bytes")
	})
	t.Run("devices: more than the account may have", func(t *testing.T) {
		ts := startServer(t, server.Config{OpenRegistration: true, Limits: server.Limits{MaxDevices: 3}})
		alice := register(t, ts.URL, "alice", "")
		alice.next(t, []ed25519.PrivateKey{newKey(t), newKey(t)})
		l, _ := alice.makeNext(t, []ed25519.PrivateKey{newKey(t)})
		_, err := alice.PutDeviceList(ctx, l.Marshal())
		wantStatus(t, err, http.StatusRequestEntityTooLarge, "at most 3 devices")
	})
	t.Run("push streams: more than four per device", func(t *testing.T) {
		ts := startServer(t, server.Config{OpenRegistration: true})
		alice := register(t, ts.URL, "alice", "")
		var streams []*apiclient.Stream
		defer func() {
			for _, s := range streams {
				s.Close()
			}
		}()
		for i := range 4 {
			s, err := alice.Dial(ctx, 0)
			if err != nil {
				t.Fatalf("stream %d: %v", i+1, err)
			}
			streams = append(streams, s)
		}
		_, err := alice.Dial(ctx, 0)
		wantStatus(t, err, http.StatusTooManyRequests, "push connections open")
		streams[0].Close()
		streams = streams[1:]
		deadline := time.Now().Add(5 * time.Second)
		for {
			s, err := alice.Dial(ctx, 0)
			if err == nil {
				streams = append(streams, s)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a stream after one closed: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("mailbox: one sender's unfetched bytes", func(t *testing.T) {
		ts := startServer(t, server.Config{OpenRegistration: true})
		alice, bob := register(t, ts.URL, "alice", ""), register(t, ts.URL, "bob", "")
		env := bytes.Repeat([]byte{9}, 120<<10)
		fill := func(to string) (int64, error) {
			var stored int64
			for stored < 64<<20 {
				batch := make([]api.OutgoingEnvelope, 20)
				for i := range batch {
					batch[i] = api.OutgoingEnvelope{To: to, Device: 1, Data: env}
				}
				if _, err := alice.Send(ctx, 0, batch); err != nil {
					return stored, err
				}
				stored += int64(len(batch) * len(env))
			}
			return stored, nil
		}
		stored, err := fill("alice") // her own mailbox, as storage
		wantStatus(t, err, http.StatusRequestEntityTooLarge, "your other devices have not yet fetched")
		if stored > 16<<20 {
			t.Fatalf("alice stored %d bytes in her own mailbox", stored)
		}
		stored, err = fill("bob") // a stranger's mailbox
		wantStatus(t, err, http.StatusRequestEntityTooLarge, "bob's devices have not yet fetched")
		if stored > 16<<20 {
			t.Fatalf("alice stored %d bytes in bob's mailbox", stored)
		}
		// Once bob fetches and acknowledges, alice may send again.
		for {
			got, err := bob.Fetch(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Messages) == 0 {
				break
			}
			ids := make([]int64, len(got.Messages))
			for i, m := range got.Messages {
				ids[i] = m.ID
			}
			if _, err := bob.Ack(ctx, ids); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := alice.Send(ctx, 0, []api.OutgoingEnvelope{{To: "bob", Device: 1, Data: env}}); err != nil {
			t.Fatalf("after bob fetched: %v", err)
		}
	})
	t.Run("mailbox: bytes per device", func(t *testing.T) {
		ts := startServer(t, server.Config{OpenRegistration: true, Limits: server.Limits{MaxMailboxBytes: 1 << 20}})
		alice := register(t, ts.URL, "alice", "")
		register(t, ts.URL, "bob", "")
		env := bytes.Repeat([]byte{9}, 100<<10)
		var err error
		for range 20 {
			if _, err = alice.Send(ctx, 0, []api.OutgoingEnvelope{{To: "bob", Device: 1, Data: env}}); err != nil {
				break
			}
		}
		wantStatus(t, err, http.StatusInsufficientStorage, "mailbox is full")
	})
}

func wantStatus(t *testing.T, err error, status int, phrase string) {
	t.Helper()
	var e *apiclient.Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a %d reply", err, status)
	}
	if e.Status != status || !strings.Contains(err.Error(), phrase) {
		t.Fatalf("got %v (status %d), want status %d saying %q", err, e.Status, status, phrase)
	}
}

// An acknowledged message is in neither database file soon after: not its
// ciphertext, not its (recipient, sender) row. Before the fix 15 of 19
// acknowledged messages were still readable in the files.
func TestAcknowledgedMessagesLeaveTheFiles(t *testing.T) {
	ctx := context.Background()
	ts := startServer(t, server.Config{OpenRegistration: true})
	const rcpt, sndr = "recipient-q7", "sender-z9"
	sender, recipient := register(t, ts.URL, sndr, ""), register(t, ts.URL, rcpt, "")
	files := func() [][]byte {
		var out [][]byte
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(filepath.Join(ts.dir, sqlite.FileName+suffix))
			if err == nil {
				out = append(out, b)
			}
		}
		return out
	}
	found := func(marker []byte) bool {
		for _, b := range files() {
			if bytes.Contains(b, marker) {
				return true
			}
		}
		return false
	}
	var markers [][]byte
	var ids []int64
	for i := range 19 {
		m := make([]byte, 24)
		rand.Read(m)
		size := 200
		if i%3 == 0 {
			size = 9000 // on overflow pages
		}
		data := append(bytes.Repeat([]byte{byte(i)}, size), m...)
		r, err := sender.Send(ctx, 0, []api.OutgoingEnvelope{{To: rcpt, Device: 1, Data: data}})
		if err != nil {
			t.Fatal(err)
		}
		markers = append(markers, m)
		ids = append(ids, r.IDs...)
	}
	row := []byte(rcpt + sndr) // device 1 is stored in the row header alone, so the names touch
	for i, m := range markers {
		if !found(m) {
			t.Fatalf("control: message %d is not in the files before it is acknowledged (the scan is broken)", i)
		}
	}
	if !found(row) {
		t.Fatal("control: the (recipient, sender) row is not in the files before the acknowledgement")
	}
	if _, err := recipient.Ack(ctx, ids); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * sqlite.DefaultScrubInterval)
	for {
		left := 0
		for _, m := range markers {
			if found(m) {
				left++
			}
		}
		if found(row) {
			left++
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 19 acknowledged messages (or their row) still readable in the database files %s after the acknowledgement", left, 3*sqlite.DefaultScrubInterval)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Info-level logs name no user, device, blob or client address: a whole
// session of requests (good and bad) leaves none of them in the log.
func TestInfoLogsNameNobody(t *testing.T) {
	ctx := context.Background()
	var logs syncBuffer
	ts := startServerLogging(t, server.Config{OpenRegistration: true}, &logs)
	alice, bob := register(t, ts.URL, "alice-logged", ""), register(t, ts.URL, "bob-logged", "")
	r, err := alice.Send(ctx, 0, []api.OutgoingEnvelope{{To: "bob-logged", Device: 1, Data: []byte("hello")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Ack(ctx, r.IDs); err != nil {
		t.Fatal(err)
	}
	info, err := alice.UploadBlob(ctx, bytes.NewReader(bytes.Repeat([]byte{1}, 5000)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.DownloadBlob(ctx, info.ID, io.Discard); err != nil {
		t.Fatal(err)
	}
	rawRequest(t, "GET", ts.URL+"/v1/prekeys", nil, "alice-logged", 1, newKey(t), time.Now())
	rawRequest(t, "GET", ts.URL+"/v1/nothing", nil, "alice-logged", 1, newKey(t), time.Now())
	_, _ = alice.Send(ctx, 0, []api.OutgoingEnvelope{{To: "nobody-logged", Device: 7, Data: []byte("x")}})
	ts.shutdown()
	out := logs.String()
	if !strings.Contains(out, "account registered") {
		t.Fatalf("the log is not being captured:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "server listening") {
			continue // the server's own address
		}
		for _, secret := range []string{"alice-logged", "bob-logged", "nobody-logged", info.ID, "127.0.0.1", "device=", "user=", "remote="} {
			if strings.Contains(line, secret) {
				t.Errorf("an info-level line names %q: %s", secret, line)
			}
		}
	}
}

// startServerLogging is startServer with an info-level text log in w.
func startServerLogging(t *testing.T, cfg server.Config, w io.Writer) *testServer {
	t.Helper()
	ts := &testServer{t: t, dir: t.TempDir(), cfg: cfg, logTo: w}
	ts.start()
	t.Cleanup(ts.shutdown)
	return ts
}

// An attacker who claims alice's device from his own address limits that
// claim at his address only: alice, elsewhere, is served.
func TestClaimedDeviceLimitIsPerAddress(t *testing.T) {
	prefixes, err := server.ParseTrustedProxies([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, server.Config{OpenRegistration: true, TrustedProxies: prefixes})
	alice := register(t, ts.URL, "alice", "")
	as := func(forwarded string, key ed25519.PrivateKey) (int, api.ErrorResponse) {
		req, _ := http.NewRequest("GET", ts.URL+"/v1/prekeys", nil)
		api.SignRequest(req, nil, "alice", 1, key, time.Now())
		req.Header.Set("X-Forwarded-For", forwarded)
		return doRaw(t, req)
	}
	wrong := newKey(t)
	limited := false
	for range 30 {
		if status, er := as("198.51.100.7", wrong); status == http.StatusTooManyRequests && strings.Contains(er.Error, "this account and device") {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("30 bad signatures claiming alice's device were never limited")
	}
	if status, er := as("203.0.113.9", alice.key); status != http.StatusOK {
		t.Fatalf("alice from her own address: %d %+v", status, er)
	}
	if status, _ := as("198.51.100.7", alice.key); status != http.StatusTooManyRequests {
		t.Fatalf("the claim stays limited at the attacker's address: %d", status)
	}
}
