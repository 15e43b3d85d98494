package webapp

import (
	"fmt"

	"backchannel/canary"
	"backchannel/client"
)

// Verdict is a trace's outcome as the page shows it: the verdict, who is
// named, the reasons in words, and the full result for the evidence view.
type Verdict struct {
	Kind    string   `json:"kind"` // "text" or "audio"
	Verdict string   `json:"verdict"`
	Named   []string `json:"named"`
	Summary []string `json:"summary"`
	// Bound is the proven bound on the probability that any innocent
	// member is named (the trace's ε).
	Bound  float64 `json:"bound"`
	Result any     `json:"result"`
}

func textVerdict(res *canary.Result) Verdict {
	v := Verdict{Kind: "text", Verdict: string(res.Verdict), Named: []string{}, Bound: res.Epsilon, Result: res}
	v.Summary = append(v.Summary, fmt.Sprintf("%d words matched your messages; %d marks read.", res.WordsMatched, res.SlotsRead))
	for _, s := range res.Suspects {
		v.Named = append(v.Named, s.Member)
		v.Summary = append(v.Summary, capitalise(s.Explain())+".")
	}
	if len(res.Suspects) > 0 {
		v.Summary = append(v.Summary, canary.CopyCaveat)
	}
	for _, q := range res.Quotes {
		v.Summary = append(v.Summary, fmt.Sprintf("%d of the %d words matched also appear in %s's message %s: the leak may be a copy of that message, which only %s can trace.",
			q.Words, q.MatchedWords, q.By, short(q.InMessage), q.By))
	}
	if res.Verdict != canary.Identified {
		if res.MoreWordsNeeded > 0 {
			v.Summary = append(v.Summary, fmt.Sprintf("About %d more words of leaked text would be needed.", res.MoreWordsNeeded))
		} else {
			v.Summary = append(v.Summary, "No usable marks: the text may not come from your messages, or was paraphrased beyond recognition.")
		}
	}
	return v
}

func audioVerdict(res *client.AudioTrace) Verdict {
	v := Verdict{Kind: "audio", Verdict: string(canary.Inconclusive), Named: []string{}, Bound: res.Epsilon, Result: res}
	if !res.Matched {
		v.Summary = append(v.Summary, fmt.Sprintf("The recording matches none of your %d voice notes.", res.Notes))
		return v
	}
	if len(res.Named) > 0 {
		v.Verdict = string(canary.Identified)
		v.Named = append(v.Named, res.Named...)
	}
	v.Summary = append(v.Summary, fmt.Sprintf("%.0f s of your voice note %s in %s matched.", res.Seconds, short(res.MessageID), res.RoomName))
	for _, s := range res.Scores {
		if s.Z >= res.Threshold {
			v.Summary = append(v.Summary, fmt.Sprintf("%s: score %.1f, threshold %.1f; probability that a given innocent member scores this high ≤ %s.", s.Recipient, s.Z, res.Threshold, s.BoundText()))
		}
	}
	switch {
	case len(res.Named) > 0:
		v.Summary = append(v.Summary, canary.CopyCaveat)
	case res.MoreSeconds > 0:
		v.Summary = append(v.Summary, fmt.Sprintf("About %.0f more seconds of recording would be needed.", res.MoreSeconds))
	default:
		v.Summary = append(v.Summary, "No sign of any recipient's mark: the recording may not come from a copy of this note, or was altered beyond what trace reads.")
	}
	return v
}

func short(id string) string { return id[:min(12, len(id))] }

func capitalise(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
