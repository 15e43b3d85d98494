package canary

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "it\u2019s \u201Cx\u201D\u2014y\u2026", "a\u200B\u200C b", "`c` https://x.y U.S.", "\xff\xfe", "Mr. Smith--\u2013", "g-\u2013Mr. Smith-ggggggg-\u2013"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if Normalize(n) != n {
			t.Fatalf("Normalize not idempotent on %q", s)
		}
		if utf8.ValidString(s) && !utf8.ValidString(n) {
			t.Fatalf("Normalize made invalid UTF-8 from %q", s)
		}
		cs := Canonicalize(s)
		_ = CanonicalWords(s)
		if !utf8.ValidString(s) {
			return
		}
		if Canonicalize(cs) != cs {
			t.Fatalf("Canonicalize not idempotent: %q -> %q -> %q", s, cs, Canonicalize(cs))
		}
		l := NewLayout(s, PolicyAll)
		for _, fill := range []int{0, 1, 3} {
			sym := make([]int, l.NumSlots())
			for i := range sym {
				sym[i] = fill % l.Alphabet(i)
			}
			c := l.Render(sym)
			if strings.Join(CanonicalWords(c), " ") != strings.Join(CanonicalWords(s), " ") {
				t.Fatalf("marking changed the canonical words: %q -> %q", s, c)
			}
		}
	})
}

func FuzzTrace(f *testing.F) {
	key := testKey(20)
	paras := []string{
		"We are organizing the U.S. position; it is \u201Cfirm\u201D \u2014 Mr. Smith agrees. Two weeks remain.",
		"I have said that the center will not move. Perhaps everyone should favor the plan\u2026",
		"The delegation\u2019s view, for example, is that we will co-operate with the others.",
	}
	msgs := sentMessages(paras, []string{"a", "b", "c"}, PolicyAll)
	tr, err := NewTracer(key, msgs)
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range msgs {
		c, _ := Mark(key, m.ID, "b", m.Text, PolicyAll)
		f.Add(c)
		f.Add(Normalize(c))
	}
	f.Add("")
	f.Add("\u200B\u200C\u2060 . .  ,, `` \xff")
	f.Fuzz(func(t *testing.T, leak string) {
		res, err := tr.Trace(leak, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict == Identified {
			for _, s := range res.Suspects {
				if s.FalseAccusationBound > res.Epsilon {
					t.Fatalf("suspect above epsilon: %+v", s)
				}
			}
		}
		if res.SlotsRead < 0 || res.WordsMatched < 0 {
			t.Fatalf("negative counts: %+v", res)
		}
	})
}
