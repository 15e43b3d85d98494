package leak

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// Options configures the verifier.
type Options struct {
	// Canonicalize, if not nil, maps meaning-preserving alternatives (such
	// as the lexical marks of a canary-marked copy: "do not"/"don't",
	// "organise"/"organize") to one form. It receives text after
	// typographic folding, case preserved: invisible characters removed,
	// straight quotes and apostrophes, ASCII hyphens, whitespace kept; its
	// result is folded and lower-cased again. It is applied to every
	// message and every leaked claim alike.
	Canonicalize func(string) string
	// Aliases maps speaker labels as they may appear in a leak ("Envoy",
	// "Mr. Lansing") to member ids. Labels are also matched against the
	// member ids themselves, ignoring case and punctuation, and by words
	// ("KISSINGER" matches "secretary-kissinger" if no other member has
	// that word).
	Aliases map[string]string
	// Location is used to compare claimed clock times ("14:02") with the
	// messages' times; UTC if nil.
	Location *time.Location
	// TimeTolerance is how far a claimed time may be from the sending time
	// (default one minute: a display rounds or truncates to the minute).
	TimeTolerance time.Duration
	// Events are the room's events (membership and name changes), which
	// backchannel's own output shows as "* alice added carol" lines.
	Events []Event
	// Members are the room's member ids, senders or not: a line labelled
	// with a member who sent nothing is misattributed, not unlabelled.
	Members []string
}

// shingleK is the word n-gram length of the index.
const shingleK = 3

// maxPostings skips n-grams that occur more often than this (stop phrases);
// longer, rarer n-grams carry the alignment.
const maxPostings = 512

type posting struct{ msg, pos int32 }

// Index is a transcript prepared for verification. Build it once with
// NewIndex and verify any number of leaks against it; it is safe for
// concurrent use.
type Index struct {
	opt      Options
	msgs     []Message
	toks     [][]token
	ids      [][]uint32
	vocab    map[string]uint32
	shingles map[uint64][]posting
	unigrams map[uint32][]posting
	short    map[string][]int // token sequence of short messages -> messages
	paras    []map[int]bool   // per message, token indices that start a paragraph (after the first)
	aliases  map[string]string
	senders  []senderName
	names    map[string]bool   // words capitalised inside a sentence somewhere
	members  map[string]bool   // words of members' names and aliases
	same     map[string][]int  // messages by their words, for those said more than once
	ocr      map[string]uint32 // scanner-folded word -> id (0: ambiguous), to anchor noisy words
	dels     map[string]uint32 // a long word with one letter dropped -> id (0: ambiguous)
}

type senderName struct {
	id    string
	norm  string
	words []string
}

func shingleKey(a, b, c uint32) uint64 {
	return uint64(a&0x1FFFFF)<<42 | uint64(b&0x1FFFFF)<<21 | uint64(c&0x1FFFFF)
}

// shortLen: messages with fewer words are also found by exact lookup.
const shortLen = 6

