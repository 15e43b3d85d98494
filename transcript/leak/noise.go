package leak

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Copying noise. A retyped, scanned or OCR'd leak differs from the message
// in ways that change no meaning: letters the scanner confuses, a typo in a
// long word, a missing or extra space, a word hyphenated at a line end, an
// apostrophe dropped. A word-diff group (message words replaced by leak
// words between two matched words) that is only such noise does not make a
// line altered; the line stays authentic and Line.Noise says what was
// waved through. Words whose change would change the meaning are never
// noise (protected): numbers, negations, modal verbs, quantity words and
// names (see protectedWord). A word swap (who did what to whom) is never a
// character-level near-miss, so it stays an edit.

// maxNoiseWords bounds a noise group on either side.
const maxNoiseWords = 4

var protectedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`not no never nor none nothing nobody neither nowhere without
	may must shall should will can could would might ought need dare
	all any some few many most more less least several half every each both only either much
	once twice double triple single dozen hundred thousand million billion percent
	yes always`) {
		m[w] = true
	}
	return m
}()

// apostropheless are contractions retyped without their apostrophe: the
// same words, not a change (the negation is still there).
var apostropheless = map[string][]string{
	"dont": {"do", "not"}, "doesnt": {"does", "not"}, "didnt": {"did", "not"}, "isnt": {"is", "not"},
	"arent": {"are", "not"}, "wasnt": {"was", "not"}, "werent": {"were", "not"}, "hasnt": {"has", "not"},
	"havent": {"have", "not"}, "hadnt": {"had", "not"}, "wouldnt": {"would", "not"}, "couldnt": {"could", "not"},
	"shouldnt": {"should", "not"}, "mustnt": {"must", "not"}, "neednt": {"need", "not"}, "wont": {"will", "not"},
	"cant": {"can", "not"}, "youre": {"you", "are"}, "theyre": {"they", "are"}, "weve": {"we", "have"},
	"ive": {"i", "have"}, "youve": {"you", "have"}, "theyve": {"they", "have"}, "thats": {"that", "is"},
	"whats": {"what", "is"}, "theres": {"there", "is"}, "its": {"it", "is"}, "lets": {"let", "us"},
}

// inflections are word endings whose exchange changes tense, number or
// word class ("agreed"/"agrees", "increase"/"increased"): never a typo.
var inflections = map[string]bool{"": true, "s": true, "es": true, "ed": true, "d": true, "ing": true, "er": true,
	"ers": true, "est": true, "ly": true, "ion": true, "ions": true, "ive": true, "al": true, "e": true, "y": true,
	"ies": true, "ied": true, "en": true, "n": true, "t": true, "ment": true, "ments": true, "able": true, "ible": true}

// nameWords collects the words of the messages that are names: written
// with a capital inside a sentence somewhere, or a word of a member's name.
func (ix *Index) nameWords() map[string]bool {
	names := map[string]bool{}
	for m, msg := range ix.msgs {
		for _, t := range ix.toks[m] {
			r, _ := utf8.DecodeRuneInString(msg.Text[t.start:])
			if !unicode.IsUpper(r) || t.norm == "i" || sentenceStart(msg.Text, t.start) {
				continue
			}
			names[t.norm] = true
		}
	}
	ix.members = map[string]bool{}
	for _, s := range ix.senders {
		for _, w := range s.words {
			if !honorifics[w] {
				ix.members[w] = true
			}
		}
	}
	for a := range ix.aliases {
		for _, w := range strings.Fields(a) {
			if !honorifics[w] {
				ix.members[w] = true
			}
		}
	}
	return names
}

// isName reports whether the word of text at [start,end) (normalised w)
// is a name where it stands: a member's name, or capitalised inside a
// sentence, or capitalised at a sentence start and a name elsewhere.
func (ix *Index) isName(text string, start int, w string) bool {
	if ix.members[w] {
		return true
	}
	r, _ := utf8.DecodeRuneInString(text[start:])
	if !unicode.IsUpper(r) || w == "i" {
		return false
	}
	return !sentenceStart(text, start) || ix.names[w]
}

// sentenceStart reports whether the word at byte i of s opens a sentence
// (or a line, a quotation, a bracket).
func sentenceStart(s string, i int) bool {
	for i > 0 {
		r, n := utf8.DecodeLastRuneInString(s[:i])
		if r == ' ' || r == '\t' || r == '\u00a0' {
			i -= n
			continue
		}
		return strings.ContainsRune(".!?:;\"“”'‘’([{—–-\n*#>|•", r)
	}
	return true
}

