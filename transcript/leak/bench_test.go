package leak_test

import (
	"testing"

	"backchannel/transcript/doctor"
	"backchannel/transcript/leak"
)

func scaleRoom(b *testing.B) []leak.Message {
	dir, fallback, err := doctor.FindCorpus()
	if err != nil {
		b.Fatal(err)
	}
	if fallback {
		b.Logf("../shared/corpus absent: using the sample in %s", dir)
	}
	ts, err := doctor.LoadCorpus(dir, 1)
	if err != nil {
		b.Fatal(err)
	}
	return doctor.ScaleRoom(ts, 10000, 1)
}

// BenchmarkAlign5000Words aligns a 5,000-word leak against a prepared
// index of 10,000 messages.
func BenchmarkAlign5000Words(b *testing.B) {
	msgs := scaleRoom(b)
	ix := leak.NewIndex(msgs, leak.Options{})
	text := []byte(doctor.LongLeak(msgs, 5000, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := ix.Verify(text)
		if err != nil || r.Summary.Authentic == 0 || r.Summary.Altered == 0 {
			b.Fatalf("%v %+v", err, r.Summary)
		}
	}
}

// BenchmarkIndexAndAlign5000Words includes indexing the 10,000 messages,
// as a one-off `verify` run does.
func BenchmarkIndexAndAlign5000Words(b *testing.B) {
	msgs := scaleRoom(b)
	text := []byte(doctor.LongLeak(msgs, 5000, 2))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := leak.Verify(msgs, text, leak.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
