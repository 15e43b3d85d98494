// Package verify is what a client checks on every key-log lookup before it
// uses a device list from the server (docs/protocol.md section 16, "What a
// client verifies").
//
// Contract:
//
//   - ParseCheckpoint accepts a checkpoint only if it is a C2SP signed note
//     signed by the pinned log key, whose body is exactly a C2SP
//     tlog-checkpoint (origin, decimal size, base64 root, optional non-empty
//     extension lines) naming the pinned origin, and which carries
//     cosignatures (C2SP tlog-cosignature, cosignature/v1, as Tessera's
//     witness client gathers them) from at least WitnessQuorum distinct
//     pinned witnesses.
//   - Verify runs steps 1 to 6 and 8 of the specification in order on a
//     Lookup and returns the device list only if every step holds: the
//     checkpoint (step 1), its consistency with the last checkpoint the
//     client holds (step 2), the epoch entry's inclusion at index size-1
//     (step 3), the VRF proof of the account's index (step 4), the device
//     list against the lookup's version and account (step 5), the account's
//     leaf in the epoch's prefix tree (step 6), and the listing of that leaf
//     as a change of an epoch in the same checkpoint (step 8). Step 7, the
//     device-list chain from the list the client pinned
//     (devicelist.VerifyChain), is the caller's. VerifyAt does the same
//     against a checkpoint the client already holds, for an earlier epoch.
//   - ScanChanges is the former owner's reading of the changes since its
//     anchor (superseded by ScanEntries, below): it folds the change
//     lists into the head of the latest verified entry and returns the
//     changes of the owner's index; OwnLeaves and OwnListingAlerts are the
//     rule those listings must satisfy. All three are pure functions.
//   - ScanEntries is the owner's reading of every entry since its anchor
//     (section 16, "Reading every entry"): it rebuilds each epoch from the
//     previous one, checks the head chain against each entry's own k and
//     changes_root (and that an epoch with k = 0 changes nothing), appends
//     every entry to the log's RFC 6962 compact range, and requires that
//     range's root to be the signed checkpoint's. It supersedes the
//     head-only ScanChanges, which cannot see an entry whose head ignores
//     its own changes_root. FirstAnchor starts it from the entry that
//     listed the owner's leaf and the server's frontier.
//   - VerifyLatest is steps 1 to 3 without an account, for the proof of
//     the latest entry that GET /v1/keylog/changes?proof=1 adds: the
//     owner's periodic check folds the lists into that entry's head.
//   - CheckGossip checks a checkpoint a peer sent against the client's own
//     with the rules of step 2, in whichever direction the sizes point.
//   - Every input is untrusted: nothing here panics on any bytes, and sizes
//     are checked before use. A failure wraps exactly one of the sentinels
//     below (callers branch with errors.Is); a rollback or a fork also
//     carries both signed checkpoints as an *Evidence (errors.As). An error
//     from the consistency callback (the network) wraps none of them.
//
// Which sentinel each step reports:
//
//	step 1  ErrSignature (signature, origin or witness quorum), ErrMalformed (body)
//	step 2  ErrLogRollback (smaller size), ErrLogFork (same size and another
//	        root, or a consistency proof that does not verify), with Evidence
//	step 3  ErrNotLatest (epoch != size-1), ErrInclusion (entry not in the
//	        log, or an entry naming another epoch), ErrMalformed (sizes)
//	step 4  ErrVRF (the proof does not verify for this account and key)
//	step 5  ErrCommitment (the device list names another account or version)
//	step 6  ErrInclusion (updates, nonce, device list or path do not
//	        recompute the epoch's root)
//	step 8  ErrNotListed (no listing, a listing after the lookup's epoch,
//	        a position or change proof that does not recompute the listing
//	        epoch's changes_root), ErrInclusion (the listing epoch's entry
//	        is not in the log at its epoch), ErrMalformed (sizes)
//	scan    ErrChanges (the change lists do not fold into the latest head,
//	        are out of order, or are malformed)
//	entries ErrChanges (an epoch out of order, dated back, a head that does
//	        not follow from its own changes, a root change with k = 0, a
//	        change list that is not the entry's), ErrInclusion (the entries
//	        and frontier do not make the signed checkpoint's root),
//	        ErrLogFork / ErrLogRollback with Evidence (a checkpoint held or
//	        seen on an earlier page disagrees with the range)
//
// A device list other than the one committed to (same account and version)
// changes the commitment, so it fails at step 6 as ErrInclusion: the
// commitment is only checked through the root it must recompute.
package verify

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"backchannel/devicelist"
	"backchannel/keylog/prefix"
)

