package canary

import "testing"

func TestNoteQuotes(t *testing.T) {
	key := testKey(3)
	text := "The delegation will not sign the protocol before the monitoring annex is agreed. We have offered a thirty-day pause in the north, and the other side has accepted the principle."
	msgs := []Message{{ID: "m1", Text: text, Recipients: []string{"bob", "carol"}, Policy: PolicyAll}}
	tr, err := NewTracer(key, msgs)
	if err != nil {
		t.Fatal(err)
	}
	bobs, _ := Mark(key, "m1", "bob", text, PolicyAll)
	reply := "On your point: " + Unmark(bobs) + " I agree."
	res, err := tr.Trace(reply, 0)
	if err != nil {
		t.Fatal(err)
	}
	tr.NoteQuotes(res, []Posted{{ID: "r1", Sender: "bob", Text: reply}, {ID: "r2", Sender: "carol", Text: "Nothing to do with it at all, the weather is fine today."}})
	if len(res.Quotes) != 1 || res.Quotes[0].By != "bob" || res.Quotes[0].InMessage != "r1" || res.Quotes[0].MessageID != "m1" || res.Quotes[0].Words < 20 {
		t.Fatalf("quotes: %+v (matched %d words)", res.Quotes, res.WordsMatched)
	}
}
