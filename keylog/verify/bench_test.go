package verify

import "testing"

// benchLog is a log a client meets after months: 100,000 accounts in the
// prefix tree, 2^17 epochs (three months at one a minute), alice with three
// devices, checkpoints cosigned by 2 of 2 witnesses.
func benchLog(b *testing.B) (m *miniLog, prev *Checkpoint, proof [][]byte) {
	m = newMiniLog(b, 5, "backchannel/keylog/bench.example", 2)
	m.cosign = []int{0, 1}
	m.register("alice")
	m.addDevice("alice")
	m.addDevice("alice")
	m.fill(100_000)
	m.pad(1<<17 - 61)
	prevSize := m.size() // an hour before the latest epoch
	m.pad(59)
	m.publish()
	prev = m.checkpoint(prevSize)
	proof, err := m.consistency(prevSize, m.size())
	must(b, err)
	return m, prev, proof
}

func BenchmarkVerify(b *testing.B) {
	m, prev, proof := benchLog(b)
	tr := m.trust()
	l := m.lookup("alice")
	cached := func(uint64, uint64) ([][]byte, error) { return proof, nil }
	b.Logf("log size %d, prefix path %d hashes, inclusion %d, consistency %d", m.size(), len(l.Path), len(l.Inclusion), len(proof))
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			if _, err := Verify(tr, "alice", l, nil, cached); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("an-hour-later", func(b *testing.B) {
		for b.Loop() {
			if _, err := Verify(tr, "alice", l, prev, cached); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCheckGossip(b *testing.B) {
	m, prev, proof := benchLog(b)
	tr := m.trust()
	latest := m.notes[m.size()]
	ours := *m.checkpoint(m.size())
	cached := func(uint64, uint64) ([][]byte, error) { return proof, nil }
	b.Run("same", func(b *testing.B) {
		for b.Loop() {
			if _, err := CheckGossip(tr, ours, latest, cached); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("larger", func(b *testing.B) {
		for b.Loop() {
			if _, err := CheckGossip(tr, *prev, latest, cached); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkScanChanges is the owner's daily fold: 1,440 epochs, 48 of them
// with a change list (of one to three changes) in a log of 500 accounts.
func BenchmarkScanChanges(b *testing.B) {
	m := newMiniLog(b, 6, "backchannel/keylog/bench.example", 0)
	m.register("alice")
	m.fill(500)
	m.publish()
	anchor := AnchorOf(m.entryAt(0))
	for i := range 1440 {
		if i%30 == 0 {
			m.fill(1 + i%3)
		}
		m.pad(1)
	}
	latest := m.entryAt(m.size() - 1)
	recs := m.records(1, latest.Epoch)
	idx := m.index("alice")
	b.Logf("%d records over %d epochs", len(recs), latest.Epoch)
	for b.Loop() {
		if _, err := ScanChanges(anchor, recs, latest, idx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanEntries is the owner's daily reading of every entry: the
// same day as BenchmarkScanChanges (1,440 epochs, 48 with changes), each
// rebuilt, checked and appended to the compact range, and the checkpoint.
func BenchmarkScanEntries(b *testing.B) {
	m := newMiniLog(b, 6, "backchannel/keylog/bench.example", 0)
	m.register("alice")
	m.fill(500)
	m.publish()
	anchor := m.anchorAt(0)
	for i := range 1440 {
		if i%30 == 0 {
			m.fill(1 + i%3)
		}
		m.pad(1)
	}
	pages := []*EntriesPage{m.page(1, m.size(), m.size(), false)}
	idx := m.index("alice")
	tr := m.trust()
	for b.Loop() {
		if _, err := ScanEntries(tr, anchor, pages, nil, idx); err != nil {
			b.Fatal(err)
		}
	}
}
