package transcript

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"
)

// testKey derives a deterministic identity key for name.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("backchannel transcript test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func testSalt(tag string) Salt {
	return Salt(sha256.Sum256([]byte("backchannel transcript test salt " + tag)))
}

var t0 = time.Date(2026, 3, 14, 14, 0, 0, 0, time.UTC)

// room is a test harness: a log with members and a way to build entries
// as each member would.
type room struct {
	t    *testing.T
	log  *Log
	keys map[string]ed25519.PrivateKey
	seq  map[string]uint64
}

func newRoom(t *testing.T, mode Mode, members ...string) *room {
	t.Helper()
	r := &room{t: t, log: NewLog("room-1", mode, nil), keys: map[string]ed25519.PrivateKey{}, seq: map[string]uint64{}}
	for _, m := range members {
		k := testKey(m)
		r.keys[m] = k
		if err := r.log.AddMember(m, k.Public().(ed25519.PublicKey)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

type built struct {
	e       *Entry
	salt    Salt
	content []byte
	hash    Hash
}

// make builds sender's next entry at minute min with the given parents.
func (r *room) make(sender string, min int, text string, parents ...Hash) built {
	r.t.Helper()
	r.seq[sender]++
	salt := testSalt(sender + text)
	e := &Entry{
		Mode: r.log.Mode(), Kind: KindMessage, Room: r.log.Room(), Sender: sender,
		SenderKey: r.keys[sender].Public().(ed25519.PublicKey), Seq: r.seq[sender],
		Time: t0.Add(time.Duration(min) * time.Minute), Parents: SortParents(parents),
		Commitment: Commit(salt, []byte(text)),
	}
	if e.Mode == ModeOnRecord {
		if err := e.Sign(r.keys[sender]); err != nil {
			r.t.Fatal(err)
		}
	}
	h, err := e.Hash()
	if err != nil {
		r.t.Fatal(err)
	}
	return built{e, salt, []byte(text), h}
}

func (r *room) append(b built) (Status, error) {
	return r.log.Append(b.e, b.salt, b.content)
}

func (r *room) mustAppend(b built) {
	r.t.Helper()
	if st, err := r.append(b); err != nil || st != Accepted {
		r.t.Fatalf("append %s #%d: status %v, err %v", b.e.Sender, b.e.Seq, st, err)
	}
}

func timeMinutes(i int) time.Duration { return time.Duration(i) * time.Minute }

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
