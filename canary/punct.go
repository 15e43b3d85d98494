package canary

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Punctuation slots: an optional comma in a word gap that a retyper copies
// along with the words. They belong to the lexical channel (they survive
// retyping) and have their own slot kind and class names for density
// reports. Each rule decides from the words around a gap only, never from
// the comma itself, so the original, every copy and a retyped leak find
// the same places, and Canonicalize drops the comma at each of them.
//
// Symbol 0 writes the gap as " ", symbol 1 as ", ". Only a gap that is
// exactly one of the two in the original becomes a slot.

type punctClass uint8

const (
	punctIntro  punctClass = iota + 1 // "Finally, we" / "Finally we"
	punctAbbrev                       // "e.g., the" / "e.g. the"
	punctSerial                       // "a, b, c, and d" / "a, b, c and d"
	punctPhrase                       // "After the war, we" / "After the war we" (one-way)
)

func (c punctClass) String() string {
	switch c {
	case punctIntro:
		return "intro-comma"
	case punctAbbrev:
		return "abbrev-comma"
	case punctSerial:
		return "serial-comma"
	case punctPhrase:
		return "phrase-comma"
	}
	return "punct"
}

// introPhrases are sentence adverbs and short introductory phrases after
// which the comma is optional in every context when the subject of the
// sentence follows. Left out because the comma changes the reading:
// "however" ("However we decide"), "again" (moreover / once more), "now",
// "then", "still", "so", "yet" (discourse marker / adverb of time or
// degree), "after all" ("After all we did"), ordinals ("Second" is also a
// noun), and "perhaps"/"maybe" (a lexicon pair, kept simple). So are phrases
// whose last word can run on into the next words: a comma added there would
// cut a phrase — "At the same time the troops withdrew", "at the time"/"at
// the moment" + a clause, "Above all the noise", "First of all the
// delegates", "Besides the chair" (a preposition). A lexicon
// group offers either all its forms here or none (tested).
var introPhrases = map[string]bool{
	"finally": true, "meanwhile": true, "nevertheless": true, "nonetheless": true, "moreover": true,
	"furthermore": true, "consequently": true, "accordingly": true, "therefore": true, "thus": true,
	"hence": true, "similarly": true, "likewise": true, "ultimately": true, "eventually": true,
	"subsequently": true, "afterwards": true, "afterward": true, "later": true, "yesterday": true,
	"today": true, "tomorrow": true, "recently": true, "initially": true, "originally": true,
	"additionally": true, "instead": true, "otherwise": true, "indeed": true, "clearly": true,
	"unfortunately": true, "fortunately": true,
	"in addition": true, "in fact": true, "of course": true, "as a result": true,
	"in the end": true, "in contrast": true, "by contrast": true, "in particular": true, "in general": true,
	"on the other hand": true, "for example": true, "for instance": true, "in the meantime": true,
	"at first": true, "at last": true, "in short": true, "in practice": true, "in theory": true,
	"in any case": true,
	"also":        true, "generally": true, "usually": true,
	"normally": true, "typically": true, "certainly": true, "obviously": true, "ironically": true, "admittedly": true, "overall": true, "soon": true, "currently": true,
	"previously": true, "formerly": true, "alternatively": true, "conversely": true, "lastly": true,
	"firstly": true, "secondly": true, "thirdly": true,
	"in the past": true, "in recent years": true, "at present": true,
	"for now": true, "so far": true, "as usual": true, "by then": true, "until then": true,
	"since then": true, "in turn": true, "in other words": true, "in conclusion": true,
	"in summary": true, "on balance": true, "on the whole": true,
	"in any event": true, "in effect": true, "in essence": true,
	"in reality": true, "in principle": true, "in return": true}

const maxIntroWords = 4

// listStop are words that are no item of a serial list (articles,
// pronouns, prepositions, conjunctions, sentence adverbs): "a, b, c and
// the shop closed" joins a clause, not an item.
var listStop = map[string]bool{
	"a": true, "an": true, "the": true, "this": true, "that": true, "these": true, "those": true,
	"i": true, "we": true, "you": true, "he": true, "she": true, "it": true, "they": true, "there": true,
	"me": true, "us": true, "him": true, "her": true, "them": true, "its": true, "our": true, "their": true,
	"his": true, "my": true, "your": true, "and": true, "or": true, "but": true, "nor": true, "so": true,
	"yet": true, "if": true, "then": true, "however": true, "to": true, "of": true, "in": true, "on": true,
	"at": true, "by": true, "for": true, "with": true, "from": true, "as": true, "than": true, "not": true,
	"no": true, "is": true, "are": true, "was": true, "were": true, "be": true, "which": true, "who": true,
}

// punctPos is a gap (before word k) that may hold an optional comma.
type punctPos struct {
	k     int
	class punctClass
}

// punctPositions finds the optional-comma gaps of t. It reads words and the
// other gaps, never whether gap k itself holds the comma.
func punctPositions(lx *lexicon, t *tokens) []punctPos {
	var out []punctPos
	for k := 1; k < len(t.words); k++ {
		if !commaGap(t.gap(k)) || t.words[k].hard || t.words[k-1].hard {
			continue
		}
		switch {
		case introBefore(t, k):
			out = append(out, punctPos{k, punctIntro})
		case (t.words[k-1].key == "e.g." || t.words[k-1].key == "i.e.") && !t.words[k].prot:
			out = append(out, punctPos{k, punctAbbrev})
		case serialBefore(lx, t, k):
			out = append(out, punctPos{k, punctSerial})
		case phraseBefore(lx, t, k):
			out = append(out, punctPos{k, punctPhrase})
		}
	}
	return out
}

