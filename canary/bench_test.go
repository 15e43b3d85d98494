package canary

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// synthRoom builds n distinct messages of about 20 words from the test
// prose's vocabulary, sent to the given number of members.
func synthRoom(tb testing.TB, n, nMembers int) ([]Message, []string) {
	var vocab []string
	seen := map[string]bool{}
	for _, p := range proseParagraphs(tb) {
		for _, w := range strings.Fields(p) {
			if !seen[w] {
				seen[w] = true
				vocab = append(vocab, w)
			}
		}
	}
	mem := make([]string, nMembers)
	for i := range mem {
		mem[i] = fmt.Sprintf("member%02d", i)
	}
	rng := rand.New(rand.NewPCG(42, 7))
	msgs := make([]Message, n)
	for i := range msgs {
		words := make([]string, 20)
		for j := range words {
			words[j] = vocab[rng.IntN(len(vocab))]
		}
		msgs[i] = Message{ID: fmt.Sprintf("m%05d", i), Text: strings.Join(words, " ") + ".", Recipients: mem, Policy: PolicyAll}
	}
	return msgs, mem
}

var bench10k = sync.OnceValues(func() (*Tracer, string) {
	msgs, _ := synthRoom(&testing.B{}, 10000, 50)
	key := testKey(30)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		panic(err)
	}
	var parts []string
	for _, m := range msgs[3000:3500] { // 10,000 words
		c, _ := Mark(key, m.ID, "member07", m.Text, m.Policy)
		parts = append(parts, c)
	}
	return tr, strings.Join(parts, "\n\n")
})

// BenchmarkTrace10k traces a pasted 10,000-word leak against 50 members and
// 10,000 messages (the tracer is built once, outside the timing).
func BenchmarkTrace10k(b *testing.B) {
	tr, leak := bench10k()
	b.ResetTimer()
	for b.Loop() {
		res, err := tr.Trace(leak, 0)
		if err != nil || res.Verdict != Identified {
			b.Fatalf("trace: %v %+v", err, res)
		}
	}
}

// BenchmarkTrace10kRetyped is the same leak retyped (lexical slots only).
func BenchmarkTrace10kRetyped(b *testing.B) {
	tr, leak := bench10k()
	leak = Normalize(leak)
	b.ResetTimer()
	for b.Loop() {
		if _, err := tr.Trace(leak, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewTracer10k indexes 10,000 messages.
func BenchmarkNewTracer10k(b *testing.B) {
	msgs, _ := synthRoom(b, 10000, 50)
	key := testKey(31)
	for b.Loop() {
		if _, err := NewTracer(key, msgs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMark marks one 120-word message for one recipient.
func BenchmarkMark(b *testing.B) {
	text := strings.Join(strings.Fields(strings.Join(proseParagraphs(b), " "))[:120], " ")
	key := testKey(32)
	for b.Loop() {
		if _, err := Mark(key, "m", "alice", text, PolicyAll); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarkEach50 marks one 120-word message for a room of 50.
func BenchmarkMarkEach50(b *testing.B) {
	text := strings.Join(strings.Fields(strings.Join(proseParagraphs(b), " "))[:120], " ")
	_, mem := synthRoom(b, 1, 50)
	key := testKey(33)
	for b.Loop() {
		if _, err := MarkEach(key, "m", text, PolicyAll, mem); err != nil {
			b.Fatal(err)
		}
	}
}
