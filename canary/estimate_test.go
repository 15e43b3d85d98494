package canary

import (
	"strings"
	"testing"
)

// TestEstimateCases: an inconclusive trace always says how many more
// words would be needed when the leak matches the sender's words — also
// when no mark was read or the marks point at nobody — per channel too;
// and gives no estimate for text that matches none of them.
func TestEstimateCases(t *testing.T) {
	key := testKey(13)
	msgs := sentMessages(proseParagraphs(t), members, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	retyped := Normalize(copyOf(t, key, msgs, "frank"))
	cases := []struct {
		name     string
		leak     string
		estimate bool
	}{
		{"a short retyped excerpt", firstWords(retyped, 60), true},
		{"the original, stripped of every mark", firstWords(Normalize(msgs[0].Text), 40), true},
		{"words from nowhere", strings.Repeat("purple elephants dance quietly at midnight ", 20), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := tr.Trace(c.leak, 0)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != Inconclusive {
				t.Fatalf("verdict %s", res.Verdict)
			}
			if got := res.MoreWordsNeeded > 0; got != c.estimate {
				t.Fatalf("estimate %d (words matched %d, slots %d), want one: %v", res.MoreWordsNeeded, res.WordsMatched, res.SlotsRead, c.estimate)
			}
			if res.MoreWordsNeeded < 0 {
				t.Fatal("negative estimate")
			}
			for ch, n := range res.MoreWordsByChannel {
				if n < res.MoreWordsNeeded {
					t.Errorf("channel %s alone needs %d words, fewer than all channels together (%d)", ch, n, res.MoreWordsNeeded)
				}
			}
			if res.SlotsRead > 0 && len(res.MoreWordsByChannel) == 0 {
				t.Error("no estimate per channel")
			}
		})
	}
}