// protected reports whether a normalised word carries meaning that noise
// may never change (names are judged where they stand: isName).
func (ix *Index) protected(w string) bool {
	if protectedWords[w] {
		return true
	}
	for _, r := range w {
		if r >= '0' && r <= '9' {
			return true
		}
	}
	return false
}

// ocrFold maps the confusions of scanners and retypers to one form, for
// words without digits in the message: rn/m, cl/d, vv/w, 1/l, 0/o.
func ocrFold(s string) string {
	r := strings.NewReplacer("rn", "m", "cl", "d", "vv", "w", "1", "l", "0", "o")
	return r.Replace(s)
}

// osa is the optimal string alignment distance (insertions, deletions,
// substitutions, adjacent transpositions) of a and b, bounded: it returns
// limit+1 as soon as it is certain to exceed limit.
func osa(a, b string, limit int) int {
	x, y := []rune(a), []rune(b)
	if d := len(x) - len(y); d > limit || -d > limit {
		return limit + 1
	}
	prev2 := make([]int, len(y)+1)
	prev := make([]int, len(y)+1)
	cur := make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(y); j++ {
			c := 1
			if x[i-1] == y[j-1] {
				c = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			best = min(best, v)
		}
		if best > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(y)]
}

// typo reports whether leak word b can be message word a retyped with a
// slip: same first letter, no exchange of inflectional endings, and one
// edit (two in words of 14 letters or more).
func typo(a, b string) bool {
	n := utf8.RuneCountInString(a) // the message's word
	if n < 6 || a[0] != b[0] {
		return false
	}
	limit := 1
	if n >= 14 {
		limit = 2
	}
	if osa(a, b, limit) > limit {
		return false
	}
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	return !(inflections[a[p:]] && inflections[b[p:]])
}

// noiseOf decides whether leak words ins are a noisy copy of message words
// del (normalised). It returns the number of characters that differ.
// delName and insName say which words are names where they stand.
func (ix *Index) noiseOf(del, ins []string, delName, insName []bool) (int, bool) {
	if len(del) == 0 || len(ins) == 0 || len(del) > maxNoiseWords || len(ins) > maxNoiseWords+1 {
		return 0, false
	}
	var exp []string
	for _, w := range ins {
		if x, ok := apostropheless[w]; ok {
			exp = append(exp, x...)
		} else {
			exp = append(exp, w)
		}
	}
	if strings.Join(exp, " ") == strings.Join(del, " ") {
		return 1, true // an apostrophe dropped
	}
	a, b := strings.Join(del, ""), strings.Join(ins, "")
	if a == b || contracted(del) == b {
		return 1, true // only spacing or a line-end hyphen: the same letters
	}
	for i, w := range del {
		if ix.protected(w) || delName[i] {
			return 0, false
		}
	}
	for i, w := range ins {
		// a word the transcript itself uses is a real word, not a slip,
		// and a number in the leak is a claim of its own
		if ix.protected(w) && (ocrFold(w) == w || allDigits(w)) || insName[i] ||
			len(ins) == 1 && len(del) == 1 && ix.vocab[w] != 0 {
			return 0, false
		}
	}
	chars := osa(a, b, 4)
	if ocrFold(a) == ocrFold(b) {
		return max(chars, 1), true // spacing, hyphenation or scanner confusions
	}
	if len(del) == len(ins) {
		for k := range del {
			x, y := ocrFold(del[k]), ocrFold(ins[k])
			if x != y && !typo(x, y) && !typo(del[k], ins[k]) {
				return 0, false
			}
		}
		return max(chars, 1), true
	}
	if typo(ocrFold(a), ocrFold(b)) {
		return max(chars, 1), true
	}
	return 0, false
}

