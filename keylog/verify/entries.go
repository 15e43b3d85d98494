package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"backchannel/keylog/prefix"
)

// The owner's reading of every entry of the log (docs/protocol.md section
// 16, "Self-monitoring", "Reading every entry"): GET /v1/keylog/entries
// serves every epoch after the owner's anchor, an empty epoch as its time
// only, and the owner rebuilds each entry, checks it against the previous
// one and its change list, and appends it to the RFC 6962 compact range of
// the log, whose root must be the signed checkpoint's. Nothing the server
// could publish escapes it: an entry whose head does not follow from its
// own k and changes_root, a root change in an epoch that lists nothing, a
// dropped, added or reordered epoch all fail.

// Limits of a page of entries.
const (
	// MaxEntriesPage is the most epochs one page of GET /v1/keylog/entries
	// carries; the server sets Through and the client continues from it.
	MaxEntriesPage = 20_000
	// MaxEntriesPageSize bounds the JSON of one page (decompressed).
	MaxEntriesPageSize = 64 << 20
	// MaxFrontier bounds a compact range: one hash per bit of a size.
	MaxFrontier = 64
)

// EntryAnchor is where an owner's reading of the entries stands: the last
// epoch it checked, that epoch's entry, and the RFC 6962 compact range of
// the log's leaves [0, Epoch+1) (the perfect-subtree hashes of Epoch+1's
// binary decomposition, largest first). The vault keeps it between scans.
type EntryAnchor struct {
	Epoch uint64
	Entry []byte   // prefix.EntrySize bytes: the entry of Epoch
	Range [][]byte // compact range of [0, Epoch+1)
}

// PageEntry is one epoch of a page: D alone (E empty) for an epoch with
// k = 0, whose entry the owner rebuilds from the previous one (D is its
// time minus the previous entry's, in seconds: a heartbeat costs a byte or
// two after compression), or E, the full entry, with C, its change list
// (prefix.ChangeSize bytes each).
type PageEntry struct {
	D int64    `json:"d,omitempty"`
	E []byte   `json:"e,omitempty"`
	C [][]byte `json:"c,omitempty"`
}

// EntriesPage is the JSON of GET /v1/keylog/entries?from=F[&frontier=1]:
// the latest signed checkpoint (size S), with frontier=1 the compact range
// of [0, F), and the epochs From … S−1, or From … Through−1 when the page
// is capped at MaxEntriesPage epochs (Through is then the next from).
type EntriesPage struct {
	Checkpoint string      `json:"checkpoint"`
	From       uint64      `json:"from"`
	Frontier   [][]byte    `json:"frontier,omitempty"`
	Entries    []PageEntry `json:"entries"`
	Through    uint64      `json:"through,omitempty"`
}

// EntryScan is what ScanEntries verified.
type EntryScan struct {
	Anchor     EntryAnchor // the new anchor: the latest epoch, to store
	Checkpoint Checkpoint  // the last page's checkpoint, verified, to store
	Latest     prefix.Entry
	Listings   []Listing // the changes of the owner's index, in order
}

// DecodeEntriesPage decodes one page strictly: one object of at most
// MaxEntriesPageSize bytes, no unknown fields, nothing after it, at most
// MaxEntriesPage entries and MaxFrontier frontier hashes. The entries
// themselves are checked by ScanEntries.
func DecodeEntriesPage(b []byte) (*EntriesPage, error) {
	if len(b) > MaxEntriesPageSize {
		return nil, fmt.Errorf("%w: page of entries of %d bytes, at most %d", ErrMalformed, len(b), MaxEntriesPageSize)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var p EntriesPage
	if err := d.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: page of entries: %v", ErrMalformed, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: page of entries: data after the object", ErrMalformed)
	}
	if len(p.Entries) > MaxEntriesPage || len(p.Frontier) > MaxFrontier {
		return nil, fmt.Errorf("%w: page of %d entries and %d frontier hashes", ErrMalformed, len(p.Entries), len(p.Frontier))
	}
	return &p, nil
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// FirstAnchor makes the owner's first anchor from entry U (raw, verified
// in the log at index U by the lookup's step 8) and frontier, the compact
// range of [0, U) the server sent with frontier=1. The frontier is only
// checked by the scan that follows: its root must come out as the signed
// checkpoint's.
func FirstAnchor(raw []byte, frontier [][]byte) (EntryAnchor, error) {
	e, err := prefix.ParseEntry(raw)
	if err != nil {
		return EntryAnchor{}, fmt.Errorf("%w: anchor entry: %v", ErrMalformed, err)
	}
	if err := hashes("frontier", frontier, MaxFrontier); err != nil {
		return EntryAnchor{}, err
	}
	r, err := rangeFactory.NewRange(0, e.Epoch, copyHashes(frontier))
	if err != nil {
		return EntryAnchor{}, fmt.Errorf("%w: frontier of [0, %d): %v", ErrMalformed, e.Epoch, err)
	}
	if err := r.Append(rfc6962.DefaultHasher.HashLeaf(raw), nil); err != nil {
		return EntryAnchor{}, fmt.Errorf("%w: frontier: %v", ErrMalformed, err)
	}
	return EntryAnchor{Epoch: e.Epoch, Entry: bytes.Clone(raw), Range: r.Hashes()}, nil
}

