package leak

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// minutes is a room whose messages hold several sentences, numbers, names
// and a telegram quoted in full (its quotation marks are the message's).
func minutes() []Message {
	texts := []struct{ who, text string }{
		{"bliss", "The map of the second disengagement agreement was shown. Twenty volumes are in various stages of production."},
		{"house", "Specifically, HO proposes four initiatives to be undertaken in the Oversight Committee. The first is a review of the bureaus."},
		{"bliss", "No; of course, not."},
		{"lansing", "President Richard M. Nixon assumed responsibility for the war as he swore the oath of office. He expected a year."},
		{"house", "Very seldom."},
		{"lansing", "Mostly from other agencies though."},
		{"house", "Colonel House read a telegram as follows: “Have sent telegrams to the ministers to advocate permission for five delegates. Slatin”"},
		{"house", "“Have sent telegrams to the ministers to advocate permission for five delegates. Slatin”"},
		{"bliss", "If we have something that involves conceptualization, we are more likely to send somebody out."},
		{"lansing", "The meeting was convened at 3:45 p.m. and the prior bureau review was suspended."},
	}
	var out []Message
	for i, x := range texts {
		out = append(out, Message{ID: fmt.Sprintf("n%d", i+1), Sender: x.who, SentAt: t0.Add(time.Duration(i) * time.Minute), Text: x.text})
	}
	return out
}

