package tracepool

import (
	"bytes"
	"fmt"
	"slices"
	"time"
)

// Inquiry is the investigator's record of one request: whom it asked and
// the answers accepted so far.
type Inquiry struct {
	ID      string    `json:"id"`
	Room    string    `json:"room"`
	Leak    []byte    `json:"leak"`
	Epsilon float64   `json:"epsilon"`
	At      time.Time `json:"at"`
	// Requester is the investigating member; Members were the room's
	// members when it asked (only they can answer); Senders are the other
	// members whose messages the leak may hold: the answers awaited.
	Requester string             `json:"requester"`
	Members   []string           `json:"members"`
	Senders   []string           `json:"senders"`
	Answers   map[string]*Answer `json:"answers,omitempty"`
}

// Accept checks an answer from sender against the inquiry and keeps it.
// Refused: an answer from someone who was not a member asked, to another
// leak, or a second answer from the same sender; the error says which in
// plain words.
func (q *Inquiry) Accept(sender string, a *Answer) error {
	switch {
	case a.Request != q.ID:
		return fmt.Errorf("refused an answer from %s: it names request %s, not %s", sender, Short(a.Request), Short(q.ID))
	case sender == q.Requester:
		return fmt.Errorf("refused an answer to request %s from %s: the requester's own contribution is computed locally", Short(q.ID), sender)
	case !slices.Contains(q.Members, sender):
		return fmt.Errorf("refused an answer to request %s from %s, who was not a member of the room when it was asked", Short(q.ID), sender)
	case !bytes.Equal(a.LeakSHA256, LeakHash(q.Leak)):
		return fmt.Errorf("refused an answer to request %s from %s: it is about another text than the leak asked about", Short(q.ID), sender)
	case q.Answers[sender] != nil:
		return fmt.Errorf("refused a second answer to request %s from %s: one answer per member (the first is kept)", Short(q.ID), sender)
	}
	if q.Answers == nil {
		q.Answers = map[string]*Answer{}
	}
	q.Answers[sender] = a
	return nil
}

// Complete reports whether every sender awaited has answered.
func (q *Inquiry) Complete() bool {
	for _, s := range q.Senders {
		if q.Answers[s] == nil {
			return false
		}
	}
	return true
}

// SenderStatus is one awaited sender's part in a pooled trace.
type SenderStatus struct {
	Member string `json:"member"`
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Statuses lists every awaited sender with what it answered (NoAnswer for
// one that has not: offline, or its answer was lost or refused), then any
// other member who answered, by name.
func (q *Inquiry) Statuses() []SenderStatus {
	var out []SenderStatus
	for _, s := range q.Senders {
		st := SenderStatus{Member: s, Status: NoAnswer}
		if a := q.Answers[s]; a != nil {
			st.Status, st.Reason = a.Status, a.Reason
		}
		out = append(out, st)
	}
	var others []string
	for m := range q.Answers {
		if !slices.Contains(q.Senders, m) {
			others = append(others, m)
		}
	}
	slices.Sort(others)
	for _, m := range others {
		out = append(out, SenderStatus{Member: m, Status: q.Answers[m].Status, Reason: q.Answers[m].Reason})
	}
	return out
}
