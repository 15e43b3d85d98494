package loadtest

import (
	"encoding/binary"
	"errors"
)

// Plaintext layout of every load-tool message (all sizes in bytes):
//
//	kind (1) || sender index (4) || sequence (4) || send time, Unix ns (8) || filler
//
// The filler is a deterministic function of (sender, sequence), so the reader
// can check that what it decrypted is exactly what was sent.
const (
	kindMessage = 'M' // a measured message
	kindHello   = 'H' // a sender's first (prekey) message of the setup
	kindReply   = 'R' // the reader's reply, which completes the handshake

	headerSize = 17
	// MinSize is the smallest message size the load tool supports.
	MinSize = headerSize + 8
)

var errCorrupt = errors.New("decrypted payload differs from what was sent")

func putPayload(p []byte, kind byte, sender, seq uint32, sentNanos int64) {
	p[0] = kind
	binary.BigEndian.PutUint32(p[1:], sender)
	binary.BigEndian.PutUint32(p[5:], seq)
	binary.BigEndian.PutUint64(p[9:], uint64(sentNanos))
	fill(p[headerSize:], sender, seq)
}

// fill writes the filler for (sender, seq).
func fill(b []byte, sender, seq uint32) { fillAt(b, sender, seq, 0) }

type payload struct {
	kind      byte
	sender    uint32
	seq       uint32
	sentNanos int64
}

// parsePayload decodes and checks a plaintext of the expected size.
func parsePayload(p []byte, size int) (payload, error) {
	if len(p) != size || len(p) < MinSize {
		return payload{}, errCorrupt
	}
	pl := payload{
		kind:      p[0],
		sender:    binary.BigEndian.Uint32(p[1:]),
		seq:       binary.BigEndian.Uint32(p[5:]),
		sentNanos: int64(binary.BigEndian.Uint64(p[9:])),
	}
	var want [64]byte
	rest := p[headerSize:]
	for off := 0; off < len(rest); off += len(want) {
		n := min(len(want), len(rest)-off)
		fillAt(want[:n], pl.sender, pl.seq, off)
		if string(want[:n]) != string(rest[off:off+n]) {
			return payload{}, errCorrupt
		}
	}
	return pl, nil
}

// fillAt writes the splitmix64 stream seeded with (sender, seq), starting
// at byte offset off (a multiple of 8).
func fillAt(b []byte, sender, seq uint32, off int) {
	x := uint64(sender)<<32 | uint64(seq)
	x += uint64(off/8) * 0x9e3779b97f4a7c15
	for len(b) > 0 {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], z)
		b = b[copy(b, w[:]):]
	}
}
