package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"backchannel/canary"
	"backchannel/client"
	"backchannel/vault"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the README's demo output from this run")

func fastOptions(t *testing.T) Options {
	return Options{Client: client.Options{Params: vault.Params{Time: 1, Memory: 64, Threads: 1}}, Dir: t.TempDir()}
}

// outcome decodes step name's outcome into v.
func outcome(t *testing.T, steps []Step, name string, v any) {
	t.Helper()
	i := slices.IndexFunc(steps, func(s Step) bool { return s.Step == name })
	if i < 0 {
		t.Fatalf("no step %q", name)
	}
	b, err := json.Marshal(steps[i].Outcome)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("step %s: %v", name, err)
	}
}

// TestDemo runs the demo and checks each step's outcome, the text it
// prints, and that the README's demo section is its output.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	steps, err := Run(context.Background(), &out, fastOptions(t))
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	text := out.String()
	var names []string
	for _, s := range steps {
		names = append(names, s.Step)
		if s.Command == "" && s.Step != "voice-note" {
			t.Errorf("step %s shows no command", s.Step)
		}
		if s.Command != "" && !strings.Contains(text, "$ "+strings.Split(s.Command, "\n")[0]) {
			t.Errorf("step %s's command %q is not printed", s.Step, s.Command)
		}
	}
	if !slices.Equal(names, Steps) {
		t.Fatalf("steps %v, want %v", names, Steps)
	}

	var lk struct {
		Words    int `json:"words"`
		Doctored []struct {
			Line     int    `json:"line"`
			Doctored string `json:"doctored"`
		} `json:"doctored"`
	}
	outcome(t, steps, "leak", &lk)
	var vr struct {
		Flagged []int `json:"flagged"`
		Lines   []struct {
			Line    int    `json:"line"`
			Verdict string `json:"verdict"`
			Sender  string `json:"sender"`
			SentAt  string `json:"sent_at"`
		} `json:"lines"`
	}
	outcome(t, steps, "verify", &vr)
	if len(lk.Doctored) != 2 || !slices.Equal(vr.Flagged, []int{lk.Doctored[0].Line, lk.Doctored[1].Line}) {
		t.Errorf("verify flagged %v, the doctored lines are %+v", vr.Flagged, lk.Doctored)
	}
	for _, l := range vr.Lines {
		if l.Verdict == "authentic" && (l.Sender == "" || l.SentAt == "") {
			t.Errorf("authentic line %d without signer or time: %+v", l.Line, l)
		}
	}
	var tr canary.Result
	outcome(t, steps, "trace", &tr)
	if tr.Verdict != canary.Identified || len(tr.Suspects) != 1 || tr.Suspects[0].Member != Leaker || tr.Suspects[0].FalseAccusationBound > tr.Epsilon {
		t.Errorf("trace: %s %+v", tr.Verdict, tr.Suspects)
	}
	// One word count: the leak's, as the leak step and trace print it.
	if want := fmt.Sprintf("%s words.", thousands(lk.Words)); !strings.Contains(text, "leak.txt: 71 lines, "+want) {
		t.Errorf("the leak step does not say %q", want)
	}
	if want := fmt.Sprintf("%s of the leak's %s words", thousands(tr.WordsMatched), thousands(lk.Words)); !strings.Contains(text, want) || tr.WordsMatched > lk.Words {
		t.Errorf("trace does not say %q", want)
	}
	var sv struct {
		WordsSought  int                 `json:"words_sought"`
		Found        map[string][]string `json:"found"`
		ControlFound map[string]bool     `json:"control_found"`
	}
	outcome(t, steps, "server-storage", &sv)
	if sv.WordsSought < 500 || len(sv.Found) != 0 || len(sv.ControlFound) != len(members)+1 {
		t.Errorf("storage search: %+v", sv)
	}
	for w, ok := range sv.ControlFound {
		if !ok {
			t.Errorf("the storage search missed the name %q", w)
		}
	}
	var gh struct {
		Warnings       []string `json:"warnings"`
		GhostEnvelopes int      `json:"ghost_envelopes"`
		ListedDevices  int      `json:"listed_devices"`
	}
	outcome(t, steps, "ghost-device", &gh)
	const warning = "warning: the server lists a device 2 for adviser that is not in adviser's signed device list: nothing was encrypted to it"
	if gh.GhostEnvelopes != 0 || gh.ListedDevices != 1 || !strings.Contains(text, "\n   "+warning+"\n") {
		t.Errorf("ghost device: %+v", gh)
	}
	var cp struct {
		Typed  string `json:"typed"`
		Copies []struct {
			Member, Text, Visible string
			Differs               []string
		} `json:"copies"`
	}
	outcome(t, steps, "copies", &cp)
	if len(cp.Copies) != 2 || cp.Copies[0].Text == cp.Copies[1].Text {
		t.Errorf("copies: %+v", cp)
	}
	for _, c := range cp.Copies {
		if !strings.Contains(text, c.Member+"'s copy:") || !strings.Contains(text, c.Visible) {
			t.Errorf("%s's copy is not shown as %q", c.Member, c.Visible)
		}
	}
	// Nothing invisible and no escapes: what differs is shown.
	if i := strings.IndexFunc(text, func(r rune) bool { return unicode.Is(unicode.Cf, r) }); i >= 0 {
		t.Errorf("the output holds an invisible character: %q", text[max(0, i-20):i+10])
	}
	if strings.Contains(text, `\u`) {
		t.Error(`the output holds \u escapes`)
	}
	checkREADME(t, text)
}