// Sizes of the lookup's fields (docs/protocol.md section 16) and limits of
// this verifier.
const (
	// VRFProofSize is the size of an ECVRF-RISTRETTO255-SHA512 proof pi.
	VRFProofSize = 80
	// VRFKeySize is the size of the VRF public key.
	VRFKeySize = 32
	// MaxInclusion bounds an RFC 6962 inclusion or consistency proof: a tree
	// of at most 2^64 leaves needs at most 64 hashes (128 for consistency).
	MaxInclusion   = 64
	MaxConsistency = 128
	// MaxCheckpointSize bounds a checkpoint note (a log signature and a few
	// witness cosignatures take well under 1 KiB).
	MaxCheckpointSize = 16 << 10
	// MaxLookupSize bounds the JSON of a lookup.
	MaxLookupSize = 64 << 10
	// MaxChangePath bounds a change proof: k < 2^32 changes need at most 32
	// hashes.
	MaxChangePath = 32
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrSignature: the checkpoint is not signed by the pinned log key, names
	// another origin, or lacks the witness cosignatures the policy requires.
	ErrSignature = errors.New("checkpoint signature does not verify")
	// ErrLogRollback: the server shows a smaller log than one the client holds.
	ErrLogRollback = errors.New("key log rolled back")
	// ErrLogFork: two checkpoints that cannot both be views of one
	// append-only log (same size with different roots, or no valid
	// consistency proof between them).
	ErrLogFork = errors.New("key log forked")
	// ErrInclusion: the epoch entry is not in the log at its epoch, or the
	// account's leaf is not in the epoch's prefix tree.
	ErrInclusion = errors.New("not included")
	// ErrVRF: the VRF proof does not verify for the account under the pinned VRF key.
	ErrVRF = errors.New("VRF proof does not verify")
	// ErrCommitment: the device list does not match the lookup (account or version).
	ErrCommitment = errors.New("device list does not match the commitment")
	// ErrNotLatest: the lookup's epoch is not the latest epoch of its checkpoint.
	ErrNotLatest = errors.New("epoch is not the latest")
	// ErrMalformed: bytes that do not decode, or fields of the wrong size.
	ErrMalformed = errors.New("malformed")
	// ErrNotListed: the lookup's leaf is not proved to be listed as a change
	// of any epoch (step 8): nobody, the owner included, was told of it.
	ErrNotListed = errors.New("the leaf was never listed as a change")
	// ErrChanges: the change lists since the owner's anchor do not fold into
	// the latest entry's head: the server withheld or altered one.
	ErrChanges = errors.New("the change lists do not match the log")
)

// Evidence carries both signed checkpoints of a rollback or a fork. It
// wraps ErrLogRollback or ErrLogFork (Err), so errors.Is sees through it.
type Evidence struct {
	Ours, Theirs []byte // the signed note texts: the client's and the new one
	Err          error
}

func (e *Evidence) Error() string {
	if e.Err == nil {
		return "keylog/verify: evidence of a rollback or fork"
	}
	return e.Err.Error()
}

// Unwrap returns the error the evidence is for.
func (e *Evidence) Unwrap() error { return e.Err }

