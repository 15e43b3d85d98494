package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"backchannel/keylog/prefix"
)

// publishUnbound publishes the next epoch as the hostile review's server
// does: its changes_root lists the pending changes, but its head is the
// previous epoch's and no change list is stored for it.
func (m *miniLog) publishUnbound() {
	m.tb.Helper()
	epoch := m.log.Size()
	prevHead := m.head
	cs := m.nextChanges(epoch)
	delete(m.changes, epoch)
	m.head = prevHead
	b := prefix.Entry{Epoch: epoch, Time: t0.Add(time.Duration(epoch) * time.Minute), Root: m.tree.Root(), Leaves: uint64(m.tree.Len()),
		Changes: uint32(len(cs)), ChangesRoot: prefix.ChangesRoot(cs), Head: prevHead}.Marshal()
	m.appendEntry(b)
}

// publishRaw appends an entry the test wrote.
func (m *miniLog) appendEntry(b []byte) {
	m.entries = append(m.entries, b)
	m.log.AppendData(b)
	m.trees = append(m.trees, m.tree)
	m.snaps = append(m.snaps, nil)
	m.notes = append(m.notes, m.sign(m.body(m.log.Size()), m.cosign...))
}

// frontier is the compact range of [0, n) of this log.
func (m *miniLog) frontier(n uint64) [][]byte {
	r := rangeFactory.NewEmptyRange(0)
	for i := range n {
		must(m.tb, r.Append(rfc6962.DefaultHasher.HashLeaf(m.entries[i]), nil))
	}
	return r.Hashes()
}

// anchorAt is the anchor of a scan that ended at epoch a.
func (m *miniLog) anchorAt(a uint64) EntryAnchor {
	return EntryAnchor{Epoch: a, Entry: bytes.Clone(m.entries[a]), Range: m.frontier(a + 1)}
}

// page is what GET /v1/keylog/entries serves for epochs from … to−1 when
// the log has size (Through set when to < size).
func (m *miniLog) page(from, to, size uint64, frontier bool) *EntriesPage {
	m.tb.Helper()
	p := &EntriesPage{Checkpoint: string(m.notes[size]), From: from, Entries: []PageEntry{}}
	if frontier {
		p.Frontier = m.frontier(from)
	}
	for e := from; e < to; e++ {
		en := m.entryAt(e)
		if en.Changes == 0 && e > 0 && !en.Time.Before(m.entryAt(e-1).Time) {
			p.Entries = append(p.Entries, PageEntry{D: int64(en.Time.Sub(m.entryAt(e-1).Time) / time.Second)})
			continue
		}
		pe := PageEntry{E: bytes.Clone(m.entries[e])}
		for _, c := range m.changes[e] {
			pe.C = append(pe.C, c.Bytes())
		}
		p.Entries = append(p.Entries, pe)
	}
	if to < size {
		p.Through = to
	}
	return p
}

func clonePage(p *EntriesPage) *EntriesPage {
	c := *p
	c.Frontier = cloneHashes(p.Frontier)
	c.Entries = make([]PageEntry, len(p.Entries))
	for i, e := range p.Entries {
		c.Entries[i] = PageEntry{D: e.D, E: bytes.Clone(e.E), C: cloneHashes(e.C)}
	}
	return &c
}

