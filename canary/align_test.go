package canary

import (
	"strings"
	"testing"
)

// Which stretches of a leak a sender's trace reads: another sender's words
// that happen to share a phrase with the sender's messages are not read; a
// short message of the sender, or a short piece next to a longer piece of
// the same message, is.
func TestShortRunsReadOnlyWhenTheyAreTheSenders(t *testing.T) {
	msgs := []Message{
		{ID: "a", Text: "After a long night the delegation told the press that we are ready to sign the agreement next week in Geneva.", Recipients: []string{"ana", "ben"}, Policy: PolicyAll},
		{ID: "b", Text: "We are content with the draft.", Recipients: []string{"ana", "ben"}, Policy: PolicyAll},
		{ID: "c", Text: "The ministers met twice on Tuesday and once more on Wednesday before the talks were suspended for the holiday. They are pleased with that.", Recipients: []string{"ana", "ben"}, Policy: PolicyAll},
	}
	tr, err := NewTracer(testKey(3), msgs)
	if err != nil {
		t.Fatal(err)
	}
	other := "Nobody in the hall believed we're ready to sign anything before the summer recess began."
	for _, tc := range []struct {
		name, leak string
		slots      int
	}{
		// "we're ready to sign" is five words of message a, in someone
		// else's sentence: its contraction slot says nothing about a's
		// copy, and reading it would count a random symbol against the
		// leaker.
		{"another sender's sentence sharing a phrase", other, 0},
		{"the same, in a newspaper's prose", "GENEVA — " + other + " Officials declined to comment on the timetable.", 0},
		{"a short message, whole", other + "\n\nWe're content with the draft.\n\n" + other, 1},
		{"a short sentence next to the rest of its message", "They're pleased with that. Reporters waited outside the building all day. The ministers met twice on Tuesday and once more on Wednesday before the talks were suspended for the holiday.", 1},
		// A stray phrase of another message between them changes nothing.
		{"the same with another message's phrase between", "They're pleased with that. Clearly we're ready to sign it. The ministers met twice on Tuesday and once more on Wednesday before the talks were suspended for the holiday.", 1},
		// A newspaper quoting five words of message a, retyped, between
		// quotation marks: the whole quotation is the sender's.
		{"a short quotation, whole", "Asked about Geneva, one delegate said only: \u201Cwe're ready to sign.\u201D Officials declined to comment on the timetable.", 1},
		// Invisible characters change nothing: the same sentence pasted
		// with marks in its gaps is still another sender's.
		{"another sender's sentence with invisible characters", "Nobody in the hall believed we're ready \u200Bto \u200Csign anything before the summer recess began.", 0},
		{"a short quotation with invisible characters around its marks", "One delegate said only: \u200B\u201Cwe're ready to sign.\u200D\u201D Officials declined to comment.", 1},
	} {
		res, err := tr.Trace(tc.leak, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.SlotsByChannel["lexical"] != tc.slots {
			t.Errorf("%s: %d lexical slots read (%v), want %d", tc.name, res.SlotsByChannel["lexical"], res.SlotsByChannel, tc.slots)
		}
	}
}

// A leaked conversation among five senders, retyped: each sender's trace
// aligns the whole leak against its own messages. The words it aligns in
// other senders' messages carry symbols from other keys, noise that counts
// against the leaker in the sender's score and in the pooled one. Before
// short runs had to be long, whole or joined to be read, 4-word runs of
// common phrases ("as the Secretary of Defense") put 683 aligned words in
// other senders' text against 9,009 in their own (7.6%); now 132 (1.5%: a
// run's last word running into the next message, phrases repeated near the
// sender's own message).
func TestSendersAlignTheirOwnWords(t *testing.T) {
	cv := newConversation(t, proseParagraphs(t))
	lx := mustLexicon()
	own, foreign := 0, 0
	for start := 0; start+12 <= len(cv.msgs); start += 3 {
		var parts []string
		var owner []int // sender of each canonical word of the leak
		for i := start; i < start+12; i++ {
			p := Normalize(cv.msgs[i].Text)
			c, _ := canonicalTokens(lx, tokenize(p))
			for range c {
				owner = append(owner, cv.from[i])
			}
			parts = append(parts, p)
		}
		lt := tokenize(strings.Join(parts, "\n\n"))
		lc, _ := canonicalTokens(lx, lt)
		if len(lc) != len(owner) {
			t.Fatalf("the leak has %d canonical words, its parts %d", len(lc), len(owner))
		}
		for s, tr := range cv.tracers {
			for _, sg := range tr.align(lt, lc) {
				for _, pr := range sg.alts[0] {
					if owner[pr[0]] == s {
						own++
					} else {
						foreign++
					}
				}
			}
		}
	}
	t.Logf("aligned words in the sender's own messages %d, in other senders' %d", own, foreign)
	if own == 0 || foreign*50 > own {
		t.Errorf("%d aligned words in other senders' messages against %d in the sender's own: want under 2%%", foreign, own)
	}
}

// A read run may cover two messages sent one after the other; a short piece
// of the second, a little further on, is joined to it.
func TestShortRunJoinsARunOverSeveralMessages(t *testing.T) {
	msgs := []Message{
		{ID: "c1", Text: "The ministers met twice on Tuesday.", Recipients: []string{"ana", "ben"}, Policy: PolicyAll},
		{ID: "c2", Text: "They spoke about the port and once more on Wednesday before the talks were suspended for the holiday. They are pleased with that.", Recipients: []string{"ana", "ben"}, Policy: PolicyAll},
	}
	tr, err := NewTracer(testKey(5), msgs)
	if err != nil {
		t.Fatal(err)
	}
	leak := "The ministers met twice on Tuesday. They spoke about the port and once more on Wednesday before the talks were suspended for the holiday. Reporters waited outside the building all day. They're pleased with that."
	res, err := tr.Trace(leak, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.SlotsByChannel["lexical"] != 1 {
		t.Errorf("%d lexical slots read (%v), want the contraction of the short sentence", res.SlotsByChannel["lexical"], res.SlotsByChannel)
	}
}
