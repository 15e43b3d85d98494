package verify

import (
	"fmt"

	"backchannel/keylog/prefix"
)

// The owner's fold of the change lists into the heads (the first defence
// of docs/protocol.md section 16, "Self-monitoring"), superseded for the
// owner's checks by ScanEntries (entries.go): a head does not bind its own
// entry's k and changes_root. OwnLeaves, Explained and OwnListingAlerts
// remain the rule every listing must satisfy.

// Anchor is where an owner's reading of the change lists stands: the last
// epoch it checked and that epoch's head, taken from an entry it verified.
type Anchor struct {
	Epoch uint64
	Head  prefix.Hash
}

// AnchorOf returns the anchor of a verified entry.
func AnchorOf(e prefix.Entry) Anchor { return Anchor{Epoch: e.Epoch, Head: e.Head} }

// LatestEntry is what GET /v1/keylog/changes?proof=1 adds to a page of
// change lists: the latest signed checkpoint, the entry of its latest
// epoch and that entry's RFC 6962 inclusion proof.
type LatestEntry struct {
	Checkpoint string   `json:"checkpoint"`
	Epoch      uint64   `json:"epoch"`
	Entry      []byte   `json:"entry"`
	Inclusion  [][]byte `json:"inclusion"`
}

// VerifyLatest is steps 1 to 3 of a lookup without the account: the
// checkpoint verifies under t (signature, origin, witness quorum), extends
// prev (the last checkpoint the client holds, nil at first; consistency
// is called only when prev is smaller), and the entry is the one at its
// latest index, size-1. It returns the checkpoint, to store, and the entry,
// whose head ScanChanges folds the change lists into. The sentinels are
// Verify's for those steps (a rollback or fork with *Evidence).
func VerifyLatest(t Trust, l *LatestEntry, prev *Checkpoint, consistency func(from, to uint64) ([][]byte, error)) (Checkpoint, prefix.Entry, error) {
	if l == nil {
		return Checkpoint{}, prefix.Entry{}, fmt.Errorf("%w: no checkpoint and entry", ErrMalformed)
	}
	cp, err := ParseCheckpoint(t, []byte(l.Checkpoint))
	if err != nil {
		return Checkpoint{}, prefix.Entry{}, err
	}
	if prev != nil {
		if err := extends(*prev, cp, consistency, true); err != nil {
			return Checkpoint{}, prefix.Entry{}, err
		}
	}
	if cp.Size == 0 || l.Epoch != cp.Size-1 {
		return Checkpoint{}, prefix.Entry{}, fmt.Errorf("%w: epoch %d in a log of size %d", ErrNotLatest, l.Epoch, cp.Size)
	}
	e, err := entryIn(l.Epoch, l.Entry, l.Inclusion, cp)
	if err != nil {
		return Checkpoint{}, prefix.Entry{}, err
	}
	return cp, e, nil
}

// Record is one epoch's change list as GET /v1/keylog/changes serves it:
// prefix.ChangeSize bytes per change, index || leaf_hash.
type Record struct {
	Epoch   uint64   `json:"epoch"`
	Changes [][]byte `json:"changes"`
}

// Listing is one change of the owner's index: the epoch that lists it, its
// position there and the leaf hash it lists.
type Listing struct {
	Epoch    uint64
	Position int
	Leaf     prefix.Hash
}

