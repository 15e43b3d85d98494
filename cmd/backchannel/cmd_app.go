package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"backchannel/agent"
	"backchannel/client"
	"backchannel/webapp"
)

// agentWeb is the desktop app an agent serves: started by the first 'app'
// that asks, reused by the next, stopped with the agent (or detached from
// the profile, when the app started the agent: the app goes on, locked).
type agentWeb struct {
	ctx   context.Context // the agent's: the server ends with it
	home  string
	log   *slog.Logger // the agent's log (agent.log when started on demand)
	touch func()       // the window's use counts against the agent's idle time
	mu    sync.Mutex
	srv   *webapp.Server
}

// start serves the app on addr unless it is served already; it returns
// the address to open.
func (a *agentWeb) start(addr string, c *client.Client, g *globals) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil {
		return a.srv.URL(), nil
	}
	ln, err := webapp.Listen(addr)
	if err != nil {
		return "", err
	}
	// The window's Lock locks this agent, as 'backchannel lock' would: the
	// window then says so, and a new 'backchannel app' unlocks again.
	home := a.home
	lock := func() { agent.Lock(context.WithoutCancel(a.ctx), home) }
	srv, err := webapp.New(webapp.Options{Lock: lock, Logger: a.log})
	if err != nil {
		ln.Close()
		return "", err
	}
	srv.Attach(c, g.hub, a.touch)
	go srv.Serve(a.ctx, ln)
	for srv.URL() == "" {
		time.Sleep(time.Millisecond)
	}
	a.srv = srv
	return srv.URL(), nil
}

// detach tells the app's pages the profile is closing.
func (a *agentWeb) detach() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil {
		a.srv.Detach()
	}
}

// appReady is what 'app --attach' prints inside the agent.
type appReady struct {
	URL string `json:"url"`
}

func newAppCmd(g *globals) *cobra.Command {
	var noBrowser, attach bool
	var addr string
	var idle time.Duration
	cmd := &cobra.Command{
		Use:   "app [--no-browser] [--addr 127.0.0.1:PORT]",
		Short: "Open the desktop app: your rooms in a browser window, served by this computer only",
		Long: `app serves backchannel's window — rooms, messages, documents, voice notes,
safety numbers, devices, verify and trace — on this computer's loopback address,
and opens it in the system browser (or prints the address to open). Every key
stays in this program: the browser shows and records, nothing more, and keeps
nothing once its tab is closed.

When an agent already holds the profile unlocked, app asks it to serve the window
and returns. Otherwise app becomes the profile's agent in the foreground, locked:
the window asks for the passphrase, and once it is unlocked other terminals' commands
use it too. Lock from the window, with 'backchannel lock', or after --idle without
a command; Ctrl-C stops it.

The address holds a token drawn at every start; only a browser that opened it can
use the window. Nothing listens on other addresses than 127.0.0.1 (--addr may name
another loopback address and port).`,
		Example: `  backchannel app
  backchannel app --no-browser          # print the address only
  backchannel app --addr 127.0.0.1:8765`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if attach {
				if !g.env.inAgent || g.web == nil || g.profile == nil {
					return usageError{errors.New("--attach is used by 'backchannel app' itself")}
				}
				u, err := g.web.start(addr, g.profile(), g)
				if err != nil {
					return err
				}
				return printJSON(g.env.stdout, appReady{URL: u})
			}
			home, err := g.homeDir()
			if err != nil {
				return err
			}
			if _, err := os.Stat(filepath.Join(home, client.ProfileFile)); err != nil {
				return fmt.Errorf("no profile in %s: run 'backchannel init' first (or pass --home)", home)
			}
			if !cmd.Flags().Changed("idle") {
				idle = defaultIdle
				if v, ok := g.env.lookupEnv(envAgentIdle); ok {
					if d, err := time.ParseDuration(v); err == nil && d >= 0 {
						idle = d
					}
				}
			}
			if agent.Ping(cmd.Context(), home) {
				u, err := askAgentForApp(cmd.Context(), home, addr)
				if err != nil {
					return err
				}
				g.showApp(u, noBrowser, "served by the agent that holds the profile unlocked")
				return nil
			}
			return g.runApp(cmd.Context(), home, addr, idle, noBrowser)
		},
	}
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "print the address, do not open a browser")
	cmd.Flags().StringVar(&addr, "addr", "", "the loopback address and port to serve on (default 127.0.0.1 on a free port)")
	cmd.Flags().DurationVar(&idle, "idle", defaultIdle, "lock after this long without a command (0: never)")
	cmd.Flags().BoolVar(&attach, "attach", false, "internal: run inside the agent")
	cmd.Flags().MarkHidden("attach")
	return cmd
}

