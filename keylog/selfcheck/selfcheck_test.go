package selfcheck

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"backchannel/keylog/prefix"
	"backchannel/keylog/verify"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func hash(b byte) prefix.Hash {
	var h prefix.Hash
	h[0] = b
	return h
}

func entry(epoch uint64) prefix.Entry {
	return prefix.Entry{Epoch: epoch, Time: t0, Root: hash(1), Leaves: 1, ChangesRoot: prefix.Empty, Head: hash(byte(epoch + 3))}
}

// withEntry is a stored anchor that the reading of the entries continues from.
func withEntry(epoch uint64) *Anchor {
	e := entry(epoch)
	idx := hash(9)
	return &Anchor{Epoch: epoch, Head: e.Head[:], Updates: 2, Index: idx[:], Entry: e.Marshal(), Range: [][]byte{bytes.Repeat([]byte{7}, 32)}}
}

func TestDecodeAnchor(t *testing.T) {
	good, _ := json.Marshal(withEntry(4))
	short, _ := json.Marshal(Anchor{Epoch: 4, Head: []byte{1, 2}})
	cases := []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"stored", good, true},
		{"a head that is not a hash", short, false},
		{"not JSON", []byte("{"), false},
	}
	for _, c := range cases {
		a, err := DecodeAnchor(c.raw)
		if (err == nil) != c.ok || (c.ok && a.Epoch != 4) {
			t.Errorf("%s: %+v, %v", c.name, a, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "the stored key log anchor does not decode") {
			t.Errorf("%s: error %q", c.name, err)
		}
	}
}

func TestEntries(t *testing.T) {
	old := withEntry(4)
	old.Entry, old.Range = nil, nil
	cut := withEntry(4)
	cut.Entry = cut.Entry[1:]
	cases := []struct {
		name string
		a    *Anchor
		ok   bool
	}{
		{"none", nil, false},
		{"from before the entries were read", old, false},
		{"an entry of the wrong size", cut, false},
		{"with its entry", withEntry(4), true},
	}
	for _, c := range cases {
		ea, ok := c.a.Entries()
		if ok != c.ok || (ok && (ea.Epoch != 4 || !bytes.Equal(ea.Entry, c.a.Entry) || len(ea.Range) != 1)) {
			t.Errorf("%s: %+v, %v", c.name, ea, ok)
		}
	}
}

func TestQuick(t *testing.T) {
	noIndex := withEntry(4)
	noIndex.Index = nil
	noEntry := withEntry(4)
	noEntry.Entry = nil
	cases := []struct {
		name     string
		a        *Anchor
		lastFull time.Time
		ok       bool
	}{
		{"no anchor", nil, t0.Add(-time.Hour), false},
		{"no own index", noIndex, t0.Add(-time.Hour), false},
		{"no entry", noEntry, t0.Add(-time.Hour), false},
		{"no full check yet", withEntry(4), time.Time{}, false},
		{"full check recent", withEntry(4), t0.Add(-FullCheckInterval + time.Second), true},
		{"full check due", withEntry(4), t0.Add(-FullCheckInterval), false},
	}
	for _, c := range cases {
		start, ok := c.a.Quick(c.lastFull, t0)
		if ok != c.ok || (ok && start.Epoch != 4) {
			t.Errorf("%s: %+v, %v", c.name, start, ok)
		}
	}
}

func TestGossipDue(t *testing.T) {
	cases := []struct {
		name string
		a    *Anchor
		size uint64
		last time.Time
		want bool
	}{
		{"no anchor", nil, 10, time.Time{}, false},
		{"empty checkpoint", withEntry(4), 0, time.Time{}, false},
		{"up to the anchor", withEntry(4), 5, time.Time{}, false},
		{"past the anchor", withEntry(4), 6, time.Time{}, true},
		{"past, brought forward recently", withEntry(4), 6, t0.Add(-GossipScanInterval + time.Second), false},
		{"past, brought forward long ago", withEntry(4), 6, t0.Add(-GossipScanInterval), true},
	}
	for _, c := range cases {
		if got := c.a.GossipDue(c.size, c.last, t0); got != c.want {
			t.Errorf("%s: GossipDue %v, want %v", c.name, got, c.want)
		}
	}
}

