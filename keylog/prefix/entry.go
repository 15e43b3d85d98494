package prefix

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Entry is one epoch of the key log, the log entry at log index Epoch:
//
//	entry = 0x01 (format) || u64(epoch) || i64(unix time, seconds) || root (32) || u64(leaf count)
type Entry struct {
	Epoch  uint64
	Time   time.Time // whole seconds are kept; Marshal drops the rest
	Root   Hash      // the prefix tree's root at this epoch
	Leaves uint64    // the number of accounts (leaves) in the tree
}

// Marshal returns the EntrySize-byte encoding of e.
func (e Entry) Marshal() []byte {
	b := make([]byte, EntrySize)
	b[0] = EntryFormat
	binary.BigEndian.PutUint64(b[1:], e.Epoch)
	binary.BigEndian.PutUint64(b[9:], uint64(e.Time.Unix()))
	copy(b[17:], e.Root[:])
	binary.BigEndian.PutUint64(b[49:], e.Leaves)
	return b
}

// ParseEntry decodes an epoch entry strictly: exactly EntrySize bytes, format
// byte EntryFormat, and a root that is Empty exactly when the leaf count is 0.
// Errors wrap ErrMalformed. The returned Time is in UTC.
func ParseEntry(b []byte) (Entry, error) {
	if len(b) != EntrySize {
		return Entry{}, fmt.Errorf("%w: epoch entry of %d bytes, want %d", ErrMalformed, len(b), EntrySize)
	}
	if b[0] != EntryFormat {
		return Entry{}, fmt.Errorf("%w: epoch entry format %d, want %d", ErrMalformed, b[0], EntryFormat)
	}
	e := Entry{
		Epoch:  binary.BigEndian.Uint64(b[1:]),
		Time:   time.Unix(int64(binary.BigEndian.Uint64(b[9:])), 0).UTC(),
		Leaves: binary.BigEndian.Uint64(b[49:]),
	}
	copy(e.Root[:], b[17:49])
	if (e.Leaves == 0) != (e.Root == Empty) {
		return Entry{}, fmt.Errorf("%w: epoch entry with %d leaves and root %x", ErrMalformed, e.Leaves, e.Root[:4])
	}
	return e, nil
}