// TestJoinedWords: two words run together by a scanner or a retyper
// ("ofcourse", "Twentyvolumes", a name and the next word) are copying
// noise, noted, even where no three-word phrase is left intact or the
// line is the wrapped tail of a message; a join that also changes a word,
// a number, a negation or a name is still flagged.
func TestJoinedWords(t *testing.T) {
	ms := minutes()
	noise := []struct{ leak, note string }{
		{"No; ofcourse, not.", "“ofcourse” for “of course”"},
		{"Very seldom.", ""},
		{"Veryseldom.", "“Veryseldom” for “Very seldom”"},
		{"Mostly from otheragencies tohugh.", "“otheragencies” for “other agencies”"},
		{"The map of the seconddisengagement agreement was shown. Twentyvolumes are in various stages of production.", "“seconddisengagement” for “second disengagement”, “Twentyvolumes” for “Twenty volumes”"},
		{"Specifically, HO proposes fourinitiatives to be undertaken in the Oversight Committee. The first is a review of the bureaus.", "“fourinitiatives” for “four initiatives”"},
		{"President Richard M. Nixonassumed responsbiility for the war as he swore the oath of office. He expected a year.", "“Nixonassumed” for “Nixon assumed”"},
		// the wrapped tail of a message, a line of its own
		{"If we have something that involves conceptualization, we are more likely to\nsendsomebody out.", "“sendsomebody” for “send somebody”"},
		// a first line whose only words are noisy
		{"(The meetting\nwasconvened at 3:45 p.m. and the prior bureaureview was suspended.)", "“wasconvened” for “was convened”"},
	}
	for _, c := range noise {
		r, err := Verify(ms, []byte(c.leak+"\n"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range r.Lines {
			if l.Verdict != Authentic {
				t.Errorf("%q: line %d %s (%s)", c.leak, l.Line, l.Verdict, l.Diff)
			}
		}
		if len(r.Lines) != 1 || !strings.Contains(r.Lines[0].Noise, c.note) {
			t.Errorf("%q: %d lines, noise %q, want %q", c.leak, len(r.Lines), r.Lines[0].Noise, c.note)
		}
	}
	meaning := []string{
		"No; ofcourse, now.",                   // a negation, next to a join
		"No; ofcourse.",                        // a negation dropped
		"Veryoften.",                           // another word, joined
		"Mostly from otherdelegations though.", // another word inside the join
		"The map of the thirddisengagement agreement was shown. Twenty volumes are in various stages of production.",  // an ordinal
		"The map of the second disengagement agreement was shown. Thirtyvolumes are in various stages of production.", // a number
		"Specifically, HO proposes fiveinitiatives to be undertaken in the Oversight Committee. The first is a review of the bureaus.",
		"President Richard M. Fordassumed responsibility for the war as he swore the oath of office. He expected a year.", // a name
		"If we have something that involves conceptualization, we are more likely to\nsendnobody out.",
		"The meeting wasconvened at 4:45 p.m. and the prior bureau review was suspended.",
		"The meeting was convened at 3:45 p.m. and the prior bureaureview wasnot suspended.",
	}
	for _, leak := range meaning {
		r, err := Verify(ms, []byte(leak+"\n"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		flagged := false
		for _, l := range r.Lines {
			flagged = flagged || l.Verdict != Authentic
		}
		if !flagged {
			t.Errorf("%q waved through: %+v", leak, r.Lines)
		}
	}
}

// TestReportedQuotation: "X wrote: “…”" reports a quotation, as press
// prose does: an excerpt is authentic, a wrong speaker misattributed, an
// edit altered. A plain label ("HOUSE: “…”") is a transcript line, and a
// message that is itself a quotation must be whole.
func TestReportedQuotation(t *testing.T) {
	ms := minutes()
	cases := []struct {
		leak string
		want Verdict
	}{
		{"House wrote: “The first is a review of the bureaus.”", Authentic},
		{"House said: “Specifically, HO proposes four initiatives to be undertaken in the Oversight Committee.”", Authentic},
		{"Bliss wrote: “The first is a review of the bureaus.”", Misattributed},
		{"Lansing said: “Specifically, HO proposes four initiatives to be undertaken in the Oversight Committee.”", Misattributed},
		{"House wrote: “Specifically, HO proposes five initiatives to be undertaken in the Oversight Committee.”", Altered},
		{"House wrote: “The first is not a review of the bureaus.”", Altered},
		{"HOUSE: “The first is a review of the bureaus.”", Altered}, // a transcript line: the message is cut
		// the telegram quoted in full: its marks are the message's own
		{"House wrote: “Have sent telegrams to the ministers to advocate permission for five delegates. Slatin”", Authentic},
		{"House wrote: “Have sent telegrams to the ministers to advocate permission.”", Altered},
		{"Bliss wrote: “Have sent telegrams to the ministers to advocate permission for five delegates. Slatin”", Misattributed},
	}
	for _, c := range cases {
		r, err := Verify(ms, []byte(c.leak+"\n"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Lines) != 1 || r.Lines[0].Verdict != c.want {
			t.Errorf("%q: %+v, want %s", c.leak, r.Lines, c.want)
		}
	}
}

// TestNoiseUnderCanonicalizer: a slip in a word the canonicaliser rewrites
// (a marked copy's lexical variant) is a slip of the word as written;
// changes of meaning stay flagged.
func TestNoiseUnderCanonicalizer(t *testing.T) {
	ms := []Message{{ID: "c1", Sender: "reinhardt", SentAt: t0, Text: "Mostly from other agencies, although the delegation must approve the transfer."}}
	opt := Options{Canonicalize: func(s string) string { return strings.ReplaceAll(s, "although", "though") }}
	cases := []struct {
		leak string
		want Verdict
	}{
		{"Mostly from other agencies, althuogh the delegation must approve the transfer.", Authentic},
		{"Mostly from other agencies, though the delegation must approve the transfer.", Authentic},
		{"Mostly from other agencies, althuogh the delegation may approve the transfer.", Altered},
		{"Mostly from other agencies, because the delegation must approve the transfer.", Altered},
		{"Mostly from two other agencies, althuogh the delegation must approve the transfer.", Altered},
	}
	for _, c := range cases {
		r, err := Verify(ms, []byte(c.leak+"\n"), opt)
		if err != nil {
			t.Fatal(err)
		}
		flagged := false
		for _, l := range r.Lines {
			flagged = flagged || l.Verdict != Authentic
		}
		if c.want == Authentic && (len(r.Lines) != 1 || flagged) || c.want != Authentic && !flagged {
			t.Errorf("%q: %+v, want %s", c.leak, r.Lines, c.want)
		}
	}
}

// TestShortNoisyMessage: a short message whose words are noisy, run on
// after another message in one re-wrapped paragraph, is that message with
// copying noise (not an insertion into its neighbour); a change of meaning
// or a slip in a name there stays flagged.
func TestShortNoisyMessage(t *testing.T) {
	ms := append(minutes(), Message{ID: "n11", Sender: "bliss", SentAt: t0.Add(20 * time.Minute), Text: "Colonel House withdrew."})
	for _, c := range []struct {
		leak string
		ok   bool
	}{
		{"Mostly from other agencies though. Very sedlom.", true},
		{"Mostly from other agencies though. Very seldom.", true},
		{"Mostly from other agencies though. Colonel House withdrew.", true},
		{"Mostly from other agencies though. Colonel House withdrw.", true},
		{"Mostly from other agencies though. Very often.", false},
		{"Mostly from other agencies though. Never sedlom.", false},
		{"Mostly from other agencies though. Colonel Hosue withdrew.", false}, // a name
		{"Mostly from other agencies though. Colonel House withdrew not.", false},
	} {
		r, err := Verify(ms, []byte(c.leak+"\n"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		flagged := false
		for _, l := range r.Lines {
			flagged = flagged || l.Verdict != Authentic
		}
		if flagged == c.ok || c.ok && len(r.Lines) != 2 {
			t.Errorf("%q: %+v, want authentic %v", c.leak, r.Lines, c.ok)
		}
	}
}
