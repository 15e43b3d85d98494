package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"backchannel/agent"
	"backchannel/canary"
)

// The desktop app end to end: the real program serves alice's window
// (backchannel app), headless Chromium from Debian drives it, and bob and
// carol use the command line in their own processes. Every step leaves a
// screenshot in artifactDir (the CI prints where).

// chromiumPath finds Debian's Chromium.
func chromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: the desktop app's browser tests need it (apt-get install chromium)")
	return ""
}

// artifactDir is where screenshots go: $BACKCHANNEL_ARTIFACTS, else
// artifacts/app at the top of the repository.
func artifactDir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("BACKCHANNEL_ARTIFACTS")
	if d == "" {
		d = filepath.Join("..", "..", "artifacts")
	}
	d = filepath.Join(d, "app")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// appSession is alice's window: the app process and a browser on it.
type appSession struct {
	t       testing.TB
	w       *agentWorld
	ctx     context.Context
	url     string
	shots   string
	step    int
	profile string // the browser's profile directory
	app     *exec.Cmd
	out     *bytes.Buffer
}

// startApp runs `backchannel --home alice app --no-browser` with no
// passphrase anywhere (the window must unlock it) and opens a browser on
// the address it prints, at width×height.
func startApp(t testing.TB, w *agentWorld, width, height int) *appSession {
	t.Helper()
	s := &appSession{t: t, w: w, shots: artifactDir(t), profile: t.TempDir(), out: &bytes.Buffer{}}
	old, _ := filepath.Glob(filepath.Join(s.shots, t.Name()+"-*.png"))
	for _, f := range old { // an earlier run's
		os.Remove(f)
	}
	s.app = w.cmd("", "--home", "alice", "app", "--no-browser")
	pr, err := s.app.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var appErr bytes.Buffer
	s.app.Stderr = &appErr
	if err := s.app.Start(); err != nil {
		t.Fatal(err)
	}
	urlCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.out.WriteString(line + "\n")
			if m := regexp.MustCompile(`http://127\.0\.0\.1:\d+/\?token=\S+`).FindString(line); m != "" {
				urlCh <- m
			}
		}
	}()
	t.Cleanup(func() {
		agent.Lock(context.Background(), filepath.Join(w.dir, "alice"))
		s.app.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { s.app.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.app.Process.Kill()
			<-done
		}
		if bytes.Contains(appErr.Bytes(), []byte("DATA RACE")) || bytes.Contains(appErr.Bytes(), []byte("panic:")) {
			t.Errorf("the app process failed:\n%s", appErr.String())
		}
	})
	select {
	case s.url = <-urlCh:
	case <-time.After(60 * time.Second):
		t.Fatalf("backchannel app printed no address; stderr:\n%s", appErr.String())
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(s.profile),
		chromedp.WindowSize(width, height),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	s.ctx = ctx
	// The viewport itself at width×height (a window's size includes its
	// frame, and headless windows are at least 500 px wide).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return s
}

// do runs actions with a deadline; on failure it saves a screenshot and
// the page's text so the failure can be read from the CI's output.
func (s *appSession) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		s.shot("failed-" + slug(what))
		tctx, tcancel := context.WithTimeout(s.ctx, 5*time.Second)
		text, _ := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("body")))
		tcancel()
		s.t.Fatalf("%s: %v\nthe page showed:\n%s\napp output:\n%s", what, err, text, s.out.String())
	}
}