// Lookup is the server's answer to GET /v1/keylog/lookup/{user}. Decode it
// with DecodeLookup (strict); Verify checks every size again.
type Lookup struct {
	Checkpoint string   `json:"checkpoint"`
	Epoch      uint64   `json:"epoch"`
	Entry      []byte   `json:"entry"`
	Inclusion  [][]byte `json:"inclusion"`
	VRFProof   []byte   `json:"vrf_proof"`
	Updates    uint64   `json:"updates"`
	Version    uint64   `json:"version"`
	Nonce      []byte   `json:"nonce"`
	Path       [][]byte `json:"path"`
	DeviceList []byte   `json:"device_list"`
	Changed    *Changed `json:"changed"`
}

// Changed is where a lookup's leaf was listed as a change (step 8).
type Changed struct {
	Epoch     uint64   `json:"epoch"`     // U ≤ the lookup's epoch
	Entry     []byte   `json:"entry"`     // entry U
	Inclusion [][]byte `json:"inclusion"` // of log index U in the lookup's checkpoint tree
	Position  int      `json:"position"`  // among entry U's k changes
	Path      [][]byte `json:"path"`      // the change proof, deepest first
}

// Result is what a lookup proved: the device list that the log holds for the
// account at the checkpoint's latest epoch.
type Result struct {
	Checkpoint Checkpoint // the new checkpoint, for the client to store
	Updates    uint64     // the account's leaf change count, to store per contact
	Version    uint64
	DeviceList []byte           // the list's encoding, for devicelist.VerifyChain
	Epoch      prefix.Entry     // the epoch entry the list was proved against
	List       *devicelist.List // the parsed DeviceList (signatures verified)
	Index      prefix.Hash      // the account's VRF index
	Nonce      []byte           // the commitment's nonce
	Leaf       prefix.Hash      // the account's leaf hash at Epoch
	Listed     prefix.Entry     // the entry of the epoch that lists Leaf (step 8)
}

// Verify checks a lookup for account against trust and the last checkpoint
// the client holds (prev, nil at first), in the order of docs/protocol.md
// section 16. consistency fetches an RFC 6962 consistency proof between two
// tree sizes from the server; it is called only when prev is smaller than
// the lookup's checkpoint. On success the caller stores Result.Checkpoint
// (and Result.Updates for the contact) and then checks the device-list chain.
func Verify(t Trust, account string, l *Lookup, prev *Checkpoint, consistency func(from, to uint64) ([][]byte, error)) (*Result, error) {
	if l == nil {
		return nil, fmt.Errorf("%w: no lookup", ErrMalformed)
	}
	// Step 1: the checkpoint.
	cp, err := ParseCheckpoint(t, []byte(l.Checkpoint))
	if err != nil {
		return nil, err
	}
	// Step 2: the checkpoint extends the one the client holds.
	if prev != nil {
		if err := extends(*prev, cp, consistency, true); err != nil {
			return nil, err
		}
	}
	// Step 3: the latest epoch's entry is in the log.
	if cp.Size == 0 || l.Epoch != cp.Size-1 {
		return nil, fmt.Errorf("%w: epoch %d in a log of size %d", ErrNotLatest, l.Epoch, cp.Size)
	}
	return checkLeaf(t, account, l, cp)
}

// VerifyAt checks a lookup of account at an earlier epoch against a
// checkpoint the client already verified (at): the lookup's checkpoint must
// be that one, and the epoch's entry must be in it; step 8 holds as in
// Verify, with the listing epoch at most the lookup's epoch.
func VerifyAt(t Trust, account string, l *Lookup, at Checkpoint) (*Result, error) {
	if l == nil {
		return nil, fmt.Errorf("%w: no lookup", ErrMalformed)
	}
	cp, err := ParseCheckpoint(t, []byte(l.Checkpoint))
	if err != nil {
		return nil, err
	}
	if cp.Size != at.Size || cp.Root != at.Root {
		return nil, fmt.Errorf("%w: the lookup is against a log of size %d, not the checkpoint of size %d asked for", ErrNotLatest, cp.Size, at.Size)
	}
	if l.Epoch >= cp.Size {
		return nil, fmt.Errorf("%w: epoch %d in a log of size %d", ErrNotLatest, l.Epoch, cp.Size)
	}
	return checkLeaf(t, account, l, cp)
}

