// Package pad hides how long a plaintext is, and makes every recipient's
// copy of one message exactly as long as every other's.
//
// Contract:
//
//   - Padme(n) is the Padmé length of n (Nikitin et al., "Reducing Metadata
//     Leakage from Encrypted Files and Communication with PURBs", PoPETs
//     2019): n rounded up so that only its top floor(log2 floor(log2 n))+1
//     bits may be non-zero. It adds less than n/2^S bytes, S =
//     floor(log2 floor(log2 n))+1: under 12.5% from 16 bytes, 6.25% from 256,
//     3.2% from 64 KiB; the padded length leaks O(log log n) bits of n.
//     Padme is idempotent and monotonic.
//
//   - Target returns the one padded length for a set of plaintexts that
//     must look alike (the copies of one message, one per recipient): the
//     Padmé length of the longest, with the frame's header. It depends on the
//     whole set, never on which member of the set a copy is, so copies padded
//     to it are indistinguishable by length.
//
//   - Frame and Unframe are the padded frame of docs/protocol.md section 13,
//     "Padding":
//
//     frame = FrameVersion (1 byte) || uint32 big-endian n || m (n bytes) || 0x00 × k
//
//     whose total length is a Padmé length. Unframe is strict: a wrong
//     version, a length field beyond the frame, a non-zero padding byte or a
//     total length that is not a Padmé length is ErrMalformed, so one
//     plaintext has exactly one frame of a given length.
//
//   - Zeros checks the padding of a document blob (its plaintext followed by
//     zero bytes up to a Padmé length, section 13, "Padding").
package pad

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// FrameVersion is the first byte of a padded frame.
const FrameVersion = 0x01

// HeaderSize is the frame's header: the version byte and the length.
const HeaderSize = 5

// MaxFrame bounds a frame (and so its plaintext): the ratchet's 1 MiB.
const MaxFrame = 1 << 20

// Errors.
var (
	// ErrMalformed: the bytes are not a padded frame (or a blob's padding is
	// wrong): refuse them.
	ErrMalformed = errors.New("malformed padding")
	// ErrTooLong: the plaintext does not fit the frame asked for.
	ErrTooLong = errors.New("plaintext too long for its padded length")
)

// Padme returns the Padmé length of n (n for n < 2).
func Padme(n int) int {
	if n < 2 {
		return n
	}
	e := bits.Len(uint(n)) - 1 // floor(log2 n)
	s := bits.Len(uint(e))     // floor(log2 e) + 1
	last := e - s              // low bits that padding clears
	if last <= 0 {
		return n
	}
	mask := 1<<last - 1
	return (n + mask) &^ mask
}

// Target returns the frame length for plaintexts of the given lengths: the
// Padmé length of the longest plus the header. All of them framed to it are
// the same length.
func Target(lengths ...int) int {
	longest := 0
	for _, n := range lengths {
		longest = max(longest, n)
	}
	return Padme(HeaderSize + longest)
}

// Frame returns m in a padded frame of exactly size bytes. size must be a
// Padmé length that holds m and its header (Target gives one).
func Frame(m []byte, size int) ([]byte, error) {
	switch {
	case size > MaxFrame || size != Padme(size):
		return nil, fmt.Errorf("%w: frame size %d is not a padded length", ErrTooLong, size)
	case HeaderSize+len(m) > size:
		return nil, fmt.Errorf("%w: %d bytes in a frame of %d", ErrTooLong, len(m), size)
	}
	out := make([]byte, size)
	out[0] = FrameVersion
	binary.BigEndian.PutUint32(out[1:HeaderSize], uint32(len(m)))
	copy(out[HeaderSize:], m)
	return out, nil
}

// Unframe returns the plaintext of a padded frame (a sub-slice of b).
func Unframe(b []byte) ([]byte, error) {
	switch {
	case len(b) < HeaderSize:
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header", ErrMalformed, len(b))
	case b[0] != FrameVersion:
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	case len(b) > MaxFrame || len(b) != Padme(len(b)):
		return nil, fmt.Errorf("%w: %d bytes is not a padded length", ErrMalformed, len(b))
	}
	n := binary.BigEndian.Uint32(b[1:HeaderSize])
	if uint64(n) > uint64(len(b)-HeaderSize) {
		return nil, fmt.Errorf("%w: length %d in a frame of %d", ErrMalformed, n, len(b))
	}
	end := HeaderSize + int(n)
	for _, c := range b[end:] {
		if c != 0 {
			return nil, fmt.Errorf("%w: non-zero padding", ErrMalformed)
		}
	}
	return b[HeaderSize:end:end], nil
}

// BlobSize returns the padded plaintext length of a set of document copies
// of the given sizes: the Padmé length of the longest. Each copy is
// followed by zero bytes up to it.
func BlobSize(sizes ...int64) int64 {
	longest := int64(0)
	for _, n := range sizes {
		longest = max(longest, n)
	}
	return int64(Padme(int(longest)))
}

// ValidBlobSize reports whether padded is a padded blob length that can
// hold size bytes.
func ValidBlobSize(size, padded int64) bool {
	return size >= 0 && padded >= size && padded == int64(Padme(int(padded)))
}

// Zeros reads r to its end and checks that it holds exactly n zero bytes.
func Zeros(r io.Reader, n int64) error {
	buf := make([]byte, 32<<10)
	var got int64
	for {
		k, err := r.Read(buf)
		for _, c := range buf[:k] {
			if c != 0 {
				return fmt.Errorf("%w: non-zero padding after the document", ErrMalformed)
			}
		}
		got += int64(k)
		if got > n {
			return fmt.Errorf("%w: more than %d bytes of padding", ErrMalformed, n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if got != n {
		return fmt.Errorf("%w: %d bytes of padding, %d expected", ErrMalformed, got, n)
	}
	return nil
}
