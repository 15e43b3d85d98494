package leak

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 14, 14, 0, 0, 0, time.UTC)

func room() []Message {
	return []Message{
		{"m1", "envoy", t0, "We will not sign the agreement before Friday, unless the troops withdraw."},
		{"m2", "aide", t0.Add(2 * time.Minute), "Understood. I'll tell them 10 battalions must leave first."},
		{"m3", "envoy", t0.Add(3 * time.Minute), "Thank you."},
		{"m4", "aide", t0.Add(5 * time.Minute), "The President doesn't want a public statement yet; he prefers to wait until the summit in Geneva."},
		{"m5", "counsel", t0.Add(7 * time.Minute), "Our position on the \"sunset clause\" has not changed since the meeting in October."},
		{"m6", "envoy", t0.Add(9 * time.Minute), "We should organise the next round in Vienna, with twenty delegates on each side."},
		{"m7", "counsel", t0.Add(11 * time.Minute), "Ref: Your memorandum of April 11, with a copy to me"},
	}
}

func TestNormalize(t *testing.T) {
	same := []struct{ a, b string }{
		{"We won’t sign — “never”.", "we will not sign - \"never\""},
		{"ten battalions", "10 battalions"},
		{"Twenty-five per cent", "25%"},
		{"one hundred and five", "105"},
		{"10,000 men", "10000 men"},
		{"It’s", "it is"},
		{"d\u200be\u00adal\uFEFF", "deal"},
		{"ＤＥＡＬ", "deal"},
		{"café", "cafe"},
		{"a\u00a0b\u2003c", "a b c"},
		{"cannot", "can not"},
	}
	for _, c := range same {
		if a, b := Normalize(c.a, nil), Normalize(c.b, nil); !slices.Equal(a, b) {
			t.Errorf("%q -> %v, %q -> %v: want equal", c.a, a, c.b, b)
		}
	}
	differ := []struct{ a, b string }{
		{"we will sign", "we will not sign"},
		{"10 battalions", "11 battalions"},
		{"we accept", "we reject"},
		{"one two three", "six"},
	}
	for _, c := range differ {
		if slices.Equal(Normalize(c.a, nil), Normalize(c.b, nil)) {
			t.Errorf("%q and %q must differ", c.a, c.b)
		}
	}
}

func verdicts(t *testing.T, msgs []Message, leak string, opt Options) []Line {
	t.Helper()
	r, err := Verify(msgs, []byte(leak), opt)
	if err != nil {
		t.Fatal(err)
	}
	return r.Lines
}

type want struct {
	verdict Verdict
	id      string
}

