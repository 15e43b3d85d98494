// Package doctor is the doctoring benchmark for transcript verification.
// From real transcripts it generates leaks — retyped, re-wrapped,
// relabelled, excerpted, reordered — some of whose lines are doctored in
// known ways (inserted lines, substituted words and numbers, negations,
// splices of two messages, swapped speakers, wrong times, omitted
// context). It runs the verifier (transcript/leak) on each leak and scores
// the verdicts against the known truth: precision and recall of the
// altered, fabricated and misattributed verdicts, and the number of
// authentic lines wrongly flagged.
//
// Every random choice comes from a seeded generator, so a run is
// reproducible from its Config.
package doctor

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"backchannel/transcript/leak"
)

// Transcript is a real conversation turned into room messages.
type Transcript struct {
	Name     string
	Messages []leak.Message
	// Labels maps member ids to the speaker labels used when rendering.
	Labels map[string]string
}

var (
	upperLabel = regexp.MustCompile(`^([A-Z][A-Z. '’-]{1,40}):\s+`)
	// minutes style: "Mr. Blair said ...", "General Bliss began ..."
	titled     = regexp.MustCompile(`^((?:Mr|Mrs|Dr|General|Colonel|Secretary|Ambassador|Professor|Judge|Admiral)\.? [A-Z][a-zA-Z-]+)\b`)
	headerLike = regexp.MustCompile(`^(SUBJECT|PRESENT|PARTICIPANTS|In Attendance)\b`)
)

// synthetic speakers for prose without named speakers
var synthetic = []string{"envoy", "aide", "counsel", "minister"}

func memberID(label string) string {
	f := strings.ToLower(strings.TrimSpace(label))
	f = strings.NewReplacer(".", "", "’", "", "'", "").Replace(f)
	return strings.Join(strings.Fields(f), "-")
}

// ParseTranscript turns plain text into messages: each paragraph is one
// message; its speaker is an upper-case label ("SECRETARY KISSINGER:"), a
// titled name opening the paragraph ("Mr. Blair said ..."), or else one of
// a few synthetic members chosen by rng. Messages are spaced 20 s to 3 min
// apart from start.
func ParseTranscript(name, text string, start time.Time, rng *rand.Rand) Transcript {
	t := Transcript{Name: name, Labels: map[string]string{}}
	at := start
	last := ""
	for _, para := range regexp.MustCompile(`\n\s*\n`).Split(strings.ReplaceAll(text, "\r\n", "\n"), -1) {
		para = strings.Join(strings.Fields(para), " ")
		if len(leak.Normalize(para, nil)) < 2 || headerLike.MatchString(para) {
			continue
		}
		speaker := ""
		if m := upperLabel.FindStringSubmatch(para); m != nil {
			speaker = strings.TrimSpace(m[1])
			para = strings.TrimSpace(para[len(m[0]):])
		} else if m := titled.FindStringSubmatch(para); m != nil {
			speaker = m[1]
		}
		var id string
		switch {
		case speaker != "":
			id = memberID(speaker)
			if _, ok := t.Labels[id]; !ok {
				t.Labels[id] = speaker
			}
		case last != "" && rng.Intn(3) > 0:
			id = last
		default:
			id = synthetic[rng.Intn(len(synthetic))]
			t.Labels[id] = strings.ToUpper(id)
		}
		if para == "" {
			continue
		}
		last = id
		at = at.Add(time.Duration(20+rng.Intn(160)) * time.Second)
		t.Messages = append(t.Messages, leak.Message{
			ID: fmt.Sprintf("%s-%04d", shortName(name), len(t.Messages)+1), Sender: id, SentAt: at, Text: para})
	}
	return t
}

func shortName(name string) string {
	base := strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	if len(base) > 12 {
		base = base[:12]
	}
	return base
}

// LoadCorpus reads every .txt file of dir (sorted by name) as a
// transcript. It fails if dir holds none.
func LoadCorpus(dir string, seed int64) ([]Transcript, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", dir, err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("no .txt transcripts in %s", dir)
	}
	start := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	var out []Transcript
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read the corpus: %w", err)
		}
		rng := rand.New(rand.NewSource(seed + int64(i)))
		t := ParseTranscript(filepath.Base(f), string(data), start, rng)
		if len(t.Messages) < 8 {
			return nil, fmt.Errorf("%s: only %d messages", f, len(t.Messages))
		}
		out = append(out, t)
	}
	return out, nil
}
