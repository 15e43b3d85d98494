package leak

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// talks is a room of ten messages among four members, a minute apart.
func talks() []Message {
	texts := []struct{ who, text string }{
		{"okafor", "Good morning, we have until four o'clock to settle the outline of the schedule."},
		{"valdane", "My delegation did not receive the revised annex until late last night."},
		{"hollis", "The revised annex changes only table three and the minimum flow at the gauge."},
		{"valdane", "Fifteen more cubic metres in August means our reservoirs fall below the intake level."},
		{"mbeki", "Our own model shows that the wetlands downstream survive at 150, not 155."},
		{"hollis", "The figure comes from the 2019 survey of the fish ladders at Korvel."},
		{"mbeki", "Eleven days is a serious number and I did not know the survey had looked at them."},
		{"okafor", "Then the survey is shared with both delegations in full, this week, before anything else."},
		{"valdane", "Thursday is acceptable, provided the removed pages contain no flow data at all."},
		{"hollis", "They contain none, and I can confirm that the bridge pages are about load limits only."},
	}
	var out []Message
	for i, x := range texts {
		out = append(out, Message{ID: fmt.Sprintf("m%d", i+1), Sender: x.who, SentAt: t0.Add(time.Duration(i) * time.Minute), Text: x.text})
	}
	return out
}

func labelled(ms []Message, order ...int) string {
	var b strings.Builder
	for _, i := range order {
		fmt.Fprintf(&b, "%s: %s\n", strings.ToUpper(ms[i].Sender), ms[i].Text)
	}
	return b.String()
}

func findings(t *testing.T, msgs []Message, text string) (*Report, []string) {
	t.Helper()
	r, err := Verify(msgs, []byte(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fs []string
	for _, f := range r.Findings {
		fs = append(fs, f.Text)
	}
	return r, fs
}

func allAuthentic(t *testing.T, r *Report) {
	t.Helper()
	for _, l := range r.Lines {
		if l.Verdict != Authentic {
			t.Errorf("line %d %s: %s", l.Line, l.Verdict, l.Diff)
		}
	}
}

// TestReorder: lines shown in another order than sent are one finding per
// moved line (or run of lines); the lines themselves stay authentic.
func TestReorder(t *testing.T) {
	ms := talks()
	cases := []struct {
		order []int
		want  []string
	}{
		// (one message every other line: blank lines between)
		{[]int{0, 1, 2, 4, 3, 5, 6}, []string{"lines 7–9 appear in the reverse order"}},
		{[]int{1, 0, 2}, []string{"lines 1–3 appear in the reverse order"}},
		{[]int{0, 1, 2, 3, 4, 8, 5, 6, 7}, []string{"line 11 is out of order: it was sent after line 17"}},
		{[]int{0, 6, 1, 2, 3, 4, 5, 7}, []string{"line 3 is out of order: it was sent before line 15"}},
		{[]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, nil},
		{[]int{0, 1, 5, 6, 2, 3, 4, 7}, []string{"lines 5–7 are out of order: they were sent before line 15"}},
	}
	for _, c := range cases {
		// unlabelled paragraphs: no omission finding can interfere
		text := ""
		for _, i := range c.order {
			text += ms[i].Text + "\n\n"
		}
		r, got := findings(t, ms, text)
		allAuthentic(t, r)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("order %v: findings %q, want %q", c.order, got, c.want)
		}
		if r.Summary.Reordered != len(c.want) {
			t.Errorf("order %v: summary counts %d reorders", c.order, r.Summary.Reordered)
		}
	}
	// a moved line is named as out of order, never as altered: also in a
	// press article's prose, quotations may come in any order (no finding)
	r, got := findings(t, ms, "“"+ms[6].Text+"” said Mbeki. Earlier, Valdane said: “"+ms[1].Text+"”\n")
	allAuthentic(t, r)
	if len(got) != 0 {
		t.Errorf("quotations in prose: %q", got)
	}
}

// TestOmission: messages missing between two consecutive labelled lines
// are reported with their senders; an excerpt's start and end, a marked
// cut and unlabelled text are not.
func TestOmission(t *testing.T) {
	ms := talks()
	r, got := findings(t, ms, labelled(ms, 2, 3, 4, 7, 8))
	allAuthentic(t, r)
	want := "2 messages between lines 3 and 4 are omitted (sent by hollis, mbeki)"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("findings %q, want %q", got, want)
	}
	if f := r.Findings[0]; f.Kind != Omitted || strings.Join(f.Messages, ",") != "m6,m7" || r.Summary.Omitted != 1 {
		t.Fatalf("finding %+v", f)
	}
	_, got = findings(t, ms, labelled(ms, 0, 1, 3))
	if len(got) != 1 || got[0] != "1 message between lines 2 and 3 is omitted (sent by hollis)" {
		t.Fatalf("findings %q", got)
	}
	// an ellipsis or a separator line admits the cut
	for _, sep := range []string{"[…]\n", "...\n", "* * *\n", "---\n"} {
		text := labelled(ms, 2, 3, 4) + sep + labelled(ms, 7, 8)
		if _, got := findings(t, ms, text); len(got) != 0 {
			t.Errorf("separator %q: %q", sep, got)
		}
	}
	// unlabelled paragraphs are excerpts, not a transcript
	text := ms[2].Text + "\n\n" + ms[7].Text + "\n"
	if _, got := findings(t, ms, text); len(got) != 0 {
		t.Errorf("unlabelled: %q", got)
	}
	// a moved line is not also omitted
	_, got = findings(t, ms, labelled(ms, 2, 4, 3, 5))
	if len(got) != 1 || !strings.Contains(got[0], "reverse order") {
		t.Errorf("swap: %q", got)
	}
	// a doctored line keeps its message present
	text = labelled(ms, 2, 3) + "MBEKI: Our own model shows that the wetlands downstream survive at 140, not 155.\n" + labelled(ms, 5)
	if _, got := findings(t, ms, text); len(got) != 0 {
		t.Errorf("altered line in the run: %q", got)
	}
}