// checkLeaf is steps 3 to 6 and 8: the epoch's entry is in the log of cp,
// the VRF index, the commitment, the leaf's path to the epoch's root, and
// the leaf's listing.
func checkLeaf(t Trust, account string, l *Lookup, cp Checkpoint) (*Result, error) {
	entry, err := entryIn(l.Epoch, l.Entry, l.Inclusion, cp)
	if err != nil {
		return nil, err
	}
	// Step 4: the account's index.
	if len(t.VRFKey) != VRFKeySize {
		return nil, fmt.Errorf("%w: pinned VRF key of %d bytes, want %d", ErrVRF, len(t.VRFKey), VRFKeySize)
	}
	if len(l.VRFProof) != VRFProofSize {
		return nil, fmt.Errorf("%w: VRF proof of %d bytes, want %d", ErrMalformed, len(l.VRFProof), VRFProofSize)
	}
	index, err := prefix.VerifyVRF(t.VRFKey, account, l.VRFProof)
	if err != nil {
		return nil, fmt.Errorf("%w: for %q: %v", ErrVRF, account, err)
	}
	// Step 5: the commitment to the device list.
	if len(l.Nonce) != prefix.NonceSize {
		return nil, fmt.Errorf("%w: nonce of %d bytes, want %d", ErrMalformed, len(l.Nonce), prefix.NonceSize)
	}
	if len(l.DeviceList) > devicelist.MaxListSize {
		return nil, fmt.Errorf("%w: device list of %d bytes, at most %d", ErrMalformed, len(l.DeviceList), devicelist.MaxListSize)
	}
	list, err := devicelist.Parse(l.DeviceList)
	if err != nil {
		return nil, fmt.Errorf("%w: device list: %v", ErrMalformed, err)
	}
	if list.Account != account {
		return nil, fmt.Errorf("%w: the device list is of %q, not %q", ErrCommitment, list.Account, account)
	}
	if list.Version != l.Version {
		return nil, fmt.Errorf("%w: the device list is version %d, the lookup says %d", ErrCommitment, list.Version, l.Version)
	}
	commitment := prefix.Commitment(l.Nonce, l.Version, list.Hash())
	// Step 6: the leaf is in the epoch's tree.
	if err := hashes("prefix path", l.Path, prefix.MaxDepth); err != nil {
		return nil, err
	}
	path := make([]prefix.Hash, len(l.Path))
	for i, h := range l.Path {
		path[i] = prefix.Hash(h)
	}
	if err := prefix.VerifyInclusion(entry.Root, index, l.Updates, commitment, path); err != nil {
		return nil, fmt.Errorf("%w: the leaf of %q (updates %d, version %d) in epoch %d: %v", ErrInclusion, account, l.Updates, l.Version, entry.Epoch, err)
	}
	// Step 8: the leaf was listed as a change.
	leaf := prefix.LeafHash(index, l.Updates, commitment)
	listed, err := checkListed(l, cp, index, leaf)
	if err != nil {
		return nil, err
	}
	return &Result{
		Checkpoint: cp,
		Updates:    l.Updates,
		Version:    l.Version,
		DeviceList: bytes.Clone(l.DeviceList),
		Epoch:      entry,
		List:       list,
		Index:      index,
		Nonce:      bytes.Clone(l.Nonce),
		Leaf:       leaf,
		Listed:     listed,
	}, nil
}

// entryIn is step 3's check of an entry: raw is in the log of cp at index
// epoch (inclusion proves it) and is the entry of that epoch.
func entryIn(epoch uint64, raw []byte, inclusion [][]byte, cp Checkpoint) (prefix.Entry, error) {
	if len(raw) != prefix.EntrySize {
		return prefix.Entry{}, fmt.Errorf("%w: entry of %d bytes, want %d", ErrMalformed, len(raw), prefix.EntrySize)
	}
	if err := hashes("inclusion proof", inclusion, MaxInclusion); err != nil {
		return prefix.Entry{}, err
	}
	entryLeaf := rfc6962.DefaultHasher.HashLeaf(raw)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, epoch, cp.Size, entryLeaf, inclusion, cp.Root[:]); err != nil {
		return prefix.Entry{}, fmt.Errorf("%w: entry of epoch %d in the log of size %d: %v", ErrInclusion, epoch, cp.Size, err)
	}
	entry, err := prefix.ParseEntry(raw)
	if err != nil {
		return prefix.Entry{}, fmt.Errorf("%w: entry: %v", ErrMalformed, err)
	}
	if entry.Epoch != epoch {
		return prefix.Entry{}, fmt.Errorf("%w: the entry at log index %d is of epoch %d", ErrInclusion, epoch, entry.Epoch)
	}
	return entry, nil
}

