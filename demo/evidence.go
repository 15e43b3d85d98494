package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"backchannel/canary"
	"backchannel/transcript/leak"
)

// The two doctored lines of the leak: one altered (a negation inserted into
// the adviser's line), one fabricated (a line the envoy never wrote, after
// the aide's "Understood.").
const (
	alterSpeaker = "adviser"
	alterFrom    = "pause is acceptable"
	alterTo      = "pause is not acceptable"
	fabricateBy  = "envoy"
	fabricated   = "Between us, the ceasefire is only a pretext to rearm the north."
)

// leakLine is one line of the leaked transcript and where it came from.
type leakLine struct {
	Line    int    `json:"line"`
	Speaker string `json:"speaker"`
	// Message is the id of the message the line retypes ("" for the
	// fabricated line); Part is "negotiation" or "briefing".
	Message string `json:"message,omitempty"`
	Part    string `json:"part"`
	// Doctored is "altered" or "fabricated" for the two doctored lines.
	Doctored string `json:"doctored,omitempty"`
	text     string
}

// leak: the aide retypes their copy of the room into leak.txt, changing
// one line and adding another. Retyping loses every invisible and
// typographic mark; the wording, and so the lexical marks, stay.
func (s *story) leak(ctx context.Context) (Step, error) {
	st := Step{Step: "leak", Title: "A transcript leaks: the " + Leaker + " retypes their copy, doctoring two lines"}
	msgs, err := s.texts(ctx, Leaker)
	if err != nil {
		return st, err
	}
	var lines []leakLine
	add := func(l leakLine) {
		l.Line = 2*len(lines) + 1 // one paragraph a line, a blank line between
		lines = append(lines, l)
	}
	for i, m := range msgs {
		part := "negotiation"
		if i >= len(Script) {
			part = "briefing"
		}
		l := leakLine{Speaker: m.Sender, Message: m.ID, Part: part, text: canary.Normalize(m.Text)}
		if m.Sender == alterSpeaker && strings.Contains(l.text, alterFrom) && !slices.ContainsFunc(lines, func(x leakLine) bool { return x.Doctored == "altered" }) {
			l.text = strings.Replace(l.text, alterFrom, alterTo, 1)
			l.Doctored = "altered"
		}
		add(l)
		if m.Sender == Leaker && strings.HasPrefix(l.text, "Understood.") {
			add(leakLine{Speaker: fabricateBy, Part: part, Doctored: "fabricated", text: fabricated})
		}
	}
	var doctored []leakLine
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s: %s\n\n", strings.ToUpper(l.Speaker), l.text)
		if l.Doctored != "" {
			doctored = append(doctored, l)
		}
	}
	if len(doctored) != 2 {
		return st, fmt.Errorf("the leak has %d doctored lines, want 2 (the %s's copy may not say %q)", len(doctored), Leaker, alterFrom)
	}
	s.leakText = strings.TrimRight(b.String(), "\n") + "\n"
	s.leakPath = filepath.Join(s.dir, "leak.txt")
	if err := os.WriteFile(s.leakPath, []byte(s.leakText), 0o600); err != nil {
		return st, fmt.Errorf("write the leak: %w", err)
	}
	s.doctored = doctored
	s.leakLines = lines
	total := words(s.leakText)
	st.Outcome = struct {
		Lines    int        `json:"lines"`
		Words    int        `json:"words"`
		Doctored []leakLine `json:"doctored"`
		Text     string     `json:"text"`
	}{lines[len(lines)-1].Line, total, doctored, s.leakText}
	st.show = append(st.show,
		cli(Leaker, "read", roomName)+"     # and retypes it by hand into leak.txt",
		fmt.Sprintf("leak.txt: %d lines, %s words. Retyping lost the invisible and typographic marks; the", lines[len(lines)-1].Line, thousands(total)),
		"wording stayed. The negotiation, as leaked:")
	first := -1
	for i, l := range lines {
		if l.Part == "briefing" {
			if first < 0 {
				first = i
			}
			continue
		}
		st.show = append(st.show, fmt.Sprintf("| %2d  %s: %s", l.Line, strings.ToUpper(l.Speaker), l.text))
	}
	if first >= 0 {
		st.show = append(st.show, fmt.Sprintf("| lines %d–%d: the %d paragraphs of the briefing", lines[first].Line, lines[len(lines)-1].Line, len(lines)-first))
	}
	st.show = append(st.show, fmt.Sprintf("line %d was altered and line %d made up.", doctored[0].Line, doctored[1].Line))
	return st, nil
}