// TestNoise: copying noise keeps a line authentic, with a note; noise that
// touches a number, a negation, a name, a modal verb or a quantity, or an
// inflection, never does.
func TestNoise(t *testing.T) {
	ms := talks()
	noisy := []struct{ leak, note string }{
		{"My delegation did not receive the revised annex until late last night.", ""},
		{"My delegation did not receive the revised annex unti1 late last night.", "“unti1” for “until”"},
		{"My de1egation did not receive the rev1sed annex until late last night.", "“de1egation” for “delegation”"},
		{"The revised annex changes only table three and the rninimum flow at the gauge.", "“rninimum” for “minimum”"},
		{"The revised annex changes only table three and the minimum fiow at the gauge.", ""}, // short word: no
		{"The revised annex changes only tab1e three and the minimum flow at the gauge.", "“tab1e” for “table”"},
		{"Fifteen more cubic metres in August means our reservoirs fall be low the intake level.", "“be low” for “below”"},
		{"Fifteen more cubic metres in August means our reser-\nvoirs fall below the intake level.", "“reser-voirs” for “reservoirs”"},
		{"Fifteen more cubic metres in August means our reservoirs fall below theintake level.", "“theintake” for “the intake”"},
		{"Fifteen more cubic metres in August means our reservoirs fall below the intake leve1.", "“leve1” for “level”"},
		{"Eleven days is a serious number and I didnt know the survey had looked at them.", "“didnt” for “did not”"},
		{"Then the survey is shared with both delegations in full, this week, before anything else.", ""},
		{"Then the survey is shared with both delegatoins in full this week before anything else", "“delegatoins” for “delegations”"},
		{"Then the survey is shared with both delegations in full, this week, before anythng else.", "“anythng” for “anything”"},
		{"Then the survey is shared with both dclegations in full, this week, before anything else.", "“dclegations” for “delegations”"},
	}
	for _, c := range noisy {
		r, err := Verify(ms, []byte(c.leak+"\n"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		l := r.Lines[0]
		if c.note == "" {
			if strings.Contains(c.leak, "fiow") {
				if l.Verdict != Altered {
					t.Errorf("%q: %s, want altered (a short word is no typo)", c.leak, l.Verdict)
				}
				continue
			}
			if l.Verdict != Authentic || l.Noise != "" {
				t.Errorf("%q: %s %q", c.leak, l.Verdict, l.Noise)
			}
			continue
		}
		if l.Verdict != Authentic || !strings.Contains(l.Noise, c.note) {
			t.Errorf("%q: %s, noise %q, want authentic with %s (%s)", c.leak, l.Verdict, l.Noise, c.note, l.Diff)
		}
	}
	meaning := []string{
		"Our own model shows that the wetlands downstream survive at l50, not 155.",  // 1 for l in a number
		"Our own model shows that the wetlands downstream survive at 150, not 15S.",  // a digit
		"Our own model shows that the wetlands downstream survive at 160, not 155.",  // a number
		"Our own model shows that the wetlands downstream survive at 150, nor 155.",  // a negation
		"My delegation did now receive the revised annex until late last night.",     // a negation
		"My delegation did not receive the revised annex until late last night. No.", // a line that is more
		"The figure comes from the 2019 survey of the fish ladders at Korve1.",       // a name
		"The figure comes from the 2019 survey of the fish ladders at Kovrel.",       // a name
		"Then the survey is shared with both delegations in full, this week, before anything.",
		"Then the survey is shared with all delegations in full, this week, before anything else.", // a quantity
		"They contain none, and I can confirm that the bridge pages are about load limit only.",    // an inflection
		"They contain none, and I could confirm that the bridge pages are about load limits only.", // a modal
		"They contain none, and I can confirmed that the bridge pages are about load limits only.",
		"Hollis contain none, and I can confirm that the bridge pages are about load limits only.",
	}
	for _, leak := range meaning {
		r, err := Verify(ms, []byte(leak+"\n"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		flagged := false
		for _, l := range r.Lines {
			if l.Verdict != Authentic {
				flagged = true
			}
		}
		if !flagged {
			t.Errorf("%q waved through: %+v", leak, r.Lines[0].Noise)
		}
	}
}

// TestPressAttribution: quotations attributed in press prose to the wrong
// member are misattributed, in the common attribution forms; the right
// member or no attribution leaves them authentic.
func TestPressAttribution(t *testing.T) {
	ms := talks()
	q := ms[4].Text // sent by mbeki
	forms := []string{
		"Valdane, the minister's aide, told the others that “%s”",
		"According to Valdane, “%s”",
		"Valdane wrote: “%s”",
		"“%s,” Valdane said.",
		"“%s,” said Valdane, the head of the delegation.",
		"Valdane told reporters: “%s”",
		"At the meeting Valdane said that “%s”",
	}
	for _, f := range forms {
		for _, who := range []string{"Valdane", "Mbeki"} {
			text := strings.ReplaceAll(fmt.Sprintf(f, strings.TrimSuffix(q, ".")), "Valdane", who) + "\n"
			r, err := Verify(ms, []byte(text), Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := Misattributed
			if who == "Mbeki" {
				want = Authentic
			}
			if len(r.Lines) != 1 || r.Lines[0].Verdict != want {
				t.Errorf("%q: %+v, want %s", text, r.Lines, want)
			}
		}
	}
	r, err := Verify(ms, []byte("The talks went on. “"+q+"”\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Lines) != 1 || r.Lines[0].Verdict != Authentic {
		t.Errorf("unattributed quotation: %+v", r.Lines)
	}
}

// TestWriteFindings: the human report shows findings and noise notes.
func TestWriteFindings(t *testing.T) {
	ms := talks()
	text := labelled(ms, 2, 4, 3) + "MBEKI: Eleven days is a serious number and I did not know the survey had looked at thern.\n" + labelled(ms, 8)
	r, err := Verify(ms, []byte(text), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := r.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"REORDERED  lines 2–3 appear in the reverse order",
		"OMITTED  1 message between lines 3 and 4 is omitted (sent by hollis)", "messages: m6",
		"OMITTED  1 message between lines 4 and 5 is omitted (sent by okafor)",
		"copying noise, not counted: “thern” for “them”", "1 line authentic with copying noise"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestAlteredElsewhere: an altered line whose words fit another message
// better than its own, so that its stated speaker or time is wrong too
// ("Well, thank you very much." cut from the chair's first message, its
// words nearer a later "Thank you very much." of another member), is
// altered but fixes no position: no false reorder finding. A moved line
// around it is still reported.
func TestAlteredElsewhere(t *testing.T) {
	ms := talks()
	ms = append([]Message{{ID: "m0", Sender: "okafor", SentAt: t0.Add(-time.Minute), Text: "Well, thank you very much. We shall do that after the break."}}, ms...)
	ms = append(ms, Message{ID: "m11", Sender: "hollis", SentAt: t0.Add(30 * time.Minute), Text: "Thank you very much."})
	for _, c := range []struct {
		leak string
		want []string
	}{
		{"[13:59] OKAFOR: Well, thank you very much.\n" + labelled(ms[1:], 0, 1, 2), nil},
		{"OKAFOR: Well, thank you very much.\n" + labelled(ms[1:], 0, 1, 2), nil},
		{"OKAFOR: Well, thank you very much.\n" + labelled(ms[1:], 0, 2, 1, 3), []string{"lines 3–4 appear in the reverse order"}},
	} {
		r, got := findings(t, ms, c.leak)
		if r.Lines[0].Verdict != Altered {
			t.Errorf("%q: first line %s, want altered", c.leak, r.Lines[0].Verdict)
		}
		for _, l := range r.Lines[1:] {
			if l.Verdict != Authentic {
				t.Errorf("%q: line %d %s", c.leak, l.Line, l.Verdict)
			}
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%q: findings %q, want %q", c.leak, got, c.want)
		}
	}
}
