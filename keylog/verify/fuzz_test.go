package verify

import (
	"bytes"
	"encoding/json"
	"testing"

	"backchannel/keylog/prefix"
)

// FuzzParseCheckpoint: ParseCheckpoint never panics, and accepts only what
// the log really signed: a size it had, with the root it had at that size.
func FuzzParseCheckpoint(f *testing.F) {
	// The log's keys come from a fixed seed, so inputs the fuzzer cached in an
	// earlier run still carry valid signatures; the seed names the entry
	// format, so a checkpoint a harness of another format signed (for another
	// root at the same size) is not taken for one this log signed.
	m := newMiniLog(f, 4<<8|uint64(prefix.EntryFormat), "backchannel/keylog/fuzz.example", 2)
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

// FuzzScanChanges: ScanChanges never panics on any records, and accepts
// only the change lists the log really published since the anchor: the
// listings it returns are the log's own.
func FuzzScanChanges(f *testing.F) {
	m, _ := alternating(f)
	idx := m.index("alice")
	latest := m.entryAt(m.size() - 1)
	entries := make([]prefix.Entry, m.size())
	for i := range entries {
		entries[i] = m.entryAt(uint64(i))
	}
	honest := make([][]Record, m.size())
	for i := range honest {
		honest[i] = m.records(uint64(i)+1, latest.Epoch)
	}
	for from := uint64(0); from < m.size(); from++ {
		js, err := json.Marshal(m.records(from+1, latest.Epoch))
		must(f, err)
		f.Add(js, uint8(from))
	}
	f.Add([]byte(`[{"epoch":1,"changes":[]}]`), uint8(0))
	f.Add([]byte(`null`), uint8(4))
	f.Fuzz(func(t *testing.T, js []byte, from uint8) {
		var recs []Record
		if json.Unmarshal(js, &recs) != nil {
			return
		}
		a := int(from) % len(entries)
		anchor := AnchorOf(entries[a])
		got, err := ScanChanges(anchor, recs, latest, idx)
		if err != nil {
			return
		}
		want, err := ScanChanges(anchor, honest[a], latest, idx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("accepted lists with %d listings of alice, the log has %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("accepted listing %+v, the log has %+v", got[i], want[i])
			}
		}
	})
}

// FuzzVerifyLatest: the JSON of a changes?proof=1 reply's proof part never
// panics VerifyLatest, and an entry it accepts is the one the log holds at
// the latest index of a size it had.
func FuzzVerifyLatest(f *testing.F) {
	m := standardLog(f)
	tr := m.trust()
	prevs := []*Checkpoint{nil}
	entries := []prefix.Entry{}
	for size := uint64(1); size <= m.size(); size++ {
		b, _ := json.Marshal(latestOf(m.lookupAt("alice", size)))
		f.Add(b, uint8(size-1))
		prevs = append(prevs, m.checkpoint(size))
		entries = append(entries, m.entryAt(size-1))
	}
	f.Add([]byte(`{"checkpoint":"","epoch":0,"entry":null,"inclusion":null}`), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, prevSize uint8) {
		var l LatestEntry
		if json.Unmarshal(b, &l) != nil {
			return
		}
		prev := prevs[int(prevSize)%len(prevs)]
		cp, e, err := VerifyLatest(tr, &l, prev, m.consistency)
		if err != nil {
			return
		}
		if cp.Size == 0 || cp.Size > uint64(len(entries)) || e != entries[cp.Size-1] || (prev != nil && cp.Size < prev.Size) {
			t.Fatalf("accepted entry %d in a checkpoint of size %d the log did not hold", e.Epoch, cp.Size)
		}
	})
}
