package canary

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestMarkRejectsBadKey(t *testing.T) {
	if _, err := Mark(make([]byte, 16), "m", "r", "text", PolicyAll); !errors.Is(err, ErrKey) {
		t.Fatalf("short key: err = %v", err)
	}
	if _, err := NewTracer(nil, nil); !errors.Is(err, ErrKey) {
		t.Fatalf("tracer without key: err = %v", err)
	}
}

func TestMarkDeterministicAndDistinct(t *testing.T) {
	key := testKey(1)
	text := strings.Join(proseParagraphs(t)[:4], "\n\n")
	a1, _ := Mark(key, "m1", "alice", text, PolicyAll)
	a2, _ := Mark(key, "m1", "alice", text, PolicyAll)
	b, _ := Mark(key, "m1", "bob", text, PolicyAll)
	other, _ := Mark(key, "m2", "alice", text, PolicyAll)
	if a1 != a2 {
		t.Error("Mark is not deterministic")
	}
	if a1 == b || a1 == other {
		t.Error("copies for different recipients or messages are equal")
	}
	if off, _ := Mark(key, "m1", "alice", text, PolicyOff); off != text {
		t.Error("policy off changed the text")
	}
}

// Every copy has the canonical form of the original, under every policy:
// marks never change what the text says.
func TestMarkKeepsCanonicalText(t *testing.T) {
	key := testKey(2)
	for _, p := range []Policy{PolicyInvisible, PolicyTypographic, PolicyLexical, PolicyAll} {
		for i, para := range proseParagraphs(t) {
			want := CanonicalWords(para)
			for _, r := range []string{"alice", "bob", "carol"} {
				c, err := Mark(key, fmt.Sprint(i), r, para, p)
				if err != nil {
					t.Fatal(err)
				}
				got := CanonicalWords(c)
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Fatalf("policy %v, paragraph %d: canonical words differ\norig: %q\ncopy: %q", p, i, para, c)
				}
				if Canonicalize(c) != Canonicalize(para) {
					t.Fatalf("policy %v: Canonicalize differs\norig: %q\ncopy: %q", p, Canonicalize(para), Canonicalize(c))
				}
			}
		}
	}
}

var (
	reURL    = regexp.MustCompile(`https?://\S+|\S+@\S+\.\w+`)
	reCode   = regexp.MustCompile("`[^`]*`")
	reDigits = regexp.MustCompile(`\d[\d.,:]*`)
)

// Marks never touch numbers' values, names, negations, quoted code, URLs or
// e-mail addresses.
func TestMarkProtects(t *testing.T) {
	key := testKey(3)
	texts := []string{
		"We will not sign it is agreed unless Mr. Smith and the Labor delegation organize two meetings. I am sure it is not the U.S. position.",
		"I have never said that we are ready; they are not. See https://example.org/it-is?q=we%20are or write to organize@example.com now.",
		"Run `it is organized` and `we are` exactly. The price is 2,500.50 dollars, 3 percent, on 12 November 1976 at 3:45 p.m.",
		"We are neither for nor against it. Nobody is organizing nothing. It is Honor, not honor, that Colonel Favor favored.",
		"“Yes,” said Kissinger—I think we are organizing ten meetings… The Organization of American States was there.",
	}
	for _, text := range texts {
		orig := tokenize(text)
		for r := 0; r < 40; r++ {
			c, err := Mark(key, "m", fmt.Sprint("member", r), text, PolicyAll)
			if err != nil {
				t.Fatal(err)
			}
			for _, re := range []*regexp.Regexp{reURL, reCode} {
				for _, m := range re.FindAllString(text, -1) {
					if !strings.Contains(c, m) {
						t.Errorf("protected %q altered in %q", m, c)
					}
				}
			}
			norm := Normalize(c)
			want := reDigits.FindAllString(text, -1)
			got := reDigits.FindAllString(norm, -1)
			if strings.Join(want, " ") != strings.Join(withoutConverted(got, text), " ") {
				t.Errorf("numbers changed: %v -> %v in %q", want, got, c)
			}
			copyWords := map[string]int{}
			for _, w := range tokenize(c).words {
				copyWords[w.key]++
			}
			origWords := map[string]int{}
			for k, w := range orig.words {
				origWords[w.key]++
				if w.name && copyWords[w.key] == 0 && !strings.Contains(w.key, ".") {
					t.Errorf("name %q lost in %q", orig.raw(k), c)
				}
			}
			for _, n := range negations {
				if origWords[n] != copyWords[n] {
					t.Errorf("negation %q: %d in original, %d in copy %q", n, origWords[n], copyWords[n], c)
				}
			}
		}
	}
}

// withoutConverted drops digits that a number-word slot introduced.
func withoutConverted(got []string, orig string) []string {
	have := map[string]int{}
	for _, d := range reDigits.FindAllString(orig, -1) {
		have[d]++
	}
	var out []string
	for _, d := range got {
		if have[d] > 0 {
			have[d]--
			out = append(out, d)
		}
	}
	return out
}

// No framing: without the sender's key, a member's copy and everything
// public do not give another member's copy.
func TestNoFraming(t *testing.T) {
	key := testKey(4)
	text := strings.Join(proseParagraphs(t)[:3], "\n\n")
	bob, _ := Mark(key, "m", "bob", text, PolicyAll)
	alice, _ := Mark(key, "m", "alice", text, PolicyAll)
	for seed := byte(5); seed < 40; seed++ {
		if forged, _ := Mark(testKey(seed), "m", "bob", text, PolicyAll); forged == bob {
			t.Fatalf("key %d reproduces bob's copy", seed)
		}
	}
	l := NewLayout(text, PolicyAll)
	ca, _ := Codeword(key, "m", "alice", l)
	cb, _ := Codeword(key, "m", "bob", l)
	differ := 0
	for i := range ca {
		if ca[i] != cb[i] {
			differ++
		}
	}
	if differ < len(ca)/3 {
		t.Errorf("alice's and bob's codewords differ on %d of %d slots", differ, len(ca))
	}
	tr, err := NewTracer(key, []Message{{ID: "m", Text: text, Recipients: []string{"alice", "bob"}, Policy: PolicyAll}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Trace(alice, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Identified || len(res.Suspects) != 1 || res.Suspects[0].Member != "alice" {
		t.Fatalf("alice's copy traced to %+v", res.Suspects)
	}
}

func TestMarkEachEqualsMark(t *testing.T) {
	key := testKey(5)
	text := strings.Join(proseParagraphs(t)[:3], "\n\n")
	for _, p := range []Policy{PolicyOff, PolicyAll, PolicyLexical} {
		copies, err := MarkEach(key, "m9", text, p, members)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range members {
			want, _ := Mark(key, "m9", r, text, p)
			if copies[i] != want {
				t.Errorf("policy %v, %s: MarkEach differs from Mark", p, r)
			}
		}
	}
	if _, err := MarkEach(nil, "m", text, PolicyOff, members); !errors.Is(err, ErrKey) {
		t.Errorf("MarkEach without key: %v", err)
	}
}