// TestScanEntriesHonest: from every anchor, in one page or two, with or
// without held checkpoints, the scan of an honest log passes and finds
// exactly the listings ScanChanges finds.
func TestScanEntriesHonest(t *testing.T) {
	m := standardLog(t)
	m.publish() // size 7: heartbeat
	alice := m.index("alice")
	tr := m.trust()
	size := m.size()
	latest := m.entryAt(size - 1)
	for a := uint64(0); a < size; a++ {
		want, err := ScanChanges(AnchorOf(m.entryAt(a)), m.records(a+1, size-1), latest, alice)
		must(t, err)
		cases := map[string][]*EntriesPage{"one page": {m.page(a+1, size, size, false)}}
		if a+2 < size {
			cases["two pages"] = []*EntriesPage{m.page(a+1, a+2, a+2, false), m.page(a+2, size, size, false)}
		}
		for name, pages := range cases {
			for _, held := range []*Checkpoint{nil, m.checkpoint(a + 1), m.checkpoint(size), m.checkpoint((a + 1 + size) / 2)} {
				s, err := ScanEntries(tr, m.anchorAt(a), pages, held, alice)
				if err != nil {
					t.Fatalf("anchor %d, %s, held %v: %v", a, name, held != nil, err)
				}
				if fmt.Sprint(s.Listings) != fmt.Sprint(want) {
					t.Fatalf("anchor %d: listings %+v, want %+v", a, s.Listings, want)
				}
				if s.Anchor.Epoch != size-1 || !bytes.Equal(s.Anchor.Entry, m.entries[size-1]) || fmt.Sprint(s.Anchor.Range) != fmt.Sprint(m.frontier(size)) {
					t.Fatalf("anchor %d: new anchor %+v", a, s.Anchor)
				}
				if s.Checkpoint.Size != size || s.Latest != latest {
					t.Fatalf("anchor %d: checkpoint %d, latest %+v", a, s.Checkpoint.Size, s.Latest)
				}
			}
		}
	}
	// The first anchor: alice's real leaf is listed at epoch 3 (the lookup's
	// changed.epoch U); the page starts at U with the frontier of [0, U).
	p := m.page(3, size, size, true)
	first, err := FirstAnchor(m.entries[3], p.Frontier)
	must(t, err)
	s, err := ScanEntries(tr, first, []*EntriesPage{p}, m.checkpoint(4), alice)
	must(t, err)
	if len(s.Listings) != 1 || s.Listings[0].Epoch != 3 {
		t.Fatalf("first scan listings %+v", s.Listings)
	}
	// A scan from the latest epoch reads an empty page.
	if _, err := ScanEntries(tr, m.anchorAt(size-1), []*EntriesPage{m.page(size, size, size, false)}, nil, alice); err != nil {
		t.Fatal(err)
	}
}

// TestScanEntriesUnboundHead is the hostile review's attack: epoch m lists
// an impostor's leaf in its changes_root but keeps head(m−1), epoch m+1
// restores the real leaf the same way, and no change list is stored. A
// peer's step 8 accepts the impostor; the head-only fold (ScanChanges)
// sees nothing; reading every entry catches epoch m.
func TestScanEntriesUnboundHead(t *testing.T) {
	m := standardLog(t) // size 6
	alice := m.index("alice")
	a := m.accounts["alice"]
	impostor := m.impostorLeaf("alice", a.updates+1)
	m.publishUnbound() // epoch 6
	m.restoreLeaf("alice")
	m.publishUnbound() // epoch 7
	m.publish()        // epoch 8, a heartbeat
	size := m.size()

	// The impostor's leaf is provably listed at epoch 6: a peer's step 8 passes.
	e6 := m.entryAt(6)
	cs := []prefix.Change{{Index: alice, Leaf: impostor}}
	if e6.ChangesRoot != prefix.ChangesRoot(cs) || !prefix.VerifyChange(cs[0], 0, 1, nil, e6.ChangesRoot) {
		t.Fatal("the attack does not list the impostor at epoch 6")
	}
	// The head-only fold passes: that was the hole.
	if _, err := ScanChanges(AnchorOf(m.entryAt(5)), m.records(6, size-1), m.entryAt(size-1), alice); err != nil {
		t.Fatalf("the head-only fold already catches it: %v", err)
	}
	// The server has no list to give for epochs 6 and 7: it serves none,
	// or the impostor's own (which the owner would see), or an empty one.
	p := m.page(6, size, size, false)
	for name, c := range map[string][][]byte{"no list": nil, "the real leaf": {prefix.Change{Index: alice, Leaf: m.listed[alice].leaf}.Bytes()}} {
		q := clonePage(p)
		q.Entries[0].C = c
		q.Entries[1].C = c
		_, err := ScanEntries(m.trust(), m.anchorAt(5), []*EntriesPage{q}, nil, alice)
		if !errors.Is(err, ErrChanges) || !strings.Contains(err.Error(), "epoch 6") {
			t.Fatalf("%s: %v, want ErrChanges naming epoch 6", name, err)
		}
	}
	// Serving the impostor's listing satisfies the list check, but not the head.
	q := clonePage(p)
	q.Entries[0].C = [][]byte{cs[0].Bytes()}
	q.Entries[1].C = [][]byte{prefix.Change{Index: alice, Leaf: m.listed[alice].leaf}.Bytes()}
	_, err := ScanEntries(m.trust(), m.anchorAt(5), []*EntriesPage{q}, nil, alice)
	if !errors.Is(err, ErrChanges) || !strings.Contains(err.Error(), "head of epoch 6") {
		t.Fatalf("impostor listed, head unbound: %v", err)
	}
}

