package prefix

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Entry is one epoch of the key log, the log entry at log index Epoch:
//
//	entry = 0x02 (format) || u64(epoch) || i64(unix time, seconds) || root (32) || u64(leaf count)
//	        || u32(k) || changes_root (32) || head (32)
type Entry struct {
	Epoch       uint64
	Time        time.Time // whole seconds are kept; Marshal drops the rest
	Root        Hash      // the prefix tree's root at this epoch
	Leaves      uint64    // the number of accounts (leaves) in the tree
	Changes     uint32    // k: the number of changes this epoch lists
	ChangesRoot Hash      // ChangesRoot of the epoch's changes (Empty when k = 0)
	Head        Hash      // NextHead chained over every non-empty change list so far
}

// Marshal returns the EntrySize-byte encoding of e.
func (e Entry) Marshal() []byte {
	b := make([]byte, EntrySize)
	b[0] = EntryFormat
	binary.BigEndian.PutUint64(b[1:], e.Epoch)
	binary.BigEndian.PutUint64(b[9:], uint64(e.Time.Unix()))
	copy(b[17:49], e.Root[:])
	binary.BigEndian.PutUint64(b[49:], e.Leaves)
	binary.BigEndian.PutUint32(b[57:], e.Changes)
	copy(b[61:93], e.ChangesRoot[:])
	copy(b[93:125], e.Head[:])
	return b
}

// ParseEntry decodes an epoch entry strictly: exactly EntrySize bytes, format
// byte EntryFormat (format 1 entries are no longer accepted), a root that is
// Empty exactly when the leaf count is 0, a changes root that is Empty exactly
// when k is 0, k at most the leaf count, and a head that is not Empty when k > 0.
// Errors wrap ErrMalformed. The returned Time is in UTC.
func ParseEntry(b []byte) (Entry, error) {
	if len(b) != EntrySize {
		return Entry{}, fmt.Errorf("%w: epoch entry of %d bytes, want %d", ErrMalformed, len(b), EntrySize)
	}
	if b[0] != EntryFormat {
		return Entry{}, fmt.Errorf("%w: epoch entry format %d, want %d", ErrMalformed, b[0], EntryFormat)
	}
	e := Entry{
		Epoch:   binary.BigEndian.Uint64(b[1:]),
		Time:    time.Unix(int64(binary.BigEndian.Uint64(b[9:])), 0).UTC(),
		Leaves:  binary.BigEndian.Uint64(b[49:]),
		Changes: binary.BigEndian.Uint32(b[57:]),
	}
	copy(e.Root[:], b[17:49])
	copy(e.ChangesRoot[:], b[61:93])
	copy(e.Head[:], b[93:125])
	if (e.Leaves == 0) != (e.Root == Empty) {
		return Entry{}, fmt.Errorf("%w: epoch entry with %d leaves and root %x", ErrMalformed, e.Leaves, e.Root[:4])
	}
	if (e.Changes == 0) != (e.ChangesRoot == Empty) {
		return Entry{}, fmt.Errorf("%w: epoch entry with %d changes and changes root %x", ErrMalformed, e.Changes, e.ChangesRoot[:4])
	}
	if uint64(e.Changes) > e.Leaves {
		return Entry{}, fmt.Errorf("%w: epoch entry with %d changes but %d leaves", ErrMalformed, e.Changes, e.Leaves)
	}
	if e.Changes > 0 && e.Head == Empty {
		return Entry{}, fmt.Errorf("%w: epoch entry with %d changes and an empty head", ErrMalformed, e.Changes)
	}
	return e, nil
}
