package transcript

import (
	"crypto/ed25519"
	"testing"
	"time"

	"backchannel/transcript/leak"
)

// TestEndToEnd: messages go through the log, an excerpt bundle is
// exported and verified offline, and a doctored leak is checked against
// the disclosed messages only.
func TestEndToEnd(t *testing.T) {
	l := NewLog("talks", ModeOnRecord, nil)
	keys := map[string]ed25519.PrivateKey{"envoy": testKey("envoy"), "aide": testKey("aide")}
	for m, k := range keys {
		if err := l.AddMember(m, k.Public().(ed25519.PublicKey)); err != nil {
			t.Fatal(err)
		}
	}
	script := []struct{ who, text string }{
		{"envoy", "We will not sign the agreement before Friday, unless the troops withdraw."},
		{"aide", "Understood. I'll tell them 10 battalions must leave first."},
		{"envoy", "Keep this between us until the summit in Geneva."},
	}
	for i, s := range script {
		e, salt, err := l.Compose(s.who, keys[s.who], KindMessage, []byte(s.text), t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(e, salt, []byte(s.text)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := l.Export(ExportOptions{Only: []string{"envoy#1", "aide#1"}}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := b.Marshal()
	trusted := map[string]ed25519.PublicKey{}
	for m, k := range keys {
		trusted[m] = k.Public().(ed25519.PublicKey)
	}
	rep, err := VerifyBundle(data, VerifyOptions{Trusted: trusted})
	if err != nil || !rep.OK || rep.Disclosed != 2 || len(rep.Messages) != 2 {
		t.Fatalf("%v %+v", err, rep)
	}
	leakText := "ENVOY: We will sign the agreement before Friday, unless the troops withdraw.\r\n" +
		"AIDE: Understood. I will tell them ten battalions must leave first.\r\n" +
		"ENVOY: Keep this between us until the summit in Geneva.\r\n"
	r, err := leak.Verify(rep.Messages, []byte(leakText), leak.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []leak.Verdict{leak.Altered, leak.Authentic, leak.Fabricated} // the third was not disclosed
	if len(r.Lines) != len(want) {
		t.Fatalf("lines %+v", r.Lines)
	}
	for i, w := range want {
		if r.Lines[i].Verdict != w || r.Lines[i].Line != i+1 {
			t.Errorf("line %d: %s (%s), want %s", i+1, r.Lines[i].Verdict, r.Lines[i].Diff, w)
		}
	}
	if r.Lines[1].MessageID != rep.Messages[1].ID || r.Lines[1].Sender != "aide" {
		t.Errorf("authentic line must name its message: %+v", r.Lines[1])
	}
}