// TestScanEntriesSilentRootChange: an epoch with k = 0 whose root changed
// (a leaf set without a listing) is an alarm, served as a full entry or as
// a time only.
func TestScanEntriesSilentRootChange(t *testing.T) {
	m := standardLog(t)
	alice := m.index("alice")
	m.hide[alice] = true
	m.impostorLeaf("alice", m.accounts["alice"].updates+1)
	m.publish() // epoch 6: root changed, k = 0
	delete(m.hide, alice)
	m.publish()
	size := m.size()
	if e := m.entryAt(6); e.Changes != 0 || e.Root == m.entryAt(5).Root {
		t.Fatalf("epoch 6: %+v", e)
	}
	p := m.page(6, size, size, false)
	full := clonePage(p)
	full.Entries[0] = PageEntry{E: bytes.Clone(m.entries[6])}
	_, err := ScanEntries(m.trust(), m.anchorAt(5), []*EntriesPage{full}, nil, alice)
	if !errors.Is(err, ErrChanges) || !strings.Contains(err.Error(), "epoch 6") {
		t.Fatalf("full entry: %v", err)
	}
	// As a time only, the owner rebuilds the old root: not the signed log.
	if _, err := ScanEntries(m.trust(), m.anchorAt(5), []*EntriesPage{p}, nil, alice); !errors.Is(err, ErrInclusion) {
		t.Fatalf("time only: %v", err)
	}
}

