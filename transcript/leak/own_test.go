package leak

import (
	"strings"
	"testing"
	"time"
)

func roomEvents() []Event {
	return []Event{
		{ID: "e1", Actor: "envoy", SentAt: t0.Add(-time.Minute), Texts: []string{
			`envoy added aide, counsel`, `envoy added you to "talks" (on-record) with aide, counsel, envoy`}},
		{ID: "e2", Actor: "envoy", SentAt: t0.Add(10 * time.Minute), Texts: []string{`envoy renamed the room to "talks 2"`}},
	}
}

// TestOwnOutput: backchannel's own read and chat output verifies: the
// header and notices are skipped, room events are events, speakers and
// times are checked.
func TestOwnOutput(t *testing.T) {
	opt := Options{Events: roomEvents()}
	cases := []struct {
		name    string
		leak    string
		want    []want
		skipped int
	}{
		{"read output", "# talks — on-record room, marking: all, members: aide, counsel, envoy\n" +
			"! the transcript has a gap: 2 messages have not arrived yet\n" +
			"2026-03-14 13:59  * envoy added you to \"talks\" (on-record) with aide, counsel, envoy\n" +
			"2026-03-14 14:00  envoy: We will not sign the agreement before Friday, unless the troops withdraw.  [delivered]\n" +
			"2026-03-14 14:02  aide: Understood. I'll tell them 10 battalions must leave first.\n",
			[]want{{Authentic, "e1"}, {Authentic, "m1"}, {Authentic, "m2"}}, 2},
		{"chat output", "14:02  aide: Understood. I'll tell them 10 battalions must leave first.\n14:03  envoy: Thank you.\n",
			[]want{{Authentic, "m2"}, {Authentic, "m3"}}, 0},
		{"the other member's view of an event", "2026-03-14 13:59  * envoy added aide, counsel\n", []want{{Authentic, "e1"}}, 0},
		{"an event with other members", "2026-03-14 13:59  * envoy added aide, counsel, mallory\n", []want{{Altered, "e1"}}, 0},
		{"an invented event", "2026-03-14 14:05  * envoy removed counsel\n", []want{{Fabricated, ""}}, 0},
		{"an event at the wrong time", "2026-03-14 15:10  * envoy renamed the room to \"talks 2\"\n", []want{{Misdated, "e2"}}, 0},
		{"swapped speaker", "2026-03-14 14:02  counsel: Understood. I'll tell them 10 battalions must leave first.\n",
			[]want{{Misattributed, "m2"}}, 0},
		{"a speaker who is no member", "2026-03-14 14:02  mallory: Understood. I'll tell them 10 battalions must leave first.\n",
			[]want{{Misattributed, "m2"}}, 0},
		{"shifted time", "2026-03-14 14:40  aide: Understood. I'll tell them 10 battalions must leave first.\n",
			[]want{{Misdated, "m2"}}, 0},
		{"wrong date", "2026-03-15 14:02  aide: Understood. I'll tell them 10 battalions must leave first.\n",
			[]want{{Misdated, "m2"}}, 0},
		{"merged line of two senders", "2026-03-14 14:02  aide: Understood. I'll tell them 10 battalions must leave first. Thank you.\n",
			[]want{{Authentic, "m2"}, {Misattributed, "m3"}}, 0},
		{"a member's view in another time zone", "2026-03-14 15:02  aide: Understood. I'll tell them 10 battalions must leave first.\n" +
			"2026-03-14 15:03  envoy: Thank you.\n2026-03-14 15:05  aide: The President doesn't want a public statement yet; he prefers to wait until the summit in Geneva.\n",
			[]want{{Authentic, "m2"}, {Authentic, "m3"}, {Authentic, "m4"}}, 0},
		{"a stated zone", "14:02 UTC aide: Understood. I'll tell them 10 battalions must leave first.\n15:03 +01:00 envoy: Thank you.\n",
			[]want{{Authentic, "m2"}, {Authentic, "m3"}}, 0},
		{"a stated zone, wrong time", "14:32 UTC aide: Understood. I'll tell them 10 battalions must leave first.\n",
			[]want{{Misdated, "m2"}}, 0},
		{"one line in another zone is no zone", "2026-03-14 15:02  aide: Understood. I'll tell them 10 battalions must leave first.\n" +
			"2026-03-14 14:03  envoy: Thank you.\n",
			[]want{{Misdated, "m2"}, {Authentic, "m3"}}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Verify(room(), []byte(c.leak), opt)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Lines
			if len(got) != len(c.want) {
				t.Fatalf("got %d lines %+v, want %d", len(got), got, len(c.want))
			}
			for i, w := range c.want {
				if got[i].Verdict != w.verdict || got[i].MessageID != w.id {
					t.Errorf("line %d: got %s %q (%s), want %s %q", i, got[i].Verdict, got[i].MessageID, got[i].Diff, w.verdict, w.id)
				}
				if w.verdict != Authentic && got[i].Diff == "" {
					t.Errorf("line %d: a finding without an explanation", i)
				}
			}
			if r.Summary.Skipped != c.skipped {
				t.Errorf("skipped %d lines, want %d", r.Summary.Skipped, c.skipped)
			}
		})
	}
}