// askAgentForApp runs 'app --attach' in the running agent and returns the
// address it serves.
func askAgentForApp(ctx context.Context, home, addr string) (string, error) {
	var out, errb bytes.Buffer
	args := []string{"--home", home, "app", "--attach"}
	if addr != "" {
		args = append(args, "--addr", addr)
	}
	code, err := agent.Run(ctx, home, agent.Request{Op: agent.OpExec, Args: args}, agent.Terminal{Stdout: &out, Stderr: &errb})
	if err != nil {
		return "", err
	}
	if code != 0 {
		return "", errors.New(strings.TrimSpace(strings.TrimPrefix(errb.String(), "error: ")))
	}
	var r appReady
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.URL == "" {
		return "", errors.New("the agent did not say where it serves the app (see agent.log in the profile directory)")
	}
	return r.URL, nil
}

// openFile is the page, in the profile directory, that sends the browser
// on to the app's address: the browser is started on this file, so the
// token is never on a command line (which other users of the computer can
// read in the process list).
const openFile = "app-open.html"

// showApp prints the address and opens the browser on it.
func (g *globals) showApp(u string, noBrowser bool, how string) {
	fmt.Fprintf(g.env.stdout, "backchannel app (%s):\n  %s\n", how, u)
	if noBrowser {
		return
	}
	home, err := g.homeDir()
	if err != nil {
		return
	}
	p := filepath.Join(home, openFile)
	page := fmt.Sprintf(`<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=%s"><title>backchannel</title><a href="%s">Open backchannel</a>`+"\n",
		html.EscapeString(u), html.EscapeString(u))
	os.Remove(p) // a file left by another start: replaced, never followed if it is a link
	if err := os.WriteFile(p, []byte(page), 0o600); err != nil {
		fmt.Fprintf(g.env.stdout, "(no browser could be opened: %v; open the address above)\n", err)
		return
	}
	if err := openBrowser((&url.URL{Scheme: "file", Path: p}).String(), g.env.lookupEnv); err != nil {
		fmt.Fprintf(g.env.stdout, "(no browser could be opened: %v; open the address above)\n", err)
	}
}

// openBrowser opens u in the system browser, when this computer has one
// (getenv: the caller's environment).
func openBrowser(u string, getenv func(string) (string, bool)) error {
	var name string
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		return exec.Command("rundll32", "url.dll,FileProtocolHandler", u).Start()
	default:
		d, _ := getenv("DISPLAY")
		wd, _ := getenv("WAYLAND_DISPLAY")
		if d == "" && wd == "" {
			return errors.New("no display")
		}
		name = "xdg-open"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("%s is not installed", name)
	}
	c := exec.Command(p, u)
	if err := c.Start(); err != nil {
		return err
	}
	go c.Wait()
	return nil
}

// runApp is the app that is also the profile's agent: it serves the window
// locked, and each unlock from the window runs the agent until it locks.
func (g *globals) runApp(ctx context.Context, home, addr string, idle time.Duration, noBrowser bool) error {
	ln, err := webapp.Listen(addr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(g.env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var mu sync.Mutex
	var lockNow context.CancelCauseFunc
	var srv *webapp.Server
	unlock := func(_ context.Context, pw []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if lockNow != nil {
			return nil // unlocked meanwhile
		}
		if agent.Ping(ctx, home) {
			return client.ErrProfileInUse
		}
		c, err := client.Open(ctx, home, pw, client.Options{})
		if err != nil {
			return err
		}
		actx, cancel := context.WithCancelCause(ctx)
		lockNow = cancel
		started := make(chan struct{})
		go func() {
			err := serveAgent(actx, g, home, c, idle, func() { close(started) }, srv)
			mu.Lock()
			lockNow = nil
			mu.Unlock()
			cancel(nil)
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, agent.ErrLocked) && !errors.Is(err, agent.ErrIdle) {
				logger.Warn("the agent stopped", "reason", lockReason(err))
			}
			if ctx.Err() == nil {
				fmt.Fprintf(g.env.stdout, "Locked (%s); the window asks for the passphrase again.\n", lockReason(context.Cause(actx)))
			}
		}()
		select {
		case <-started:
		case <-actx.Done():
		}
		fmt.Fprintf(g.env.stdout, "Unlocked %s's profile; other terminals' commands use it too.\n", c.User())
		return nil
	}
	lock := func() {
		mu.Lock()
		defer mu.Unlock()
		if lockNow != nil {
			lockNow(agent.ErrLocked)
		}
	}
	srv, err = webapp.New(webapp.Options{Unlock: unlock, Lock: lock, Logger: logger})
	if err != nil {
		ln.Close()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	for srv.URL() == "" {
		time.Sleep(time.Millisecond)
	}
	g.showApp(srv.URL(), noBrowser, "locked until you unlock it in the window; Ctrl-C stops it")
	err = <-done
	lock()
	// Wait until the agent has closed the profile.
	for i := 0; i < 200; i++ {
		mu.Lock()
		open := lockNow != nil
		mu.Unlock()
		if !open {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
