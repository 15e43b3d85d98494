package canary

import (
	"strings"
	"testing"
)

// Flooding: one U+200B in every gap of a pasted copy instead of its
// carriers. The invisible channel is erased (and reported so), and the
// trace names the leaker from the other channels, as stripping would.
func TestFloodedInvisibleMarksAreErased(t *testing.T) {
	key := testKey(21)
	msgs := sentMessages(proseParagraphs(t)[:6], members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	leak := copyOf(t, key, msgs, "erin")
	for _, z := range zeroWidth[1:] {
		leak = strings.ReplaceAll(leak, string(z), string(zeroWidth[0]))
	}
	res, err := tr.Trace(leak, 0)
	if err != nil {
		t.Fatal(err)
	}
	ch := res.Channels["invisible"]
	if ch.Read != 0 || ch.Discarded == 0 || ch.Reason == "" {
		t.Errorf("invisible channel of a flooded leak: %+v", ch)
	}
	if res.Verdict != Identified || res.Suspects[0].Member != "erin" {
		t.Errorf("flooded leak: %s %+v", res.Verdict, res.Suspects)
	}
	for _, s := range res.Suspects {
		if s.Member != "erin" {
			t.Errorf("innocent %s named", s.Member)
		}
	}
	// A genuine pasted copy keeps its invisible channel.
	res, err = tr.Trace(copyOf(t, key, msgs, "erin"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if ch := res.Channels["invisible"]; ch.Read == 0 || ch.Discarded != 0 {
		t.Errorf("a genuine copy's invisible channel: %+v", ch)
	}
}