// clock shows an RFC 3339 time as hh:mm:ss UTC.
func clock(rfc string) string {
	t, err := time.Parse(time.RFC3339Nano, rfc)
	if err != nil {
		return rfc
	}
	return t.UTC().Format("15:04:05")
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// verify: the envoy checks the leak against the room's signed transcript.
func (s *story) verify(ctx context.Context) (Step, error) {
	st := Step{Step: "verify", Title: "The envoy checks the leak against the signed transcript"}
	rep, err := s.people["envoy"].c.VerifyLeak(ctx, s.room, []byte(s.leakText))
	if err != nil {
		return st, fmt.Errorf("verify the leak: %w", err)
	}
	st.show = append(st.show, cli("envoy", "verify", "--room", roomName, "leak.txt"))
	byLine := map[int]leakLine{}
	for _, l := range s.leakLines {
		byLine[l.Line] = l
	}
	var flagged []int
	var briefing []leak.Line
	for _, l := range rep.Lines {
		want, ok := byLine[l.Line]
		if !ok {
			return st, fmt.Errorf("verify reports line %d, which is no line of the leak", l.Line)
		}
		switch {
		case l.Verdict != leak.Authentic:
			flagged = append(flagged, l.Line)
			if string(l.Verdict) != want.Doctored {
				return st, fmt.Errorf("verify calls line %d %s, but it is %q", l.Line, l.Verdict, want.Doctored)
			}
		case want.Doctored != "":
			return st, fmt.Errorf("verify calls the %s line %d authentic", want.Doctored, l.Line)
		case l.MessageID != want.Message || l.Sender != want.Speaker || l.SentAt == "":
			return st, fmt.Errorf("verify confirms line %d as %s's message %s at %q, but it retypes %s's message %s", l.Line, l.Sender, l.MessageID, l.SentAt, want.Speaker, want.Message)
		}
		if want.Part == "briefing" && l.Verdict == leak.Authentic {
			briefing = append(briefing, l)
			continue
		}
		switch l.Verdict {
		case leak.Fabricated:
			st.show = append(st.show, fmt.Sprintf("line %2d  %-10s  no message in the transcript contains these words", l.Line, "FABRICATED"),
				fmt.Sprintf("                     %q", l.Text))
		default:
			v := string(l.Verdict)
			if l.Verdict != leak.Authentic {
				v = strings.ToUpper(v)
			}
			st.show = append(st.show, fmt.Sprintf("line %2d  %-10s  %-7s  %s  message %s", l.Line, v, l.Sender, clock(l.SentAt), short(l.MessageID)))
		}
		if l.Diff != "" && l.Verdict == leak.Altered {
			st.show = append(st.show, "                     "+l.Diff)
		}
	}
	if len(briefing) > 0 {
		signers := map[string]bool{}
		for _, l := range briefing {
			signers[l.Sender] = true
		}
		if len(signers) != 1 || !signers["envoy"] {
			return st, fmt.Errorf("the briefing's lines are confirmed as signed by %v", signers)
		}
		st.show = append(st.show, fmt.Sprintf("lines %d–%d  authentic: the %d messages of the briefing, each signed by envoy, %s–%s",
			briefing[0].Line, briefing[len(briefing)-1].Line, len(briefing), clock(briefing[0].SentAt), clock(briefing[len(briefing)-1].SentAt)))
	}
	var want []int
	for _, d := range s.doctored {
		want = append(want, d.Line)
	}
	if !slices.Equal(flagged, want) {
		return st, fmt.Errorf("verify flagged lines %v, but the doctored lines are %v", flagged, want)
	}
	sum := rep.Summary
	st.show = append(st.show,
		fmt.Sprintf("%d lines: %d authentic, %d altered, %d fabricated, %d misattributed (%d of %d messages matched)",
			sum.Lines, sum.Authentic, sum.Altered, sum.Fabricated, sum.Misattributed, sum.Matched, sum.Messages),
		fmt.Sprintf("verify flags exactly the two doctored lines (%d and %d) and confirms every other line", want[0], want[1]),
		"with the member who signed it and when.")
	st.Outcome = struct {
		Flagged []int `json:"flagged"`
		*leak.Report
	}{flagged, rep}
	return st, nil
}

// trace: the envoy traces the leak to the copy it came from.
func (s *story) trace(ctx context.Context) (Step, error) {
	st := Step{Step: "trace", Title: "The envoy traces the leak to the copy it came from"}
	res, err := s.people["envoy"].c.Trace(ctx, s.room, s.leakText, canary.DefaultEpsilon)
	if err != nil {
		return st, fmt.Errorf("trace the leak: %w", err)
	}
	st.Outcome = res
	total := words(s.leakText)
	if res.WordsMatched > total {
		return st, fmt.Errorf("trace matched %d words of a %d-word leak", res.WordsMatched, total)
	}
	if res.Verdict != canary.Identified || len(res.Suspects) != 1 || res.Suspects[0].Member != Leaker {
		return st, fmt.Errorf("trace did not name the %s alone: %s %+v", Leaker, res.Verdict, res.Suspects)
	}
	sus := res.Suspects[0]
	if sus.FalseAccusationBound > res.Epsilon {
		return st, fmt.Errorf("trace named the %s with a bound of %.1e, above ε = %.0e", Leaker, sus.FalseAccusationBound, res.Epsilon)
	}
	var channels []string
	for _, ch := range []string{"lexical", "typographic", "invisible"} {
		if n := res.SlotsByChannel[ch]; n > 0 {
			channels = append(channels, fmt.Sprintf("%d %s", n, ch))
		}
	}
	st.show = append(st.show,
		cli("envoy", "trace", "--room", roomName, "leak.txt"),
		fmt.Sprintf("verdict: %s (ε = %.0e): %s of the leak's %s words matched the envoy's own messages,", res.Verdict, res.Epsilon, thousands(res.WordsMatched), thousands(total)),
		fmt.Sprintf("%d marks read (%s: retyping kept only the wording marks)", res.SlotsRead, strings.Join(channels, ", ")),
		fmt.Sprintf("the leak is %s's copy: %d of %d marks match it (%s test); the probability that another", sus.Member, sus.SlotsMatched, sus.SlotsRead, sus.Test),
		fmt.Sprintf("member's copy matches this well is at most %.1e, below ε = %.0e.", sus.FalseAccusationBound, res.Epsilon),
		canary.CopyCaveat)
	return st, nil
}
