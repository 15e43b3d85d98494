package doctor

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"

	"backchannel/transcript/leak"
)

// FindCorpus returns the shared corpus (../shared/corpus from the
// repository root) or, if it is absent, the small sample under
// transcript/testdata/corpus-sample; fallback reports which.
func FindCorpus() (dir string, fallback bool, err error) {
	if d, ok := DefaultCorpus(); ok {
		return d, false, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false, fmt.Errorf("find the working directory: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			s := filepath.Join(d, "transcript", "testdata", "corpus-sample")
			if _, err := os.Stat(s); err != nil {
				return "", false, fmt.Errorf("neither ../shared/corpus nor %s exists", s)
			}
			return s, true, nil
		}
		if filepath.Dir(d) == d {
			return "", false, fmt.Errorf("no go.mod above %s", wd)
		}
	}
}

// ScaleRoom builds n messages from the corpus sentences, one to three
// consecutive sentences each, from rotating senders 30 s apart: a large
// room of real prose for speed measurements.
func ScaleRoom(ts []Transcript, n int, seed int64) []leak.Message {
	var sents []string
	for _, t := range ts {
		for _, m := range t.Messages {
			sents = append(sents, sentences(m.Text)...)
		}
	}
	rng := rand.New(rand.NewSource(seed))
	senders := []string{"envoy", "aide", "counsel", "minister", "secretary"}
	start := time.Date(2026, 3, 14, 8, 0, 0, 0, time.UTC)
	out := make([]leak.Message, n)
	for i := range out {
		k := 1 + rng.Intn(3)
		j := rng.Intn(len(sents))
		var parts []string
		for x := 0; x < k; x++ {
			parts = append(parts, sents[(j+x)%len(sents)]+".")
		}
		out[i] = leak.Message{ID: fmt.Sprintf("s%05d", i), Sender: senders[rng.Intn(len(senders))],
			SentAt: start.Add(time.Duration(i) * 30 * time.Second), Text: strings.Join(parts, " ")}
	}
	return out
}

// LongLeak renders randomly chosen messages as a labelled, re-wrapped leak
// of at least words words, negating every tenth line.
func LongLeak(msgs []leak.Message, words int, seed int64) string {
	rng := rand.New(rand.NewSource(seed))
	var b strings.Builder
	n := 0
	for line := 0; n < words; line++ {
		m := msgs[rng.Intn(len(msgs))]
		text := m.Text
		if line%10 == 9 {
			text = strings.Replace(text, " is ", " is not ", 1)
		}
		s := wrap(strings.ToUpper(m.Sender)+": "+text, 72)
		b.WriteString(s)
		b.WriteString("\n\n")
		n += len(strings.Fields(s))
	}
	return b.String()
}
