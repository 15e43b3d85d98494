package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"backchannel/canary"
	"backchannel/client"
)

const longText = "The delegation will not sign the protocol before the monitoring annex is agreed. " +
	"We have offered a thirty-day pause in the north, and the other side has accepted the principle. " +
	"They insist that the monitors come from a neutral country, which we can accept, but they also want " +
	"to choose the country themselves, which we cannot accept. Our fallback is a joint list of three."

func evidenceRoom(t *testing.T) (context.Context, *client.Client, *client.Client, *client.Client) {
	ctx := context.Background()
	e := newEnv(t)
	a, b, c := e.user("alice"), e.user("bob"), e.user("carol")
	if _, err := a.CreateRoom(ctx, "talks", []string{"bob", "carol"}, client.ModeOnRecord, "all"); err != nil {
		t.Fatal(err)
	}
	sync(t, b, c)
	for _, m := range []string{longText, "Agreed. I will tell the minister tonight."} {
		if _, err := a.Send(ctx, "talks", m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Send(ctx, "talks", "Bob here: the ministry wants the annex by Friday."); err != nil {
		t.Fatal(err)
	}
	sync(t, a, b, c)
	return ctx, a, b, c
}

func TestTracePastedCopyNamesTheRecipient(t *testing.T) {
	ctx, a, b, c := evidenceRoom(t)
	for _, leaker := range []*client.Client{b, c} {
		_, msgs, _ := leaker.History(ctx, "talks")
		var copyText string
		for _, m := range msgs {
			if m.Sender == "alice" && m.Kind == client.KindText && strings.Contains(canary.Normalize(m.Text), "monitoring annex") {
				copyText = m.Text
			}
		}
		res, err := a.Trace(ctx, "talks", copyText, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Verdict != canary.Identified || len(res.Suspects) != 1 || res.Suspects[0].Member != leaker.User() {
			t.Fatalf("leak of %s's copy: verdict %s, suspects %+v", leaker.User(), res.Verdict, res.Suspects)
		}
	}
	// Text alice never sent is inconclusive, never an accusation.
	res, err := a.Trace(ctx, "talks", "Completely unrelated words about the weather and the harvest this autumn.", 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict == canary.Identified {
		t.Fatalf("unrelated text accused %+v", res.Suspects)
	}
	// Bob has sent nothing marked to trace in this room... he has: one message.
	if _, err := c.Trace(ctx, "talks", longText, 0); err == nil {
		t.Fatal("carol, who sent nothing, could trace")
	}
}

func TestVerifyLeakFlagsDoctoredLines(t *testing.T) {
	ctx, _, b, c := evidenceRoom(t)
	_, msgs, _ := b.History(ctx, "talks")
	var lines []string
	for _, m := range msgs {
		if m.Kind == client.KindText {
			lines = append(lines, strings.ToUpper(m.Sender)+": "+canary.Normalize(m.Text))
		}
	}
	want := []string{}
	for i, l := range lines {
		if strings.Contains(l, "minister") {
			lines[i] = strings.Replace(l, "minister", "president", 1)
			want = append(want, "altered")
		} else {
			want = append(want, "authentic")
		}
	}
	want = append(want, "fabricated")
	lines = append(lines, "ALICE: We will withdraw from the talks if the annex is late.")
	rep, err := c.VerifyLeak(ctx, "talks", []byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	var verdicts []string
	for _, l := range rep.Lines {
		verdicts = append(verdicts, string(l.Verdict))
	}
	if strings.Join(verdicts, ",") != strings.Join(want, ",") {
		t.Fatalf("verdicts %v, want %v", verdicts, want)
	}
	if _, err := c.VerifyLeak(ctx, "talks", []byte{0, 1, 2, 0xff}); err == nil {
		t.Fatal("binary leak accepted")
	}
	if _, err := c.VerifyLeak(ctx, "talks", nil); err == nil {
		t.Fatal("empty leak accepted")
	}
}

func TestExportVerifiesOfflineAndExposesTampering(t *testing.T) {
	ctx, a, b, c := evidenceRoom(t)
	trust := trustAll(a, b, c)
	if _, err := a.ShareReader(ctx, "talks", "annex.pdf", strings.NewReader("%PDF-1.7 not really")); err != nil {
		t.Fatal(err)
	}
	sync(t, b)
	data, err := b.ExportTranscript(ctx, "talks", timeZero, timeZero, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := client.VerifyExport(data, trust)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Copies) != 4 {
		t.Fatalf("export does not verify: ok=%v problems=%v copies=%d", rep.OK, rep.Problems, len(rep.Copies))
	}
	for _, cp := range rep.Copies {
		if !cp.Authentic {
			t.Fatalf("copy %s not authentic: %s", cp.MessageID, cp.Problem)
		}
	}
	var ex client.Export
	if err := json.Unmarshal(data, &ex); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range ex.Copies {
		if t := strings.Replace(ex.Copies[i].Text, "minister", "president", 1); t != ex.Copies[i].Text {
			ex.Copies[i].Text = t
			n++
		}
	}
	if n != 1 {
		t.Fatalf("tampered %d copies, want 1", n)
	}
	tampered, _ := json.Marshal(ex)
	rep, err = client.VerifyExport(tampered, trust)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK {
		t.Fatal("a tampered copy verified")
	}
	// Selective disclosure: one message only.
	_, msgs, _ := b.History(ctx, "talks")
	var id string
	for _, m := range msgs {
		if m.Kind == client.KindText && m.Sender == "bob" {
			id = m.ID[:10]
		}
	}
	data, err = b.ExportTranscript(ctx, "talks", timeZero, timeZero, []string{id})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = client.VerifyExport(data, trust)
	if err != nil || !rep.OK || len(rep.Copies) != 1 {
		t.Fatalf("excerpt: %v ok=%v copies=%d problems=%v", err, rep != nil && rep.OK, len(rep.Copies), rep.Problems)
	}
	if bytes.Contains(data, []byte("minister")) || bytes.Contains(data, []byte("monitors")) {
		t.Fatal("the excerpt discloses an undisclosed message")
	}
	if _, err := client.VerifyExport([]byte("not json"), trust); err == nil {
		t.Fatal("garbage accepted as an export")
	}
}

func TestTextDocumentsAreMarkedAndTraced(t *testing.T) {
	ctx, a, b, c := evidenceRoom(t)
	path := t.TempDir() + "/annex.md"
	doc := "# Monitoring annex\n\n" + strings.Repeat("The monitors don't report to either capital before the other one; they report to both at the same time. ", 4)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Share(ctx, "talks", path); err != nil {
		t.Fatal(err)
	}
	sync(t, b, c)
	var copies []string
	for _, cl := range []*client.Client{b, c} {
		var buf bytes.Buffer
		if _, err := cl.GetDoc(ctx, "talks", "annex.md", &buf); err != nil {
			t.Fatal(err)
		}
		if canary.Canonicalize(buf.String()) != canary.Canonicalize(doc) {
			t.Fatalf("%s's copy changed the document's meaning", cl.User())
		}
		copies = append(copies, buf.String())
	}
	if copies[0] == copies[1] {
		t.Fatal("bob and carol received identical copies of a text document")
	}
	res, err := a.Trace(ctx, "talks", copies[1], 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != canary.Identified || res.Suspects[0].Member != "carol" {
		t.Fatalf("leaked document: %s %+v", res.Verdict, res.Suspects)
	}
}

// trustAll vouches for every client's account key by fingerprint, as a
// third party given the fingerprints out of band would.
func trustAll(cs ...*client.Client) client.Trust {
	t := client.Trust{Fingerprints: map[string]string{}}
	for _, c := range cs {
		t.Fingerprints[c.User()] = client.FingerprintOf(c.IdentityKey())
	}
	return t
}