// ScanEntries reads pages (in the order fetched, each continuing the
// previous one) from anchor and checks every epoch after the anchor's:
// its epoch is the previous one's plus one and its time not earlier; an
// epoch with k = 0 keeps the previous root, leaf count and head (a root
// change that lists nothing is ErrChanges: a silent leaf change); an epoch
// with k > 0 carries exactly k well-formed changes, sorted, whose
// ChangesRoot is its changes_root, and its head is prefix.HeadHash of the
// previous head, its epoch, k and changes_root (ErrChanges otherwise). The
// first page may also start at the anchor's epoch (a first anchor from
// FirstAnchor); that entry must then be the anchor's own.
//
// Every entry's leaf hash is appended to the anchor's compact range. The
// last page must end at its checkpoint's size S, and the range's root at
// S must be that checkpoint's (verified under t: ErrSignature,
// ErrMalformed), else ErrInclusion: the entries served are not the log's.
// Every other page's checkpoint and held (the last checkpoint the client
// holds, or nil) must have, at their sizes within the range, the range's
// root there (ErrLogFork with Evidence), and none may be larger than S
// (ErrLogRollback with Evidence). It returns the new anchor, the last
// checkpoint and entry, and the listings of own.
func ScanEntries(t Trust, anchor EntryAnchor, pages []*EntriesPage, held *Checkpoint, own prefix.Hash) (*EntryScan, error) {
	if len(pages) == 0 {
		return nil, fmt.Errorf("%w: no page of entries", ErrMalformed)
	}
	prev, err := prefix.ParseEntry(anchor.Entry)
	if err != nil || prev.Epoch != anchor.Epoch {
		return nil, fmt.Errorf("%w: the anchor entry is not of epoch %d", ErrMalformed, anchor.Epoch)
	}
	if anchor.Epoch == ^uint64(0) {
		return nil, fmt.Errorf("%w: anchor epoch %d", ErrMalformed, anchor.Epoch)
	}
	if err := hashes("anchor range", anchor.Range, MaxFrontier); err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, anchor.Epoch+1, copyHashes(anchor.Range))
	if err != nil {
		return nil, fmt.Errorf("%w: anchor range of [0, %d): %v", ErrMalformed, anchor.Epoch+1, err)
	}
	// The checkpoints to hold against the range, by size.
	cps := make([]Checkpoint, 0, len(pages)+1)
	if held != nil {
		cps = append(cps, *held)
	}
	for i, p := range pages {
		if p == nil {
			return nil, fmt.Errorf("%w: page %d is missing", ErrMalformed, i)
		}
		cp, err := ParseCheckpoint(t, []byte(p.Checkpoint))
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", i, err)
		}
		cps = append(cps, cp)
	}
	last := cps[len(cps)-1]
	for i, a := range cps {
		for _, b := range cps[i+1:] {
			if a.Size == b.Size && a.Root != b.Root {
				return nil, &Evidence{Ours: bytes.Clone(a.Note), Theirs: bytes.Clone(b.Note),
					Err: fmt.Errorf("%w: two roots at size %d", ErrLogFork, a.Size)}
			}
		}
	}
	for _, cp := range cps[:len(cps)-1] {
		if cp.Origin != last.Origin {
			return nil, fmt.Errorf("%w: checkpoints of two origins, %q and %q", ErrMalformed, cp.Origin, last.Origin)
		}
		if cp.Size > last.Size {
			return nil, &Evidence{Ours: bytes.Clone(cp.Note), Theirs: bytes.Clone(last.Note),
				Err: fmt.Errorf("%w: the log has size %d, a checkpoint of size %d was seen before", ErrLogRollback, last.Size, cp.Size)}
		}
	}
	// check holds every checkpoint of the current size to the range's root.
	check := func() error {
		size := r.End()
		var root []byte
		for _, cp := range cps {
			if cp.Size != size {
				continue
			}
			if root == nil {
				if root, err = r.GetRootHash(nil); err != nil {
					return fmt.Errorf("%w: range root at %d: %v", ErrMalformed, size, err)
				}
			}
			if !bytes.Equal(root, cp.Root[:]) {
				if cp.Size == last.Size && bytes.Equal(cp.Note, last.Note) {
					return fmt.Errorf("%w: the entries served up to epoch %d do not make the signed log of size %d (an entry was dropped, added, reordered or altered)", ErrInclusion, size-1, size)
				}
				return &Evidence{Ours: bytes.Clone(cp.Note), Theirs: bytes.Clone(last.Note),
					Err: fmt.Errorf("%w: two logs at size %d: a checkpoint seen before and the entries leading to the latest", ErrLogFork, size)}
			}
		}
		return nil
	}
	if err := check(); err != nil {
		return nil, err
	}
	prevRaw := bytes.Clone(anchor.Entry)
	var out []Listing
	next := anchor.Epoch + 1
	for pi, p := range pages {
		if p.From != next && !(pi == 0 && p.From == anchor.Epoch) {
			return nil, fmt.Errorf("%w: page %d starts at epoch %d, epoch %d expected", ErrChanges, pi, p.From, next)
		}
		if len(p.Entries) > MaxEntriesPage {
			return nil, fmt.Errorf("%w: page %d of %d entries", ErrMalformed, pi, len(p.Entries))
		}
		ents := p.Entries
		if p.From == anchor.Epoch && pi == 0 {
			// The anchor's own entry, in either form (an empty epoch as its time).
			// (The empty form's D is relative to an entry the owner does not
			// hold; the anchor's entry is known, so D says nothing here.)
			if len(ents) == 0 || (len(ents[0].E) == 0 && (prev.Changes != 0 || len(ents[0].C) != 0)) ||
				(len(ents[0].E) != 0 && (ents[0].D != 0 || !bytes.Equal(ents[0].E, anchor.Entry))) {
				return nil, fmt.Errorf("%w: the first entry is not the anchor's, of epoch %d", ErrChanges, anchor.Epoch)
			}
			cs, err := parseChanges(prev, ents[0].C)
			if err != nil {
				return nil, err
			}
			out = appendOwn(out, prev.Epoch, cs, own)
			ents = ents[1:]
		}
		for _, pe := range ents {
			e, raw, cs, err := rebuild(prev, prevRaw, pe)
			if err != nil {
				return nil, err
			}
			out = appendOwn(out, e.Epoch, cs, own)
			if err := r.Append(rfc6962.DefaultHasher.HashLeaf(raw), nil); err != nil {
				return nil, fmt.Errorf("%w: range: %v", ErrMalformed, err)
			}
			if r.End() > last.Size {
				return nil, fmt.Errorf("%w: entries beyond the signed log of size %d", ErrInclusion, last.Size)
			}
			if err := check(); err != nil {
				return nil, err
			}
			prev, prevRaw = e, raw
		}
		next = prev.Epoch + 1
		end := p.Through
		if end == 0 {
			end = next
		}
		if end != next {
			return nil, fmt.Errorf("%w: page %d says it ends before epoch %d but its entries end before %d", ErrChanges, pi, end, next)
		}
	}
	if r.End() != last.Size {
		return nil, fmt.Errorf("%w: the entries end before epoch %d, the signed log has size %d", ErrInclusion, r.End(), last.Size)
	}
	return &EntryScan{
		Anchor:     EntryAnchor{Epoch: prev.Epoch, Entry: prevRaw, Range: r.Hashes()},
		Checkpoint: last,
		Latest:     prev,
		Listings:   out,
	}, nil
}