func TestVerifyVerdicts(t *testing.T) {
	cases := []struct {
		name string
		leak string
		want []want
	}{
		{"retyped and relabelled", "Envoy: we won't sign the agreement before Friday -- unless the troops withdraw\n",
			[]want{{Authentic, "m1"}}},
		{"re-wrapped with times", "[14:02] AIDE: Understood. I will tell them ten\nbattalions must leave\nfirst.\n[14:03] ENVOY: Thank you.\n",
			[]want{{Authentic, "m2"}, {Authentic, "m3"}}},
		{"unlabelled, one per line", "Understood. I'll tell them 10 battalions must leave first.\nThank you.\n",
			[]want{{Authentic, "m2"}, {Authentic, "m3"}}},
		{"excerpt with ellipsis", "AIDE: The President doesn’t want a public statement … until the summit in Geneva.\n",
			[]want{{Authentic, "m4"}}},
		{"quotation in prose", "The aide said “he prefers to wait until the summit” and left.\n",
			[]want{{Authentic, "m4"}}},
		{"quotes out of order", "“Thank you,” the envoy said. Earlier the envoy had said: “We will not sign the agreement before Friday”.\n",
			[]want{{Authentic, "m3"}, {Authentic, "m1"}}},
		{"negation removed", "ENVOY: We will sign the agreement before Friday, unless the troops withdraw.\n",
			[]want{{Altered, "m1"}}},
		{"negation inserted", "COUNSEL: Our position on the “sunset clause” has changed since the meeting in October.\n",
			[]want{{Altered, "m5"}}},
		{"number changed", "AIDE: Understood. I'll tell them 12 battalions must leave first.\n",
			[]want{{Altered, "m2"}}},
		{"number written out, changed", "ENVOY: We should organise the next round in Vienna, with thirty delegates on each side.\n",
			[]want{{Altered, "m6"}}},
		{"word substituted", "ENVOY: We should organise the next round in Moscow, with twenty delegates on each side.\n",
			[]want{{Altered, "m6"}}},
		{"unmarked omission", "ENVOY: We will not sign the agreement before Friday.\n",
			[]want{{Altered, "m1"}}},
		{"fabricated", "AIDE: We have already agreed to give them the airport in exchange for silence.\n",
			[]want{{Fabricated, ""}}},
		{"wrong speaker", "COUNSEL: Understood. I'll tell them 10 battalions must leave first.\n",
			[]want{{Misattributed, "m2"}}},
		{"wrong time", "[16:40] AIDE: Understood. I'll tell them 10 battalions must leave first.\n",
			[]want{{Misdated, "m2"}}},
		{"spliced", "AIDE: The President doesn't want a public statement yet; the troops withdraw.\n",
			[]want{{Altered, "m4"}}},
		{"message opening like a label", "Ref: Your memorandum of April 11, with a copy to me\n",
			[]want{{Authentic, "m7"}}},
		{"short message, right speaker", "ENVOY: Thank you.\n", []want{{Authentic, "m3"}}},
		{"short message, wrong speaker", "AIDE: Thank you.\n", []want{{Misattributed, "m3"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := verdicts(t, room(), c.leak, Options{})
			if len(got) != len(c.want) {
				t.Fatalf("got %d lines %+v, want %d", len(got), got, len(c.want))
			}
			for i, w := range c.want {
				if got[i].Verdict != w.verdict || got[i].MessageID != w.id {
					t.Errorf("line %d: got %s %q (%s), want %s %q", i, got[i].Verdict, got[i].MessageID, got[i].Diff, w.verdict, w.id)
				}
				if w.verdict == Altered && got[i].Diff == "" {
					t.Errorf("altered line without a diff")
				}
			}
		})
	}
}

func TestDiffShowsTheEdit(t *testing.T) {
	got := verdicts(t, room(), "ENVOY: We will sign the agreement before Friday, unless the troops withdraw.\n", Options{})
	if len(got) != 1 || !strings.Contains(got[0].Diff, "[-not-]") {
		t.Fatalf("diff %+v", got)
	}
	got = verdicts(t, room(), "AIDE: Understood. I'll tell them 12 battalions must leave first.\n", Options{})
	if !strings.Contains(got[0].Diff, "[-10-] {+12+}") {
		t.Fatalf("diff %q", got[0].Diff)
	}
}

// TestCanonicalizer: a copy marked with lexical alternatives verifies as
// authentic with no difference at all only when the marking canonicaliser
// is supplied; without it, a one-letter spelling variant of a long word is
// waved through as copying noise, and said so.
func TestCanonicalizer(t *testing.T) {
	canon := func(s string) string {
		return strings.NewReplacer("organize", "organise", "do not", "don't").Replace(s)
	}
	marked := "ENVOY: We should organize the next round in Vienna, with twenty delegates on each side.\n"
	if got := verdicts(t, room(), marked, Options{}); got[0].Verdict != Authentic || !strings.Contains(got[0].Noise, "“organize” for “organise”") {
		t.Fatalf("without canonicaliser: %+v", got)
	}
	got := verdicts(t, room(), marked, Options{Canonicalize: canon})
	if got[0].Verdict != Authentic || got[0].MessageID != "m6" || got[0].Noise != "" {
		t.Fatalf("with canonicaliser: %+v", got)
	}
	if !strings.Contains(got[0].Text, "organize") {
		t.Fatalf("text must be the leak as written: %q", got[0].Text)
	}
	// a real edit stays visible through the canonicaliser
	got = verdicts(t, room(), "ENVOY: We should not organize the next round in Vienna, with twenty delegates on each side.\n", Options{Canonicalize: canon})
	if got[0].Verdict != Altered {
		t.Fatalf("edit hidden by canonicaliser: %+v", got)
	}
}

// TestHostileCanonicalizer: whatever a canonicaliser returns, Verify must
// not panic.
func TestHostileCanonicalizer(t *testing.T) {
	canons := []func(string) string{
		func(s string) string { return "" },
		func(s string) string { return strings.ToUpper(s) },
		func(s string) string { return strings.Repeat(s, 2) },
		func(s string) string { return strings.ReplaceAll(s, "it's", "it is") },
		func(s string) string {
			w := strings.Fields(s)
			slices.Reverse(w)
			return strings.Join(w, " ")
		},
		func(s string) string { return "\xff\xfe" + s + "…" },
	}
	for i, c := range canons {
		if _, err := Verify(room(), []byte("AIDE: it's the 10 battalions, isn't it?\n\nENVOY: Thank you.\n"), Options{Canonicalize: c}); err != nil {
			t.Fatalf("canonicaliser %d: %v", i, err)
		}
	}
}

func TestAliases(t *testing.T) {
	opt := Options{Aliases: map[string]string{"Mr. Witkoff": "envoy"}}
	got := verdicts(t, room(), "Mr. Witkoff: Thank you.\n", opt)
	if got[0].Verdict != Authentic {
		t.Fatalf("%+v", got)
	}
}

func TestBadInput(t *testing.T) {
	ix := NewIndex(room(), Options{})
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrEmpty},
		{"blank", []byte(" \n\t\n"), ErrEmpty},
		{"binary", []byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0}, ErrBinary},
		{"invalid utf-8", []byte{0xff, 0xfe, 'a'}, ErrBinary},
		{"huge", bytes.Repeat([]byte("word "), MaxLeakSize/5+1), ErrTooLarge},
		{"a JPEG", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, ErrBinary},
		{"no words", []byte("--- *** ...\n!!! ? —\n"), ErrNoWords},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ix.Verify(c.data); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if err := CheckInput(c.data); !errors.Is(err, c.want) {
				t.Fatalf("CheckInput err %v, want %v", err, c.want)
			}
			if _, err := ParseLeak(c.data); !errors.Is(err, c.want) {
				t.Fatalf("ParseLeak err %v, want %v", err, c.want)
			}
		})
	}
}