// shot saves a numbered screenshot of the whole page.
func (s *appSession) shot(name string) {
	s.t.Helper()
	s.step++
	ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		s.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(s.shots, fmt.Sprintf("%s-%02d-%s.png", s.t.Name(), s.step, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		s.t.Logf("screenshot %s: %v", name, err)
	}
}

func slug(s string) string {
	return strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// tid is a CSS selector for a data-testid.
func tid(id string) string { return `[data-testid="` + id + `"]` }

// waitText waits until an element matching sel contains want, ignoring
// case (the page may begin a sentence with it), invisible characters and
// curly quotes (others' messages arrive marked).
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const fold = (t) => t.replace(/[\u200B-\u200D\u2060\uFEFF]/g, "").replace(/[\u2018\u2019]/g, "'").replace(/[\u201C\u201D]/g, '"').toLowerCase(); const els = document.querySelectorAll(%q); for (const e of els) { if (fold(e.textContent).includes(fold(%q))) return true; } return false; })()`, sel, want)
	return waitJS(js)
}

// waitJS waits until the expression is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(100*time.Millisecond))
}

// eval evaluates expr in the page (awaiting a promise) into a T.
func pageEval[T any](s *appSession, what, expr string) T {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// setValue puts text into a form field as a paste would (the text may hold
// invisible characters that key events cannot type) and tells the page.
func setValue(sel, text string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(sel)
	v, _ := json.Marshal(text)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.focus(); e.value = %s; e.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, q, v))(ctx, t)
		return err
	})
}

// unlock types the passphrase into the window's unlock screen.
func (s *appSession) unlock(pass string) {
	s.t.Helper()
	s.do("type the passphrase",
		chromedp.WaitVisible(chromedp.CSS(tid("unlock-passphrase"))),
		setValue(tid("unlock-passphrase"), pass),
		chromedp.Click(chromedp.CSS(tid("unlock-submit"))),
	)
}

// longProposal is alice's message that bob's copy of will leak: long
// enough (about 90 words) that a paste names its recipient.
const longProposal = "Here is where we stand after this morning. We can accept the revised schedule if the first payment arrives before the end of the quarter, and we would like the warranty period extended to eighteen months. " +
	"On the price, we are prepared to move a little, but only if the volume commitment is written into the contract itself rather than a side letter. " +
	"Please keep this between us for now; the board has not seen these numbers, and I would rather they hear them from me first."

func TestAppInBrowser(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	w.must(testPassphrase, "--home", "carol", "init", "--server", w.server, "--name", "carol")
	t.Cleanup(func() { agent.Lock(context.Background(), filepath.Join(w.dir, "carol")) })
	// Alice has compared safety numbers with bob: a new device of his then
	// waits for her to accept it.
	w.must(testPassphrase, "--home", "alice", "keys", "verify", "bob", "--confirm")
	agent.Lock(context.Background(), filepath.Join(w.dir, "alice"))
	awaitLocked(context.Background(), filepath.Join(w.dir, "alice"))

	s := startApp(t, w, 1280, 800)
	s.do("open the window", chromedp.Navigate(s.url), chromedp.WaitVisible(chromedp.CSS(tid("unlock"))))
	s.shot("unlock")

	// A wrong passphrase is refused in words, and the window stays locked.
	s.unlock("not the passphrase")
	s.do("a wrong passphrase is refused", chromedp.WaitVisible(chromedp.CSS(tid("unlock-error"))), waitText(tid("unlock-error"), "wrong passphrase"))
	s.shot("wrong-passphrase")
	s.unlock(testPassphrase)
	s.do("unlocked", chromedp.WaitVisible(chromedp.CSS(tid("room-list"))))
	s.shot("unlocked")

	// Once unlocked, the window's agent serves alice's other terminals.
	if out := w.must("", "--home", "alice", "status"); !strings.Contains(out, "alice") {
		t.Fatalf("alice's status from a terminal while the app is unlocked: %q", out)
	}

	// A room created in the window, its mode and marking chosen there.
	s.do("create a room",
		chromedp.Click(chromedp.CSS(`#new-room-open`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-room-name`)),
		chromedp.SendKeys(chromedp.CSS(`#new-room-name`), "deal"),
		chromedp.SendKeys(chromedp.CSS(`#new-room-members`), "bob, carol"),
		chromedp.Click(chromedp.CSS(`input[name="mode"][value="on-record"]`)),
		chromedp.Click(chromedp.CSS(`input[name="marking"][value="all"]`)),
		chromedp.Click(chromedp.CSS(`#new-room-submit`)),
		waitText(tid("room-header"), "deal"),
		waitText(tid("room-header"), "on-record"),
	)
	s.shot("room-created")
	s.do("the window says nothing of the connection once it is up",
		waitJS(`![...document.querySelectorAll('[data-testid="banner"]')].some(e => e.dataset.kind === "connection")`))

	// A message typed in the window reaches bob's command line, and his
	// reply appears in the window without a reload.
	s.do("send from the window",
		chromedp.SendKeys(chromedp.CSS(tid("composer")+" textarea"), "Opening position: thirty days (ref K1)."),
		chromedp.Click(chromedp.CSS(tid("send"))),
		waitText(tid("message"), "Opening position: thirty days (ref K1)."),
	)
	s.shot("sent")
	w.sees(testPassphrase, "bob", "deal", "alice: ", "(ref K1)")
	w.must("", "--home", "bob", "send", "deal", "Counter-offer: forty-five days, and 2% off.")
	s.do("bob's reply appears live", waitText(tid("message"), "Counter-offer: forty-five days"),
		waitJS(`[...document.querySelectorAll('[data-testid="message"]')].some(e => e.dataset.sender === "bob")`))
	s.shot("reply-live")

	// Sharing a document: bob gets it from the command line.
	doc := filepath.Join(w.dir, "terms.txt")
	if err := os.WriteFile(doc, []byte("Draft terms: delivery within thirty days of signature.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.do("share a document",
		chromedp.SetUploadFiles(chromedp.CSS(tid("attach")), []string{doc}),
		waitJS(`[...document.querySelectorAll('[data-testid="message"]')].some(e => e.dataset.kind === "doc" && e.textContent.includes("terms.txt"))`),
	)
	s.shot("document")
	if out := w.must("", "--home", "bob", "docs", "deal"); !strings.Contains(out, "terms.txt") {
		t.Fatalf("bob's docs list does not show the document shared in the window:\n%s", out)
	}

	// The long message whose copy bob will leak.
	s.do("send the proposal",
		chromedp.SendKeys(chromedp.CSS(tid("composer")+" textarea"), longProposal),
		chromedp.Click(chromedp.CSS(tid("send"))),
		waitText(tid("message"), "the board has not seen these numbers"),
	)
	bobRead := w.must("", "--home", "bob", "read", "deal")

	// Verify: a doctored quote of bob's reply is flagged, the authentic
	// line is not.
	leak := "alice: Opening position: thirty days (ref K1).\nbob: Counter-offer: sixty days, and 2% off.\n"
	s.do("verify a doctored leak",
		chromedp.Click(chromedp.CSS(tid("nav-verify"))),
		chromedp.WaitVisible(chromedp.CSS(tid("verify-input"))),
		setValue(tid("verify-input"), leak),
		chromedp.Click(chromedp.CSS(tid("verify-submit"))),
		chromedp.WaitVisible(chromedp.CSS(tid("verify-result"))),
		waitJS(`document.querySelectorAll('[data-testid="verify-result"] [data-verdict]').length >= 2`),
	)
	s.shot("verify")
	verdicts := pageEval[[]string](s, "read the verdicts", `[...document.querySelectorAll('[data-testid="verify-result"] [data-verdict]')].map(e => e.dataset.verdict)`)
	if len(verdicts) != 2 || verdicts[0] != "authentic" || verdicts[1] == "authentic" {
		t.Fatalf("verify of a doctored leak: verdicts %v, want [authentic, not authentic]", verdicts)
	}

	// Trace: bob's copy of the proposal, pasted, names bob.
	var bobCopy string
	for _, line := range strings.Split(bobRead, "\n") {
		if strings.Contains(canary.Normalize(line), "board has not seen") {
			_, bobCopy, _ = strings.Cut(line, "alice: ")
		}
	}
	if bobCopy == "" {
		t.Fatalf("bob's read has no proposal:\n%s", bobRead)
	}
	s.do("trace a pasted leak",
		chromedp.Click(chromedp.CSS(tid("nav-trace"))),
		chromedp.WaitVisible(chromedp.CSS(tid("trace-input"))),
		setValue(tid("trace-input"), bobCopy),
		chromedp.Click(chromedp.CSS(tid("trace-submit"))),
		chromedp.WaitVisible(chromedp.CSS(tid("trace-result"))),
		waitJS(`document.querySelector('[data-testid="trace-result"]').dataset.verdict !== undefined && document.querySelector('[data-testid="trace-result"]').dataset.verdict !== ""`),
	)
	s.shot("trace")
	traced := pageEval[struct {
		Verdict string `json:"verdict"`
		Text    string `json:"text"`
	}](s, "read the trace", `(() => { const e = document.querySelector('[data-testid="trace-result"]'); return {verdict: e.dataset.verdict, text: e.textContent}; })()`)
	if traced.Verdict != "identified" || !strings.Contains(traced.Text, "bob") || strings.Contains(traced.Text, "carol's copy") {
		t.Fatalf("trace of bob's copy: verdict %q, text %q; want bob named", traced.Verdict, traced.Text)
	}

	// Bob restores his account on a new device: alice compared numbers
	// with him, so the window shows the change and waits for her accept.
	withBackupPass := func(pass string, args ...string) {
		t.Helper()
		c := w.cmd(pass, args...)
		c.Env = append(c.Env, "BACKCHANNEL_BACKUP_PASSPHRASE=correct-horse-backup")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("backchannel %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	withBackupPass("", "--home", "bob", "backup", "-o", filepath.Join(w.dir, "bob.bcbackup"))
	agent.Lock(context.Background(), filepath.Join(w.dir, "bob"))
	awaitLocked(context.Background(), filepath.Join(w.dir, "bob"))
	withBackupPass(testPassphrase, "--home", "bob2", "restore", filepath.Join(w.dir, "bob.bcbackup"))
	t.Cleanup(func() { agent.Lock(context.Background(), filepath.Join(w.dir, "bob2")) })
	w.must(testPassphrase, "--home", "bob2", "send", "deal", "Back on a new laptop.")
	s.do("the new device shows in a banner",
		chromedp.Click(chromedp.CSS(tid("nav-rooms"))),
		chromedp.WaitVisible(chromedp.CSS(tid("timeline"))),
		waitJS(`[...document.querySelectorAll('[data-testid="banner"]')].some(e => (e.dataset.kind === "device" || e.dataset.kind === "key-change") && e.textContent.includes("bob"))`),
	)
	s.shot("device-banner")
	s.do("accept it",
		chromedp.Click(chromedp.CSS(`[data-testid="banner"][data-kind="device"] [data-testid="banner-accept"], [data-testid="banner"][data-kind="key-change"] [data-testid="banner-accept"]`)),
		waitJS(`![...document.querySelectorAll('[data-testid="banner"]')].some(e => (e.dataset.kind === "device" || e.dataset.kind === "key-change") && e.textContent.includes("bob"))`),
	)
	s.do("send after accepting",
		chromedp.SendKeys(chromedp.CSS(tid("composer")+" textarea"), "Welcome back (ref K2)."),
		chromedp.Click(chromedp.CSS(tid("send"))),
		waitText(tid("message"), "Welcome back (ref K2)."),
	)
	s.shot("accepted")
	w.sees("", "bob2", "deal", "alice: ", "(ref K2)")

	// Carol's room, from which she removes alice: the window shows it.
	w.must(testPassphrase, "--home", "carol", "room", "create", "side", "--members", "alice", "--mode", "deniable", "--marking", "off")
	s.do("carol's room arrives", waitText(tid("room-item"), "side"))
	w.must("", "--home", "carol", "room", "remove", "side", "alice")
	s.do("open the room alice was removed from",
		chromedp.Click(chromedp.Search(`//*[@data-testid="room-item"][contains(., "side")]`)),
		waitJS(`[...document.querySelectorAll('[data-testid="banner"]')].some(e => e.dataset.kind === "removed")`),
	)
	s.shot("removed")

	s.checkNoStorage([]string{testPassphrase, "Opening position", "Counter-offer", "Draft terms", "board has not seen"})
}

// sees reads room as user from the command line until a line holds both
// from and tag (a tag, not the whole text: each copy is marked, and the
// marks may change words), for up to 30 s.
func (w *agentWorld) sees(pass, user, room, from, tag string) {
	w.t.Helper()
	var out, errs string
	for i := 0; i < 60; i++ {
		out, errs, _ = w.run(pass, "--home", user, "read", room)
		for _, line := range strings.Split(canary.Normalize(out), "\n") {
			if strings.Contains(line, from) && strings.Contains(line, tag) {
				return
			}
		}
		pass = "" // the first read started the agent
		time.Sleep(500 * time.Millisecond)
	}
	w.t.Fatalf("%s's read of %s shows no line with %q and %q:\n%s%s", user, room, from, tag, out, errs)
}

// checkNoStorage asserts the browser kept nothing: no web storage, no
// IndexedDB, no Cache API, only the session cookie; then closes it and
// looks through its profile directory on disk for what must not be there.
func (s *appSession) checkNoStorage(secrets []string) {
	s.t.Helper()
	st := pageEval[struct {
		Local, Session int
		IDB, Caches    []string
		Cookie         string
	}](s, "read the page's storage", `(async () => ({
		local: localStorage.length, session: sessionStorage.length,
		idb: (await indexedDB.databases()).map(d => d.name),
		caches: await caches.keys(),
		cookie: document.cookie,
	}))()`)
	if st.Local != 0 || st.Session != 0 || len(st.IDB) != 0 || len(st.Caches) != 0 || st.Cookie != "" {
		s.t.Errorf("the page stored something: %+v", st)
	}
	res, err := chromedp.Call(s.ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		s.t.Fatalf("read the cookies: %v", err)
	}
	u, _ := url.Parse(s.url)
	for _, c := range res.Cookies {
		if c.Name != "bc_session_"+u.Port() || !c.HTTPOnly || !c.Session || c.Path != "/api" {
			b, _ := json.Marshal(c)
			s.t.Errorf("a cookie that should not be there (only the HttpOnly session cookie bc_session_PORT on /api is): %s", b)
		}
	}
	// Close the browser so that it writes what it keeps, then search it.
	chromedp.Cancel(s.ctx)
	filepath.WalkDir(s.profile, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) || bytes.Contains(b, utf16le(sec)) {
				s.t.Errorf("the browser's profile holds %q in %s", sec, p)
			}
		}
		return nil
	})
}

// utf16le is s as Chromium stores some strings on disk.
func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}
