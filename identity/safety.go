package identity

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"strings"
)

// Safety-number parameters, as in docs/protocol.md section "Safety numbers".
const (
	SafetyNumberLabel      = "backchannel safety number v1"
	SafetyNumberIterations = 5200
	SafetyNumberDigits     = 60
)

// fingerprint returns the 30-digit half of a safety number for one identity:
// iterated SHA-512 over the label, the key and the user name, read as six
// 5-byte big-endian integers reduced mod 100000.
func fingerprint(name string, key []byte) string {
	h := sha512.New()
	h.Write([]byte(SafetyNumberLabel))
	h.Write([]byte{0})
	h.Write(key)
	h.Write([]byte(name))
	d := h.Sum(nil)
	for i := 1; i < SafetyNumberIterations; i++ {
		h.Reset()
		h.Write(d)
		h.Write(key)
		d = h.Sum(d[:0])
	}
	var sb strings.Builder
	for i := 0; i < 6; i++ {
		var buf [8]byte
		copy(buf[3:], d[i*5:i*5+5])
		fmt.Fprintf(&sb, "%05d", binary.BigEndian.Uint64(buf[:])%100000)
	}
	return sb.String()
}

// SafetyNumber returns the 60-digit number two users compare to authenticate
// each other's identity keys. Both sides compute the same digits: the two
// 30-digit halves are ordered by (key, name), not by who is local.
func SafetyNumber(nameA string, keyA []byte, nameB string, keyB []byte) string {
	fa, fb := fingerprint(nameA, keyA), fingerprint(nameB, keyB)
	c := bytes.Compare(keyA, keyB)
	if c > 0 || (c == 0 && nameA > nameB) {
		fa, fb = fb, fa
	}
	return fa + fb
}

// FormatSafetyNumber groups a 60-digit safety number into twelve blocks of
// five digits, three lines of four blocks: the stable text form users read aloud.
func FormatSafetyNumber(n string) string {
	var sb strings.Builder
	for i := 0; i+5 <= len(n); i += 5 {
		if i > 0 {
			if i%20 == 0 {
				sb.WriteByte('\n')
			} else {
				sb.WriteByte(' ')
			}
		}
		sb.WriteString(n[i : i+5])
	}
	return sb.String()
}