func TestNextPage(t *testing.T) {
	cases := []struct {
		name          string
		from, through uint64
		next          uint64
		done, err     bool
	}{
		{"the last page", 5, 0, 0, true, false},
		{"capped", 5, 9, 9, false, false},
		{"does not advance", 5, 5, 0, false, true},
		{"goes back", 5, 3, 0, false, true},
	}
	for _, c := range cases {
		next, done, err := NextPage(c.from, c.through)
		if next != c.next || done != c.done || (err != nil) != c.err {
			t.Errorf("%s: %d %v %v", c.name, next, done, err)
		}
	}
}

func lookup(listedEpoch, lookupEpoch, updates uint64, leaf prefix.Hash) *verify.Result {
	return &verify.Result{Listed: entry(listedEpoch), Epoch: entry(lookupEpoch), Updates: updates, Leaf: leaf, Index: hash(9)}
}

func TestStart(t *testing.T) {
	old := withEntry(4)
	old.Entry, old.Range = nil, nil
	own := map[prefix.Hash]uint64{hash(50): 3}
	cases := []struct {
		name            string
		anc             *Anchor
		leaf            prefix.Hash
		from, seen      uint64
		first, legacy   bool
		frontier        bool
		anchorEpoch     uint64
		anchorUpdates   uint64
		anchorIsRecords bool // the stored anchor is kept as the one to judge by
	}{
		{"continues", withEntry(4), hash(50), 5, 0, false, false, false, 4, 2, true},
		{"first, own leaf", nil, hash(50), 7, 8, true, false, true, 7, 3, false},
		{"first, a leaf not known as own", nil, hash(51), 7, 8, true, false, true, 7, 0, false},
		{"from before the entries were read", old, hash(50), 0, 5, true, true, false, 4, 2, true},
	}
	for _, c := range cases {
		r := Start(c.anc, lookup(7, 9, 3, c.leaf), own)
		if r.From != c.from || r.Seen != c.seen || r.First != c.first || r.Legacy != c.legacy || r.Frontier != c.frontier {
			t.Errorf("%s: %+v", c.name, r)
		}
		if r.Anchor.Epoch != c.anchorEpoch || r.Anchor.Updates != c.anchorUpdates || (r.Anchor == c.anc) != c.anchorIsRecords {
			t.Errorf("%s: anchor %+v", c.name, r.Anchor)
		}
	}
	if r := Start(nil, lookup(7, 9, 3, hash(50)), own); !bytes.Equal(r.Anchor.Head, bytesOf(hash(10))) {
		t.Errorf("first anchor head %x, want the listed entry's", r.Anchor.Head)
	}
}

func TestEntryAnchor(t *testing.T) {
	old := withEntry(4)
	old.Entry, old.Range = nil, nil
	e0 := entry(0).Marshal()
	page := func(es ...verify.PageEntry) []*verify.EntriesPage {
		return []*verify.EntriesPage{{Entries: es}}
	}
	cases := []struct {
		name   string
		anc    *Anchor
		listed uint64
		pages  []*verify.EntriesPage
		epoch  uint64
		ok     bool
	}{
		{"continues from the stored one", withEntry(4), 7, nil, 4, true},
		{"first, no page", nil, 0, nil, 0, false},
		{"first, at epoch 0", nil, 0, page(), 0, true},
		{"first, the frontier missing", nil, 5, page(), 0, false},
		{"from before the entries: no entries", old, 7, page(), 0, false},
		{"from before the entries: epoch 0 without its entry", old, 7, page(verify.PageEntry{D: 1}), 0, false},
		{"from before the entries: epoch 0", old, 7, page(verify.PageEntry{E: e0}), 0, true},
	}
	for _, c := range cases {
		res := lookup(c.listed, 9, 3, hash(50))
		ea, err := Start(c.anc, res, nil).EntryAnchor(res, c.pages)
		if (err == nil) != c.ok || (c.ok && ea.Epoch != c.epoch) {
			t.Errorf("%s: %+v, %v", c.name, ea, err)
		}
	}
}

func TestNew(t *testing.T) {
	old := withEntry(4)
	old.Entry = nil
	r := Start(old, lookup(7, 9, 3, hash(50)), nil)
	got := r.New([]verify.Listing{{Epoch: 2}, {Epoch: 4}, {Epoch: 5}, {Epoch: 8}})
	if !slices.Equal(got, []verify.Listing{{Epoch: 5}, {Epoch: 8}}) {
		t.Errorf("new listings %v", got)
	}
	if al := r.WithheldAlert(); !strings.Contains(al, "after epoch 4 ") {
		t.Errorf("withheld alert %q", al)
	}
}