// maxHeartbeatGap bounds D: a server down longer than ten years is not a
// heartbeat (and the sum stays far from overflowing).
const maxHeartbeatGap = 10 * 366 * 24 * 3600

// rebuild checks one epoch against the previous entry and returns its
// entry, its bytes and its changes.
func rebuild(prev prefix.Entry, prevRaw []byte, pe PageEntry) (prefix.Entry, []byte, []prefix.Change, error) {
	epoch := prev.Epoch + 1
	var e prefix.Entry
	var raw []byte
	if len(pe.E) == 0 {
		if len(pe.C) != 0 {
			return e, nil, nil, fmt.Errorf("%w: epoch %d: a change list without its entry", ErrChanges, epoch)
		}
		if pe.D < 0 || pe.D > maxHeartbeatGap {
			return e, nil, nil, fmt.Errorf("%w: epoch %d: a time %d s after the previous epoch's", ErrChanges, epoch, pe.D)
		}
		e = prefix.Entry{Epoch: epoch, Time: prev.Time.Add(time.Duration(pe.D) * time.Second), Root: prev.Root, Leaves: prev.Leaves, Head: prev.Head}
		raw = e.Marshal()
	} else {
		if pe.D != 0 {
			return e, nil, nil, fmt.Errorf("%w: epoch %d: both a time and an entry", ErrChanges, epoch)
		}
		var err error
		if e, err = prefix.ParseEntry(pe.E); err != nil {
			return e, nil, nil, fmt.Errorf("%w: epoch %d: %v", ErrChanges, epoch, err)
		}
		raw = bytes.Clone(pe.E)
	}
	if e.Epoch != epoch {
		return e, nil, nil, fmt.Errorf("%w: the entry after epoch %d is of epoch %d", ErrChanges, prev.Epoch, e.Epoch)
	}
	if e.Time.Before(prev.Time) {
		return e, nil, nil, fmt.Errorf("%w: epoch %d is dated before epoch %d", ErrChanges, epoch, prev.Epoch)
	}
	if e.Changes == 0 {
		if len(pe.C) != 0 {
			return e, nil, nil, fmt.Errorf("%w: epoch %d lists no change but %d were served", ErrChanges, epoch, len(pe.C))
		}
		if e.Root != prev.Root || e.Leaves != prev.Leaves || e.Head != prev.Head {
			return e, nil, nil, fmt.Errorf("%w: epoch %d changed the key log but lists no change (a silent change of someone's keys)", ErrChanges, epoch)
		}
		return e, raw, nil, nil
	}
	if uint64(len(pe.C)) != uint64(e.Changes) {
		return e, nil, nil, fmt.Errorf("%w: epoch %d has %d changes but %d were served", ErrChanges, epoch, e.Changes, len(pe.C))
	}
	cs, err := parseChanges(e, pe.C)
	if err != nil {
		return e, nil, nil, err
	}
	if e.Head != prefix.HeadHash(prev.Head, epoch, e.Changes, e.ChangesRoot) {
		return e, nil, nil, fmt.Errorf("%w: the head of epoch %d does not follow from its changes and the head of epoch %d", ErrChanges, epoch, prev.Epoch)
	}
	return e, raw, cs, nil
}