// ScanChanges folds the change lists of the epochs after anchor up to
// latest (an entry the caller verified, at or after the anchor's epoch)
// into latest's head, and returns every change whose index is own, in
// order. records must be, ascending and each once, exactly the epochs of
// anchor.Epoch+1 … latest.Epoch with k ≥ 1 changes, each list sorted
// strictly by index with at most latest.Leaves changes. Anything else is
// ErrChanges: the server withheld, added or altered a change list.
func ScanChanges(anchor Anchor, records []Record, latest prefix.Entry, own prefix.Hash) ([]Listing, error) {
	if latest.Epoch < anchor.Epoch {
		return nil, fmt.Errorf("%w: the latest epoch %d is before the anchor %d", ErrChanges, latest.Epoch, anchor.Epoch)
	}
	head := anchor.Head
	prev := anchor.Epoch
	var out []Listing
	for i, r := range records {
		if r.Epoch <= prev || r.Epoch > latest.Epoch {
			return nil, fmt.Errorf("%w: record %d is of epoch %d, after epoch %d and at most %d expected", ErrChanges, i, r.Epoch, prev, latest.Epoch)
		}
		if len(r.Changes) == 0 || uint64(len(r.Changes)) > latest.Leaves {
			return nil, fmt.Errorf("%w: epoch %d lists %d changes in a log of %d accounts", ErrChanges, r.Epoch, len(r.Changes), latest.Leaves)
		}
		cs := make([]prefix.Change, len(r.Changes))
		for j, b := range r.Changes {
			c, err := prefix.ParseChange(b)
			if err != nil {
				return nil, fmt.Errorf("%w: epoch %d, change %d: %v", ErrChanges, r.Epoch, j, err)
			}
			cs[j] = c
		}
		if err := prefix.CheckChanges(cs); err != nil {
			return nil, fmt.Errorf("%w: epoch %d: %v", ErrChanges, r.Epoch, err)
		}
		for j, c := range cs {
			if c.Index == own {
				out = append(out, Listing{Epoch: r.Epoch, Position: j, Leaf: c.Leaf})
			}
		}
		head = prefix.NextHead(head, r.Epoch, cs)
		prev = r.Epoch
	}
	if head != latest.Head {
		return nil, fmt.Errorf("%w: the change lists of epochs %d to %d do not chain to the head of epoch %d (one was withheld or altered)", ErrChanges, anchor.Epoch+1, latest.Epoch, latest.Epoch)
	}
	return out, nil
}

// State is one leaf state the log recorded for the owner's account (GET
// /v1/keylog/own).
type State struct {
	Updates uint64
	Version uint64
	Nonce   []byte
}

// OwnLeaves returns the leaf hash, mapped to its updates, of every state in
// states that is the owner's own: updates == version, a nonce of
// prefix.NonceSize bytes, and a list of that version that the owner's
// devices published under its account key (published returns its ListHash;
// false if there is none). Other states are left out.
func OwnLeaves(index prefix.Hash, states []State, published func(version uint64) ([32]byte, bool)) map[prefix.Hash]uint64 {
	out := make(map[prefix.Hash]uint64, len(states))
	for _, s := range states {
		if s.Updates != s.Version || len(s.Nonce) != prefix.NonceSize {
			continue
		}
		lh, ok := published(s.Version)
		if !ok {
			continue
		}
		out[prefix.LeafHash(index, s.Updates, prefix.Commitment(s.Nonce, s.Version, lh))] = s.Updates
	}
	return out
}

// Explained reports whether every listing's leaf is one of own.
func Explained(listings []Listing, own map[prefix.Hash]uint64) bool {
	for _, l := range listings {
		if _, ok := own[l.Leaf]; !ok {
			return false
		}
	}
	return true
}

// OwnListingAlerts checks the owner's listings, in order, against its own
// leaves (OwnLeaves): each must be one of them, and their updates must
// increase strictly from after (the updates of the last listing checked
// before). It returns one sentence per listing that breaks the rule, each
// naming its epoch, and the updates of the last listing that kept it.
func OwnListingAlerts(listings []Listing, own map[prefix.Hash]uint64, after uint64) ([]string, uint64) {
	var alerts []string
	for _, l := range listings {
		u, ok := own[l.Leaf]
		switch {
		case !ok:
			alerts = append(alerts, fmt.Sprintf("the key log listed a version of your account that none of your devices published, at epoch %d: people who looked you up then may have been given someone else's devices", l.Epoch))
		case u <= after:
			alerts = append(alerts, fmt.Sprintf("the key log listed an older version of your account again, at epoch %d (change %d after change %d): people who looked you up then may have been given devices you had removed", l.Epoch, u, after))
		default:
			after = u
		}
	}
	return alerts, after
}
