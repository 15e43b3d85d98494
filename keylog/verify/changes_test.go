package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"backchannel/devicelist"
	"backchannel/identity"
	"backchannel/keylog/prefix"
)

func (m *miniLog) index(name string) prefix.Hash {
	idx, _ := m.vrf.Prove(name)
	return idx
}

// impostorLeaf sets name's leaf to one committing to a list under another
// account key (what a compelled server shows some lookups), returning it.
func (m *miniLog) impostorLeaf(name string, updates uint64) prefix.Hash {
	m.tb.Helper()
	u, err := identity.UserFromSeed(m.bytes(32))
	must(m.tb, err)
	l, err := devicelist.Genesis(name, u, []devicelist.Entry{m.device(name, u, 1)}, t0)
	must(m.tb, err)
	c := prefix.Commitment(m.bytes(prefix.NonceSize), 1, l.Hash())
	m.setLeaf(m.index(name), updates, c)
	return prefix.LeafHash(m.index(name), updates, c)
}

// restoreLeaf sets name's leaf back to its real current state.
func (m *miniLog) restoreLeaf(name string) {
	a := m.accounts[name]
	m.setLeaf(m.index(name), a.updates, prefix.Commitment(a.nonce, a.version, a.list.Hash()))
}

func TestVerifyListed(t *testing.T) {
	m := standardLog(t)
	for _, tc := range []struct {
		name   string
		size   uint64
		listed uint64
	}{
		{"alice", 6, 3}, {"alice", 3, 0}, {"bob", 6, 0}, {"carol", 6, 1}, {"carol", 2, 1}, {"alice", 4, 3},
	} {
		r, err := Verify(m.trust(), tc.name, m.lookupAt(tc.name, tc.size), nil, m.consistency)
		if err != nil {
			t.Fatalf("%s at size %d: %v", tc.name, tc.size, err)
		}
		a := m.snaps[tc.size-1][tc.name]
		want := prefix.LeafHash(m.index(tc.name), a.updates, prefix.Commitment(a.nonce, a.version, a.list.Hash()))
		if r.Listed.Epoch != tc.listed || r.Leaf != want || !bytes.Equal(r.Nonce, a.nonce) {
			t.Fatalf("%s at size %d: listed at %d, want %d (leaf ok %v)", tc.name, tc.size, r.Listed.Epoch, tc.listed, r.Leaf == want)
		}
		if r.Listed.Head != m.entryAt(tc.listed).Head {
			t.Fatalf("%s: the listing entry's head is not entry %d's", tc.name, tc.listed)
		}
	}
}

