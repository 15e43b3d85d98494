package verify

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseCheckpoint: ParseCheckpoint never panics, and accepts only what
// the log really signed: a size it had, with the root it had at that size.
func FuzzParseCheckpoint(f *testing.F) {
	m := newMiniLog(f, 4, "backchannel/keylog/fuzz.example", 2)
	m.cosign = []int{1}
	m.register("alice")
	m.publish()
	m.register("bob")
	m.publish()
	m.publish()
	tr := m.trust() // quorum 1 of 2
	for _, n := range m.notes[1:] {
		f.Add(n)
	}
	f.Add(m.sign(m.body(2), 0, 1))
	f.Add(m.sign(m.body(2) + "extension\n"))
	f.Add([]byte(tamperSig(f, string(m.notes[2]))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, signed []byte) {
		cp, err := ParseCheckpoint(tr, signed)
		if err != nil {
			return
		}
		if cp.Origin != tr.Origin || cp.Size > m.size() || !bytes.Equal(cp.Root[:], m.log.HashAt(cp.Size)) || !bytes.Equal(cp.Note, signed) {
			t.Fatalf("accepted a checkpoint the log never signed: %+v", cp)
		}
	})
}

// FuzzVerify: DecodeLookup and Verify never panic on any JSON, any account
// and any previous checkpoint of the log, and a lookup that verifies gives a
// device list the log really committed to for that account.
func FuzzVerify(f *testing.F) {
	m := standardLog(f)
	tr := m.trust()
	prevs := []*Checkpoint{nil}
	for size := uint64(1); size <= m.size(); size++ {
		prevs = append(prevs, m.checkpoint(size))
	}
	consistency := func(from, to uint64) ([][]byte, error) {
		if from > to || to > m.size() {
			f.Errorf("consistency(%d, %d) asked beyond the log", from, to)
			return nil, nil
		}
		return m.consistency(from, to)
	}
	for _, name := range []string{"alice", "bob", "carol"} {
		for _, size := range []uint64{2, m.size()} {
			js, err := json.Marshal(m.lookupAt(name, size))
			must(f, err)
			f.Add(js, name, uint8(size-1))
			f.Add(js, name, uint8(0))
		}
	}
	f.Add([]byte(`{"checkpoint":"","epoch":0}`), "alice", uint8(0))
	f.Fuzz(func(t *testing.T, js []byte, account string, prev uint8) {
		l, err := DecodeLookup(js)
		if err != nil {
			return
		}
		r, err := Verify(tr, account, l, prevs[int(prev)%len(prevs)], consistency)
		if err != nil {
			return
		}
		a, ok := m.accounts[account]
		if !ok {
			t.Fatalf("verified a lookup for %q, an account the log does not hold", account)
		}
		for _, list := range a.lists {
			if bytes.Equal(list.Marshal(), r.DeviceList) {
				return
			}
		}
		t.Fatalf("verified a device list for %q that the log never committed to", account)
	})
}