func TestWrongRoom(t *testing.T) {
	r, err := Verify(room(), []byte("The minutes of the harbour commission were approved without debate.\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Summary.Matched != 0 || !strings.Contains(r.Summary.Note, "wrong room") {
		t.Fatalf("summary %+v", r.Summary)
	}
}

func TestJSONShape(t *testing.T) {
	r, err := Verify(room(), []byte("ENVOY: Thank you.\nAIDE: We give up.\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Lines   []map[string]any `json:"lines"`
		Summary map[string]any   `json:"summary"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	keys := []string{"line", "text", "verdict", "message_id", "sender", "sent_at", "diff"}
	for _, l := range v.Lines {
		if len(l) != len(keys) {
			t.Fatalf("line keys %v", l)
		}
		for _, k := range keys {
			if _, ok := l[k]; !ok {
				t.Fatalf("missing %q in %v", k, l)
			}
		}
	}
	for _, k := range []string{"lines", "authentic", "altered", "fabricated", "misattributed"} {
		if _, ok := v.Summary[k]; !ok {
			t.Fatalf("summary lacks %q", k)
		}
	}
	if v.Summary["authentic"].(float64) != 1 || v.Summary["fabricated"].(float64) != 1 {
		t.Fatalf("summary %v", v.Summary)
	}
}

func TestParseLeak(t *testing.T) {
	cs, err := ParseLeak([]byte("[14:02] AIDE: one two\nthree four\n\nThe envoy said “we will not sign” today.\nMr. Lansing (9:05 pm): yes\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Claim{
		{Line: 1, Speaker: "AIDE", Time: "14:02", Text: "one two\nthree four"},
		{Line: 4, Speaker: "The envoy", Quote: true, Text: "we will not sign"},
		{Line: 5, Speaker: "Mr. Lansing", Time: "21:05", Text: "yes"},
	}
	if !slices.Equal(cs, want) {
		t.Fatalf("got %+v\nwant %+v", cs, want)
	}
}

func FuzzParseLeak(f *testing.F) {
	f.Add([]byte("[14:02] AIDE: Understood. I will tell them ten\nbattalions … first.\n"))
	f.Add([]byte("The aide said “he prefers to wait” and “Thank you,” the envoy said.\n"))
	f.Add([]byte("ENVOY: \"unbalanced quote\n\nMr. X (9:05 pm): . . . [...] …"))
	f.Add([]byte{0xe2, 0x80, 0x9c, 0xe2, 0x80})
	ix := NewIndex(room(), Options{})
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := ParseLeak(data)
		if err != nil {
			return
		}
		for _, c := range cs {
			if c.Line < 1 {
				t.Fatalf("line %d", c.Line)
			}
		}
		r, err := ix.Verify(data)
		if err != nil {
			t.Fatalf("ParseLeak accepted what Verify rejects: %v", err)
		}
		if r.Summary.Lines != len(r.Lines) {
			t.Fatal("summary disagrees")
		}
	})
}

func TestWriteText(t *testing.T) {
	r, err := Verify(room(), []byte("ENVOY: We will sign the agreement before Friday, unless the troops withdraw.\nAIDE: Thank you.\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var plain, colour strings.Builder
	if err := r.WriteText(&plain, false); err != nil {
		t.Fatal(err)
	}
	_ = r.WriteText(&colour, true)
	if strings.Contains(plain.String(), "\x1b[") || !strings.Contains(colour.String(), "\x1b[") {
		t.Fatal("colour only when asked")
	}
	for _, want := range []string{"line 1  ALTERED", "[-not-]", "line 2  MISATTRIBUTED", "message m3 from envoy", "2 lines: 0 authentic, 1 altered"} {
		if !strings.Contains(plain.String(), want) {
			t.Fatalf("missing %q in:\n%s", want, plain.String())
		}
	}
}

// TestLargeLeak: a big single-paragraph leak (invented words and real
// messages) verifies without blowing up time or memory.
func TestLargeLeak(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		fmt.Fprintf(&b, "word%d filler%d ", i%5000, i%977)
		if i%20000 == 0 {
			b.WriteString("We will not sign the agreement before Friday, unless the troops withdraw. ")
		}
	}
	r, err := Verify(room(), []byte(b.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Summary.Fabricated == 0 || r.Summary.Authentic == 0 {
		t.Fatalf("summary %+v", r.Summary)
	}
}