// TestJudge: each new listing of the own index must open to a state the
// account's devices published, with the change count growing from the
// anchor's, and the lookup may not show a state older than the last
// listing up to its epoch.
func TestJudge(t *testing.T) {
	own := map[prefix.Hash]uint64{hash(61): 3, hash(62): 4, hash(63): 5}
	l := func(epoch uint64, leaf byte) verify.Listing { return verify.Listing{Epoch: epoch, Leaf: hash(leaf)} }
	cases := []struct {
		name       string
		listings   []verify.Listing
		updates    uint64 // the lookup's, at epoch 9
		alerts     []string
		marks      []string
		lastUpdate uint64
	}{
		{"nothing new", nil, 2, nil, nil, 2},
		{"own, growing", []verify.Listing{l(5, 61), l(8, 62)}, 4, nil, []string{"", ""}, 4},
		{"one no device published", []verify.Listing{l(5, 61), l(6, 99)}, 3, []string{"none of your devices published, at epoch 6"}, []string{"", "none of your devices published it"}, 3},
		{"an older one again", []verify.Listing{l(5, 62), l(6, 61)}, 4, []string{"older version of your account again, at epoch 6"}, []string{"", "an older version listed again"}, 4},
		{"the same one again", []verify.Listing{l(5, 61), l(6, 61)}, 3, []string{"older version of your account again, at epoch 6 (change 3 after change 3)"}, []string{"", "an older version listed again"}, 3},
		{"the lookup's own epoch counts", []verify.Listing{l(5, 61), l(9, 62)}, 3, []string{"at epoch 9 (change 3, after change 4"}, []string{"", ""}, 4},
		{"the lookup shows an older state", []verify.Listing{l(5, 61), l(8, 62)}, 3, []string{"older version of your account at epoch 9 (change 3, after change 4"}, []string{"", ""}, 4},
		{"a listing after the lookup's epoch", []verify.Listing{l(5, 61), l(10, 63)}, 3, nil, []string{"", ""}, 5},
	}
	for _, c := range cases {
		anc := withEntry(4)
		r := Start(anc, lookup(7, 9, c.updates, hash(61)), own)
		e := entry(11)
		es := &verify.EntryScan{Anchor: verify.EntryAnchor{Epoch: 11, Entry: e.Marshal(), Range: [][]byte{{1}}}, Latest: e}
		j := r.Judge(es, c.listings, own, lookup(7, 9, c.updates, hash(61)))
		if len(j.Alerts) != len(c.alerts) {
			t.Errorf("%s: alerts %q", c.name, j.Alerts)
		}
		for i, w := range c.alerts {
			if i < len(j.Alerts) && !strings.Contains(j.Alerts[i], w) {
				t.Errorf("%s: alert %q does not say %q", c.name, j.Alerts[i], w)
			}
		}
		var marks []string
		for i, got := range j.Listings {
			marks = append(marks, got.Alert)
			if got.Epoch != c.listings[i].Epoch {
				t.Errorf("%s: listing %d of epoch %d", c.name, i, got.Epoch)
			}
		}
		if !slices.Equal(marks, c.marks) {
			t.Errorf("%s: marks %q, want %q", c.name, marks, c.marks)
		}
		if j.Anchor.Epoch != 11 || !bytes.Equal(j.Anchor.Head, e.Head[:]) || j.Anchor.Updates != c.lastUpdate || !bytes.Equal(j.Anchor.Index, bytesOf(hash(9))) || len(j.Anchor.Range) != 1 {
			t.Errorf("%s: next anchor %+v", c.name, j.Anchor)
		}
	}
}

func bytesOf(h prefix.Hash) []byte { return h[:] }

func TestAfter(t *testing.T) {
	a := withEntry(4)
	e := entry(12)
	next := a.After(&verify.EntryScan{Anchor: verify.EntryAnchor{Epoch: 12, Entry: e.Marshal(), Range: [][]byte{{2}}}, Latest: e})
	if next.Epoch != 12 || !bytes.Equal(next.Head, e.Head[:]) || next.Updates != a.Updates || !bytes.Equal(next.Index, a.Index) || !bytes.Equal(next.Entry, e.Marshal()) {
		t.Errorf("after %+v", next)
	}
}