// TestVerifyNotListed performs step 8's attacks on honest lookups.
func TestVerifyNotListed(t *testing.T) {
	m := standardLog(t)
	flip := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 1; return b }
	bob := m.lookup("bob") // listed at epoch 0, with alice: two changes
	if bob.Changed == nil || m.entryAt(0).Changes != 2 {
		t.Fatal("the standard log does not list two changes at epoch 0")
	}
	// A log that set alice's new leaf without listing it.
	hidden := newMiniLog(t, 1, "backchannel/keylog/example.org", 0)
	hidden.register("alice")
	hidden.publish()
	hidden.hide[hidden.index("alice")] = true
	hidden.addDevice("alice")
	hidden.publish()

	cases := []struct {
		name   string
		log    *miniLog
		user   string
		tamper func(l *Lookup)
		want   error
	}{
		{"no listing", m, "alice", func(l *Lookup) { l.Changed = nil }, ErrNotListed},
		{"listed after the lookup's epoch", m, "bob", func(l *Lookup) { l.Changed.Epoch = l.Epoch + 1 }, ErrNotListed},
		{"another position", m, "bob", func(l *Lookup) { l.Changed.Position ^= 1 }, ErrNotListed},
		{"negative position", m, "bob", func(l *Lookup) { l.Changed.Position = -1 }, ErrNotListed},
		{"position beyond k", m, "bob", func(l *Lookup) { l.Changed.Position = 2 }, ErrNotListed},
		{"tampered change proof", m, "bob", func(l *Lookup) { l.Changed.Path[0] = flip(l.Changed.Path[0]) }, ErrNotListed},
		{"change proof cut", m, "bob", func(l *Lookup) { l.Changed.Path = nil }, ErrNotListed},
		{"another epoch's entry", m, "alice", func(l *Lookup) {
			c := m.changed(listedAt{epoch: 1, pos: 0}, m.size())
			c.Epoch = 3
			l.Changed = c
		}, ErrInclusion},
		{"tampered listing entry", m, "alice", func(l *Lookup) { l.Changed.Entry = flip(l.Changed.Entry) }, ErrInclusion},
		{"listing entry of the wrong size", m, "alice", func(l *Lookup) { l.Changed.Entry = l.Changed.Entry[1:] }, ErrMalformed},
		{"short inclusion hash", m, "alice", func(l *Lookup) { l.Changed.Inclusion[0] = l.Changed.Inclusion[0][1:] }, ErrMalformed},
		{"change proof too long", m, "alice", func(l *Lookup) {
			l.Changed.Path = make([][]byte, MaxChangePath+1)
			for i := range l.Changed.Path {
				l.Changed.Path[i] = make([]byte, prefix.HashSize)
			}
		}, ErrMalformed},
		{"a leaf no epoch lists", hidden, "alice", func(*Lookup) {}, ErrNotListed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := clone(tc.log.lookup(tc.user))
			tc.tamper(l)
			_, err := Verify(tc.log.trust(), tc.user, l, nil, tc.log.consistency)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			// Through JSON too, as a client receives it.
			js, err := json.Marshal(l)
			must(t, err)
			dl, err := DecodeLookup(js)
			if err != nil {
				if !errors.Is(err, tc.want) || tc.want != ErrMalformed {
					t.Fatalf("DecodeLookup: %v, want %v", err, tc.want)
				}
				return // refused at decoding
			}
			if _, err := Verify(tc.log.trust(), tc.user, dl, nil, tc.log.consistency); !errors.Is(err, tc.want) {
				t.Fatalf("through JSON: got %v, want %v", err, tc.want)
			}
		})
	}
	// VerifyAt runs step 8 too.
	l := clone(m.lookupAt("alice", 3))
	if _, err := VerifyAt(m.trust(), "alice", l, *m.checkpoint(3)); err != nil {
		t.Fatal(err)
	}
	l.Changed = nil
	if _, err := VerifyAt(m.trust(), "alice", l, *m.checkpoint(3)); !errors.Is(err, ErrNotListed) {
		t.Fatalf("VerifyAt without a listing: %v", err)
	}
}

// alternating is the attack of issue 9: epochs 0–1 honest, epoch 2 shows an
// impostor's leaf for alice (to her peers), epoch 3 her real leaf again (to
// her), epoch 4 a heartbeat.
func alternating(t testing.TB) (m *miniLog, impostor prefix.Hash) {
	m = newMiniLog(t, 7, "backchannel/keylog/example.org", 0)
	m.register("alice")
	m.register("bob")
	m.publish()
	m.addDevice("alice")
	m.publish()
	impostor = m.impostorLeaf("alice", 3)
	m.publish()
	m.restoreLeaf("alice")
	m.publish()
	m.publish()
	return m, impostor
}