// parseChanges parses the change list of e and checks it against e's k
// and changes_root.
func parseChanges(e prefix.Entry, list [][]byte) ([]prefix.Change, error) {
	if uint64(len(list)) != uint64(e.Changes) {
		return nil, fmt.Errorf("%w: epoch %d has %d changes but %d were served", ErrChanges, e.Epoch, e.Changes, len(list))
	}
	if len(list) == 0 {
		return nil, nil
	}
	cs := make([]prefix.Change, len(list))
	for j, b := range list {
		c, err := prefix.ParseChange(b)
		if err != nil {
			return nil, fmt.Errorf("%w: epoch %d, change %d: %v", ErrChanges, e.Epoch, j, err)
		}
		cs[j] = c
	}
	if err := prefix.CheckChanges(cs); err != nil {
		return nil, fmt.Errorf("%w: epoch %d: %v", ErrChanges, e.Epoch, err)
	}
	if prefix.ChangesRoot(cs) != e.ChangesRoot {
		return nil, fmt.Errorf("%w: the changes served for epoch %d are not the ones its entry lists", ErrChanges, e.Epoch)
	}
	return cs, nil
}

func appendOwn(out []Listing, epoch uint64, cs []prefix.Change, own prefix.Hash) []Listing {
	for j, c := range cs {
		if c.Index == own {
			out = append(out, Listing{Epoch: epoch, Position: j, Leaf: c.Leaf})
		}
	}
	return out
}

// copyHashes copies a list of hashes (compact.Range keeps the slices it is given).
func copyHashes(h [][]byte) [][]byte {
	c := make([][]byte, len(h))
	for i := range h {
		c[i] = bytes.Clone(h[i])
	}
	return c
}
