package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"backchannel/client"
	"backchannel/vault"
)

func TestDemoRuns(t *testing.T) {
	var out bytes.Buffer
	opt := Options{Client: client.Options{Params: vault.Params{Time: 1, Memory: 64, Threads: 1}}, Dir: t.TempDir()}
	if _, err := Run(context.Background(), &out, opt); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"same 60 digits", "none contains a word", "sees all 6 messages", "flagged exactly the doctored lines", "the leak is aide's copy"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
