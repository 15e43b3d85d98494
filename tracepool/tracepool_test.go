package tracepool

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

const reqID = "0123456789abcdef0123456789abcdef"

func request(leak string) *Request {
	return &Request{V: Version, ID: reqID, Leak: []byte(leak), Epsilon: 1e-6}
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRequestRoundTripAndBounds(t *testing.T) {
	r, err := DecodeRequest(encode(t, request("the draft is final")))
	if err != nil || string(r.Leak) != "the draft is final" || r.ID != reqID {
		t.Fatalf("round trip: %+v, %v", r, err)
	}
	for name, mut := range map[string]func(*Request){
		"version":     func(r *Request) { r.V = 2 },
		"id":          func(r *Request) { r.ID = "xyz" },
		"upper id":    func(r *Request) { r.ID = strings.ToUpper(reqID) },
		"empty leak":  func(r *Request) { r.Leak = nil },
		"long leak":   func(r *Request) { r.Leak = []byte(strings.Repeat("a", MaxLeakBytes+1)) },
		"binary leak": func(r *Request) { r.Leak = []byte{0xff, 0xfe, 'a'} },
		"epsilon 0":   func(r *Request) { r.Epsilon = 0 },
		"epsilon 1":   func(r *Request) { r.Epsilon = 1 },
	} {
		r := request("some text")
		mut(r)
		if _, err := DecodeRequest(encode(t, r)); !errors.Is(err, ErrBad) {
			t.Errorf("%s: got %v, want ErrBad", name, err)
		}
	}
	// NaN cannot be encoded as JSON; Validate refuses it all the same.
	r = request("x")
	r.Epsilon = math.NaN()
	if r.Validate() == nil {
		t.Error("NaN epsilon accepted")
	}
	for name, raw := range map[string]string{
		"unknown field": `{"v":1,"id":"` + reqID + `","leak":"eA==","epsilon":1e-6,"codewords":[1]}`,
		"trailing":      `{"v":1,"id":"` + reqID + `","leak":"eA==","epsilon":1e-6} {}`,
		"oversized":     `{"v":1,"id":"` + reqID + `","leak":"` + strings.Repeat("A", MaxRequestBytes) + `","epsilon":1e-6}`,
	} {
		if _, err := DecodeRequest([]byte(raw)); !errors.Is(err, ErrBad) {
			t.Errorf("%s: got %v, want ErrBad", name, err)
		}
	}
	// The largest leak still fits the request bound.
	if _, err := DecodeRequest(encode(t, request(strings.Repeat("ab ", MaxLeakBytes/3)))); err != nil {
		t.Errorf("largest leak: %v", err)
	}
}

func answer(status Status) *Answer {
	a := &Answer{V: Version, Request: reqID, LeakSHA256: LeakHash([]byte("leak")), Status: status}
	if status == Contributed {
		a.Contribution = json.RawMessage(`{"v":1}`)
	}
	return a
}

func TestAnswerBounds(t *testing.T) {
	for _, s := range []Status{Contributed, Declined, TooLittle} {
		if _, err := DecodeAnswer(encode(t, answer(s))); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for name, mut := range map[string]func(*Answer){
		"no-answer on the wire": func(a *Answer) { a.Status = NoAnswer },
		"unknown status":        func(a *Answer) { a.Status = "maybe" },
		"no request":            func(a *Answer) { a.Request = "" },
		"short hash":            func(a *Answer) { a.LeakSHA256 = a.LeakSHA256[:16] },
		"long reason":           func(a *Answer) { a.Reason = strings.Repeat("r", MaxReasonBytes+1) },
		"declined with scores":  func(a *Answer) { a.Status, a.Contribution = Declined, json.RawMessage(`{}`) },
		"contributed, empty":    func(a *Answer) { a.Contribution = nil },
		"oversized": func(a *Answer) {
			a.Contribution = json.RawMessage(`"` + strings.Repeat("s", MaxContributionBytes) + `"`)
		},
	} {
		a := answer(Contributed)
		mut(a)
		if _, err := DecodeAnswer(encode(t, a)); !errors.Is(err, ErrBad) {
			t.Errorf("%s: got %v, want ErrBad", name, err)
		}
	}
}

func TestLedgerRateLimitAndOneAnswerPerRequest(t *testing.T) {
	var l Ledger
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	ids := []string{}
	for i := range RateLimit + 2 {
		r := request("leak")
		r.ID = strings.Repeat(string("0123456789"[i]), 32)
		ids = append(ids, r.ID)
		in, fresh := l.Admit(r, "room", "alice", now.Add(time.Duration(i)*time.Minute))
		if !fresh {
			t.Fatalf("request %d not new", i)
		}
		if want := i >= RateLimit; (in.State == Refused) != want {
			t.Fatalf("request %d: state %s, refused wanted %v", i, in.State, want)
		}
	}
	// A redelivered request is not counted again.
	if _, fresh := l.Admit(&Request{V: Version, ID: ids[0], Leak: []byte("leak"), Epsilon: 1e-6}, "room", "alice", now); fresh {
		t.Fatal("a redelivered request counted as new")
	}
	// Another requester has its own allowance.
	r := request("leak")
	r.ID = strings.Repeat("a", 32)
	if in, _ := l.Admit(r, "room", "bob", now); in.State != Pending {
		t.Fatalf("bob's first request: %s", in.State)
	}
	// After the window, alice may ask again.
	r.ID = strings.Repeat("b", 32)
	if in, _ := l.Admit(r, "room", "alice", now.Add(RateWindow+time.Hour)); in.State != Pending {
		t.Fatalf("alice after a day: %s (%s)", in.State, in.Note)
	}
	if err := l.Decide(ids[0][:8], Answered, "contributed"); err != nil {
		t.Fatal(err)
	}
	if err := l.Decide(ids[0], Answered, "again"); err == nil || !strings.Contains(err.Error(), "already answered") {
		t.Fatalf("second answer: %v", err)
	}
	if err := l.Decide(ids[1], string(Declined), "declined"); err != nil {
		t.Fatal(err)
	}
	if err := l.Decide(ids[1], Answered, "changed my mind"); err == nil || !strings.Contains(err.Error(), "already declined") {
		t.Fatalf("answer after decline: %v", err)
	}
	if err := l.Decide(ids[RateLimit], Answered, "x"); err == nil || !strings.Contains(err.Error(), "cannot be answered") {
		t.Fatalf("answer beyond the rate limit: %v", err)
	}
	if _, err := l.Find("ffff"); !errors.Is(err, ErrUnknownRequest) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := l.Find("01"); !errors.Is(err, ErrUnknownRequest) {
		t.Fatalf("a 2-digit prefix: %v", err)
	}
}

func TestLedgerKeepsABoundedNumber(t *testing.T) {
	var l Ledger
	now := time.Now()
	for i := range MaxKept + 10 {
		r := request("leak")
		r.ID = fmt.Sprintf("%032x", i)
		l.Admit(r, "room", fmt.Sprintf("m%d", i), now)
	}
	if len(l.Requests) != MaxKept {
		t.Fatalf("kept %d requests, bound %d", len(l.Requests), MaxKept)
	}
}

func TestGate(t *testing.T) {
	if Gate(MinSlots-1) != TooLittle || Gate(MinSlots) != Contributed {
		t.Fatalf("gate at %d slots", MinSlots)
	}
}

func TestInquiryAcceptsOnlyItsMembersOnce(t *testing.T) {
	q := &Inquiry{ID: reqID, Leak: []byte("leak"), Requester: "alice", Members: []string{"alice", "bob", "carol", "dave"}, Senders: []string{"bob", "carol"}}
	other := answer(Declined)
	other.Request = strings.Repeat("f", 32)
	for name, c := range map[string]struct {
		sender string
		a      *Answer
		want   string
	}{
		"replayed request id": {"bob", other, "names request ffffffff"},
		"not a member":        {"mallory", answer(Declined), "not a member"},
		"the requester":       {"alice", answer(Declined), "computed locally"},
		"another leak":        {"bob", &Answer{V: Version, Request: reqID, LeakSHA256: LeakHash([]byte("other")), Status: Declined}, "another text"},
	} {
		if err := q.Accept(c.sender, c.a); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
	if q.Complete() {
		t.Fatal("complete without answers")
	}
	if err := q.Accept("bob", answer(Contributed)); err != nil {
		t.Fatal(err)
	}
	if err := q.Accept("bob", answer(Declined)); err == nil || !strings.Contains(err.Error(), "second answer") {
		t.Fatalf("second answer: %v", err)
	}
	if q.Answers["bob"].Status != Contributed {
		t.Fatal("the second answer replaced the first")
	}
	st := q.Statuses()
	if len(st) != 2 || st[0] != (SenderStatus{Member: "bob", Status: Contributed}) || st[1].Status != NoAnswer {
		t.Fatalf("statuses: %+v", st)
	}
	// A member who was not awaited may answer too, and is listed.
	if err := q.Accept("dave", answer(TooLittle)); err != nil {
		t.Fatal(err)
	}
	if err := q.Accept("carol", answer(Declined)); err != nil {
		t.Fatal(err)
	}
	if !q.Complete() {
		t.Fatal("not complete after every sender answered")
	}
	if st := q.Statuses(); len(st) != 3 || st[2].Member != "dave" {
		t.Fatalf("statuses: %+v", st)
	}
}
