package leak

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Event is a room event of the transcript — the creation of the room, a
// membership or name change — as backchannel's own history shows it
// ("alice added carol"). Texts are every form the event takes in members'
// histories: the one who was added sees "alice added you to …". The
// caller derives them from the room's signed membership entries.
type Event struct {
	ID     string
	Actor  string
	SentAt time.Time
	Texts  []string
}

// verifyEvent checks a room-event line ("* alice added carol") against the
// room's events: authentic if some event reads the same (words compared as
// for messages), altered if the closest event by the same actor differs,
// fabricated if no event comes close.
func (ix *Index) verifyEvent(text string, li lineIndex, b block) Line {
	l := Line{Line: li.line(b.start), Text: strings.Join(strings.Fields(text[b.start:b.end]), " ")}
	words := Normalize(text[b.start:b.end], nil)
	bestEv, bestText, bestSame := -1, "", 0
	for k, ev := range ix.opt.Events {
		for _, t := range ev.Texts {
			w := Normalize(t, nil)
			if slices.Equal(w, words) {
				ix.eventLine(&l, ev, b)
				return l
			}
			// the same actor doing the same kind of thing ("alice added …")
			if same := sharedWords(w, words); same > bestSame && len(w) > 1 && len(words) > 1 && w[0] == words[0] && w[1] == words[1] {
				bestEv, bestText, bestSame = k, t, same
			}
		}
	}
	if bestEv >= 0 && 2*bestSame >= len(words) {
		ev := ix.opt.Events[bestEv]
		ix.eventLine(&l, ev, b)
		l.Verdict = Altered
		l.Diff = fmt.Sprintf("the room event reads %q", bestText)
		return l
	}
	l.Verdict = Fabricated
	l.Diff = "no room event in the transcript reads like this"
	return l
}

func (ix *Index) eventLine(l *Line, ev Event, b block) {
	l.Verdict, l.MessageID, l.Sender, l.SentAt = Authentic, ev.ID, ev.Actor, ev.SentAt.UTC().Format(time.RFC3339)
	l.claim, l.sent = timeClaim{clock: b.clock, date: b.date, zone: b.zone, zoned: b.zoned}, ev.SentAt
}

// sharedWords counts the words of a also in b (as multisets).
func sharedWords(a, b []string) int {
	left := map[string]int{}
	for _, w := range b {
		left[w]++
	}
	n := 0
	for _, w := range a {
		if left[w] > 0 {
			left[w]--
			n++
		}
	}
	return n
}
