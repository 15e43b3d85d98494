package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"backchannel/audio"
	"backchannel/audiomark"
	"backchannel/canary"
	"backchannel/client"
	"backchannel/voicenote"
)

// speechDir holds the read speech of Debian's pocketsphinx-testdata,
// which .ci/run installs.
const speechDir = "/usr/share/pocketsphinx/test/data"

// librivoxWAV is the five LibriVox excerpts of pocketsphinx-testdata one
// after the other (23.7 s of one woman reading), as one WAV file.
func librivoxWAV(t *testing.T) []byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(speechDir, "librivox", "*.wav"))
	if len(files) == 0 {
		t.Fatalf("no read speech in %s: install Debian's pocketsphinx-testdata", speechDir)
	}
	c := &audio.Clip{Rate: audiomark.Rate}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		part, err := audio.DecodeWAV(b)
		if err != nil {
			t.Fatal(err)
		}
		c.Samples = append(c.Samples, audio.Resample(part, audiomark.Rate).Samples...)
	}
	return audio.EncodeWAV(c)
}

// otherSpeechWAV is other speakers reading other words: the corpus's
// headerless 16-bit 16 kHz prompts, one after the other.
func otherSpeechWAV(t *testing.T) []byte {
	t.Helper()
	c := &audio.Clip{Rate: audiomark.Rate}
	for _, name := range []string{"numbers.raw", "something.raw", "goforward.raw"} {
		b, err := os.ReadFile(filepath.Join(speechDir, name))
		if err != nil {
			t.Fatalf("read %s (install Debian's pocketsphinx-testdata): %v", name, err)
		}
		for i := 0; i+1 < len(b); i += 2 {
			c.Samples = append(c.Samples, float32(int16(uint16(b[i])|uint16(b[i+1])<<8))/32768)
		}
	}
	return audio.EncodeWAV(c)
}