// commaGap reports a gap that is " " or ", " (invisible characters aside).
func commaGap(g string) bool {
	g = stripIgnorable(g)
	return g == " " || g == ", "
}

func stripIgnorable(g string) string {
	if !strings.ContainsFunc(g, isIgnorable) {
		return g
	}
	return strings.Map(func(r rune) rune {
		if isIgnorable(r) {
			return -1
		}
		return r
	}, g)
}

// introBefore: words before gap k are a whole introductory phrase that
// begins a sentence, and word k begins the subject.
func introBefore(t *tokens, k int) bool {
	if !subjectNext(t, k) {
		return false
	}
	phrase := ""
	for n := 1; n <= maxIntroWords && k-n >= 0; n++ {
		j := k - n
		w := t.words[j]
		if w.prot || w.hard {
			return false
		}
		if n > 1 && stripIgnorable(t.gap(j+1)) != " " {
			return false
		}
		if phrase == "" {
			phrase = w.key
		} else {
			phrase = w.key + " " + phrase
		}
		if introPhrases[phrase] && w.capital && sentenceStart(t, j) {
			return true
		}
	}
	return false
}

// phrasePrepositions begin a short introductory prepositional phrase.
// "As" (also "because" and "while") and "For" (also "because") are absent.
var phrasePrepositions = map[string]bool{
	"in": true, "at": true, "during": true, "after": true, "before": true, "by": true, "on": true,
	"from": true, "under": true, "over": true, "since": true, "until": true, "through": true,
	"throughout": true, "within": true, "with": true, "following": true, "among": true,
	"between": true, "unlike": true, "beyond": true, "along": true, "across": true, "against": true,
}

// phraseBefore: a sentence begins with a preposition and one to three more
// words ("After the war", "In April 1972", "On the surface"), then gap k,
// then the subject. Only an original with the comma becomes a slot
// (one-way, Layout): without it the words may run on ("By the time we
// arrived", "In the room we entered") and a comma would cut the phrase.
// Dropping the comma reads the same. The phrase has no subject word but
// its first ("the", "this"), so the phrase ends at the first subject word;
// no word of it starts a lexicon alternative ("In spite of" / "Despite"
// would change its length).
func phraseBefore(lx *lexicon, t *tokens, k int) bool {
	if !subjectNext(t, k) {
		return false
	}
	for n := 2; n <= 4 && k-n >= 0; n++ {
		j := k - n
		w := t.words[j]
		if !phrasePrepositions[w.key] || !w.capital || !sentenceStart(t, j) {
			continue
		}
		if _, ok := lx.match(t, j); ok || w.hard || stripIgnorable(t.gap(j+1)) != " " {
			return false
		}
		return phraseWords(lx, t, j+1, k)
	}
	return false
}

var determiners = map[string]bool{
	"the": true, "a": true, "an": true, "this": true, "these": true, "those": true,
	"his": true, "her": true, "its": true, "our": true, "their": true, "my": true, "your": true,
}

// phraseWords checks the words from..to-1 after the preposition: the first
// may be a determiner; no other is a subject word or a stop word, and none
// starts a lexicon alternative.
func phraseWords(lx *lexicon, t *tokens, from, to int) bool {
	for j := from; j < to; j++ {
		w := t.words[j]
		if w.hard || stripIgnorable(t.gap(j)) != " " {
			return false
		}
		if _, ok := lx.match(t, j); ok {
			return false
		}
		if j > from && (subjectWord(t.raw(j)) || listStop[w.key]) && !w.prot {
			return false
		}
		if j == from && listStop[w.key] && !determiners[w.key] {
			return false // "After they met, we left": a clause
		}
	}
	return true
}

// serialBefore: word k is "and"/"or" ending a list of at least three
// one-word items before it, each but the last followed by ", ", and one
// item after it. Three items before the conjunction ("a, b, c and d")
// leave no doubt that the commas separate items: with two ("In the end,
// cost and time") the first comma may end an introductory phrase.
func serialBefore(lx *lexicon, t *tokens, k int) bool {
	if (t.words[k].key != "and" && t.words[k].key != "or") || t.words[k].capital {
		return false
	}
	if k+1 >= len(t.words) || t.gap(k+1) != " " || !listItem(lx, t, k+1) {
		return false
	}
	items := 0
	for j := k - 1; j >= 0 && listItem(lx, t, j); j-- {
		items++
		if j == 0 || stripIgnorable(t.gap(j)) != ", " {
			break
		}
	}
	return items >= 3
}

// listItem: a lower-case word without digits, no number word, no stop
// word, and no lexicon alternative (whose other forms may be several words
// or digits).
func listItem(lx *lexicon, t *tokens, j int) bool {
	w := t.words[j]
	if w.prot || w.hard || w.capital || listStop[w.key] || numberWords[w.key] {
		return false
	}
	if r, _ := utf8.DecodeRuneInString(w.key); !unicode.IsLetter(r) {
		return false
	}
	_, ok := lx.match(t, j)
	return !ok
}

// commaSymbol reads a leak's gap at a punctuation slot: 0 without the
// comma, 1 with it, -1 anything else (a dash, a full stop: no symbol).
func commaSymbol(g string) int {
	g = strings.TrimFunc(stripIgnorable(g), func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' || isSpaceRune(r) })
	switch g {
	case "":
		return 0
	case ",":
		return 1
	}
	return -1
}
