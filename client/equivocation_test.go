package client_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"backchannel/canary"
	"backchannel/client"
)

func syncReport(t *testing.T, c *client.Client) *client.SyncReport {
	t.Helper()
	rep, err := c.Sync(context.Background())
	if err != nil {
		t.Fatalf("sync %s: %v", c.User(), err)
	}
	if rep.Dropped > 0 {
		t.Fatalf("sync %s dropped envelopes: %v", c.User(), rep.Warnings)
	}
	return rep
}

func warned(rep *client.SyncReport, parts ...string) bool {
	for _, w := range rep.Warnings {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func verdicts(t *testing.T, data []byte, trust client.Trust) *client.ExportReport {
	t.Helper()
	rep, err := client.VerifyExport(data, trust)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestEquivocatingSenderIsExposed is issue 10 item 5: alice's patched
// client (the real send path, with only the marked copies rewritten) signs
// "We accept" for bob and "We reject" for carol under one entry. Carol's
// client sees that her copy's words are not the text alice committed to for
// everyone, keeps it as proof and tells the room; bob's client checks the
// proof against alice's signed entry and tells bob; every export that holds
// carol's copy fails verification with the proof against alice, while
// copies that differ only in marks verify as the same message.
func TestEquivocatingSenderIsExposed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob", "carol"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	sync(t, b, c)
	honest, err := a.Send(ctx, "talks", longText)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []*client.Client{b, c} {
		if rep := syncReport(t, u); warned(rep, "WARNING") {
			t.Fatalf("%s warned about an honest message: %v", u.User(), rep.Warnings)
		}
	}

	client.PatchMarking("alice", func(copyOf map[string]string) {
		copyOf["bob"], copyOf["carol"] = "We accept the offer.", "We reject the offer."
	})
	sent, err := a.Send(ctx, "talks", "We accept the offer.")
	client.PatchMarking("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	bobFirst := syncReport(t, b)
	if warned(bobFirst, "WARNING") {
		t.Fatalf("bob's copy matches what alice committed to, yet: %v", bobFirst.Warnings)
	}
	carolRep := syncReport(t, c)
	if !warned(carolRep, "alice's message", "is not what alice signed for everyone", "other members were shown something else") {
		t.Fatalf("carol was not told: %v", carolRep.Warnings)
	}
	_, carolMsgs, _ := c.History(ctx, "talks")
	var kept bool
	for _, m := range carolMsgs {
		kept = kept || m.ID == sent.ID && m.Text == "We reject the offer." && m.Entry == sent.Entry
	}
	if !kept {
		t.Fatal("carol's copy, the proof, is not in her history")
	}
	bobRep := syncReport(t, b)
	if !warned(bobRep, "alice sent members different messages under one signed entry", `"We reject the offer."`, `your copy says "We accept the offer."`, "proof against alice") {
		t.Fatalf("bob was not told: %v", bobRep.Warnings)
	}
	if aliceRep := syncReport(t, a); !warned(aliceRep, "carol reports that your message", "We reject the offer.") {
		t.Fatalf("alice was not told: %v", aliceRep.Warnings)
	}

	trust := trustAll(a, b, c)
	// Carol's export alone proves it: her copy opens her line of alice's
	// signed manifest, and its words are not the committed text.
	carolEx, err := c.ExportTranscript(ctx, "talks", timeZero, timeZero, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep := verdicts(t, carolEx, trust)
	if rep.OK {
		t.Fatal("carol's export of an equivocation verifies as OK")
	}
	var sawProof, sawHonest bool
	for _, v := range rep.Copies {
		switch v.Entry {
		case sent.Entry:
			sawProof = v.Equivocation && !v.Authentic && v.Recipient == "carol" && strings.Contains(v.Problem, "proof that alice sent members different messages")
		case honest.Entry:
			sawHonest = v.Authentic && v.SameMessage && strings.Contains(v.Note, "same message")
		}
	}
	if !sawProof || !sawHonest {
		t.Fatalf("carol's export: proof %v, honest copy %v: %+v", sawProof, sawHonest, rep.Copies)
	}
	// Bob's export carries his copy and the proof carol sent him: two
	// copies under one signed entry with different words.
	bobEx, err := b.ExportTranscript(ctx, "talks", timeZero, timeZero, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep = verdicts(t, bobEx, trust)
	var bobCopy, carolCopy *client.CopyVerdict
	for i, v := range rep.Copies {
		if v.Entry == sent.Entry && v.Recipient == "bob" {
			bobCopy = &rep.Copies[i]
		}
		if v.Entry == sent.Entry && v.Recipient == "carol" {
			carolCopy = &rep.Copies[i]
		}
	}
	if rep.OK || bobCopy == nil || carolCopy == nil || !bobCopy.Authentic || !carolCopy.Equivocation || carolCopy.Text != "We reject the offer." {
		t.Fatalf("bob's export: ok=%v bob=%+v carol=%+v", rep.OK, bobCopy, carolCopy)
	}
	if !strings.Contains(bobCopy.Note, "signed other words for carol") {
		t.Fatalf("bob's copy note: %q", bobCopy.Note)
	}
}

// TestCopiesThatDifferOnlyInMarksAreTheSameMessage: bob checks carol's
// genuine copy of an honest message next to his own: "same message,
// different marks", never "altered"; a copy put in another member's place
// is not that member's copy but still the same message; a changed word is
// altered.
func TestCopiesThatDifferOnlyInMarksAreTheSameMessage(t *testing.T) {
	ctx, a, b, c := evidenceRoom(t)
	trust := trustAll(a, b, c)
	var bobEx, carolEx client.Export
	for _, x := range []struct {
		c  *client.Client
		ex *client.Export
	}{{b, &bobEx}, {c, &carolEx}} {
		data, err := x.c.ExportTranscript(ctx, "talks", timeZero, timeZero, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, x.ex); err != nil {
			t.Fatal(err)
		}
	}
	var carolCopy, bobCopy client.ExportedCopy
	for _, cp := range carolEx.Copies {
		if strings.Contains(canary.Normalize(cp.Text), "monitoring annex") {
			carolCopy = cp
		}
	}
	for _, cp := range bobEx.Copies {
		if cp.Entry == carolCopy.Entry {
			bobCopy = cp
		}
	}
	if carolCopy.Text == bobCopy.Text {
		t.Fatal("bob and carol got identical copies: nothing marked")
	}
	mixed := bobEx
	mixed.Copies = append(append([]client.ExportedCopy(nil), bobEx.Copies...), carolCopy)
	data, _ := json.Marshal(mixed)
	rep := verdicts(t, data, trust)
	if !rep.OK {
		t.Fatalf("bob's export with carol's genuine copy: %v", rep.Problems)
	}
	for _, v := range rep.Copies {
		if v.Entry == carolCopy.Entry && !strings.Contains(v.Note, "same message as") {
			t.Fatalf("%s's copy: %+v", v.Recipient, v)
		}
	}
	tests := []struct {
		name, text, want string
	}{
		{"bob's copy in carol's place", bobCopy.Text, "the same message: only the marks differ"},
		{"a word changed", strings.Replace(carolCopy.Text, "sign", "reject", 1), "(altered)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex := carolEx
			ex.Copies = nil
			cp := carolCopy
			cp.Text = tc.text
			ex.Copies = append(ex.Copies, cp)
			data, _ := json.Marshal(ex)
			rep := verdicts(t, data, trust)
			if rep.OK || len(rep.Copies) != 1 || !strings.Contains(rep.Copies[0].Problem, tc.want) || rep.Copies[0].Equivocation {
				t.Fatalf("verdict %+v, want %q", rep.Copies, tc.want)
			}
		})
	}
}

// TestFalseEquivocationReportProvesNothing: carol tries to frame alice,
// who sent everyone the same message: a report with her genuine copy (the
// same words as everyone's) and one with words she changed (which do not
// open her line of alice's manifest) both fail bob's check; bob is told
// the report proves nothing, keeps no proof, and his export still verifies.
func TestFalseEquivocationReportProvesNothing(t *testing.T) {
	ctx, a, b, c := evidenceRoom(t)
	_, msgs, _ := c.History(ctx, "talks")
	var m client.Message
	for _, x := range msgs {
		if x.Sender == "alice" && x.Kind == client.KindText && strings.Contains(canary.Normalize(x.Text), "monitoring annex") {
			m = x
		}
	}
	for _, text := range []string{m.Text, strings.Replace(m.Text, "will not sign", "will sign", 1)} {
		if err := c.ReportEquivocation(ctx, "talks", m.ID, text); err != nil {
			t.Fatal(err)
		}
		rep := syncReport(t, b)
		if !warned(rep, "carol reported that a message was sent with two meanings, but the report does not check out", "nothing is proven") || warned(rep, "WARNING") {
			t.Fatalf("bob's warnings after a false report: %v", rep.Warnings)
		}
	}
	data, err := b.ExportTranscript(ctx, "talks", timeZero, timeZero, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep := verdicts(t, data, trustAll(a, b, c)); !rep.OK {
		t.Fatalf("bob's export after false reports: %v", rep.Problems)
	}
}
