package verify

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

func TestCheckGossip(t *testing.T) {
	m := standardLog(t)
	fork := newMiniLog(t, 1, m.origin, 0) // the same keys and first three epochs
	fork.register("alice")
	fork.register("bob")
	fork.publish()
	fork.register("carol")
	fork.publish()
	fork.publish()
	fork.register("mallory")
	for range 4 {
		fork.publish()
	}
	netErr := errors.New("timeout")
	cases := []struct {
		name        string
		ours        uint64
		theirs      []byte
		consistency func(from, to uint64) ([][]byte, error)
		fetches     int
		want        error // nil: accepted
		evidence    bool
	}{
		{name: "same", ours: 6, theirs: m.notes[6]},
		{name: "same, first epoch", ours: 1, theirs: m.notes[1]},
		{name: "smaller", ours: 6, theirs: m.notes[3], fetches: 1},
		{name: "larger", ours: 3, theirs: m.notes[6], fetches: 1},
		{name: "larger by one", ours: 5, theirs: m.notes[6], fetches: 1},
		{name: "forked, same size", ours: 4, theirs: fork.notes[4], want: ErrLogFork, evidence: true},
		{name: "forked, smaller", ours: 6, theirs: fork.notes[4], fetches: 1, want: ErrLogFork, evidence: true},
		{name: "forked, larger, the fork's proof", ours: 4, theirs: fork.notes[7], consistency: fork.consistency, fetches: 1, want: ErrLogFork, evidence: true},
		{name: "forked, larger, our server's proof", ours: 2, theirs: fork.notes[6], fetches: 1, want: ErrLogFork, evidence: true},
		{name: "same prefix of a fork", ours: 6, theirs: fork.notes[3], fetches: 1}, // before the split: consistent
		{name: "signature tampered", ours: 6, theirs: []byte(tamperSig(t, string(m.notes[5]))), want: ErrSignature},
		{name: "another origin", ours: 6, theirs: m.sign(strings.Replace(m.body(5), m.origin, "backchannel/keylog/other", 1)), want: ErrSignature},
		{name: "garbage", ours: 6, theirs: []byte("hello\n"), want: ErrMalformed},
		{name: "fetch fails", ours: 3, theirs: m.notes[6], consistency: func(uint64, uint64) ([][]byte, error) { return nil, netErr }, fetches: 0, want: netErr},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ours := *m.checkpoint(c.ours)
			fetches := 0
			cons := c.consistency
			if cons == nil {
				cons = m.consistency
			}
			counted := func(from, to uint64) ([][]byte, error) { fetches++; return cons(from, to) }
			cp, err := CheckGossip(m.trust(), ours, c.theirs, counted)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(cp.Note, c.theirs) {
					t.Fatal("returned another checkpoint than theirs")
				}
			} else if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want != netErr && fetches != c.fetches {
				t.Fatalf("%d consistency fetches, want %d", fetches, c.fetches)
			}
			var ev *Evidence
			if errors.As(err, &ev) != c.evidence {
				t.Fatalf("evidence %v, want %v", ev, c.evidence)
			}
			if c.evidence && (!bytes.Equal(ev.Ours, ours.Note) || !bytes.Equal(ev.Theirs, c.theirs)) {
				t.Fatal("the evidence does not hold our note as Ours and theirs as Theirs")
			}
		})
	}
}

func TestWitnessQuorum(t *testing.T) {
	m := newMiniLog(t, 3, "backchannel/keylog/example.net", 3)
	m.register("alice")
	m.publish()
	body := m.body(1)
	w0, w1, w2 := m.wvkeys[0], m.wvkeys[1], m.wvkeys[2]
	w0cosig, err := fnote.VKeyToCosignatureV1(w0)
	must(t, err)
	w1plain, err := note.NewSigner(m.wskeys[1]) // Ed25519 note signature, not a cosignature
	must(t, err)
	witnessOnly, err := note.Sign(&note.Note{Text: body}, m.wsigners[0])
	must(t, err)
	dup := m.sign(body, 0)
	dup = append(dup, dup[bytes.LastIndex(dup[:len(dup)-1], []byte("\n"))+1:]...) // w0's line twice
	plain, err := note.Sign(&note.Note{Text: body}, m.signer, w1plain)
	must(t, err)
	cases := []struct {
		name      string
		witnesses []string
		quorum    int
		note      []byte
		ok        bool
		sentinel  bool // a failure wraps ErrSignature (else it is a configuration error)
	}{
		{"no witnesses, none required", nil, 0, m.sign(body), true, false},
		{"0 of 1", []string{w0}, 1, m.sign(body), false, true},
		{"1 of 1", []string{w0}, 1, m.sign(body, 0), true, false},
		{"1 of 2 with quorum 2", []string{w0, w1}, 2, m.sign(body, 0), false, true},
		{"2 of 2 with quorum 2", []string{w0, w1}, 2, m.sign(body, 1, 0), true, false},
		{"1 of 2 with quorum 1", []string{w0, w1}, 1, m.sign(body, 1), true, false},
		{"2 of 3 with quorum 2", []string{w0, w1, w2}, 2, m.sign(body, 0, 2), true, false},
		{"pinned quorum 0 ignores cosignatures", []string{w0}, 0, m.sign(body, 0), true, false},
		{"cosigned by an unpinned witness", []string{w0}, 1, m.sign(body, 1), false, true},
		{"one witness twice for quorum 2", []string{w0, w1}, 2, dup, false, true},
		{"pinned as a cosignature/v1 key", []string{w0cosig}, 1, m.sign(body, 0), true, false},
		{"plain Ed25519 signature by a witness", []string{w1}, 1, plain, false, true},
		{"cosignature tampered", []string{w0}, 1, []byte(tamperSig(t, string(m.sign(body, 0)))), false, true},
		{"witness but no log signature", []string{w0}, 1, witnessOnly, false, true},
		{"quorum above the witnesses", []string{w0}, 2, m.sign(body, 0), false, false},
		{"negative quorum", []string{w0}, -1, m.sign(body, 0), false, false},
		{"witness key garbage", []string{"not a key"}, 1, m.sign(body, 0), false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := m.trust()
			tr.Witnesses, tr.WitnessQuorum = c.witnesses, c.quorum
			cp, err := ParseCheckpoint(tr, c.note)
			if c.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
			if !c.ok && errors.Is(err, ErrSignature) != c.sentinel {
				t.Fatalf("err = %v, ErrSignature %v", err, c.sentinel)
			}
			if c.ok && cp.Size != 1 {
				t.Fatalf("size %d", cp.Size)
			}
		})
	}

	// A whole lookup under a 2-of-3 policy, with checkpoints cosigned as the log publishes them.
	m.cosign = []int{2, 0}
	m.addDevice("alice")
	m.publish()
	tr := m.trust()
	if tr.WitnessQuorum != 2 {
		t.Fatal(tr.WitnessQuorum)
	}
	if _, err := Verify(tr, "alice", m.lookup("alice"), nil, m.consistency); err != nil {
		t.Fatal(err)
	}
	tr.WitnessQuorum = 3
	if _, err := Verify(tr, "alice", m.lookup("alice"), nil, m.consistency); !errors.Is(err, ErrSignature) {
		t.Fatalf("2 cosignatures under a 3-of-3 policy: %v", err)
	}
}
