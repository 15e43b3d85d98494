package canary

import (
	"os"
	"strings"
	"testing"
)

// testKey returns a fixed marking key that differs by seed.
func testKey(seed byte) []byte {
	k := make([]byte, KeySize)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return k
}

// proseParagraphs returns the paragraphs of the prose shipped for tests.
func proseParagraphs(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile("eval/testdata/corpus/milestones_excerpt.txt")
	if err != nil {
		t.Fatalf("test prose: %v", err)
	}
	var out []string
	for _, p := range strings.Split(string(data), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// sentMessages turns paragraphs into messages sent to members.
func sentMessages(paras []string, members []string, p Policy) []Message {
	msgs := make([]Message, len(paras))
	for i, para := range paras {
		msgs[i] = Message{ID: "msg-" + string(rune('A'+i/26)) + string(rune('a'+i%26)), Text: para, Recipients: members, Policy: p}
	}
	return msgs
}

// copyOf concatenates a member's copies of messages.
func copyOf(t testing.TB, key []byte, msgs []Message, member string) string {
	t.Helper()
	var parts []string
	for _, m := range msgs {
		c, err := Mark(key, m.ID, member, m.Text, m.Policy)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, c)
	}
	return strings.Join(parts, "\n\n")
}

// firstWords returns the first n whitespace-separated words of s, keeping
// the characters between them.
func firstWords(s string, n int) string {
	in, k := false, 0
	for i, r := range s {
		sp := r == ' ' || r == '\n' || r == '\t'
		if !sp && !in {
			if k == n {
				return strings.TrimSpace(s[:i])
			}
			k++
		}
		in = !sp
	}
	return s
}
