package client_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"backchannel/client"
	"backchannel/transcript/leak"
)

// TestTraceAndVerifyRefuseNonText: trace, like verify, says clearly that
// an empty file, a binary file (a JPEG) or a file without words is no
// leak, instead of "inconclusive".
func TestTraceAndVerifyRefuseNonText(t *testing.T) {
	ctx, a, _, c := evidenceRoom(t)
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, leak.ErrEmpty},
		{"blank", []byte("\n \n"), leak.ErrEmpty},
		{"a JPEG", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1}, leak.ErrBinary},
		{"no words", []byte("*** --- ...\n"), leak.ErrNoWords},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.Trace(ctx, "talks", string(tc.data), 0); !errors.Is(err, tc.want) {
				t.Errorf("trace: %v, want %v", err, tc.want)
			}
			if _, err := c.VerifyLeak(ctx, "talks", tc.data); !errors.Is(err, tc.want) {
				t.Errorf("verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestVerifyOwnReadOutput: bob's history as 'backchannel read' prints it
// (room event included) verifies on carol's device line by line; a
// swapped speaker and a shifted time in it are findings.
func TestVerifyOwnReadOutput(t *testing.T) {
	ctx, _, b, c := evidenceRoom(t)
	_, msgs, err := b.History(ctx, "talks")
	if err != nil {
		t.Fatal(err)
	}
	var lines, want []string
	for _, m := range msgs {
		at := m.SentAt.Local().Format("2006-01-02 15:04")
		switch m.Kind {
		case "system":
			lines = append(lines, fmt.Sprintf("%s  * %s", at, m.Text))
			want = append(want, "authentic")
		case client.KindText:
			lines = append(lines, fmt.Sprintf("%s  %s: %s", at, m.Sender, m.Text))
			want = append(want, "authentic")
		}
	}
	last := msgs[len(msgs)-1]
	lines = append(lines,
		fmt.Sprintf("%s  carol: %s", last.SentAt.Local().Format("2006-01-02 15:04"), last.Text),
		fmt.Sprintf("%s  %s: %s", last.SentAt.Add(-3*time.Hour-17*time.Minute).Local().Format("2006-01-02 15:04"), last.Sender, last.Text))
	want = append(want, "misattributed", "misdated")
	rep, err := c.VerifyLeak(ctx, "talks", []byte("# talks — on-record room, marking: all, members: alice, bob, carol\n"+strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range rep.Lines {
		got = append(got, string(l.Verdict))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || rep.Summary.Skipped != 1 {
		t.Fatalf("verdicts %v (skipped %d), want %v\n%s", got, rep.Summary.Skipped, want, strings.Join(lines, "\n"))
	}
}
