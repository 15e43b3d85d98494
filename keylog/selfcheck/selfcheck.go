// Package selfcheck holds the rules of an account's self-check against the
// key log (docs/protocol.md section 16, "Self-monitoring", "Reading every
// entry"): the anchor a device keeps between checks, where a reading of the
// entries starts, how the pages of entries chain, how each change of the
// account's own index is judged (its own devices published it, and the
// change count grows), the alerts' words, and when a check is due (the
// quick periodic one, the full one, one brought forward by a peer's newer
// checkpoint).
//
// The cryptographic checks themselves (entries, heads, change lists,
// checkpoints, the own leaves) are package keylog/verify's; this package
// only decides around them. It does no I/O: it never fetches, never reads
// or writes the vault. Package client fetches the pages, keeps the anchor
// and the listings, and raises the alerts.
package selfcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"backchannel/keylog/prefix"
	"backchannel/keylog/verify"
)

const (
	// GossipScanInterval bounds the self-checks that a peer's newer
	// checkpoint brings forward (at most one per interval, besides the
	// periodic one).
	GossipScanInterval = time.Hour
	// FullCheckInterval is the longest time between two full self-checks
	// (the own lookup, with the leaf compared to what this account's devices
	// published); the periodic checks in between read the change lists
	// against the latest checkpoint only.
	FullCheckInterval = 24 * time.Hour
	// MaxEntryPages bounds the pages of entries one check reads
	// (verify.MaxEntriesPage epochs each).
	MaxEntryPages = 4096
)

// Anchor is where the reading of the change lists stands: the last epoch
// whose changes this device read, that epoch's head (from an entry it
// verified), and the change count of the last listing of its own index it
// checked. Its JSON form is what the client stores.
type Anchor struct {
	Epoch   uint64 `json:"epoch"`
	Head    []byte `json:"head"`
	Updates uint64 `json:"updates"`
	// Index is this account's VRF index, from the last full check's
	// verified lookup (the periodic check reads the lists without one).
	Index []byte `json:"index,omitempty"`
	// Entry is the anchor epoch's entry and Range the RFC 6962 compact
	// range of the log's leaves [0, Epoch+1): the next reading of the
	// entries continues from them (absent in an anchor from before the
	// entries were read: the next full check starts afresh).
	Entry []byte   `json:"entry,omitempty"`
	Range [][]byte `json:"range,omitempty"`
}

// DecodeAnchor decodes a stored anchor; one that does not decode, or
// whose head is not a hash, is an error.
func DecodeAnchor(raw []byte) (*Anchor, error) {
	var a Anchor
	if err := json.Unmarshal(raw, &a); err != nil || len(a.Head) != prefix.HashSize {
		return nil, fmt.Errorf("the stored key log anchor does not decode: %v", err)
	}
	return &a, nil
}

// Entries returns the anchor of the reading of the entries, if a has one.
func (a *Anchor) Entries() (verify.EntryAnchor, bool) {
	if a == nil || len(a.Entry) != prefix.EntrySize {
		return verify.EntryAnchor{}, false
	}
	return verify.EntryAnchor{Epoch: a.Epoch, Entry: a.Entry, Range: a.Range}, true
}

// Quick returns where the periodic check without the own lookup continues
// from; ok is false when the full check must run instead: no anchor with
// the own index and an entry, or FullCheckInterval has passed since the
// last full check at lastFull (zero: none recorded).
func (a *Anchor) Quick(lastFull, now time.Time) (start verify.EntryAnchor, ok bool) {
	if a == nil || len(a.Index) != prefix.HashSize {
		return verify.EntryAnchor{}, false
	}
	start, ok = a.Entries()
	if !ok || lastFull.IsZero() || now.Sub(lastFull) >= FullCheckInterval {
		return verify.EntryAnchor{}, false
	}
	return start, true
}

// After returns the anchor a quick check leaves: the latest epoch es
// verified, with a's change count and index.
func (a *Anchor) After(es *verify.EntryScan) *Anchor {
	return &Anchor{Epoch: es.Latest.Epoch, Head: es.Latest.Head[:], Updates: a.Updates, Index: a.Index, Entry: es.Anchor.Entry, Range: es.Anchor.Range}
}

// GossipDue reports whether a peer's checkpoint of size brings the
// self-check forward: it reaches past the anchor's epoch, and no check was
// brought forward in the last GossipScanInterval (last, zero for none).
func (a *Anchor) GossipDue(size uint64, last, now time.Time) bool {
	if a == nil || size == 0 || size-1 <= a.Epoch {
		return false
	}
	return last.IsZero() || now.Sub(last) >= GossipScanInterval
}

// NextPage chains the pages of entries: after a page read from epoch from
// that says it goes through epoch through (0: it is the last), the next
// page is read from next. A page that does not advance is an error.
func NextPage(from, through uint64) (next uint64, done bool, err error) {
	if through == 0 {
		return 0, true, nil
	}
	if through <= from {
		return 0, false, fmt.Errorf("a page of the key log's entries from epoch %d says it ends before epoch %d", from, through)
	}
	return through, false, nil
}

// ErrTooManyPages: the entries since the anchor span more than
// MaxEntryPages pages.
var ErrTooManyPages = fmt.Errorf("more than %d pages of the key log's entries", MaxEntryPages)

// Reading is where a full self-check's reading of the entries starts.
type Reading struct {
	// Anchor is what the listings are judged against: the stored one, or at
	// the first check the epoch that lists the lookup's leaf.
	Anchor *Anchor
	// From is the first epoch to read; Frontier asks for the compact range
	// of [0, From) with the first page.
	From     uint64
	Frontier bool
	// First: no anchor to continue from. Legacy: an anchor from before the
	// entries were read, so the whole log is read once, from epoch 0.
	First, Legacy bool
	// Seen: the listings of epochs before it are already kept.
	Seen  uint64
	start verify.EntryAnchor
}

