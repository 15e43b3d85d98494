package tracepool

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Incoming states: what a member did with a request it received.
const (
	Pending  = "pending"
	Answered = "answered" // a contribution (or "too little of my text") was sent
	Refused  = "refused"  // beyond the rate limit: it cannot be answered
	// Declined (the Status) is also an incoming state.
)

// Incoming is one request as the member who received it keeps it.
type Incoming struct {
	ID        string    `json:"id"`
	Room      string    `json:"room"`
	Requester string    `json:"requester"`
	Leak      []byte    `json:"leak"`
	Epsilon   float64   `json:"epsilon"`
	At        time.Time `json:"at"` // when it arrived
	State     string    `json:"state"`
	Note      string    `json:"note,omitempty"`
}

// Ledger is a member's record of the requests it received in one room.
// Its rules are the consent rules: nothing is answered unless the member
// decides to (Decide), a request is answered at most once, and at most
// RateLimit requests of one requester per RateWindow can be answered.
type Ledger struct {
	Requests []Incoming `json:"requests"`
}

// ErrUnknownRequest: no request has the id (or id prefix) given.
var ErrUnknownRequest = errors.New("no such trace request")

// Admit records a request received from requester. It returns the
// record and whether it is new (a redelivered request is not). A request
// beyond the rate limit is kept as Refused, with the reason in its Note,
// so that it is still shown to the member.
func (l *Ledger) Admit(req *Request, room, requester string, now time.Time) (Incoming, bool) {
	for _, in := range l.Requests {
		if in.ID == req.ID {
			return in, false
		}
	}
	in := Incoming{ID: req.ID, Room: room, Requester: requester, Leak: req.Leak, Epsilon: req.Epsilon, At: now, State: Pending}
	recent := 0
	for _, o := range l.Requests {
		if o.Requester == requester && now.Sub(o.At) < RateWindow {
			recent++
		}
	}
	if recent >= RateLimit {
		in.State = Refused
		in.Note = fmt.Sprintf("%s already asked %d times in %s; at most %d requests per member a day can be answered (a guard against probing your marks)", requester, recent, RateWindow, RateLimit)
	}
	l.Requests = append(l.Requests, in)
	if len(l.Requests) > MaxKept {
		l.Requests = l.Requests[len(l.Requests)-MaxKept:]
	}
	return in, true
}

// Find returns the request whose id is id or starts with it (at least 4
// digits).
func (l *Ledger) Find(id string) (*Incoming, error) {
	id = strings.ToLower(id)
	var found *Incoming
	for i := range l.Requests {
		in := &l.Requests[i]
		if len(id) >= 4 && strings.HasPrefix(in.ID, id) {
			if found != nil {
				return nil, fmt.Errorf("request id %s is ambiguous: give more of it", id)
			}
			found = in
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w %q ('backchannel pool list' lists them)", ErrUnknownRequest, id)
	}
	return found, nil
}

// Decide checks that the member may still answer in, and records the
// decision (Answered or Declined) with a note.
func (l *Ledger) Decide(id string, state, note string) error {
	in, err := l.Find(id)
	if err != nil {
		return err
	}
	switch in.State {
	case Pending:
	case Answered:
		return fmt.Errorf("you already answered request %s from %s: one answer per request", Short(in.ID), in.Requester)
	case string(Declined):
		return fmt.Errorf("you already declined request %s from %s: one answer per request", Short(in.ID), in.Requester)
	default:
		return fmt.Errorf("request %s from %s cannot be answered: %s", Short(in.ID), in.Requester, in.Note)
	}
	if state != Answered && state != string(Declined) {
		return fmt.Errorf("unknown decision %q", state)
	}
	in.State, in.Note = state, note
	return nil
}

// Gate says what a sender returns for a leak in which its own messages
// had slotsRead marking slots read: scores only from MinSlots on, so a
// crafted leak of a few words cannot read a member's codeword slot by slot.
func Gate(slotsRead int) Status {
	if slotsRead < MinSlots {
		return TooLittle
	}
	return Contributed
}

// TooLittleReason is the reason a TooLittle answer gives.
const TooLittleReason = "too little of my text: the leak matches too few of my messages' marks to return any score"
