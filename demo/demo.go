// Package demo runs the whole backchannel story on an embedded server on a
// loopback port, in a temporary directory, with no set-up: three
// participants register, compare safety numbers, negotiate in an on-record
// room, and the demo prints what each of them sees and what the server
// holds — ciphertext only, which it checks rather than asserts.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"backchannel/canary"
	"backchannel/client"
	"backchannel/identity"
	"backchannel/localserver"
	"backchannel/server"
	"backchannel/store"
	"backchannel/transcript/doctor"
	"backchannel/transcript/leak"
)

// Script is the negotiation the demo plays: speaker and line.
var Script = []struct{ Speaker, Text string }{
	{"envoy", "Thank you both. Our position on the ceasefire line has not changed since Tuesday."},
	{"aide", "Their side proposed a 30-day pause in the north, with monitors from a neutral country."},
	{"adviser", "A 30-day pause is acceptable if the monitors report to both capitals at the same time."},
	{"envoy", "Then we will accept the pause, but we will not accept monitors from their allies."},
	{"aide", "Understood. I'll draft the monitoring annex tonight and circulate it by nine."},
	{"adviser", "Please keep the annex to two pages; the ministers won't read more."},
}

const roomName = "ceasefire-talks"

// Options tune the demo (tests use cheaper key derivation).
type Options struct {
	Client client.Options
	// Dir is the working directory; a temporary one (removed after) if empty.
	Dir string
}

type participant struct {
	name string
	c    *client.Client
}

// Run plays the demo, writing the story to w.
func Run(ctx context.Context, w io.Writer, opt Options) (err error) {
	dir := opt.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "backchannel-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }

	srv, err := localserver.Start(ctx, filepath.Join(dir, "server"), "127.0.0.1:0", server.Config{OpenRegistration: true}, nil)
	if err != nil {
		return err
	}
	defer srv.Stop()
	say("== 1. A server on %s (data in a temporary directory)", srv.URL)

	people := map[string]*participant{}
	for _, name := range []string{"envoy", "aide", "adviser"} {
		c, err := client.Init(ctx, filepath.Join(dir, name), srv.URL, name, "", []byte("demo passphrase for "+name), opt.Client)
		if err != nil {
			return fmt.Errorf("register %s: %w", name, err)
		}
		defer c.Close()
		people[name] = &participant{name, c}
	}
	say("   registered envoy, aide and adviser: each has an Ed25519 identity, a device key,")
	say("   a signed X25519 prekey and ML-KEM-768 prekeys; private keys stay in each encrypted profile.")

	sn, _, err := people["envoy"].c.SafetyNumber(ctx, "aide")
	if err != nil {
		return err
	}
	sn2, _, err := people["aide"].c.SafetyNumber(ctx, "envoy")
	if err != nil {
		return err
	}
	say("\n== 2. Envoy and aide compare safety numbers (in person or on a call):")
	say("%s", indent(identity.FormatSafetyNumber(sn), "   "))
	if sn != sn2 {
		return errors.New("safety numbers differ between envoy and aide")
	}
	// All 12 groups matched: each records it, against the exact account key.
	for _, pair := range [][2]string{{"envoy", "aide"}, {"aide", "envoy"}, {"envoy", "adviser"}, {"adviser", "envoy"}, {"aide", "adviser"}, {"adviser", "aide"}} {
		if err := people[pair[0]].c.MarkVerified(ctx, pair[1]); err != nil {
			return err
		}
	}
	say("   all 12 groups match; each side records it (keys verify --confirm), and so do the adviser's pairs.")
	say("   both see the same 60 digits: no one in the middle.")

	room, err := people["envoy"].c.CreateRoom(ctx, roomName, []string{"aide", "adviser"}, client.ModeOnRecord, "")
	if err != nil {
		return err
	}
	say("\n== 3. Envoy creates %q (%s) with aide and adviser", room.State.Name, room.State.Mode)
	for _, p := range []string{"aide", "adviser"} {
		if _, err := people[p].c.Sync(ctx); err != nil {
			return err
		}
	}

	say("\n== 4. The negotiation")
	for _, line := range Script {
		if _, err := people[line.Speaker].c.Send(ctx, room.State.ID, line.Text); err != nil {
			return fmt.Errorf("%s sends: %w", line.Speaker, err)
		}
		say("   %-8s sends: %s", line.Speaker, line.Text)
	}

	say("\n== 5. What the server holds for aide before aide syncs")
	if err := showServer(ctx, w, srv.Store, "aide"); err != nil {
		return err
	}

	say("\n== 6. What each participant sees after syncing")
	for _, name := range []string{"envoy", "aide", "adviser"} {
		if _, err := people[name].c.Sync(ctx); err != nil {
			return err
		}
		_, msgs, err := people[name].c.History(ctx, room.State.ID)
		if err != nil {
			return err
		}
		n := 0
		for _, m := range msgs {
			if m.Kind == client.KindText {
				n++
			}
		}
		if n != len(Script) {
			return fmt.Errorf("%s sees %d of %d messages", name, n, len(Script))
		}
		say("   %s sees all %d messages, e.g. %s: %q", name, n, msgs[len(msgs)-1].Sender, msgs[len(msgs)-1].Text)
	}
	if err := verifyStep(ctx, w, people, room.State.ID); err != nil {
		return err
	}
	if err := traceStep(ctx, w, people, room.State.ID); err != nil {
		return err
	}
	say("\nDone: every message reached every member exactly once, the server saw only ciphertext,")
	say("the doctored lines were exposed and the leak named its source.")
	return nil
}

