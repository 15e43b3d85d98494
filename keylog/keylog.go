// Package keylog is the server side of the backchannel key-transparency log
// (docs/protocol.md §16, docs/api.md "Key log").
//
// A Log keeps, per account, a leaf in a prefix tree (package keylog/prefix)
// that commits to the account's newest device list, and publishes the tree's
// root once per epoch as one entry of an append-only Merkle log: epoch n is
// log index n, and the log holds nothing else. Each entry names the epoch's
// changes (the leaves whose hash differs from the one last listed for their
// index), whose list the store keeps and Changes serves, and chains them
// into a head. The log is stored by a
// Backend; the default is Tessera's POSIX driver in Dir/tiles, whose files
// are served as they are (C2SP tlog-tiles) and whose checkpoints are C2SP
// signed notes under the log key.
//
// Contract:
//   - Update records a leaf change durably in the store before it returns;
//     a sequencer goroutine publishes an epoch within EpochDelay (≤ 1 s) of
//     the first unpublished update, and a heartbeat epoch at least every
//     Heartbeat (≤ 60 s) even with no change.
//   - Lookups are answered from the tree of the latest PUBLISHED epoch, with
//     the checkpoint that publishes it (its size is that epoch + 1), and prove
//     where the leaf was listed as a change; trees older than RetainEpochs
//     are dropped.
//   - An epoch's change list is stored (PutKeyLogChanges) before its entry is
//     appended. On Open the last listed leaf hash of every index is rebuilt
//     from the stored lists (checked against the last entry's head), so the
//     first epoch after a restart lists everything that changed while down.
//     A log holding an entry of format 1 is refused (ErrOldFormat).
//   - A device list the store accepted but Update did not record (an error,
//     a crash) is found by the sequencer in the store and recorded later:
//     never lost. On restart the tree is rebuilt from the store and the next
//     epoch continues the log.
//   - The log key (Dir/log.key, a note signer key whose name is the origin)
//     and the VRF key (Dir/vrf.key) are created on first start with mode
//     0600. An origin that differs from the stored key's is refused
//     (ErrIdentity): clients pin both.
package keylog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"backchannel/keylog/prefix"
	"backchannel/store"
)

// Names and defaults.
const (
	OriginPrefix      = "backchannel/keylog/" // the origin is OriginPrefix + host
	LogKeyFile        = "log.key"             // the note signer key, in Config.Dir
	VRFKeyFile        = "vrf.key"             // the VRF private key, in Config.Dir
	TilesDir          = "tiles"               // Tessera's POSIX storage, in Config.Dir
	DefaultHeartbeat  = 60 * time.Second      // the longest time between two epochs
	DefaultEpochDelay = 200 * time.Millisecond
	MaxEpochDelay     = time.Second // the spec's bound: an update is in an epoch within 1 s
	rebuildPage       = 1000
	// ChangesPageSize is about how many changes one Changes page holds (a
	// record is never split, so a page may hold more).
	ChangesPageSize = 4096
	reconcileEvery  = 10 * time.Minute
)

// Sentinel errors.
var (
	// ErrNotFound: no such account in the published epoch.
	ErrNotFound = errors.New("no such account")
	// ErrNotReady: no epoch has been published since the log opened.
	ErrNotReady = errors.New("no epoch published yet")
	// ErrRange: tree sizes or epochs of a request out of range.
	ErrRange = errors.New("tree size out of range")
	// ErrOldFormat: the log holds entries of an older format than this server writes.
	ErrOldFormat = errors.New("this key log was written by an older version; start the server with a new data directory")
	// ErrIdentity: the configured origin or keys do not match the log's.
	ErrIdentity = errors.New("the key log changed identity")
	// ErrSequenced: a Backend's Append failed after the entry got its log
	// index; the entry is in the log and will be published.
	ErrSequenced = errors.New("the entry is in the log, but its checkpoint was not read")
	// ErrClosed: the log has been closed.
	ErrClosed = errors.New("closed")
	// ErrCorrupt: the stored log or leaves are inconsistent with this server.
	ErrCorrupt = errors.New("inconsistent log state")
)

// Store is what the log needs from the server's store: its leaf state and
// the stored device lists (for lookups and for catching up).
type Store interface {
	store.KeyLog
	DeviceLists(ctx context.Context, user string, after uint64, limit int) ([][]byte, uint64, error)
}

// Lookup is the JSON of GET /v1/keylog/lookup/{user} (byte fields are
// standard base64).
type Lookup struct {
	Checkpoint string   `json:"checkpoint"` // the signed note of the latest published checkpoint, size S
	Epoch      uint64   `json:"epoch"`      // S-1
	Entry      []byte   `json:"entry"`      // the epoch entry (prefix.EntrySize bytes)
	Inclusion  [][]byte `json:"inclusion"`  // RFC 6962 inclusion proof of index Epoch in the tree of size S
	VRFProof   []byte   `json:"vrf_proof"`  // 80 bytes
	Updates    uint64   `json:"updates"`
	Version    uint64   `json:"version"`
	Nonce      []byte   `json:"nonce"`       // 32 bytes
	Path       [][]byte `json:"path"`        // prefix-tree siblings, deepest first
	DeviceList []byte   `json:"device_list"` // the device list with that version
	Changed    *Changed `json:"changed"`     // where this leaf was listed as a change
}

// Changed proves that a lookup's leaf was listed as a change (docs/protocol.md
// §16, "What a client verifies", step 8).
type Changed struct {
	Epoch     uint64   `json:"epoch"`     // U ≤ the lookup's epoch: the epoch whose changes list the leaf
	Entry     []byte   `json:"entry"`     // entry U
	Inclusion [][]byte `json:"inclusion"` // RFC 6962 inclusion proof of index U in the lookup's checkpoint tree
	Position  int      `json:"position"`  // the change's position among entry U's k changes
	Path      [][]byte `json:"path"`      // its change proof (RFC 9162 inclusion path), deepest first
}

// ChangesPage is the JSON of GET /v1/keylog/changes: the change lists of the
// epochs with changes from the request's from through Through, ascending.
type ChangesPage struct {
	Through uint64         `json:"through"` // the last epoch this page covers (≤ the request's to)
	Records []ChangeRecord `json:"records"`
}

// ChangeRecord is the change list of one epoch.
type ChangeRecord struct {
	Epoch   uint64   `json:"epoch"`
	Changes [][]byte `json:"changes"` // prefix.ChangeSize bytes each: index || leaf_hash, ascending
}

// State is one leaf state of an account (GET /v1/keylog/own).
type State struct {
	Updates uint64 `json:"updates"`
	Version uint64 `json:"version"`
	Nonce   []byte `json:"nonce"` // 32 bytes
}

// OwnStates is the JSON of GET /v1/keylog/own.
type OwnStates struct {
	States []State `json:"states"`
}

// Info is the JSON of GET /v1/keylog/info.
type Info struct {
	Origin string `json:"origin"`
	LogKey string `json:"log_key"` // note verifier key text
	VRFKey []byte `json:"vrf_key"` // 32 bytes
}

// ConsistencyProof is the JSON of GET /v1/keylog/consistency.
type ConsistencyProof struct {
	Proof [][]byte `json:"proof"`
}

// Epoch describes a published epoch.
type Epoch struct {
	Entry      prefix.Entry
	Size       uint64 // the checkpoint's tree size (Entry.Epoch + 1)
	Checkpoint []byte // the signed note
}

// Origin returns the origin for host.
func Origin(host string) string { return OriginPrefix + host }

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(""+format+": %w", append(args, err)...)
}