// checkListed is step 8: the lookup's Changed names an epoch U at most the
// lookup's, whose entry is in the log of cp at index U, and whose change
// list holds (index, leaf) at the position it names. It returns entry U.
func checkListed(l *Lookup, cp Checkpoint, index, leaf prefix.Hash) (prefix.Entry, error) {
	c := l.Changed
	if c == nil {
		return prefix.Entry{}, fmt.Errorf("%w: the lookup does not say which epoch listed the leaf", ErrNotListed)
	}
	if c.Epoch > l.Epoch {
		return prefix.Entry{}, fmt.Errorf("%w: the leaf of epoch %d is said to be listed at the later epoch %d", ErrNotListed, l.Epoch, c.Epoch)
	}
	if len(c.Entry) != prefix.EntrySize {
		return prefix.Entry{}, fmt.Errorf("%w: listing entry of %d bytes, want %d", ErrMalformed, len(c.Entry), prefix.EntrySize)
	}
	if err := hashes("listing inclusion proof", c.Inclusion, MaxInclusion); err != nil {
		return prefix.Entry{}, err
	}
	if err := hashes("change proof", c.Path, MaxChangePath); err != nil {
		return prefix.Entry{}, err
	}
	h := rfc6962.DefaultHasher.HashLeaf(c.Entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, c.Epoch, cp.Size, h, c.Inclusion, cp.Root[:]); err != nil {
		return prefix.Entry{}, fmt.Errorf("%w: listing entry of epoch %d in the log of size %d: %v", ErrInclusion, c.Epoch, cp.Size, err)
	}
	e, err := prefix.ParseEntry(c.Entry)
	if err != nil {
		return prefix.Entry{}, fmt.Errorf("%w: listing entry: %v", ErrMalformed, err)
	}
	if e.Epoch != c.Epoch {
		return prefix.Entry{}, fmt.Errorf("%w: the entry at log index %d is of epoch %d", ErrInclusion, c.Epoch, e.Epoch)
	}
	if c.Position < 0 || uint64(c.Position) >= uint64(e.Changes) || e.Changes > math.MaxInt32 {
		return prefix.Entry{}, fmt.Errorf("%w: position %d among the %d changes of epoch %d", ErrNotListed, c.Position, e.Changes, e.Epoch)
	}
	path := make([]prefix.Hash, len(c.Path))
	for i, p := range c.Path {
		path[i] = prefix.Hash(p)
	}
	if !prefix.VerifyChange(prefix.Change{Index: index, Leaf: leaf}, c.Position, int(e.Changes), path, e.ChangesRoot) {
		return prefix.Entry{}, fmt.Errorf("%w: the change proof at position %d of epoch %d does not recompute its changes root", ErrNotListed, c.Position, e.Epoch)
	}
	return e, nil
}

// CheckGossip checks a checkpoint a peer sent (theirs, a signed note) against
// the client's own: it must verify under trust, and be the same log as ours:
// at the same size the same root, at another size a consistency proof
// (fetched with consistency, from the smaller to the larger) must verify. A
// failure is ErrLogFork with Evidence (a split view); a smaller checkpoint
// is not a rollback here, only an older view. It returns theirs, parsed.
func CheckGossip(t Trust, ours Checkpoint, theirs []byte, consistency func(from, to uint64) ([][]byte, error)) (Checkpoint, error) {
	cp, err := ParseCheckpoint(t, theirs)
	if err != nil {
		return Checkpoint{}, err
	}
	if cp.Size < ours.Size {
		err = extends(cp, ours, consistency, false)
	} else {
		err = extends(ours, cp, consistency, false)
	}
	if err != nil {
		var ev *Evidence
		if errors.As(err, &ev) && cp.Size < ours.Size {
			ev.Ours, ev.Theirs = ev.Theirs, ev.Ours // extends saw them swapped
		}
		return Checkpoint{}, err
	}
	return cp, nil
}

