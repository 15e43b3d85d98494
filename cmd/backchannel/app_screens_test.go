package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"backchannel/agent"
)

// The window at a phone's width, with the keyboard, the microphone, the
// safety-number screen and the devices screen: a narrow window shows the
// room list or the room, never both; Enter sends; a voice note recorded in
// the browser (Chromium's fake microphone) reaches bob marked for him; the
// safety number has 12 groups and a QR code and confirming it marks bob
// verified; a device linked from the window, its code typed on the new
// device and the words compared, joins the account; every control has a
// name a screen reader can say.
func TestAppEverydayScreens(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	w.must(testPassphrase, "--home", "alice", "room", "create", "pair", "--members", "bob", "--marking", "all")
	agent.Lock(context.Background(), filepath.Join(w.dir, "alice"))
	awaitLocked(context.Background(), filepath.Join(w.dir, "alice"))

	s := startApp(t, w, 420, 800)
	s.do("open the window", chromedp.Navigate(s.url))
	s.unlock(testPassphrase)
	s.do("unlocked at 420 px", chromedp.WaitVisible(chromedp.CSS(tid("room-list"))), waitText(tid("room-item"), "pair"))
	s.shot("narrow-rooms")
	if wd := pageEval[int](s, "the width", `window.innerWidth`); wd != 420 {
		t.Fatalf("the page is %d px wide, want 420", wd)
	}

	// Narrow: the room replaces the list, and Back brings the list back.
	visible := func(sel string) string {
		return `(() => { const e = document.querySelector(` + jsString(sel) + `); if (!e) return false; const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden"; })()`
	}
	s.do("open the room", chromedp.Click(chromedp.CSS(tid("room-item"))), waitJS(visible(tid("timeline"))), waitJS("!"+visible(tid("room-list"))))
	s.shot("narrow-room")
	s.do("back to the list", chromedp.Click(chromedp.CSS(`button.back`)), waitJS(visible(tid("room-list"))), waitJS("!"+visible(tid("timeline"))))
	s.do("the room again", chromedp.Click(chromedp.CSS(tid("room-item"))), waitJS(visible(tid("composer"))))

	// Enter sends; Shift+Enter would have made a new line.
	s.do("type and press Enter",
		chromedp.SendKeys(chromedp.CSS(tid("composer")+" textarea"), "Typed with the keyboard (ref K3)."),
		chromedp.KeyEvent("\r"),
		waitText(tid("message"), "Typed with the keyboard (ref K3)."),
		waitJS(`document.querySelector('[data-testid="composer"] textarea').value === ""`))
	w.sees(testPassphrase, "bob", "pair", "alice: ", "(ref K3)")

	// A voice note from the fake microphone (a tone), about 6 s.
	s.do("record a voice note", chromedp.Click(chromedp.CSS(tid("record"))), chromedp.Sleep(6*time.Second), chromedp.Click(chromedp.CSS(tid("record"))),
		waitJS(`[...document.querySelectorAll('[data-testid="message"]')].some(e => e.dataset.kind === "voice")`))
	s.shot("voice-note")
	secs := pageEval[float64](s, "play it back", `(async () => {
		const a = document.querySelector('[data-testid="message"][data-kind="voice"] audio');
		a.preload = "auto"; a.load();
		await new Promise((ok, bad) => { a.onloadedmetadata = ok; a.onerror = () => bad(new Error("the browser cannot load the voice note")); });
		return a.duration;
	})()`)
	if secs < 3 || secs > 10 {
		t.Errorf("the voice note plays back %.1f s long, want about 6", secs)
	}
	w.sees("", "bob", "pair", "alice: ", "voice note")

	// A file dropped on the timeline is shared, and the Download link gives
	// alice her copy back.
	pageEval[bool](s, "drop a file on the timeline", `(() => {
		const dt = new DataTransfer();
		dt.items.add(new File(["Annex B: the payment schedule (ref K4).\n"], "annex.txt", {type: "text/plain"}));
		const tl = document.querySelector('[data-testid="timeline"]');
		tl.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true, cancelable: true}));
		tl.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
		return true;
	})()`)
	s.do("the dropped file is shared", waitJS(`[...document.querySelectorAll('[data-testid="message"]')].some(e => e.dataset.kind === "doc" && e.textContent.includes("annex.txt"))`))
	got := pageEval[string](s, "download it", `(async () => {
		const m = [...document.querySelectorAll('[data-testid="message"]')].find(e => e.dataset.kind === "doc" && e.textContent.includes("annex.txt"));
		const r = await fetch(m.querySelector("a[download]").href);
		return r.ok ? await r.text() : "HTTP " + r.status;
	})()`)
	if got != "Annex B: the payment schedule (ref K4).\n" {
		t.Errorf("the downloaded copy of the dropped file is %q", got)
	}
	if out := w.must("", "--home", "bob", "docs", "pair"); !strings.Contains(out, "annex.txt") {
		t.Errorf("bob's docs do not list the dropped file:\n%s", out)
	}

	// The safety-number screen.
	s.do("open bob's safety number", chromedp.Click(chromedp.CSS(`[data-testid="member"][data-name="bob"]`)),
		chromedp.WaitVisible(chromedp.CSS(tid("safety-number"))),
		waitJS(`(() => { const q = document.querySelector("img.qr"); return q && q.complete && q.naturalWidth > 0; })()`))
	number := pageEval[string](s, "read the safety number", `document.querySelector('[data-testid="safety-number"]').textContent`)
	if groups := regexp.MustCompile(`\d{5}`).FindAllString(number, -1); len(groups) != 12 {
		t.Errorf("the safety number shows %d groups of 5 digits, want 12: %q", len(groups), number)
	}
	cli := w.must("", "--home", "alice", "keys", "verify", "bob")
	if digits := regexp.MustCompile(`\D`).ReplaceAllString(number, ""); !strings.Contains(regexp.MustCompile(`\D`).ReplaceAllString(cli, ""), digits) {
		t.Errorf("the window's safety number %q is not the one the command line shows:\n%s", number, cli)
	}
	s.shot("safety-number")
	s.do("confirm it", chromedp.Click(chromedp.CSS(tid("verify-confirm"))), waitText(`#verify-dialog`, "You have verified bob"),
		chromedp.Click(chromedp.CSS(`#vd-close`)), waitJS(`!document.querySelector("#verify-dialog").open`),
		waitJS(`document.querySelector('[data-testid="member"][data-name="bob"]').dataset.verified === "true"`))

	// Link a laptop from the window.
	s.do("open the devices", chromedp.Click(chromedp.CSS(tid("nav-devices"))), chromedp.WaitVisible(chromedp.CSS(tid("device"))),
		setValue(tid("devices-passphrase"), "not the passphrase"), chromedp.Click(chromedp.CSS(tid("link-device"))),
		waitText(`#link-panel`, "wrong passphrase"),
		setValue(tid("devices-passphrase"), testPassphrase), chromedp.Click(chromedp.CSS(tid("link-device"))),
		waitText(`#link-panel pre`, "bcl1-"))
	s.shot("link-code")
	code := regexp.MustCompile(`bcl1-\S+`).FindString(pageEval[string](s, "read the code", `document.querySelector("#link-panel pre").textContent`))
	laptop := w.cmd(testPassphrase, "--home", "laptop", "init", "--link", code, "--device-name", "laptop", "--yes")
	var laptopOut bytes.Buffer
	laptop.Stdout, laptop.Stderr = &laptopOut, &laptopOut
	if err := laptop.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Lock(context.Background(), filepath.Join(w.dir, "laptop")) })
	s.do("compare the words", chromedp.WaitVisible(chromedp.CSS(tid("link-sas"))))
	s.shot("link-sas")
	s.do("they match", chromedp.Click(chromedp.Search(`//button[contains(., "Yes, they match")]`)), waitText(`#link-panel`, "Device linked"))
	done := make(chan error, 1)
	go func() { done <- laptop.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the new device's init: %v\n%s", err, laptopOut.String())
		}
	case <-time.After(60 * time.Second):
		laptop.Process.Kill()
		t.Fatalf("the new device's init did not finish:\n%s", laptopOut.String())
	}
	s.do("the laptop is listed", waitText(tid("device"), "laptop"))
	s.shot("linked")
	if out := w.must("", "--home", "alice", "devices"); !strings.Contains(out, "laptop") {
		t.Fatalf("alice's devices from the command line after the link:\n%s", out)
	}
	// Remove it again (the page asks first: the test says yes).
	pageEval[bool](s, "answer yes to the page's question", `(window.confirm = () => true, true)`)
	s.do("remove the laptop", setValue(tid("devices-passphrase"), testPassphrase), chromedp.Click(chromedp.CSS(`button[aria-label="Remove laptop"]`)),
		waitJS(`![...document.querySelectorAll('[data-testid="device"]')].some(e => e.textContent.includes("laptop"))`))
	if out := w.must("", "--home", "alice", "devices"); strings.Contains(out, "laptop") {
		t.Fatalf("alice's devices still list the laptop the window removed:\n%s", out)
	}

	// Every control has a name.
	unnamed := pageEval[[]string](s, "controls without a name", `[...document.querySelectorAll("button, input, select, textarea, a[href]")]
		.filter(e => !e.closest("[hidden]") && e.type !== "hidden")
		.filter(e => {
			const label = e.getAttribute("aria-label") || (e.labels && [...e.labels].map(l => l.textContent).join("")) ||
				(e.getAttribute("aria-labelledby") || "").split(" ").map(id => (document.getElementById(id) || {}).textContent || "").join("") ||
				e.textContent || e.getAttribute("title") || e.getAttribute("alt") || "";
			return label.trim() === "";
		}).map(e => e.outerHTML.slice(0, 120))`)
	for _, u := range unnamed {
		t.Errorf("a control without an accessible name: %s", u)
	}
	s.impostor()
	s.checkNoStorage([]string{testPassphrase, "Typed with the keyboard", code})
}