// Start returns where the reading of the entries starts, from the stored
// anchor (nil for none) and res, this account's verified lookup; own maps
// the account's own leaves to their change counts (verify.OwnLeaves).
func Start(anc *Anchor, res *verify.Result, own map[prefix.Hash]uint64) *Reading {
	start, ok := anc.Entries()
	r := &Reading{Anchor: anc, From: start.Epoch + 1, First: !ok, start: start}
	r.Legacy = r.First && anc != nil
	r.Frontier = r.First && !r.Legacy
	if !r.First {
		return r
	}
	// The first reading: from U, the epoch that lists res's leaf (step 8
	// proved entry U), with the compact range of [0, U) the server gives.
	// After an anchor from before the entries were read (no entry to
	// continue from), the whole log once, from epoch 0, its listings up to
	// that anchor's epoch already kept.
	if anc == nil {
		// Entry U's listing of this index is res's leaf: the start.
		r.Anchor = &Anchor{Epoch: res.Listed.Epoch, Head: res.Listed.Head[:]}
		if u, ok := own[res.Leaf]; ok {
			r.Anchor.Updates = u
		}
		r.Seen, r.From = res.Listed.Epoch+1, res.Listed.Epoch
	} else {
		r.Seen, r.From = anc.Epoch+1, 0
	}
	return r
}

// EntryAnchor returns the anchor the scan of pages (read from r.From)
// starts from: the stored one, or at a first reading one made from the
// lookup's listed entry and the frontier the first page gave, or from
// epoch 0's entry after an anchor from before the entries were read.
func (r *Reading) EntryAnchor(res *verify.Result, pages []*verify.EntriesPage) (verify.EntryAnchor, error) {
	if !r.First {
		return r.start, nil
	}
	if len(pages) == 0 {
		return verify.EntryAnchor{}, errors.New("the key log gave no page of entries")
	}
	if !r.Legacy {
		return verify.FirstAnchor(res.Listed.Marshal(), pages[0].Frontier)
	}
	// Entry 0 as the page gives it: the range root at the end checks it.
	if len(pages[0].Entries) == 0 {
		return verify.EntryAnchor{}, errors.New("the key log's entries from epoch 0 are empty")
	}
	e0 := pages[0].Entries[0].E
	if len(e0) == 0 { // epoch 0 has no predecessor: it always comes whole
		return verify.EntryAnchor{}, errors.New("the key log sent its first epoch without its entry")
	}
	return verify.FirstAnchor(e0, nil)
}

// New returns the listings of the own index that this reading has not
// kept before, in order.
func (r *Reading) New(listings []verify.Listing) []verify.Listing {
	return slices.DeleteFunc(listings, func(l verify.Listing) bool { return l.Epoch < r.Seen })
}

// WithheldAlert is the alert of a reading whose entries after the anchor's
// epoch were withheld, refused or altered (the anchor then stays, so the
// next check reads the same epochs again).
func (r *Reading) WithheldAlert() string {
	return fmt.Sprintf("the server did not give the key log's change lists after epoch %d as the log committed to them (withheld or altered: it may be hiding a version of your account that it shows to others); evidence kept, tell your server's operator", r.Anchor.Epoch)
}

// Listing is one change of this account's index in the key log.
type Listing struct {
	Epoch   uint64 `json:"epoch"`             // the epoch whose change list has it
	Updates uint64 `json:"updates,omitempty"` // the change count of the own state it opens to
	Own     bool   `json:"own"`               // it opens to a state this account's devices published
	Alert   string `json:"alert,omitempty"`   // what is wrong with it
}

// Judgement is what a full self-check concludes from its reading.
type Judgement struct {
	Alerts   []string  // one sentence per thing the account's devices did not do
	Listings []Listing // the new listings of the own index, judged, to keep
	Anchor   *Anchor   // the anchor to keep: the latest epoch read
}

// Judge judges listings (Reading.New of es.Listings, the scan from r's
// anchor) against own, the account's own leaves: each must be one of
// them, the change counts must grow, and the lookup res may not show an
// older state than the last listing up to its epoch.
func (r *Reading) Judge(es *verify.EntryScan, listings []verify.Listing, own map[prefix.Hash]uint64, res *verify.Result) Judgement {
	alerts, last := verify.OwnListingAlerts(listings, own, r.Anchor.Updates)
	// The reading may reach past the lookup's epoch n: the lookup's state
	// is held to the last listing up to n.
	n := res.Epoch.Epoch
	upToN := slices.DeleteFunc(slices.Clone(listings), func(l verify.Listing) bool { return l.Epoch > n })
	_, lastAtN := verify.OwnListingAlerts(upToN, own, r.Anchor.Updates)
	var out []Listing
	prev := r.Anchor.Updates
	for _, l := range listings {
		u, ok := own[l.Leaf]
		al := Listing{Epoch: l.Epoch, Updates: u, Own: ok}
		switch {
		case !ok:
			al.Alert = "none of your devices published it"
		case u <= prev:
			al.Alert = "an older version listed again"
		default:
			prev = u
		}
		out = append(out, al)
	}
	if res.Updates < lastAtN {
		alerts = append(alerts, fmt.Sprintf("the key log shows an older version of your account at epoch %d (change %d, after change %d was listed): people who look you up now may get devices you removed", n, res.Updates, lastAtN))
	}
	return Judgement{
		Alerts:   alerts,
		Listings: out,
		Anchor:   &Anchor{Epoch: es.Anchor.Epoch, Head: es.Latest.Head[:], Updates: last, Index: res.Index[:], Entry: es.Anchor.Entry, Range: es.Anchor.Range},
	}
}
