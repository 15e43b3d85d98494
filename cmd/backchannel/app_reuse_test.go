package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
)

// When an agent already holds the profile, app asks it to serve the window
// and returns; a second app gets the same window; the window serves the
// open profile at once (no unlock), and its Lock locks the agent.
func TestAppReusesTheRunningAgent(t *testing.T) {
	w := newAgentWorld(t)
	w.setup()
	w.must(testPassphrase, "--home", "alice", "status") // starts alice's agent
	out := w.must("", "--home", "alice", "app", "--no-browser")
	if !strings.Contains(out, "served by the agent") {
		t.Fatalf("app with an agent running:\n%s", out)
	}
	re := regexp.MustCompile(`http://127\.0\.0\.1:\d+/\?token=\S+`)
	u := re.FindString(out)
	if again := re.FindString(w.must("", "--home", "alice", "app", "--no-browser")); again != u || u == "" {
		t.Fatalf("a second app got %q, the first %q: the agent should serve one window", again, u)
	}
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	get := func(path string) string {
		t.Helper()
		resp, err := hc.Get(path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	get(u)
	base := u[:strings.Index(u, "/?token=")]
	if st := get(base + "/api/state"); !strings.Contains(st, `"locked":false`) || !strings.Contains(st, `"user":"alice"`) {
		t.Fatalf("the agent's window: /api/state = %s", st)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/api/lock", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("the window's Lock: %s", resp.Status)
	}
	awaitLocked(t.Context(), w.dir+"/alice")
	if _, _, code := w.run("", "--home", "alice", "status"); code == 0 {
		t.Fatal("after the window's Lock, a command still ran without a passphrase")
	}
}