// impostor stops the app and puts another program on its address, as a
// local attacker waiting for the port would: it answers the page's
// reconnection with a locked state and a stream that says "locked". The
// page must say that backchannel stopped, and send it nothing (no
// passphrase, no message): only its checks, GETs.
func (s *appSession) impostor() {
	s.t.Helper()
	u, _ := url.Parse(s.url)
	s.app.Process.Signal(os.Interrupt)
	s.app.Wait()
	var mu sync.Mutex
	var seen []string
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		switch r.URL.Path {
		case "/api/events":
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "event: locked\ndata: {}\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "/api/state":
			fmt.Fprint(w, `{"locked":true,"can_unlock":true,"user":"alice"}`)
		default:
			fmt.Fprint(w, `{}`)
		}
	})
	var ln net.Listener
	var err error
	for range 50 { // the app lets go of the port as it exits
		if ln, err = net.Listen("tcp", u.Host); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("take the app's address: %v", err)
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	defer hs.Close()
	s.do("the page says backchannel stopped", chromedp.WaitVisible(chromedp.CSS(tid("stopped"))))
	s.shot("impostor")
	// Typing a passphrase anyway goes nowhere: the form is gone.
	if n := pageEval[int](s, "unlock forms", `document.querySelectorAll('[data-testid="unlock-passphrase"]:not([hidden])').length`); n != 0 {
		if visible := pageEval[bool](s, "unlock form visible", `(() => { const e = document.querySelector('[data-testid="unlock-passphrase"]'); return !!e && e.getBoundingClientRect().width > 0; })()`); visible {
			s.t.Error("the page still offers to take the passphrase after the server changed")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, r := range seen {
		if !strings.HasPrefix(r, "GET ") {
			s.t.Errorf("the page sent the impostor %s", r)
		}
	}
	s.t.Logf("the impostor saw: %v", seen)
}

func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
