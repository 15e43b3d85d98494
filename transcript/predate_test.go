package transcript

import (
	"crypto/ed25519"
	"testing"
)

// A member who joins later gets the state that added it, citing entries it
// will never receive: with Predate they count as present, and the sequence
// numbers before the join are not reported missing. A real gap after the
// join still is.
func TestPredateJoin(t *testing.T) {
	full := newRoom(t, ModeOnRecord, "alice", "bob")
	a1 := full.make("alice", 0, "before")
	b1 := full.make("bob", 1, "before too", a1.hash)
	join := full.make("alice", 2, "state adding dave", b1.hash)
	b2 := full.make("bob", 3, "after", join.hash)
	b3 := full.make("bob", 4, "withheld")
	b4 := full.make("bob", 5, "after the withheld one", b3.hash)

	dave := &room{t: t, log: NewLog("room-1", ModeOnRecord, nil), keys: full.keys, seq: map[string]uint64{}}
	for _, m := range []string{"alice", "bob"} {
		if err := dave.log.AddMember(m, full.keys[m].Public().(ed25519.PublicKey)); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := dave.append(join); err != nil || st != Pending {
		t.Fatalf("join without Predate: %v %v", st, err)
	}
	dave.log.Predate([]Hash{b1.hash}, []Floor{{"alice", full.keys["alice"].Public().(ed25519.PublicKey), 1}, {"bob", full.keys["bob"].Public().(ed25519.PublicKey), 1}})
	if dave.log.Len() != 1 {
		t.Fatalf("the join entry is still held: %d accepted", dave.log.Len())
	}
	dave.mustAppend(b2)
	if w := dave.log.Warnings(); len(w) != 0 {
		t.Fatalf("pre-join warnings: %+v", w)
	}
	if st, err := dave.append(b4); err != nil || st != Pending {
		t.Fatalf("b4: %v %v", st, err)
	}
	w := dave.log.Warnings()
	if len(w) != 2 || w[0].Kind != WarnGap || w[1].Kind != WarnPending {
		t.Fatalf("a real gap after the join must warn: %+v", w)
	}
}