// verifyStep: a member publishes a retyped transcript with two doctored
// lines; verify must flag exactly those.
func verifyStep(ctx context.Context, w io.Writer, people map[string]*participant, room string) error {
	fmt.Fprintln(w, "\n== 7. A transcript appears in the press: retyped, relabelled, two lines doctored")
	_, msgs, err := people["adviser"].c.History(ctx, room)
	if err != nil {
		return err
	}
	var lm []leak.Message
	for _, m := range msgs {
		if m.Kind == client.KindText {
			lm = append(lm, leak.Message{ID: m.ID, Sender: m.Sender, SentAt: m.SentAt, Text: canary.Normalize(m.Text)})
		}
	}
	text, doctored, err := doctor.DemoLeak(lm, 7)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, indent(strings.TrimRight(text, "\n"), "   | "))
	rep, err := people["envoy"].c.VerifyLeak(ctx, room, []byte(text))
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\n   backchannel verify --room ceasefire-talks leak.txt (run by the envoy):")
	var buf bytes.Buffer
	if err := rep.WriteText(&buf, false); err != nil {
		return err
	}
	fmt.Fprintln(w, indent(strings.TrimRight(buf.String(), "\n"), "   "))
	var flagged []int
	for _, l := range rep.Lines {
		if l.Verdict != leak.Authentic {
			flagged = append(flagged, l.Line)
		}
	}
	if !slices.Equal(flagged, doctored) {
		return fmt.Errorf("verify flagged lines %v, but the doctored lines are %v", flagged, doctored)
	}
	fmt.Fprintf(w, "   verify flagged exactly the doctored lines %v and no authentic line.\n", doctored)
	return nil
}

// traceStep: the envoy circulates a long briefing; the aide retypes it for a
// journalist; the envoy traces the leak to the aide.
func traceStep(ctx context.Context, w io.Writer, people map[string]*participant, room string) error {
	fmt.Fprintln(w, "\n== 8. The envoy circulates a briefing; later a retyped copy leaks")
	paras := strings.Split(strings.TrimSpace(briefing), "\n\n")
	for _, p := range paras {
		if _, err := people["envoy"].c.Send(ctx, room, p); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "   envoy sends a %d-word briefing in %d messages; aide and adviser each get their own marked copy.\n", len(strings.Fields(briefing)), len(paras))
	if _, err := people["aide"].c.Sync(ctx); err != nil {
		return err
	}
	_, msgs, err := people["aide"].c.History(ctx, room)
	if err != nil {
		return err
	}
	var copyParas []string
	for _, m := range msgs {
		if m.Kind == client.KindText && m.Sender == "envoy" && len(strings.Fields(m.Text)) > 40 {
			copyParas = append(copyParas, m.Text)
		}
	}
	// Retyping loses every invisible and typographic mark; only wording survives.
	leaked := canary.Normalize(strings.Join(copyParas, "\n\n"))
	fmt.Fprintf(w, "   the aide retypes %d words of it for a journalist (invisible characters and typography are lost).\n", len(strings.Fields(leaked)))
	res, err := people["envoy"].c.Trace(ctx, room, leaked, canary.DefaultEpsilon)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n   backchannel trace leak.txt (run by the envoy):\n   verdict: %s, %d words matched, %d marks read\n", res.Verdict, res.WordsMatched, res.SlotsRead)
	for _, s := range res.Suspects {
		fmt.Fprintf(w, "   the leak is %s's copy: %d of %d marks match it; probability that another copy matches this well ≤ %.1e\n", s.Member, s.SlotsMatched, s.SlotsRead, s.FalseAccusationBound)
	}
	if res.Verdict != canary.Identified || len(res.Suspects) != 1 || res.Suspects[0].Member != "aide" {
		return fmt.Errorf("trace did not name the aide: %s %+v", res.Verdict, res.Suspects)
	}
	return nil
}

//go:embed briefing.txt
var briefing string

// showServer prints the pending envelopes of user's device as the server
// stores them and checks that none contains any line of the script.
func showServer(ctx context.Context, w io.Writer, st store.Store, user string) error {
	msgs, err := st.Pending(ctx, store.Address{User: user, Device: 1}, 0, 100)
	if err != nil {
		return err
	}
	for i, m := range msgs {
		if i < 4 {
			fmt.Fprintf(w, "   #%d from %s/%d, %d bytes: %x…\n", m.ID, m.From.User, m.From.Device, len(m.Data), m.Data[:24])
		}
		words := []string{roomName}
		for _, line := range Script {
			words = append(words, strings.Fields(line.Text)...)
		}
		for _, word := range words {
			if len(word) >= 6 && bytes.Contains(m.Data, []byte(word)) {
				return fmt.Errorf("the server holds plaintext %q in envelope %d", word, m.ID)
			}
		}
	}
	fmt.Fprintf(w, "   %d envelopes in all; none contains a word of the negotiation, a room name or a member list.\n", len(msgs))
	return nil
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}