func TestScanChanges(t *testing.T) {
	m := standardLog(t)
	alice := m.index("alice")
	latest := m.entryAt(5)
	all := m.records(1, 5)
	if len(all) != 2 { // epochs 1 (carol) and 3 (alice)
		t.Fatalf("records %+v", all)
	}
	a0 := AnchorOf(m.entryAt(0))
	aliceLeaf := m.listed[alice].leaf

	// Honest scans.
	got, err := ScanChanges(a0, all, latest, alice)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Epoch != 3 || got[0].Leaf != aliceLeaf {
		t.Fatalf("listings %+v", got)
	}
	if got, err := ScanChanges(AnchorOf(latest), nil, latest, alice); err != nil || len(got) != 0 {
		t.Fatalf("scan from the latest epoch: %+v %v", got, err)
	}
	if got, err := ScanChanges(AnchorOf(m.entryAt(3)), nil, latest, alice); err != nil || len(got) != 0 {
		t.Fatalf("scan over heartbeats: %+v %v", got, err)
	}
	if got, err := ScanChanges(Anchor{Epoch: ^uint64(0), Head: prefix.Empty}, m.records(0, 5), latest, alice); err == nil {
		t.Fatalf("a scan whose anchor is after the latest epoch: %+v", got)
	}
	if got, err := ScanChanges(Anchor{Epoch: 0, Head: prefix.Empty}, m.records(0, 5), latest, alice); err == nil {
		t.Fatalf("epoch 0's record is not after an anchor at epoch 0: %+v", got)
	}

	deep := func(rs []Record) []Record {
		out := make([]Record, len(rs))
		for i, r := range rs {
			out[i] = Record{Epoch: r.Epoch, Changes: cloneHashes(r.Changes)}
		}
		return out
	}
	// A log whose epoch 1 lists two changes.
	two := newMiniLog(t, 3, "backchannel/keylog/example.org", 0)
	two.register("alice")
	two.register("bob")
	two.publish()
	two.addDevice("alice")
	two.register("carol")
	two.publish()
	pair := two.records(1, 1)
	if len(pair) != 1 || len(pair[0].Changes) != 2 {
		t.Fatalf("records %+v", pair)
	}
	if _, err := ScanChanges(AnchorOf(two.entryAt(0)), pair, two.entryAt(1), alice); err != nil {
		t.Fatal(err)
	}
	fewer := two.entryAt(1)
	fewer.Leaves = 1
	cases := []struct {
		name   string
		anchor Anchor
		recs   func() []Record
		latest prefix.Entry
	}{
		{"a record withheld", a0, func() []Record { return deep(all[:1]) }, latest},
		{"every record withheld", a0, func() []Record { return nil }, latest},
		{"a change altered", a0, func() []Record { r := deep(all); r[1].Changes[0][40] ^= 1; return r }, latest},
		{"a change added", a0, func() []Record {
			r := deep(all)
			r[0].Changes = append(r[0].Changes, bytes.Repeat([]byte{0xff}, prefix.ChangeSize))
			return r
		}, latest},
		{"records reordered", a0, func() []Record { r := deep(all); r[0], r[1] = r[1], r[0]; return r }, latest},
		{"a record twice", a0, func() []Record { r := deep(all); return append(r, r[1]) }, latest},
		{"a record beyond the latest epoch", a0, func() []Record { r := deep(all); return append(r, Record{Epoch: 9, Changes: r[1].Changes}) }, latest},
		{"a record at the anchor", AnchorOf(m.entryAt(1)), func() []Record { return deep(all) }, latest},
		{"a record added", AnchorOf(m.entryAt(3)), func() []Record { return []Record{{Epoch: 4, Changes: deep(all)[1].Changes}} }, latest},
		{"an empty record", a0, func() []Record { r := deep(all); return append(r[:1:1], Record{Epoch: 2}, r[1]) }, latest},
		{"an unsorted list", AnchorOf(two.entryAt(0)), func() []Record {
			r := deep(pair)
			r[0].Changes[0], r[0].Changes[1] = r[0].Changes[1], r[0].Changes[0]
			return r
		}, two.entryAt(1)},
		{"a change listed twice", AnchorOf(two.entryAt(0)), func() []Record {
			r := deep(pair)
			r[0].Changes[1] = r[0].Changes[0]
			return r
		}, two.entryAt(1)},
		{"a short change", a0, func() []Record { r := deep(all); r[0].Changes[0] = r[0].Changes[0][1:]; return r }, latest},
		{"more changes than accounts", AnchorOf(two.entryAt(0)), func() []Record { return deep(pair) }, fewer},
		{"the latest entry before the anchor", AnchorOf(m.entryAt(3)), func() []Record { return nil }, m.entryAt(1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ScanChanges(tc.anchor, tc.recs(), tc.latest, alice)
			if !errors.Is(err, ErrChanges) {
				t.Fatalf("got %+v, %v; want ErrChanges", got, err)
			}
		})
	}
}