// opus16k is a recording put through Opus at 16 kbit/s by ffmpeg, as Ogg.
func opus16k(t *testing.T, flac []byte) []byte {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("this test needs ffmpeg to put a leaked copy through Opus: install it (Debian: apt-get install ffmpeg; .ci/run installs it): %v", err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "copy.flac"), filepath.Join(dir, "leak.ogg")
	if err := os.WriteFile(in, flac, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", in, "-c:a", "libopus", "-b:a", "16k", out).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A voice note to a room of four: every recipient's copy is their own,
// each is what the signed entry commits to, a copy leaked through Opus at
// 16 kbit/s names its recipient and nobody else, unrelated speech names
// nobody, and a recipient cannot trace at all.
func TestVoiceNoteTracedToItsRecipient(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	alice := e.user("alice")
	recipients := []string{"ben", "cleo", "dan"}
	members := map[string]*client.Client{}
	for _, u := range recipients {
		members[u] = e.user(u)
	}
	if _, err := alice.CreateRoom(ctx, "deal", recipients, client.ModeOnRecord, ""); err != nil {
		t.Fatal(err)
	}
	for _, u := range recipients {
		sync(t, members[u])
	}
	m, err := alice.SendVoice(ctx, "deal", librivoxWAV(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != client.KindVoice || m.DurationMS < 23000 || m.DurationMS > 26000 || m.Text != "voice note "+voicenote.Duration(time.Duration(m.DurationMS)*time.Millisecond) {
		t.Fatalf("sent %+v", m)
	}
	var original bytes.Buffer
	if _, err := alice.GetVoice(ctx, "deal", m.ID, &original); err != nil {
		t.Fatalf("the sender's own copy: %v", err)
	}
	if oc, err := audio.DecodeFLAC(original.Bytes()); err != nil || oc.Rate != audiomark.Rate {
		t.Fatalf("the sender's copy is not 16 kHz FLAC: %v", err)
	}

	copies := map[string][]byte{}
	for _, u := range recipients {
		c := members[u]
		sync(t, c)
		_, msgs, err := c.History(ctx, "deal")
		if err != nil {
			t.Fatal(err)
		}
		got := msgs[len(msgs)-1]
		if got.ID != m.ID || got.Kind != client.KindVoice || got.Sender != "alice" || got.DurationMS != m.DurationMS || got.Text != m.Text || got.Doc == nil {
			t.Fatalf("%s received %+v", u, got)
		}
		var buf bytes.Buffer
		if _, err := c.GetVoice(ctx, "deal", m.ID[:10], &buf); err != nil {
			t.Fatalf("%s fetches their copy: %v", u, err)
		}
		b := buf.Bytes()
		copies[u] = b
		if bytes.Equal(b, original.Bytes()) {
			t.Fatalf("%s's copy is the unmarked original", u)
		}
		sum := sha256.Sum256(b)
		if !bytes.Equal(sum[:], got.Doc.SHA256) {
			t.Fatalf("%s's copy is not the one announced", u)
		}
		// The signed entry commits to this very copy: an export of it
		// verifies offline, and names the copy's SHA-256.
		ex, err := c.ExportTranscript(ctx, "deal", time.Time{}, time.Time{}, []string{m.ID})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := client.VerifyExport(ex, client.Trust{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, cv := range rep.Copies {
			if cv.MessageID == m.ID && cv.Recipient == u {
				found = true
				if !cv.Authentic || !strings.Contains(cv.Text, hex.EncodeToString(sum[:])) {
					t.Fatalf("%s's copy in the export: authentic=%v, %q (%s)", u, cv.Authentic, cv.Text, cv.Problem)
				}
			}
		}
		if !found {
			t.Fatalf("%s's export holds no copy of the voice note", u)
		}
	}
	for i, u := range recipients {
		for _, v := range recipients[i+1:] {
			if bytes.Equal(copies[u], copies[v]) {
				t.Fatalf("%s and %s received the same copy", u, v)
			}
		}
	}

	// cleo's copy leaks through Opus at 16 kbit/s.
	leak := opus16k(t, copies["cleo"])
	res, err := alice.TraceAudio(ctx, "deal", leak, canary.DefaultEpsilon)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Matched || res.MessageID != m.ID || len(res.Named) != 1 || res.Named[0] != "cleo" {
		t.Fatalf("trace of cleo's copy after Opus 16k: matched=%v message=%s named=%v scores=%+v threshold=%.2f", res.Matched, res.MessageID, res.Named, res.Scores, res.Threshold)
	}
	t.Logf("cleo's copy after Opus 16k: %+v, threshold %.2f", res.Scores, res.Threshold)
	// All rooms searched: the same verdict.
	if all, err := alice.TraceAudio(ctx, "", leak, canary.DefaultEpsilon); err != nil || len(all.Named) != 1 || all.Named[0] != "cleo" || all.RoomName == "" {
		t.Fatalf("trace in every room: %+v (%v)", all, err)
	}

	// Speech that is not the note names nobody.
	other, err := alice.TraceAudio(ctx, "deal", otherSpeechWAV(t), canary.DefaultEpsilon)
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Named) != 0 || other.Matched {
		t.Fatalf("unrelated speech: matched=%v named=%v", other.Matched, other.Named)
	}

	// A recipient holds no original: tracing accuses nobody.
	if r, err := members["ben"].TraceAudio(ctx, "deal", leak, canary.DefaultEpsilon); !errors.Is(err, client.ErrNoVoiceNotes) || r != nil {
		t.Fatalf("ben traces: %+v, %v; want ErrNoVoiceNotes", r, err)
	}
}

// A file that is no voice note is refused before anything is sent.
func TestSendVoiceRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	alice, ben := e.user("alice"), e.user("ben")
	if _, err := alice.CreateRoom(ctx, "deal", []string{"ben"}, client.ModeOnRecord, ""); err != nil {
		t.Fatal(err)
	}
	sync(t, ben)
	_, before, err := alice.History(ctx, "deal")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	long := &audio.Clip{Rate: 8000, Samples: make([]float32, 8000*360)}
	for i := range long.Samples {
		long.Samples[i] = float32(0.2 * (2*rng.Float64() - 1))
	}
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0}, make([]byte, 500)...)
	for _, tc := range []struct {
		name string
		data []byte
		want error
		says string
	}{
		{"a JPEG", jpeg, voicenote.ErrNotAudio, "not a recording"},
		{"an empty file", nil, voicenote.ErrSilent, "empty"},
		{"a 6-minute WAV", audio.EncodeWAV(long), voicenote.ErrTooLong, "at most 5 minutes"},
	} {
		_, err := alice.SendVoice(ctx, "deal", tc.data)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v; want %v saying %q", tc.name, err, tc.want, tc.says)
		}
	}
	_, after, err := alice.History(ctx, "deal")
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("the history grew from %d to %d messages", len(before), len(after))
	}
	rep, err := ben.Sync(ctx)
	if err != nil || rep.Received != 0 {
		t.Fatalf("ben received %d messages (%v)", rep.Received, err)
	}
}
