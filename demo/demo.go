// Package demo runs the whole backchannel story on an embedded server on a
// loopback port, in a temporary directory, with no set-up, in the order of
// the product brief:
//
//  1. three people register and compare safety numbers;
//  2. one of them opens an on-record room with marking on every channel,
//     and they negotiate (each member receives a differently marked copy,
//     shown with the invisible marks made visible);
//  3. a member leaks a retyped transcript with two doctored lines;
//  4. verify flags exactly those two lines and confirms every other one
//     with its signer and time;
//  5. trace names the member whose copy leaked, with ε and its bound;
//  6. the server's storage is searched for the negotiation's words (none is
//     there);
//  7. a malicious operator adds a ghost device to a member's account, and
//     the sender is told that nothing was encrypted to it;
//  8. voice notes: a placeholder until they exist.
//
// Every step checks its outcome and Run fails if one does not hold, so the
// demo cannot tell a story the code does not back. Each step shows the CLI
// commands that do the same by hand, then the outcome; with Options.JSON
// each step is instead one JSON object on its own line (JSON lines) and
// nothing else is written.
package demo

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"backchannel/client"
	"backchannel/localserver"
	"backchannel/server"
)

const roomName = "ceasefire-talks"

// Members of the demo, in the order they speak first.
var members = []string{"envoy", "aide", "adviser"}

// Leaker is the member whose copy the demo leaks.
const Leaker = "aide"

// Script is the negotiation the demo plays: speaker and line. Its lines
// hold wording alternatives the lexical marks use ("two" and "2", "won't"
// and "will not", "I'll" and "I will").
var Script = []struct{ Speaker, Text string }{
	{"envoy", "Thank you both. Our position on the ceasefire line has not changed since Tuesday."},
	{"aide", "Their side proposed a 30-day pause in the north, with monitors from a neutral country."},
	{"adviser", "A 30-day pause is acceptable if the monitors report to both capitals at the same time."},
	{"envoy", "Then we will accept the pause, but we will not accept monitors from their allies."},
	{"aide", "Understood. I'll draft the monitoring annex tonight and circulate it by nine."},
	{"adviser", "Please keep the annex to two pages; the ministers won't read more."},
}

//go:embed briefing.txt
var briefing string

// briefingParagraphs are the messages of the envoy's background briefing.
func briefingParagraphs() []string { return strings.Split(strings.TrimSpace(briefing), "\n\n") }

// Options tune the demo.
type Options struct {
	// Client are the clients' options (tests use cheaper key derivation).
	Client client.Options
	// Dir is the working directory; a temporary one (removed after) if empty.
	Dir string
	// JSON writes one JSON object per step, one per line, and nothing else.
	JSON bool
	// Highlight shows the words that differ between copies in reverse video
	// (for a terminal) instead of between brackets.
	Highlight bool
}

// Step is one step of the story, as Options.JSON writes it.
type Step struct {
	// Step names the step: server, register, safety-numbers, room,
	// negotiation, copies, leak, verify, trace, server-storage,
	// ghost-device, voice-note.
	Step  string `json:"step"`
	Title string `json:"title"`
	// Command holds the CLI commands that do the same by hand, one per
	// line; empty when no command does (the operator's attack, a feature
	// not built yet).
	Command string `json:"command"`
	// Outcome is what the step produced and checked.
	Outcome any `json:"outcome"`
	// show is the text the step prints: commands start with "$ ".
	show []string
}

// Steps lists the steps' names in the order Run plays them.
var Steps = []string{"server", "register", "safety-numbers", "room", "negotiation", "copies", "leak", "verify", "trace", "server-storage", "ghost-device", "voice-note"}

type participant struct {
	name string
	home string
	c    *client.Client
}

// story is one run of the demo.
type story struct {
	opt    Options
	w      io.Writer
	dir    string
	srv    *localserver.Server
	people map[string]*participant
	room   string // the room's id
	steps  []Step
	// leakPath is the leaked transcript; doctored its doctored lines.
	leakPath  string
	leakText  string
	leakLines []leakLine
	doctored  []leakLine
	// baseline: the search words the server's storage held at its start.
	baseline map[string][]string
}

