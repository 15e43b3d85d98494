package transcript

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// chatRoom builds an on-record room with n alternating messages.
func chatRoom(t testing.TB, mode Mode, n int) (*Log, map[string]ed25519.PrivateKey) {
	t.Helper()
	l := NewLog("room-1", mode, nil)
	keys := map[string]ed25519.PrivateKey{}
	for _, m := range []string{"envoy", "aide", "counsel"} {
		keys[m] = testKey(m)
		if err := l.AddMember(m, keys[m].Public().(ed25519.PublicKey)); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"envoy", "aide", "counsel"}
	for i := 0; i < n; i++ {
		who := names[i%3]
		text := fmt.Sprintf("message %d from %s about item %d", i, who, i*7)
		e, salt, err := l.Compose(who, keys[who], KindMessage, []byte(text), t0.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(e, salt, []byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	return l, keys
}

func exportJSON(t testing.TB, l *Log, opt ExportOptions) []byte {
	t.Helper()
	b, err := l.Export(opt, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBundleRoundTrip(t *testing.T) {
	l, keys := chatRoom(t, ModeOnRecord, 12)
	data := exportJSON(t, l, ExportOptions{})
	rep, err := VerifyBundle(data, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Entries != 12 || rep.Disclosed != 12 || len(rep.Messages) != 12 || len(rep.Heads) != 1 {
		t.Fatalf("report %+v", rep)
	}
	trusted := map[string]ed25519.PublicKey{}
	for m, k := range keys {
		trusted[m] = k.Public().(ed25519.PublicKey)
	}
	rep, _ = VerifyBundle(data, VerifyOptions{Trusted: trusted})
	if !rep.OK || len(rep.Warnings) != 0 {
		t.Fatalf("trusted report %+v", rep)
	}
	trusted["aide"] = testKey("mallory").Public().(ed25519.PublicKey)
	rep, _ = VerifyBundle(data, VerifyOptions{Trusted: trusted})
	if rep.OK {
		t.Fatal("a substituted identity must fail")
	}
}

func TestBundleSelectiveDisclosure(t *testing.T) {
	l, _ := chatRoom(t, ModeOnRecord, 12)
	recs := l.Records()
	cases := []struct {
		name string
		opt  ExportOptions
		want int
	}{
		{"time range", ExportOptions{From: t0.Add(3 * time.Minute), To: t0.Add(5 * time.Minute)}, 3},
		{"only by prefix", ExportOptions{Only: []string{recs[4].Hash.ID()}}, 1},
		{"only by sender#seq", ExportOptions{Only: []string{"aide#2", "envoy#1"}}, 2},
		{"range and only", ExportOptions{From: t0.Add(5 * time.Minute), Only: []string{"aide#2", "envoy#1"}}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := exportJSON(t, l, c.opt)
			rep, err := VerifyBundle(data, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK || rep.Entries != 12 || rep.Disclosed != c.want {
				t.Fatalf("report ok=%v entries=%d disclosed=%d problems=%v", rep.OK, rep.Entries, rep.Disclosed, rep.Problems)
			}
			var b Bundle
			_ = json.Unmarshal(data, &b)
			n := 0
			for _, be := range b.Entries {
				if be.Content != nil {
					n++
				} else if be.Salt != "" {
					t.Fatal("undisclosed entry carries its salt")
				}
			}
			if n != c.want {
				t.Fatalf("%d contents in the file, want %d", n, c.want)
			}
		})
	}
	if _, err := l.Export(ExportOptions{Only: []string{"nobody#3"}}, t0); err == nil {
		t.Fatal("unknown id must fail")
	}
	if _, err := l.Export(ExportOptions{Only: []string{"ab"}}, t0); err == nil {
		t.Fatal("short id must fail")
	}
}

func TestBundleTampering(t *testing.T) {
	l, _ := chatRoom(t, ModeOnRecord, 6)
	clean := exportJSON(t, l, ExportOptions{})
	tamper := func(f func(b *Bundle)) []byte {
		var b Bundle
		if err := json.Unmarshal(clean, &b); err != nil {
			t.Fatal(err)
		}
		f(&b)
		out, _ := json.Marshal(&b)
		return out
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"content edited", tamper(func(b *Bundle) { s := "message 2 from counsel about item 99"; b.Entries[2].Content = &s }), "does not match the signed commitment"},
		{"entry removed", tamper(func(b *Bundle) { b.Entries = append(b.Entries[:2], b.Entries[3:]...) }), "not earlier in the bundle"},
		{"entries reordered", tamper(func(b *Bundle) { b.Entries[1], b.Entries[2] = b.Entries[2], b.Entries[1] }), "not earlier in the bundle"},
		{"entry duplicated", tamper(func(b *Bundle) { b.Entries = append(b.Entries, b.Entries[0]) }), "duplicate entry"},
		{"member key replaced", tamper(func(b *Bundle) {
			b.Members[0].IdentityKey = "1Pj0xHBf9yI4zdt+JnN/hs1zdlzvdDeFbxLU+W1E+Hw="
		}), "not " + "aide's identity key"},
		{"signature byte flipped", tamper(func(b *Bundle) {
			raw := mustB64(t, b.Entries[3].Entry)
			raw[len(raw)-1] ^= 1
			b.Entries[3].Entry = b64(raw)
		}), "signature does not verify"},
		{"room renamed", tamper(func(b *Bundle) { b.Room = "room-2" }), "belongs to room"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := VerifyBundle(c.data, VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || !strings.Contains(strings.Join(rep.Problems, "\n"), c.want) {
				t.Fatalf("problems %q, want %q", rep.Problems, c.want)
			}
		})
	}
}

func TestBundleBadInput(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty"},
		{"whitespace", []byte("  \n"), "empty"},
		{"binary", []byte{0x7f, 'E', 'L', 'F', 0, 1, 2}, "not JSON"},
		{"text", []byte("AIDE: hello"), "not JSON"},
		{"huge", bytes.Repeat([]byte(" "), MaxBundleSize+1), "larger than"},
		{"wrong format", []byte(`{"format":"x","version":1}`), "format"},
		{"future version", []byte(`{"format":"backchannel-transcript-bundle","version":9}`), "unsupported version"},
		{"unknown field", []byte(`{"format":"backchannel-transcript-bundle","version":1,"extra":1}`), "unknown field"},
		{"trailing", []byte(`{"format":"backchannel-transcript-bundle","version":1,"room":"r","mode":"deniable"} {}`), "trailing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := VerifyBundle(c.data, VerifyOptions{})
			if !errors.Is(err, ErrBadBundle) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

func TestDeniableBundleClaimsNothing(t *testing.T) {
	l, _ := chatRoom(t, ModeDeniable, 3)
	rep, err := VerifyBundle(exportJSON(t, l, ExportOptions{}), VerifyOptions{})
	if err != nil || !rep.OK || !strings.Contains(strings.Join(rep.Claims, " "), "proves nothing") {
		t.Fatalf("%v %+v", err, rep)
	}
}

func BenchmarkVerifyBundle10k(b *testing.B) {
	l, _ := chatRoom(b, ModeOnRecord, 10000)
	data := exportJSON(b, l, ExportOptions{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := VerifyBundle(data, VerifyOptions{})
		if err != nil || !rep.OK {
			b.Fatal(err, rep.Problems)
		}
	}
}

func TestBundleReportText(t *testing.T) {
	l, _ := chatRoom(t, ModeOnRecord, 3)
	rep, err := VerifyBundle(exportJSON(t, l, ExportOptions{}), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := rep.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "VALID  room room-1 (on-record): 3 entries, 3 disclosed") || !strings.Contains(b.String(), "proves:") {
		t.Fatalf("%s", b.String())
	}
}
