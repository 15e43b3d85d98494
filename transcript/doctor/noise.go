package doctor

import (
	"math/rand"
	"regexp"
	"slices"
	"strings"

	"backchannel/transcript/leak"
)

// Copying noise for the benchmark: what a scanner or a hurried retyper does
// to a line without changing what it says. The generator's own rules, from
// issue 11: letters a scanner confuses (rn/m, cl/d, vv/w, l/1, o/0), a
// slip inside a long word (two letters exchanged, one dropped or doubled,
// never the first or the last letter, and never one that makes another
// word of the transcript), a space dropped between two words or put inside
// a word, a word hyphenated at a line end, a comma or full stop dropped.
// Only lower-case words without digits that are not negations, modal
// verbs or quantity words are touched: names, numbers and those words are
// what NoiseMeaning changes on purpose.

var meaningWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`not no never nor none nothing nobody neither nowhere without may must shall should
	will can could would might ought need all any some few many most more less least several half every each both only
	either much once twice double single dozen hundred thousand million billion percent cannot always yes`) {
		m[w] = true
	}
	return m
}()

var lowerWord = regexp.MustCompile(`\b[a-z]{6,}\b`)

// noisy applies 1 to 3 noise operations to text; ok is false if the text
// offers no word to touch. hyphen allows a line-end hyphenation ("-\n").
func (g *Generator) noisy(text string, rng *rand.Rand, hyphen bool) (string, bool) {
	ops := 1 + rng.Intn(3)
	changed := false
	touched := map[string]bool{} // one slip per word
	for n := 0; n < ops; n++ {
		locs := lowerWord.FindAllStringIndex(text, -1)
		k := pick(rng, len(locs), func(i int) bool {
			w := text[locs[i][0]:locs[i][1]]
			// ("wouldn" of "wouldn't" is part of a negation)
			apos := locs[i][1] < len(text) && strings.ContainsAny(text[locs[i][1]:min(len(text), locs[i][1]+3)], "'’")
			// (and words the comparison rewrites: "second" is 2nd)
			return !meaningWords[w] && !touched[w] && !apos && slices.Equal(leak.Normalize(w, nil), []string{w})
		})
		if k < 0 {
			break
		}
		a, b := locs[k][0], locs[k][1]
		w := text[a:b]
		var out string
		switch rng.Intn(7) {
		case 0: // scanner confusions
			for _, c := range [][2]string{{"rn", "m"}, {"m", "rn"}, {"cl", "d"}, {"d", "cl"}, {"w", "vv"}, {"l", "1"}, {"o", "0"}} {
				if i := strings.Index(w[1:], c[0]); i >= 0 {
					out = w[:1+i] + c[1] + w[1+i+len(c[0]):]
					break
				}
			}
		// (slips keep the first letter and the last three: a change at
		// the end of a word may be a change of inflection, "copies" and
		// "copes", which the verifier flags)
		case 1: // two letters exchanged inside the word
			i := 1 + rng.Intn(len(w)-4)
			out = w[:i] + w[i+1:i+2] + w[i:i+1] + w[i+2:]
		case 2: // a letter dropped inside the word
			i := 1 + rng.Intn(len(w)-4)
			out = w[:i] + w[i+1:]
		case 3: // a letter doubled inside the word
			i := 1 + rng.Intn(len(w)-4)
			out = w[:i] + w[i:i+1] + w[i:]
		case 4: // a space inside the word, or a line-end hyphen
			i := 2 + rng.Intn(len(w)-3)
			sep := " "
			if hyphen && rng.Intn(2) == 0 {
				sep = "-\n"
			}
			out = w[:i] + sep + w[i:]
		case 5: // the space before the word dropped (not next to a word of meaning)
			p := strings.LastIndexByte(text[:max(a-1, 0)], ' ') + 1
			if a > 1 && text[a-1] == ' ' && text[a-2] >= 'a' && text[a-2] <= 'z' && !meaningWords[strings.ToLower(text[p:a-1])] && !touched[text[p:a-1]] {
				touched[text[p:a-1]+w], touched[w] = true, true
				text = text[:a-1] + text[a:]
				changed = true
				continue
			}
		case 6: // a comma or full stop dropped after the word
			if b < len(text) && (text[b] == ',' || text[b] == '.' && b+1 < len(text)) {
				text = text[:b] + text[b+1:]
			}
			continue
		}
		if out == "" || out == w || g.known[strings.ReplaceAll(strings.ReplaceAll(out, " ", ""), "-\n", "")] {
			continue
		}
		text = text[:a] + out + text[b:]
		touched[strings.ReplaceAll(strings.ReplaceAll(out, " ", ""), "-\n", "")] = true
		for _, x := range strings.Fields(out) {
			touched[x] = true
		}
		changed = true
	}
	return text, changed
}

var (
	modalRe  = regexp.MustCompile(`\b(must|may|should|could|will|would|can|might|shall)\b`)
	numberRe = regexp.MustCompile(`\b\d*[10]\d*\b`)
	nameRe   = regexp.MustCompile(`[a-z,;] ([A-Z][a-z]{4,})\b`)
)

var modalSwap = map[string]string{"must": "may", "may": "must", "should": "could", "could": "should", "will": "might",
	"would": "could", "can": "could", "might": "will", "shall": "may"}

// noisyMeaning applies noise and one change of meaning that noise must
// not hide: a number or a negation (as the other edits), a modal verb
// exchanged, a scanner confusion inside a number (1→l, 0→O) or a slip in a
// name.
func (g *Generator) noisyMeaning(text string, rng *rand.Rand) (string, bool) {
	out, ok := g.noisy(text, rng, false)
	if !ok {
		return "", false
	}
	for _, c := range rng.Perm(5) {
		var res string
		switch c {
		case 0:
			res, _ = g.edit(Number, out, "", rng)
		case 1:
			res, _ = g.edit(Negate, out, "", rng)
		case 2:
			if l := modalRe.FindAllStringIndex(out, -1); len(l) > 0 {
				x := l[rng.Intn(len(l))]
				res = out[:x[0]] + modalSwap[out[x[0]:x[1]]] + out[x[1]:]
			}
		case 3:
			if l := numberRe.FindAllStringIndex(out, -1); len(l) > 0 {
				x := l[rng.Intn(len(l))]
				res = out[:x[0]] + strings.NewReplacer("1", "l", "0", "O").Replace(out[x[0]:x[1]]) + out[x[1]:]
			}
		case 4:
			if l := nameRe.FindAllStringSubmatchIndex(out, -1); len(l) > 0 {
				x := l[rng.Intn(len(l))]
				w := out[x[2]:x[3]]
				i := 1 + rng.Intn(len(w)-3)
				res = out[:x[2]] + w[:i] + w[i+1:i+2] + w[i:i+1] + w[i+2:] + out[x[3]:]
			}
		}
		if res != "" && !sameWords(res, out) {
			return res, true
		}
	}
	return "", false
}