func idKey(ids []uint32) string {
	b := make([]byte, 0, 4*len(ids))
	for _, id := range ids {
		b = append(b, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	}
	return string(b)
}

// NewIndex normalises and indexes the room's messages.
func NewIndex(msgs []Message, opt Options) *Index {
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.TimeTolerance <= 0 {
		opt.TimeTolerance = time.Minute
	}
	ix := &Index{opt: opt, msgs: msgs, vocab: map[string]uint32{},
		shingles: map[uint64][]posting{}, unigrams: map[uint32][]posting{},
		short: map[string][]int{}, aliases: map[string]string{}}
	for a, id := range opt.Aliases {
		ix.aliases[normName(a)] = id
	}
	ix.toks = make([][]token, len(msgs))
	ix.ids = make([][]uint32, len(msgs))
	ix.paras = make([]map[int]bool, len(msgs))
	seen := map[string]bool{}
	for m, msg := range msgs {
		ts := tokenize(msg.Text, 0, opt.Canonicalize)
		ids := make([]uint32, len(ts))
		for i, t := range ts {
			id, ok := ix.vocab[t.norm]
			if !ok {
				id = uint32(len(ix.vocab) + 1)
				ix.vocab[t.norm] = id
			}
			ids[i] = id
			ix.unigrams[id] = append(ix.unigrams[id], posting{int32(m), int32(i)})
			if i >= shingleK-1 {
				k := shingleKey(ids[i-2], ids[i-1], id)
				ix.shingles[k] = append(ix.shingles[k], posting{int32(m), int32(i - 2)})
			}
		}
		ix.toks[m], ix.ids[m] = ts, ids
		ix.paras[m] = paragraphs(msg.Text, ts)
		if len(ids) > 0 && len(ids) < shortLen {
			ix.short[idKey(ids)] = append(ix.short[idKey(ids)], m)
		}
		if !seen[msg.Sender] {
			seen[msg.Sender] = true
			n := normName(msg.Sender)
			ix.senders = append(ix.senders, senderName{msg.Sender, n, strings.Fields(n)})
		}
	}
	others := slices.Clone(opt.Members)
	for _, ev := range opt.Events {
		others = append(others, ev.Actor)
	}
	for _, id := range others {
		if !seen[id] && id != "" {
			seen[id] = true
			n := normName(id)
			ix.senders = append(ix.senders, senderName{id, n, strings.Fields(n)})
		}
	}
	ix.names = ix.nameWords()
	ix.ocr, ix.dels = map[string]uint32{}, map[string]uint32{}
	for w, id := range ix.vocab {
		addUnique(ix.ocr, ocrFold(w), id)
		if len(w) >= 6 {
			for i := 1; i < len(w); i++ {
				addUnique(ix.dels, w[:i]+w[i+1:], id)
			}
		}
	}
	ix.same = map[string][]int{}
	for m := range msgs {
		k := idKey(ix.ids[m])
		ix.same[k] = append(ix.same[k], m)
	}
	for k, ms := range ix.same {
		if len(ms) < 2 {
			delete(ix.same, k)
		}
	}
	return ix
}

// Messages returns the indexed messages.
func (ix *Index) Messages() []Message { return ix.msgs }

func addUnique(m map[string]uint32, k string, id uint32) {
	if old, ok := m[k]; ok && old != id {
		m[k] = 0
		return
	}
	m[k] = id
}

// fuzzy returns ids with unknown leak words replaced by the one message
// word they are a noisy copy of (scanner confusion, one letter dropped,
// added, exchanged or substituted, not the first), if there is exactly
// one. It only seeds the alignment; the word diff still sees the words as
// written and decides what is noise (markNoise).
func (ix *Index) fuzzy(ts []token, ids []uint32) []uint32 {
	var out []uint32
	for i, id := range ids {
		w := ts[i].norm
		if id != 0 || len(w) < 4 {
			continue
		}
		got := ix.ocr[ocrFold(w)]
		if got == 0 && len(w) >= 5 {
			got = ix.dels[w] // a letter dropped
			for k := 1; k < len(w) && got == 0; k++ {
				d := w[:k] + w[k+1:]
				if x := ix.vocab[d]; x != 0 && len(d) >= 6 { // a letter added
					got = x
				} else if x := ix.dels[d]; x != 0 { // exchanged or substituted
					got = x
				}
			}
		}
		if got != 0 {
			if out == nil {
				out = slices.Clone(ids)
			}
			out[i] = got
		}
	}
	if out == nil {
		return ids
	}
	return out
}

func (ix *Index) lookup(ts []token) []uint32 {
	ids := make([]uint32, len(ts))
	for i, t := range ts {
		ids[i] = ix.vocab[t.norm] // 0 if unknown: never matches
	}
	return ids
}

var honorifics = map[string]bool{"mr": true, "mrs": true, "ms": true, "dr": true, "the": true, "professor": true,
	"prof": true, "secretary": true, "ambassador": true, "general": true, "colonel": true, "president": true,
	"minister": true, "judge": true, "sir": true, "madam": true}

func normName(s string) string {
	f := fold(s, 0).s
	var b strings.Builder
	for _, r := range f {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f {
			b.WriteRune(r)
		} else {
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// resolve maps a speaker label to a member id; ok is false if no member (or
// more than one) fits.
func (ix *Index) resolve(label string) (string, bool) {
	n := normName(label)
	if n == "" {
		return "", false
	}
	if id, ok := ix.aliases[n]; ok {
		return id, true
	}
	for _, s := range ix.senders {
		if s.norm == n {
			return s.id, true
		}
	}
	words := strings.Fields(n)
	var sig []string
	for _, w := range words {
		if !honorifics[w] {
			sig = append(sig, w)
		}
	}
	if len(sig) == 0 {
		sig = words
	}
	found := ""
	for _, s := range ix.senders {
		if containsAll(s.words, sig) || containsAll(sig, s.words) && len(s.words) > 0 {
			if found != "" && found != s.id {
				return "", false
			}
			found = s.id
		}
	}
	return found, found != ""
}

func containsAll(set, sub []string) bool {
	for _, w := range sub {
		ok := false
		for _, x := range set {
			if x == w {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (ix *Index) knownLabel(label string) bool {
	_, ok := ix.resolve(label)
	return ok
}

// memberLabel is the label recogniser's test: the label is an alias, or
// every word of it (honorifics aside) is part of exactly one member's name
// ("Kissinger", "Secretary Kissinger" for secretary-kissinger; not
// "According to the transcript, Kissinger").
func (ix *Index) memberLabel(label string) bool {
	n := normName(label)
	if n == "" {
		return false
	}
	if _, ok := ix.aliases[n]; ok {
		return true
	}
	words := strings.Fields(n)
	var sig []string
	for _, w := range words {
		if !honorifics[w] {
			sig = append(sig, w)
		}
	}
	if len(sig) == 0 {
		sig = words // "Minister"
	}
	if len(words) > 5 {
		return false
	}
	one := func(ws []string) int {
		found := ""
		for _, s := range ix.senders {
			if s.norm == n {
				return 1
			}
			if containsAll(s.words, ws) {
				if found != "" && found != s.id {
					return 2
				}
				found = s.id
			}
		}
		if found == "" {
			return 0
		}
		return 1
	}
	switch one(sig) {
	case 1:
		return true
	case 2: // "Professor Gardner" among mr-gardner and professor-gardner
		return one(words) == 1
	}
	return false
}

func (ix *Index) exactLabel(label string) bool {
	n := normName(label)
	if _, ok := ix.aliases[n]; ok {
		return true
	}
	for _, s := range ix.senders {
		if s.norm == n {
			return true
		}
	}
	return false
}

var blankLine = regexp.MustCompile(`\n[ \t\x{a0}]*\n`)

// paragraphs returns the token indices of ts (the tokens of text) that
// start a paragraph other than the first: after a blank line, or, in a
// text without blank lines, after a line break. nil for one paragraph.
func paragraphs(text string, ts []token) map[int]bool {
	if !strings.Contains(text, "\n") {
		return nil
	}
	blank := blankLine.MatchString(text)
	var out map[int]bool
	for i := 1; i < len(ts); i++ {
		if ts[i-1].end > ts[i].start {
			continue // one word expanded ("don't": do not)
		}
		gap := text[ts[i-1].end:ts[i].start]
		if !strings.Contains(gap, "\n") || blank && !blankLine.MatchString(gap) {
			continue
		}
		if out == nil {
			out = map[int]bool{}
		}
		out[i] = true
	}
	return out
}

// wholeMessage reports whether s has exactly the words of some message.
func (ix *Index) wholeMessage(s string) bool {
	ts := tokenize(s, 0, ix.opt.Canonicalize)
	if len(ts) == 0 || len(ts) >= shortLen {
		return false
	}
	return len(ix.short[idKey(ix.lookup(ts))]) > 0
}