// markNoise finds the diff groups of s (against message m) that are only
// noise and marks their operations, so they count neither as edits nor as
// cuts. Groups before the first and after the last matched word are tried
// against the message words next to the match (a garbled first or last
// word), the rest of such a group stays a cut.
func (ix *Index) markNoise(s *seg, m int, leakText string) {
	ops := s.ops
	for k := 0; k < len(ops); {
		if ops[k].kind == opEqual {
			k++
			continue
		}
		e := k
		for e < len(ops) && ops[e].kind != opEqual {
			e++
		}
		var dels, inss []int
		for q := k; q < e; q++ {
			if ops[q].kind == opDelete {
				dels = append(dels, q)
			} else {
				inss = append(inss, q)
			}
		}
		head, tail := k == 0, e == len(ops)
		if len(inss) > 0 && len(dels) > 0 {
			// at the head, the deleted words nearest the match; at the tail,
			// the first ones
			try := [][]int{dels}
			if head || tail {
				try = nil
				for n := 1; n <= min(len(dels), maxNoiseWords); n++ {
					if head {
						try = append(try, dels[len(dels)-n:])
					} else {
						try = append(try, dels[:n])
					}
				}
			}
			for _, ds := range try {
				var dw, iw []string
				var dn, in []bool
				for _, q := range ds {
					t := ix.toks[m][ops[q].mi]
					dw, dn = append(dw, t.norm), append(dn, ix.isName(ix.msgs[m].Text, t.start, t.norm))
				}
				for _, q := range inss {
					t := s.lt[ops[q].li]
					iw, in = append(iw, t.norm), append(in, ix.isName(leakText, t.start, t.norm))
				}
				ok := false
				if _, ok = ix.noiseOf(dw, iw, dn, in); !ok && ix.opt.Canonicalize != nil {
					// the canonicaliser may have rewritten the message's
					// word ("though" as a lexical variant's canonical
					// form): the slip is a slip of the word as written
					if raw, changed := ix.writtenWords(m, ops, ds); changed {
						_, ok = ix.noiseOf(raw, iw, dn, in)
					}
				}
				if ok {
					for _, q := range ds {
						ops[q].noise = true
					}
					for _, q := range inss {
						ops[q].noise = true
					}
					break
				}
			}
		}
		k = e
	}
}

// writtenWords returns the message words of operations ds normalised
// without the canonicaliser, and whether any differs from its canonical
// form.
func (ix *Index) writtenWords(m int, ops []op, ds []int) ([]string, bool) {
	var out []string
	changed := false
	for _, q := range ds {
		t := ix.toks[m][ops[q].mi]
		w := Normalize(ix.msgs[m].Text[t.start:t.end], nil)
		if len(w) != 1 {
			return nil, false // a contraction or a number in words: keep the canonical form
		}
		changed = changed || w[0] != t.norm
		out = append(out, w[0])
	}
	return out, changed
}

// contracted joins words as a retyper who dropped the apostrophe and the
// spaces would write them: "do not disappear" -> "dontdisappear".
func contracted(ws []string) string {
	suffix := map[string]string{"am": "m", "are": "re", "have": "ve", "will": "ll", "would": "d", "is": "s"}
	var b strings.Builder
	for i, w := range ws {
		if i > 0 && w == "not" {
			b.WriteString("nt")
			continue
		}
		if s, ok := suffix[w]; ok && i > 0 && isPronoun[ws[i-1]] || ok && i > 0 && (ws[i-1] == "i" || ws[i-1] == "we" || ws[i-1] == "you" || ws[i-1] == "they") {
			b.WriteString(s)
			continue
		}
		if i+1 < len(ws) && ws[i+1] == "not" {
			switch w {
			case "will":
				w = "wo"
			case "can":
				w = "ca"
			}
		}
		b.WriteString(w)
	}
	return b.String()
}

func allDigits(w string) bool {
	for _, r := range w {
		if r < '0' || r > '9' {
			return false
		}
	}
	return w != ""
}

// noiseText describes the noise groups of a segment: "“goverment” for
// “government”", the leak's words as written (a line-end hyphen kept).
func noiseText(s *seg, leakText, msgText string, mt []token) string {
	var parts []string
	for k := 0; k < len(s.ops); {
		if !s.ops[k].noise {
			k++
			continue
		}
		var del []string
		from, to := -1, -1
		for k < len(s.ops) && s.ops[k].noise {
			o := s.ops[k]
			if o.kind == opDelete {
				t := mt[o.mi]
				if w := msgText[t.start:t.end]; len(del) == 0 || del[len(del)-1] != w {
					del = append(del, w)
				}
			} else {
				t := s.lt[o.li]
				if from < 0 {
					from = t.start
				}
				to = max(to, t.end)
			}
			k++
		}
		ins := ""
		if from >= 0 {
			ins = strings.Join(strings.Fields(strings.ReplaceAll(leakText[from:to], "-\n", "-")), " ")
		}
		parts = append(parts, fmt.Sprintf("“%s” for “%s”", ins, strings.Join(del, " ")))
	}
	return strings.Join(parts, ", ")
}