// TestScanEntriesTampered performs the server's other rewrites of a page.
func TestScanEntriesTampered(t *testing.T) {
	m := standardLog(t)
	m.publish()
	m.publish() // size 8: epochs 4 … 7 empty
	alice := m.index("alice")
	tr := m.trust()
	size := m.size()
	honest := m.page(1, size, size, false)
	if _, err := ScanEntries(tr, m.anchorAt(0), []*EntriesPage{honest}, nil, alice); err != nil {
		t.Fatal(err)
	}
	forged := m.sign(fmt.Sprintf("%s\n%d\n%s\n", m.origin, 5, b64(bytes.Repeat([]byte{7}, 32))))
	forgedCP, err := ParseCheckpoint(tr, forged)
	must(t, err)
	future := m.sign(fmt.Sprintf("%s\n%d\n%s\n", m.origin, size+3, b64(bytes.Repeat([]byte{8}, 32))))
	futureCP, err := ParseCheckpoint(tr, future)
	must(t, err)
	other := newMiniLog(t, 99, m.origin, 0)

	tests := []struct {
		name   string
		anchor func() EntryAnchor
		edit   func(p *EntriesPage)
		held   *Checkpoint
		want   error
	}{
		{"time of an empty epoch altered", nil, func(p *EntriesPage) { p.Entries[4].D++ }, nil, ErrInclusion},
		{"empty epoch dated before the previous", nil, func(p *EntriesPage) { p.Entries[4].D = -3600 }, nil, ErrChanges},
		{"empty epoch dropped", nil, func(p *EntriesPage) { p.Entries = append(p.Entries[:4], p.Entries[5:]...) }, nil, ErrInclusion},
		{"last epoch dropped", nil, func(p *EntriesPage) { p.Entries = p.Entries[:len(p.Entries)-1] }, nil, ErrInclusion},
		{"epoch with changes dropped", nil, func(p *EntriesPage) { p.Entries = append(p.Entries[:2], p.Entries[3:]...) }, nil, ErrInclusion},
		{"epoch with changes dropped before another", nil, func(p *EntriesPage) {
			p.Entries = append(p.Entries[:1], p.Entries[2:]...)
			p.Entries = append(p.Entries[:0], p.Entries[1:]...)
		}, nil, ErrChanges},
		{"epochs reordered", nil, func(p *EntriesPage) { p.Entries[0], p.Entries[2] = p.Entries[2], p.Entries[0] }, nil, ErrChanges},
		{"an empty and a full epoch swapped", nil, func(p *EntriesPage) { p.Entries[2], p.Entries[4] = p.Entries[4], p.Entries[2] }, nil, ErrChanges},
		{"epoch added", nil, func(p *EntriesPage) { p.Entries = append(p.Entries, PageEntry{D: 60}) }, nil, ErrInclusion},
		{"change list altered", nil, func(p *EntriesPage) { p.Entries[0].C[0][40] ^= 1 }, nil, ErrChanges},
		{"change list withheld", nil, func(p *EntriesPage) { p.Entries[2].C = nil }, nil, ErrChanges},
		{"entry sent as a time", nil, func(p *EntriesPage) { p.Entries[2] = PageEntry{D: 60} }, nil, ErrInclusion},
		{"time and entry", nil, func(p *EntriesPage) { p.Entries[2].D = 1 }, nil, ErrChanges},
		{"empty epoch as a full entry with a list", nil, func(p *EntriesPage) {
			e := m.entryAt(5)
			p.Entries[4] = PageEntry{E: e.Marshal(), C: [][]byte{make([]byte, 64)}}
		}, nil, ErrChanges},
		{"empty epoch as a full entry", nil, func(p *EntriesPage) { p.Entries[6] = PageEntry{E: m.entryAt(7).Marshal()} }, nil, nil},
		{"list without entry", nil, func(p *EntriesPage) { p.Entries[4].C = [][]byte{make([]byte, 64)} }, nil, ErrChanges},
		{"page starts late", nil, func(p *EntriesPage) { p.From = 2; p.Entries = p.Entries[1:] }, nil, ErrChanges},
		{"through lies", nil, func(p *EntriesPage) { p.Through = 3 }, nil, ErrChanges},
		{"checkpoint of another log", nil, func(p *EntriesPage) { p.Checkpoint = string(other.sign(other.body(0))) }, nil, ErrSignature},
		{"forged frontier", func() EntryAnchor { a := m.anchorAt(0); a.Range = [][]byte{bytes.Repeat([]byte{1}, 32)}; return a }, nil, nil, ErrInclusion},
		{"frontier of the wrong size", func() EntryAnchor { a := m.anchorAt(0); a.Range = m.frontier(3); return a }, nil, nil, ErrMalformed},
		{"anchor entry of another epoch", func() EntryAnchor { a := m.anchorAt(0); a.Entry = m.entries[1]; return a }, nil, nil, ErrMalformed},
		{"held checkpoint of a fork", nil, nil, &forgedCP, ErrLogFork},
		{"held checkpoint larger: rollback", nil, nil, &futureCP, ErrLogRollback},
	}
	for _, tt := range tests {
		p := clonePage(honest)
		if tt.edit != nil {
			tt.edit(p)
		}
		anchor := m.anchorAt(0)
		if tt.anchor != nil {
			anchor = tt.anchor()
		}
		_, err := ScanEntries(tr, anchor, []*EntriesPage{p}, tt.held, alice)
		if tt.want == nil && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
		var ev *Evidence
		if (tt.want == ErrLogFork || tt.want == ErrLogRollback) && (!errors.As(err, &ev) || len(ev.Ours) == 0 || len(ev.Theirs) == 0) {
			t.Errorf("%s: no evidence: %v", tt.name, err)
		}
	}

	// The first anchor's frontier forged, or a first page that does not
	// start with the anchor's entry.
	p := m.page(3, size, size, true)
	bad := cloneHashes(p.Frontier)
	bad[0][0] ^= 1
	first, err := FirstAnchor(m.entries[3], bad)
	must(t, err)
	if _, err := ScanEntries(tr, first, []*EntriesPage{p}, nil, alice); !errors.Is(err, ErrInclusion) {
		t.Errorf("forged first frontier: %v", err)
	}
	first, err = FirstAnchor(m.entries[3], p.Frontier)
	must(t, err)
	q := clonePage(p)
	q.Entries[0].E[20] ^= 1
	if _, err := ScanEntries(tr, first, []*EntriesPage{q}, nil, alice); !errors.Is(err, ErrChanges) {
		t.Errorf("first entry not the anchor's: %v", err)
	}
	if _, err := FirstAnchor(m.entries[3], m.frontier(2)); !errors.Is(err, ErrMalformed) {
		t.Errorf("first frontier of the wrong size: %v", err)
	}
	// Two pages whose first checkpoint is of a fork at its size.
	p1 := m.page(1, 3, 3, false)
	p1.Checkpoint = string(m.sign(fmt.Sprintf("%s\n%d\n%s\n", m.origin, 3, b64(bytes.Repeat([]byte{9}, 32)))))
	if _, err := ScanEntries(tr, m.anchorAt(0), []*EntriesPage{p1, m.page(3, size, size, false)}, nil, alice); !errors.Is(err, ErrLogFork) {
		t.Errorf("first page's checkpoint forked: %v", err)
	}
	// A page whose checkpoint is of the held size with another root.
	pf := m.page(8, size, size, false)
	pf.Checkpoint = string(m.sign(fmt.Sprintf("%s\n%d\n%s\n", m.origin, size, b64(bytes.Repeat([]byte{9}, 32)))))
	if _, err := ScanEntries(tr, m.anchorAt(size-1), []*EntriesPage{pf}, m.checkpoint(size), alice); !errors.Is(err, ErrLogFork) {
		t.Errorf("page checkpoint forked at the held size: %v", err)
	}
	// A later page whose checkpoint is smaller than an earlier one's.
	if _, err := ScanEntries(tr, m.anchorAt(0), []*EntriesPage{m.page(1, 3, size, false), m.page(3, 5, 5, false)}, nil, alice); !errors.Is(err, ErrLogRollback) {
		t.Errorf("second page rolled back: %v", err)
	}
}