// Run plays the demo, writing the story to w, and returns its steps. It
// fails as soon as a step's outcome does not hold.
func Run(ctx context.Context, w io.Writer, opt Options) (steps []Step, err error) {
	dir := opt.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "backchannel-demo-"); err != nil {
			return nil, fmt.Errorf("create the demo's directory: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	if opt.Client.DeviceName == "" {
		opt.Client.DeviceName = "laptop"
	}
	s := &story{opt: opt, w: w, dir: dir, people: map[string]*participant{}}
	defer func() {
		for _, p := range s.people {
			p.c.Close()
		}
		if s.srv != nil {
			s.srv.Stop()
		}
	}()
	if !opt.JSON {
		fmt.Fprintln(w, "The whole story on an embedded server on loopback, in a temporary directory.")
		fmt.Fprintln(w, "Each step shows the commands that do the same by hand ($ ...), then what happened.")
	}
	for _, step := range []func(context.Context) (Step, error){
		s.startServer, s.register, s.safetyNumbers, s.createRoom, s.negotiate, s.copies,
		s.leak, s.verify, s.trace, s.serverStorage, s.ghostDevice, s.voiceNote,
	} {
		st, err := step(ctx)
		if err != nil {
			return s.steps, err
		}
		if err := s.emit(st); err != nil {
			return s.steps, err
		}
	}
	if !opt.JSON {
		fmt.Fprintln(w, "\nDone: every message reached every member, the doctored lines were exposed, the leak")
		fmt.Fprintln(w, "named the copy it came from, the server held only ciphertext and its ghost device got nothing.")
	}
	return s.steps, nil
}

// emit writes one step: as a JSON line, or as its title, commands and
// outcome.
func (s *story) emit(st Step) error {
	var cmds []string
	for _, l := range st.show {
		if c, ok := strings.CutPrefix(l, "$ "); ok {
			cmds = append(cmds, c)
		}
	}
	st.Command = strings.Join(cmds, "\n")
	s.steps = append(s.steps, st)
	if s.opt.JSON {
		b, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode step %s: %w", st.Step, err)
		}
		_, err = fmt.Fprintf(s.w, "%s\n", b)
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n== %d. %s\n", len(s.steps), st.Title)
	for _, l := range st.show {
		if l == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("   " + l + "\n")
	}
	_, err := io.WriteString(s.w, b.String())
	return err
}

// cli is the command line a member would type (shell-quoted where needed).
func cli(home string, args ...string) string {
	var b strings.Builder
	b.WriteString("$ backchannel")
	if home != "" {
		b.WriteString(" --home ./" + home)
	}
	for _, a := range args {
		b.WriteString(" " + shellQuote(a))
	}
	return b.String()
}

// shellQuote quotes a for a POSIX shell when it needs it.
func shellQuote(a string) string {
	if a != "" && strings.IndexFunc(a, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:,=@", r))
	}) < 0 {
		return a
	}
	if !strings.ContainsAny(a, `"$\`+"`!") {
		return `"` + a + `"`
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

// startServer starts the embedded server.
func (s *story) startServer(ctx context.Context) (Step, error) {
	srv, err := localserver.Start(ctx, filepath.Join(s.dir, "server"), "127.0.0.1:0", server.Config{OpenRegistration: true}, nil)
	if err != nil {
		return Step{}, fmt.Errorf("start the demo's server: %w", err)
	}
	s.srv = srv
	// What the storage holds before anyone registers: words of its own
	// (table definitions), left out of the plaintext search later.
	sc, err := scanStorage(ctx, srv.Dir, searchWords(s.opt.Client.DeviceName))
	if err != nil {
		return Step{}, err
	}
	s.baseline = sc.found
	return Step{
		Step: "server", Title: "A server on loopback",
		Outcome: struct {
			URL string `json:"url"`
		}{srv.URL},
		show: []string{
			cli("", "serve", "--data", "./server", "--addr", strings.TrimPrefix(srv.URL, "http://"), "--open-registration"),
			"listening on " + srv.URL + " (the demo's server runs in this process)",
		},
	}, nil
}

// thousands writes n with a comma every three digits.
func thousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
