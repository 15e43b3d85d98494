package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"backchannel/demo"
)

// TestDemoJSON: 'backchannel demo --json' writes JSON lines, one object
// per step, and nothing else on stdout.
func TestDemoJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	env := &callEnv{cwd: t.TempDir(), stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		getenv: func(string) (string, bool) { return "", false }, readSecret: func(string) ([]byte, error) { return nil, errNoTerminal }}
	if err := newRootCmdEnv(env, []string{"demo", "--json"}).ExecuteContext(context.Background()); err != nil {
		t.Fatalf("demo --json: %v\n%s", err, errOut.String())
	}
	var steps []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var st struct {
			Step    string          `json:"step"`
			Outcome json.RawMessage `json:"outcome"`
		}
		if err := json.Unmarshal(sc.Bytes(), &st); err != nil || st.Step == "" || len(st.Outcome) == 0 {
			t.Fatalf("stdout line %d is not a step object (%v): %.200s", len(steps)+1, err, sc.Text())
		}
		steps = append(steps, st.Step)
	}
	if !slices.Equal(steps, demo.Steps) {
		t.Fatalf("steps %v, want %v", steps, demo.Steps)
	}
}