func TestOwnListingAlerts(t *testing.T) {
	m, impostor := alternating(t)
	alice := m.accounts["alice"]
	idx := m.index("alice")
	latest := m.entryAt(4)
	// The owner's last check was at epoch 1 (after her version 2 was listed).
	got, err := ScanChanges(AnchorOf(m.entryAt(1)), m.records(2, 4), latest, idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Epoch != 2 || got[0].Leaf != impostor || got[1].Epoch != 3 {
		t.Fatalf("listings %+v", got)
	}
	published := func(v uint64) ([32]byte, bool) {
		for _, l := range alice.lists {
			if l.Version == v {
				return l.Hash(), true
			}
		}
		return [32]byte{}, false
	}
	states := []State{{Updates: 1, Version: 1, Nonce: m.snaps[0]["alice"].nonce}, {Updates: 2, Version: 2, Nonce: alice.nonce}}
	own := OwnLeaves(idx, states, published)
	if len(own) != 2 {
		t.Fatalf("own leaves %v", own)
	}
	// States that are not the owner's are left out.
	for _, s := range []State{
		{Updates: 3, Version: 2, Nonce: alice.nonce},     // a change the owner did not make
		{Updates: 5, Version: 5, Nonce: alice.nonce},     // a version its devices never published
		{Updates: 2, Version: 2, Nonce: alice.nonce[1:]}, // a malformed nonce
	} {
		if n := len(OwnLeaves(idx, []State{s}, published)); n != 0 {
			t.Fatalf("state %+v counted as the owner's", s)
		}
	}
	if Explained(got, own) {
		t.Fatal("the impostor's listing is explained by the owner's states")
	}
	if !Explained(got[1:], own) {
		t.Fatal("the owner's real leaf is not explained")
	}
	cases := []struct {
		name     string
		listings []Listing
		after    uint64
		want     []string
		last     uint64
	}{
		{"the attack", got, 2, []string{"none of your devices published, at epoch 2", "older version of your account again, at epoch 3"}, 2},
		{"an honest update", got[1:], 1, nil, 2},
		{"the first check", nil, 2, nil, 2},
		{"listed twice", []Listing{got[1], got[1]}, 1, []string{"again, at epoch 3 (change 2 after change 2)"}, 2},
		{"an older state", []Listing{{Epoch: 9, Leaf: prefix.LeafHash(idx, 1, prefix.Commitment(states[0].Nonce, 1, alice.lists[0].Hash()))}}, 2, []string{"again, at epoch 9 (change 1 after change 2)"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alerts, last := OwnListingAlerts(tc.listings, own, tc.after)
			if len(alerts) != len(tc.want) || last != tc.last {
				t.Fatalf("alerts %q last %d, want %d alerts, last %d", alerts, last, len(tc.want), tc.last)
			}
			for i, w := range tc.want {
				if !strings.Contains(alerts[i], w) {
					t.Fatalf("alert %d %q, want %q", i, alerts[i], w)
				}
			}
		})
	}
}

// A peer shown the impostor's epoch accepts its leaf only because it is
// listed; the owner's scan then sees that listing.
func TestAlternatingEpochsAreListed(t *testing.T) {
	m, impostor := alternating(t)
	// At size 3 (epoch 2), a peer's lookup of alice verifies (the impostor's
	// device list is not at hand here, so check the listing itself).
	e2 := m.entryAt(2)
	cs := m.changes[2]
	pos := -1
	for i, c := range cs {
		if c.Index == m.index("alice") && c.Leaf == impostor {
			pos = i
		}
	}
	if pos < 0 || !prefix.VerifyChange(cs[pos], pos, len(cs), prefix.ChangeProof(cs, pos), e2.ChangesRoot) {
		t.Fatal("the impostor's leaf is not listed at epoch 2")
	}
	// The owner, shown epoch 3 with her real leaf, verifies it.
	r, err := Verify(m.trust(), "alice", m.lookupAt("alice", 4), m.checkpoint(2), m.consistency)
	if err != nil {
		t.Fatal(err)
	}
	if r.Listed.Epoch != 3 {
		t.Fatalf("her real leaf listed at %d", r.Listed.Epoch)
	}
}

// latestOf is what GET /v1/keylog/changes?proof=1 adds, from a lookup.
func latestOf(l *Lookup) *LatestEntry {
	return &LatestEntry{Checkpoint: l.Checkpoint, Epoch: l.Epoch, Entry: l.Entry, Inclusion: l.Inclusion}
}

// TestVerifyLatest performs the attacks on the proof of the latest entry
// that the owner's periodic check verifies instead of a lookup.
func TestVerifyLatest(t *testing.T) {
	m := standardLog(t)
	fork := newMiniLog(t, 1, "backchannel/keylog/example.org", 0) // same keys, another history
	fork.register("alice")
	fork.register("mallory")
	for range 6 {
		fork.publish()
	}
	other := newMiniLog(t, 2, "backchannel/keylog/example.org", 0)
	other.register("alice")
	other.publish()
	flip := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)/2] ^= 1; return b }
	netErr := errors.New("timeout")
	cases := []struct {
		name        string
		prev        uint64 // the checkpoint the client holds (0: none)
		latest      func() *LatestEntry
		consistency func(from, to uint64) ([][]byte, error)
		want        error // nil: accepted
		evidence    bool
	}{
		{name: "first", latest: func() *LatestEntry { return latestOf(m.lookup("alice")) }},
		{name: "extends the one held", prev: 3, latest: func() *LatestEntry { return latestOf(m.lookup("alice")) }},
		{name: "the one held", prev: 6, latest: func() *LatestEntry { return latestOf(m.lookup("alice")) }},
		{name: "rolled back", prev: 6, latest: func() *LatestEntry { return latestOf(m.lookupAt("alice", 4)) }, want: ErrLogRollback, evidence: true},
		{name: "forked, same size", prev: 6, latest: func() *LatestEntry { return latestOf(fork.lookup("alice")) }, want: ErrLogFork, evidence: true},
		{name: "forked, larger, with the fork's proof", prev: 3, latest: func() *LatestEntry { return latestOf(fork.lookup("alice")) }, consistency: fork.consistency, want: ErrLogFork, evidence: true},
		{name: "another log key", latest: func() *LatestEntry { return latestOf(other.lookup("alice")) }, want: ErrSignature},
		{name: "signature tampered", latest: func() *LatestEntry {
			l := latestOf(m.lookup("alice"))
			l.Checkpoint = tamperSig(t, l.Checkpoint)
			return l
		}, want: ErrSignature},
		{name: "not the latest epoch", latest: func() *LatestEntry {
			l := latestOf(m.lookup("alice"))
			e := latestOf(m.lookupAt("alice", 4))
			l.Epoch, l.Entry = e.Epoch, e.Entry
			return l
		}, want: ErrNotLatest},
		{name: "entry altered", latest: func() *LatestEntry {
			l := latestOf(m.lookup("alice"))
			l.Entry = flip(l.Entry)
			return l
		}, want: ErrInclusion},
		{name: "another epoch's entry at the latest index", latest: func() *LatestEntry {
			l := latestOf(m.lookup("alice"))
			l.Entry = m.lookupAt("alice", 5).Entry
			return l
		}, want: ErrInclusion},
		{name: "inclusion proof altered", latest: func() *LatestEntry {
			l := latestOf(m.lookup("alice"))
			l.Inclusion = [][]byte{flip(l.Inclusion[0])}
			return l
		}, want: ErrInclusion},
		{name: "short entry", latest: func() *LatestEntry {
			l := latestOf(m.lookup("alice"))
			l.Entry = l.Entry[:10]
			return l
		}, want: ErrMalformed},
		{name: "nil", latest: func() *LatestEntry { return nil }, want: ErrMalformed},
		{name: "fetch fails", prev: 3, latest: func() *LatestEntry { return latestOf(m.lookup("alice")) }, consistency: func(uint64, uint64) ([][]byte, error) { return nil, netErr }, want: netErr},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var prev *Checkpoint
			if c.prev > 0 {
				prev = m.checkpoint(c.prev)
			}
			cons := c.consistency
			if cons == nil {
				cons = m.consistency
			}
			cp, e, err := VerifyLatest(m.trust(), c.latest(), prev, cons)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if cp.Size != m.size() || e != m.entryAt(m.size()-1) {
					t.Fatalf("checkpoint of size %d, entry %d", cp.Size, e.Epoch)
				}
				// Its head is the one the change lists fold into.
				if _, err := ScanChanges(AnchorOf(m.entryAt(0)), m.records(1, m.size()-1), e, m.index("alice")); err != nil {
					t.Fatalf("the lists do not fold into the verified head: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var ev *Evidence
			if errors.As(err, &ev) != c.evidence {
				t.Fatalf("evidence %v, want %v (%v)", ev != nil, c.evidence, err)
			}
		})
	}
}