// FuzzScanEntries: no page panics ScanEntries, and a page it accepts from
// an honest anchor yields the honest log's new anchor and listings.
func FuzzScanEntries(f *testing.F) {
	m, _ := alternating(f)
	m.publish()
	alice := m.index("alice")
	tr := m.trust()
	size := m.size()
	type want struct {
		listings string
		anchor   EntryAnchor
	}
	wants := make([]want, size)
	anchors := make([]EntryAnchor, size)
	for a := uint64(0); a < size; a++ {
		anchors[a] = m.anchorAt(a)
		s, err := ScanEntries(tr, m.anchorAt(a), []*EntriesPage{m.page(a+1, size, size, false)}, nil, alice)
		must(f, err)
		wants[a] = want{fmt.Sprint(s.Listings), s.Anchor}
		js, err := json.Marshal(m.page(a+1, size, size, a%2 == 0))
		must(f, err)
		f.Add(js, uint8(a))
	}
	f.Add([]byte(`{"checkpoint":"","from":1,"entries":[{"d":1},{"e":"AA=="}]}`), uint8(0))
	f.Fuzz(func(t *testing.T, js []byte, from uint8) {
		p, err := DecodeEntriesPage(js)
		if err != nil {
			return
		}
		a := uint64(from) % size
		s, err := ScanEntries(tr, anchors[a], []*EntriesPage{p}, nil, alice)
		if err != nil {
			return
		}
		w := wants[a]
		// A first page may start at the anchor's own epoch (the first check
		// does, to read the listing there): its listing comes back too, and
		// is not news.
		var after []Listing
		for _, l := range s.Listings {
			if l.Epoch != anchors[a].Epoch {
				after = append(after, l)
			}
		}
		if fmt.Sprint(after) != w.listings || s.Anchor.Epoch != w.anchor.Epoch || !bytes.Equal(s.Anchor.Entry, w.anchor.Entry) {
			t.Fatalf("accepted a page the log did not serve: %+v", s)
		}
		// FirstAnchor never panics on these bytes either.
		for _, e := range p.Entries {
			_, _ = FirstAnchor(e.E, p.Frontier)
		}
	})
}