// splitJoined splits leak words that are two words of the transcript run
// together ("ofcourse", "fourinitiatives", "Nixonassumed") into those two
// words. The halves share the leaked word's span and are marked joined, so
// the diff compares the words a reader sees and the report notes the join
// as copying noise. Only a word the transcript does not use, of letters
// only, is split, into two words of the transcript that stand side by side
// in some message, and only at one point: an ambiguous join is left as
// written. The letters are the same either way, so a number, a negation
// or a name keeps its value; a word with digits ("15" for "1 5") is never
// split.
func (ix *Index) splitJoined(ts []token) []token {
	var out []token
	for i, t := range ts {
		a, b, ok := ix.splitWord(t.norm)
		if !ok {
			if out != nil {
				out = append(out, t)
			}
			continue
		}
		if out == nil {
			out = append(make([]token, 0, len(ts)+4), ts[:i]...)
		}
		x, y := t, t
		x.norm, y.norm, x.joined, y.joined, y.line = a, b, true, true, false
		out = append(out, x, y)
	}
	if out == nil {
		return ts
	}
	return out
}

// splitWord returns the two transcript words w is made of, normalised
// ("four" is 4), if there is exactly one such split.
func (ix *Index) splitWord(w string) (string, string, bool) {
	if len(w) < 4 || ix.vocab[w] != 0 {
		return "", "", false
	}
	for _, r := range w {
		if !unicode.IsLetter(r) {
			return "", "", false
		}
	}
	found := 0
	var a, b string
	for k := 1; k < len(w); k++ {
		if !utf8.RuneStart(w[k]) {
			continue
		}
		x, y := partNorm(w[:k]), partNorm(w[k:])
		if x == "" || y == "" {
			continue
		}
		ix1, ix2 := ix.vocab[x], ix.vocab[y]
		if ix1 == 0 || ix2 == 0 || !ix.adjacent(ix1, ix2) {
			continue
		}
		found++
		a, b = x, y
	}
	return a, b, found == 1
}

// partNorm normalises one half of a joined word as the tokenizer would
// the word on its own; "" for a single letter other than "a" and "i".
func partNorm(p string) string {
	if utf8.RuneCountInString(p) == 1 && p != "a" && p != "i" {
		return ""
	}
	if o, ok := ordinals[p]; ok {
		return o
	}
	if v, ok := smallNumbers[p]; ok {
		return strconv.Itoa(v)
	}
	return p
}

// adjacent reports whether word a is followed by word b in some message.
func (ix *Index) adjacent(a, b uint32) bool {
	pa, pb := ix.unigrams[a], ix.unigrams[b]
	if len(pa) <= len(pb) {
		for _, p := range pa {
			if ids := ix.ids[p.msg]; int(p.pos)+1 < len(ids) && ids[p.pos+1] == b {
				return true
			}
		}
		return false
	}
	for _, p := range pb {
		if p.pos > 0 && ix.ids[p.msg][p.pos-1] == a {
			return true
		}
	}
	return false
}

// joinedText describes the joined words of a segment that match the
// message: "“ofcourse” for “of course”".
func joinedText(s *seg, leakText, msgText string, mt []token) string {
	var parts []string
	for k := 0; k < len(s.ops); k++ {
		o := s.ops[k]
		if o.kind != opEqual || !s.lt[o.li].joined || k+1 >= len(s.ops) {
			continue
		}
		n := s.ops[k+1]
		t := s.lt[o.li]
		if n.kind != opEqual || n.li != o.li+1 || s.lt[n.li].start != t.start || !s.lt[n.li].joined {
			continue
		}
		a, b := mt[o.mi], mt[n.mi]
		words := msgText[a.start:a.end]
		if b.start != a.start { // (not one contraction: "don't", do not)
			words += " " + msgText[b.start:b.end]
		}
		parts = append(parts, fmt.Sprintf("“%s” for “%s”", leakText[t.start:t.end], words))
		k++
	}
	return strings.Join(parts, ", ")
}
