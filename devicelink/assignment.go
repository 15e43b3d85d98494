package devicelink

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"
)

// Assignment is what the primary sends next to its hello, in clear: the id
// and time of the device-list entry the new device must counter-sign, and
// the account it joins (docs/protocol.md section 15, "The client's use of
// the relay slots"). A relay that changes it only makes the
// counter-signature fail the primary's check.
type Assignment struct {
	ID      uint32
	AddedAt time.Time // whole seconds
	Account string
	Key     []byte // the account key, 32 bytes
}

// Marshal encodes u32(id) || i64(added_at) || u8(len(account)) || account || key.
func (a Assignment) Marshal() []byte {
	b := binary.BigEndian.AppendUint32(nil, a.ID)
	b = binary.BigEndian.AppendUint64(b, uint64(a.AddedAt.Unix()))
	b = append(b, byte(len(a.Account)))
	b = append(b, a.Account...)
	return append(b, a.Key...)
}

// ParseAssignment decodes an assignment strictly.
func ParseAssignment(b []byte) (Assignment, error) {
	var a Assignment
	if len(b) < 13 {
		return a, fmt.Errorf("%w: the device assignment is %d bytes", ErrMalformed, len(b))
	}
	a.ID = binary.BigEndian.Uint32(b)
	a.AddedAt = time.Unix(int64(binary.BigEndian.Uint64(b[4:])), 0).UTC()
	n := int(b[12])
	if n == 0 || len(b) != 13+n+32 {
		return a, fmt.Errorf("%w: the device assignment's length does not match its account name", ErrMalformed)
	}
	a.Account, a.Key = string(b[13:13+n]), bytes.Clone(b[13+n:])
	return a, nil
}