// TestLayouts: one case per label layout; each must read the label (so
// the line is authentic) and check the speaker it states (a swapped one is
// misattributed).
func TestLayouts(t *testing.T) {
	const text = "Understood. I'll tell them 10 battalions must leave first."
	layouts := []string{
		"AIDE: %s",
		"[14:02] AIDE: %s",
		"2026-03-14 14:02  aide: %s",
		"14:02  aide: %s",
		"[14:02] aide — %s",
		"Aide (delegation): %s",
		"| 14:02 | Aide | %s |",
		"| Aide | %s |",
		"> AIDE: %s",
		"> **Aide:** %s",
		"12. Aide: %s",
		"(12) Aide — %s",
		"**Aide:** %s",
		"**Aide**: %s",
		"__Aide__: %s",
		"aide said: %s",
		"Aide wrote: %s",
		"Aide — %s",
		"AIDE - %s",
		"<aide> %s",
		"[Aide] %s",
		"Aide [14:02]: %s",
		"Aide (14:02): %s",
		"Aide, 14:02: %s",
		"14:02 - Aide: %s",
		"(14:02) AIDE: %s",
		"14:02:41 AIDE: %s",
		"2:02 PM Aide: %s",
		"14:02 UTC AIDE: %s",
		"- Aide: %s",
		"* AIDE: %s",
		"#12 aide: %s",
		"Aide > %s",
		"2026/03/14 14:02 Aide: %s",
		"2026-03-14 14:02  [talks] aide: %s",
		"14h02 Aide: %s",
		"AIDE\n%s",
		"**Aide**\n%s",
		"Aide:\n%s",
		"[Aide]\n%s",
	}
	for _, l := range layouts {
		t.Run(l, func(t *testing.T) {
			got := verdicts(t, room(), strings.Replace(l, "%s", text, 1)+"\n", Options{})
			if len(got) != 1 || got[0].Verdict != Authentic || got[0].MessageID != "m2" {
				t.Fatalf("%+v", got)
			}
			swapped := strings.NewReplacer("AIDE", "COUNSEL", "Aide", "Counsel", "aide", "counsel").Replace(l)
			got = verdicts(t, room(), strings.Replace(swapped, "%s", text, 1)+"\n", Options{})
			if len(got) != 1 || got[0].Verdict != Misattributed {
				t.Fatalf("swapped speaker: %+v", got)
			}
		})
	}
}

// TestMemoParagraphs: a memo leaked paragraph by paragraph, as written or
// re-wrapped: the authentic paragraphs authentic, a doctored one altered,
// a paragraph cut short altered.
func TestMemoParagraphs(t *testing.T) {
	memo := Message{"memo", "counsel", t0.Add(20 * time.Minute), "Our position is unchanged since October.\n\n" +
		"The delegation will accept twenty observers, provided that they arrive before the vote.\n\n" +
		"We do not expect the other side to object to the timetable."}
	msgs := append(room(), memo)
	cases := []struct {
		name string
		leak string
		want []Verdict
	}{
		{"verbatim", memo.Sender + ": " + memo.Text + "\n", []Verdict{Authentic, Authentic, Authentic}},
		{"re-wrapped, one left out", "COUNSEL: Our position is unchanged\nsince October.\n\nWe do not expect the other\nside to object to the timetable.\n",
			[]Verdict{Authentic, Authentic}},
		{"one doctored", "COUNSEL: Our position is unchanged since October.\n\nThe delegation will accept thirty observers, provided that they arrive before the vote.\n",
			[]Verdict{Authentic, Altered}},
		{"one cut short", "COUNSEL: Our position is unchanged since October.\n\nThe delegation will accept twenty observers.\n",
			[]Verdict{Authentic, Altered}},
		{"own output", "2026-03-14 14:20  counsel: Our position is unchanged since October.\n      │ \n      │ We do not expect the other side to object to the timetable.\n",
			[]Verdict{Authentic, Authentic}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := verdicts(t, msgs, c.leak, Options{})
			if len(got) != len(c.want) {
				t.Fatalf("got %+v", got)
			}
			for i, w := range c.want {
				if got[i].Verdict != w || got[i].MessageID != "memo" {
					t.Errorf("paragraph %d: %s %q (%s), want %s", i, got[i].Verdict, got[i].MessageID, got[i].Diff, w)
				}
			}
		})
	}
}
