package transcript

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

func warningTexts(l *Log) []string {
	var out []string
	for _, w := range l.Warnings() {
		out = append(out, w.Text)
	}
	return out
}

func TestLogHappyPath(t *testing.T) {
	for _, mode := range []Mode{ModeOnRecord, ModeDeniable} {
		t.Run(mode.String(), func(t *testing.T) {
			r := newRoom(t, mode, "envoy", "aide")
			a := r.make("envoy", 0, "hello")
			r.mustAppend(a)
			b := r.make("aide", 1, "hi", a.hash)
			r.mustAppend(b)
			c := r.make("envoy", 2, "we will not sign", b.hash)
			r.mustAppend(c)
			if w := r.log.Warnings(); len(w) != 0 {
				t.Fatalf("unexpected warnings %v", w)
			}
			if h := r.log.Heads(); len(h) != 1 || h[0] != c.hash {
				t.Fatalf("heads %v", h)
			}
			ms := r.log.Messages()
			if len(ms) != 3 || ms[2].Text != "we will not sign" || ms[2].ID != c.hash.ID() {
				t.Fatalf("messages %+v", ms)
			}
		})
	}
}

// TestMaliciousServer covers each way a server can misbehave.
func TestMaliciousServer(t *testing.T) {
	t.Run("withheld message shows a gap that clears", func(t *testing.T) {
		r := newRoom(t, ModeOnRecord, "envoy", "aide")
		a1 := r.make("aide", 2, "one")
		a2 := r.make("aide", 3, "two", a1.hash)
		a3 := r.make("aide", 4, "three", a2.hash)
		a4 := r.make("aide", 5, "four", a3.hash)
		r.mustAppend(a1)
		// a4 cites a3 which is withheld: a4 is held, and seq 2..3 missing.
		if st, err := r.append(a4); err != nil || st != Pending {
			t.Fatalf("status %v err %v", st, err)
		}
		ws := warningTexts(r.log)
		want := "2 messages from aide missing between 14:02 and 14:05"
		if len(ws) != 2 || ws[0] != want || !strings.Contains(ws[1], "#4 from aide") {
			t.Fatalf("warnings %q", ws)
		}
		r.mustAppend(a2)
		if ws := warningTexts(r.log); len(ws) != 2 || ws[0] != "1 message from aide missing between 14:03 and 14:05" {
			t.Fatalf("warnings %q", ws)
		}
		r.mustAppend(a3)
		if ws := warningTexts(r.log); len(ws) != 0 {
			t.Fatalf("warnings should clear, got %q", ws)
		}
		if r.log.Len() != 4 {
			t.Fatalf("len %d", r.log.Len())
		}
	})
	t.Run("withheld first message", func(t *testing.T) {
		r := newRoom(t, ModeOnRecord, "envoy")
		e1 := r.make("envoy", 1, "one")
		e2 := r.make("envoy", 3, "two")
		r.mustAppend(e2)
		if ws := warningTexts(r.log); len(ws) != 1 || ws[0] != "1 message from envoy missing before 14:03" {
			t.Fatalf("warnings %q", ws)
		}
		r.mustAppend(e1)
		if len(r.log.Warnings()) != 0 || len(r.log.Notices()) != 1 {
			t.Fatalf("warnings %v notices %v", r.log.Warnings(), r.log.Notices())
		}
	})
	t.Run("reordered delivery is accepted and noted", func(t *testing.T) {
		r := newRoom(t, ModeOnRecord, "envoy", "aide")
		a := r.make("envoy", 0, "a")
		b := r.make("aide", 1, "b", a.hash)
		if st, _ := r.append(b); st != Pending {
			t.Fatalf("b should wait for a, got %v", st)
		}
		r.mustAppend(a)
		if r.log.Len() != 2 || len(r.log.Warnings()) != 0 {
			t.Fatalf("len %d warnings %v", r.log.Len(), r.log.Warnings())
		}
		recs := r.log.Records()
		if recs[0].Hash != a.hash || recs[1].Hash != b.hash {
			t.Fatal("records must be in topological order")
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		r := newRoom(t, ModeOnRecord, "envoy")
		a := r.make("envoy", 0, "a")
		r.mustAppend(a)
		if _, err := r.append(a); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("err %v", err)
		}
		if r.log.Len() != 1 || len(r.log.Notices()) != 1 {
			t.Fatal("duplicate must be dropped and noted")
		}
	})
	t.Run("replayed sequence number with other content is a fork", func(t *testing.T) {
		r := newRoom(t, ModeOnRecord, "envoy")
		a := r.make("envoy", 0, "we agree")
		r.mustAppend(a)
		r.seq["envoy"] = 0
		fork := r.make("envoy", 1, "we disagree")
		if _, err := r.append(fork); !errors.Is(err, ErrEquivocation) {
			t.Fatalf("err %v", err)
		}
		ws := r.log.Warnings()
		if len(ws) != 1 || ws[0].Kind != WarnFork {
			t.Fatalf("warnings %v", ws)
		}
	})
	t.Run("entry from another room", func(t *testing.T) {
		r := newRoom(t, ModeOnRecord, "envoy")
		a := r.make("envoy", 0, "a")
		other := NewLog("room-2", ModeOnRecord, nil)
		_ = other.AddMember("envoy", r.keys["envoy"].Public().(ed25519.PublicKey))
		if _, err := other.Append(a.e, a.salt, a.content); !errors.Is(err, ErrWrongRoom) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("huge sequence number", func(t *testing.T) {
		r := newRoom(t, ModeOnRecord, "envoy")
		r.mustAppend(r.make("envoy", 1, "a"))
		r.seq["envoy"] = 1 << 62
		r.mustAppend(r.make("envoy", 2, "b"))
		ws := warningTexts(r.log)
		if len(ws) != 1 || !strings.HasPrefix(ws[0], "4611686018427387903 messages from envoy missing") {
			t.Fatalf("warnings %q", ws)
		}
	})
	t.Run("timestamps going backwards", func(t *testing.T) {
		r := newRoom(t, ModeOnRecord, "envoy")
		r.mustAppend(r.make("envoy", 10, "a"))
		r.mustAppend(r.make("envoy", 5, "b"))
		ws := r.log.Warnings()
		if len(ws) != 1 || ws[0].Kind != WarnClock || !strings.Contains(ws[0].Text, "before their message #1") {
			t.Fatalf("warnings %v", ws)
		}
	})
}

// TestForgedEntries: an attacker without the members' keys cannot get an
// entry accepted in an on-record room.
func TestForgedEntries(t *testing.T) {
	r := newRoom(t, ModeOnRecord, "envoy", "aide")
	mallory := testKey("mallory")
	cases := []struct {
		name  string
		build func() built
		want  error
	}{
		{"content swapped after signing", func() built {
			b := r.make("envoy", 0, "we agree")
			b.content = []byte("we refuse")
			return b
		}, ErrCommitment},
		{"commitment swapped after signing", func() built {
			b := r.make("envoy", 0, "we agree")
			b.salt = testSalt("other")
			b.content = []byte("we refuse")
			b.e.Commitment = Commit(b.salt, b.content)
			return b
		}, ErrBadSignature},
		{"signed with attacker key", func() built {
			b := r.make("envoy", 0, "we refuse")
			_ = b.e.Sign(mallory)
			return b
		}, ErrKeyMismatch},
		{"claims member key, signed by attacker", func() built {
			b := r.make("envoy", 0, "we refuse")
			b.e.Signature = ed25519.Sign(mallory, signedMessage(mustBody(t, b.e)))
			return b
		}, ErrBadSignature},
		{"unknown sender", func() built {
			r.keys["mallory"] = mallory
			return r.make("mallory", 0, "hi")
		}, ErrUnknownSender},
		{"time changed after signing", func() built {
			b := r.make("aide", 0, "x")
			b.e.Time = b.e.Time.Add(1)
			return b
		}, ErrBadSignature},
		{"truncated signature", func() built {
			b := r.make("aide", 0, "x")
			b.e.Signature = b.e.Signature[:10]
			return b
		}, ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := c.build()
			if _, err := r.append(b); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
	if r.log.Len() != 0 {
		t.Fatal("forged entries were stored")
	}
}

func mustBody(t *testing.T, e *Entry) []byte {
	b, err := e.Body()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeniableRejectsSignature(t *testing.T) {
	r := newRoom(t, ModeDeniable, "envoy")
	b := r.make("envoy", 0, "x")
	b.e.Signature = make([]byte, 64)
	if _, err := r.append(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err %v", err)
	}
	if err := b.e.Sign(r.keys["envoy"]); err == nil {
		t.Fatal("deniable entries must not be signable")
	}
}

func TestCompose(t *testing.T) {
	r := newRoom(t, ModeOnRecord, "envoy", "aide")
	for i, who := range []string{"envoy", "aide", "envoy"} {
		e, salt, err := r.log.Compose(who, r.keys[who], KindMessage, []byte("msg"), t0.Add(timeMinutes(i)))
		if err != nil {
			t.Fatal(err)
		}
		if st, err := r.log.Append(e, salt, []byte("msg")); err != nil || st != Accepted {
			t.Fatalf("%v %v", st, err)
		}
	}
	recs := r.log.Records()
	if recs[2].Entry.Seq != 2 || len(recs[2].Entry.Parents) != 1 || recs[2].Entry.Parents[0] != recs[1].Hash {
		t.Fatalf("compose did not link: %+v", recs[2].Entry)
	}
}