// masks hide what changes from run to run: the port, times, ids, the
// safety number, the marks of each copy, the storage's size. Canonicalize
// then maps the wording marks of the leaked lines to one form.
var masks = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:PORT"},
	{regexp.MustCompile(`(?m)^(\s+)\d{5}( \d{5}){3}$`), "${1}DIGITS"},
	{regexp.MustCompile(`\b\d\d:\d\d:\d\d\b`), "hh:mm:ss"},
	{regexp.MustCompile(`\b(message|Sent) [0-9a-f]{8,}\b`), "$1 ID"},
	{regexp.MustCompile(`(?m)^(   \S+'s copy: +).*$`), "${1}MARKED"},
	{regexp.MustCompile(`\(\d+ files, [\d,]+ KiB`), "(N files, N KiB"},
}

func mask(s string) string {
	for _, m := range masks {
		s = m.re.ReplaceAllString(s, m.repl)
	}
	return canary.Canonicalize(s)
}

const readmePath = "../README.md"

// readmeBlock returns the README and the bounds of the demo's output in it:
// the first ```text block after the "## The demo" heading.
func readmeBlock(t *testing.T) (string, int, int) {
	t.Helper()
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	h := strings.Index(s, "\n## The demo\n")
	if h < 0 {
		t.Fatal(`the README has no "## The demo" section`)
	}
	open := strings.Index(s[h:], "\n```text\n")
	if open < 0 {
		t.Fatal("the README's demo section has no ```text block")
	}
	start := h + open + len("\n```text\n")
	end := strings.Index(s[start:], "\n```\n")
	if end < 0 {
		t.Fatal("the README's demo output block is not closed")
	}
	return s, start, start + end + 1
}

func checkREADME(t *testing.T, output string) {
	t.Helper()
	readme, start, end := readmeBlock(t)
	if *updateREADME {
		if err := os.WriteFile(readmePath, []byte(readme[:start]+output+readme[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	// Masking keeps the lines, so line i of each side is shown as written.
	line := func(s string, i int) string {
		if ls := strings.Split(s, "\n"); i < len(ls) {
			return ls[i]
		}
		return ""
	}
	got, want := mask(readme[start:end]), mask(output)
	for i := 0; i < max(strings.Count(got, "\n"), strings.Count(want, "\n"))+1; i++ {
		if g, w := line(got, i), line(want, i); g != w {
			t.Fatalf("the README's demo output differs from the demo's at line %d:\nREADME: %q\ndemo:   %q\nmasked: %q\nand     %q\n(go test ./demo -run TestDemo -update-readme rewrites it)",
				i+1, line(readme[start:end], i), line(output, i), g, w)
		}
	}
}

// TestDemoJSON: with JSON, every line is one JSON object, one per step in
// order, each with its step, command and outcome, and nothing else.
func TestDemoJSON(t *testing.T) {
	var out bytes.Buffer
	opt := fastOptions(t)
	opt.JSON = true
	if _, err := Run(context.Background(), &out, opt); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	var names []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var st map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", len(names)+1, err, sc.Text())
		}
		var name, command string
		if err := json.Unmarshal(st["step"], &name); err != nil {
			t.Fatalf("line %d: step: %v", len(names)+1, err)
		}
		if err := json.Unmarshal(st["command"], &command); err != nil {
			t.Fatalf("step %s: command: %v", name, err)
		}
		if o := st["outcome"]; len(o) == 0 || o[0] != '{' {
			t.Errorf("step %s: outcome %s is no object", name, o)
		}
		if command == "" && name != "voice-note" {
			t.Errorf("step %s has no command", name)
		}
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, Steps) {
		t.Fatalf("steps %v, want %v", names, Steps)
	}
}
