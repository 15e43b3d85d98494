package eval

import (
	"context"
	"testing"
)

func TestScratchRun(t *testing.T) {
	tab, err := Run(context.Background(), Config{Quick: true, Trials: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + tab.Markdown())
}
