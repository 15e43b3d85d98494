package eval

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoCorpus reports that the evaluation corpus could not be found.
var ErrNoCorpus = errors.New("corpus not found")

// FindCorpus returns the shared corpus directory: ../shared/corpus relative
// to the repository root (the nearest directory above start holding go.mod).
func FindCorpus(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", fmt.Errorf("find corpus: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			c := filepath.Join(dir, "..", "shared", "corpus")
			if st, err := os.Stat(c); err == nil && st.IsDir() {
				return filepath.Clean(c), nil
			}
			return "", fmt.Errorf("%w: expected %s (../shared/corpus from the repository root %s) (backchannel eval trace --corpus DIR names it)", ErrNoCorpus, filepath.Clean(c), dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod above %s (backchannel eval trace --corpus DIR names it)", ErrNoCorpus, start)
		}
		dir = parent
	}
}

// message is one message of the simulated room.
type message struct {
	id   string
	text string
}

// loadCorpus reads every *.txt file of dir (except SOURCES/README) and cuts
// it into messages of at most maxWords words, at paragraph and sentence
// boundaries.
func loadCorpus(dir string, maxWords int) ([]message, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, fmt.Errorf("corpus %s: %w", dir, err)
	}
	sort.Strings(files)
	var msgs []message
	for _, f := range files {
		base := filepath.Base(f)
		if strings.EqualFold(base, "SOURCES.txt") || strings.EqualFold(base, "README.txt") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		n := 0
		for _, para := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n\n") {
			para = strings.TrimSpace(para)
			if para == "" {
				continue
			}
			for _, chunk := range chunkSentences(para, maxWords) {
				msgs = append(msgs, message{id: fmt.Sprintf("%s#%d", strings.TrimSuffix(base, ".txt"), n), text: chunk})
				n++
			}
		}
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: no *.txt prose in %s", ErrNoCorpus, dir)
	}
	return msgs, nil
}

// chunkSentences splits a paragraph into pieces of at most maxWords words,
// cutting after sentence ends where possible.
func chunkSentences(para string, maxWords int) []string {
	words := strings.Fields(para)
	if len(words) <= maxWords {
		return []string{para}
	}
	var out []string
	start := 0
	for start < len(words) {
		end := min(start+maxWords, len(words))
		if end < len(words) {
			for k := end; k > start+maxWords/2; k-- {
				if w := words[k-1]; strings.HasSuffix(w, ".") || strings.HasSuffix(w, "?") || strings.HasSuffix(w, "!") {
					end = k
					break
				}
			}
		}
		out = append(out, strings.Join(words[start:end], " "))
		start = end
	}
	return out
}