// extends checks that new is a view of the same append-only log as old, at
// least as large when rollback is set: ErrLogRollback, ErrLogFork (both with
// Evidence), ErrMalformed, or the callback's error.
func extends(old, new Checkpoint, consistency func(from, to uint64) ([][]byte, error), rollback bool) error {
	evidence := func(sentinel error, format string, a ...any) error {
		return &Evidence{
			Ours:   bytes.Clone(old.Note),
			Theirs: bytes.Clone(new.Note),
			Err:    fmt.Errorf("%w: "+format, append([]any{sentinel}, a...)...),
		}
	}
	if old.Origin != new.Origin {
		return fmt.Errorf("%w: checkpoints of two origins, %q and %q", ErrMalformed, old.Origin, new.Origin)
	}
	switch {
	case new.Size < old.Size:
		if rollback {
			return evidence(ErrLogRollback, "the log has size %d, the client holds size %d", new.Size, old.Size)
		}
		return fmt.Errorf("internal error: checkpoints out of order (%d > %d)", old.Size, new.Size)
	case new.Size == old.Size:
		if new.Root != old.Root {
			return evidence(ErrLogFork, "two roots at size %d", new.Size)
		}
		return nil
	case old.Size == 0:
		return nil // every log extends the empty one
	}
	if consistency == nil {
		return fmt.Errorf("no way to fetch a consistency proof from %d to %d", old.Size, new.Size)
	}
	p, err := consistency(old.Size, new.Size)
	if err != nil {
		return fmt.Errorf("fetching the consistency proof from %d to %d: %w", old.Size, new.Size, err)
	}
	if err := hashes("consistency proof", p, MaxConsistency); err != nil {
		return evidence(ErrLogFork, "consistency proof from %d to %d: %v", old.Size, new.Size, err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, new.Size, p, old.Root[:], new.Root[:]); err != nil {
		return evidence(ErrLogFork, "consistency proof from %d to %d does not verify: %v", old.Size, new.Size, err)
	}
	return nil
}

// hashes checks that list holds at most max hashes of prefix.HashSize bytes.
func hashes(what string, list [][]byte, max int) error {
	if len(list) > max {
		return fmt.Errorf("%w: %s of %d hashes, at most %d", ErrMalformed, what, len(list), max)
	}
	for i, h := range list {
		if len(h) != prefix.HashSize {
			return fmt.Errorf("%w: %s hash %d of %d bytes, want %d", ErrMalformed, what, i, len(h), prefix.HashSize)
		}
	}
	return nil
}

// OwnerAlerts is the owner's check of its own verified entry (docs/protocol.md
// section 16, "Self-monitoring"): the logged list must be under the owner's
// account key and one its devices published, and the leaf must have changed
// exactly once per published list (updates == version). It returns one
// sentence per problem, none when the entry is the owner's own.
func (r *Result) OwnerAlerts(accountKey []byte, published func(listHash [32]byte) bool) []string {
	var out []string
	if !bytes.Equal(r.List.AccountKey, accountKey) {
		out = append(out, "the key log shows your account under an account key that is not yours: people who look you up get someone else's key")
	} else if !published(r.List.Hash()) {
		out = append(out, fmt.Sprintf("the key log shows version %d of your device list, which none of your devices published", r.List.Version))
	}
	if r.Updates != r.List.Version {
		out = append(out, fmt.Sprintf("your entry in the key log changed %d times, but your account published %d device lists: someone else's version was logged in between", r.Updates, r.List.Version))
	}
	return out
}
