package canary

import "sort"

// Quoting: a member who pastes text they received into a message of their
// own sends it again, under their own marks (clients Unmark outgoing text
// first). A leak of that later message then matches the tracer's message
// as well, but its marks are the quoter's, for the later message's
// recipients: the tracer cannot read them, and any recipient of the later
// message could have leaked it. So a trace says where the text it matched
// reappears (Result.Quotes), and the wording of a verdict is "whose copy
// leaked", never "who leaked".

// Posted is a message another member sent, as the tracer received it: the
// text in which a quote of the tracer's messages may reappear.
type Posted struct {
	ID     string
	Sender string
	Text   string
}

// Quote says that text of one of the tracer's messages that the leak
// matched also appears in another member's message: the leak may be a copy
// of that message (ask its sender to trace it).
type Quote struct {
	// MessageID is the tracer's message the leak matched.
	MessageID string `json:"message_id"`
	// By sent the message InMessage, which holds Words of the words the
	// leak matched in MessageID (of MatchedWords).
	By           string `json:"by"`
	InMessage    string `json:"in_message"`
	Words        int    `json:"words"`
	MatchedWords int    `json:"matched_words"`
}

// minQuoteWords is the fewest matched words a quote must share; fewer are
// common phrases.
const minQuoteWords = gram

// NoteQuotes fills res.Quotes (res from this tracer's Trace): every posted
// message that holds at least half (and at least minQuoteWords) of the words
// the leak matched in one of the tracer's messages, as runs of at least
// gram canonical words.
func (tr *Tracer) NoteQuotes(res *Result, posted []Posted) {
	res.Quotes = nil
	if len(res.matched) == 0 || len(posted) == 0 {
		return
	}
	lx := mustLexicon()
	type other struct {
		p     Posted
		grams map[uint64]bool
	}
	others := make([]other, 0, len(posted))
	for _, p := range posted {
		canon, _ := canonicalTokens(lx, tokenize(validUTF8(p.Text)))
		g := make(map[uint64]bool, len(canon))
		for i := 0; i+gram <= len(canon); i++ {
			g[gramHash(canon, i)] = true
		}
		others = append(others, other{p, g})
	}
	msgs := make([]int32, 0, len(res.matched))
	for m := range res.matched {
		msgs = append(msgs, m)
	}
	sort.Slice(msgs, func(a, b int) bool { return msgs[a] < msgs[b] })
	for _, m := range msgs {
		pos := res.matched[m] // positions in the message's canonical tokens
		canon := tr.all[tr.offset[m] : int(tr.offset[m])+len(tr.msgs[m].layout.canon)]
		for _, o := range others {
			covered := map[int32]bool{}
			for _, p := range pos {
				if int(p)+gram > len(canon) || !o.grams[gramHash(canon, int(p))] {
					continue
				}
				for j := int32(0); j < gram; j++ {
					covered[p+j] = true
				}
			}
			words := 0
			for _, p := range pos {
				if covered[p] {
					words++
				}
			}
			if words >= minQuoteWords && 2*words >= len(pos) {
				res.Quotes = append(res.Quotes, Quote{MessageID: tr.msgs[m].id, By: o.p.Sender, InMessage: o.p.ID, Words: words, MatchedWords: len(pos)})
			}
		}
	}
}
