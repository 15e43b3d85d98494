package devicelink

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"backchannel/entropy"
)

// Sizes and limits of a link code (docs/protocol.md section 15).
const (
	// CodePrefix starts every link code.
	CodePrefix = "bcl1-"
	// CodeVersion is the first byte of the encoded code.
	CodeVersion = 1
	// LinkIDSize is the length of the link id the relay sees.
	LinkIDSize = 16
	// SecretSize is the length of the secret only the two devices see.
	SecretSize = 32
	// MaxServerLen bounds the server URL carried in a code.
	MaxServerLen = 512
)

// maxCodeLen bounds the text ParseCode accepts, before decoding.
var maxCodeLen = len(CodePrefix) + base64.RawURLEncoding.EncodedLen(1+2+MaxServerLen+LinkIDSize+SecretSize)

// Errors of ParseCode. Every one wraps ErrBadCode.
var (
	ErrBadCode     = errors.New("not a valid link code")
	ErrNotCode     = fmt.Errorf("%w: it does not start with %q", ErrBadCode, CodePrefix)
	ErrCodeVersion = fmt.Errorf("%w: made by a newer version of backchannel (upgrade this one)", ErrBadCode)
)

// Code is a one-time link code: the relay server's URL, the link id (the
// relay slot, which the server sees) and a secret (which it never sees).
// The zero Code is not valid; make one with NewCode or ParseCode.
type Code struct {
	server string
	id     [LinkIDSize]byte
	secret [SecretSize]byte
}

// NewCode draws a fresh link id and secret for a link through server (an
// http or https URL).
func NewCode(src entropy.Source, server string) (Code, error) {
	if err := checkServer(server); err != nil {
		return Code{}, err
	}
	c := Code{server: server}
	if err := src.Bytes(c.id[:]); err != nil {
		return Code{}, fmt.Errorf("link id: %w", err)
	}
	if err := src.Bytes(c.secret[:]); err != nil {
		return Code{}, fmt.Errorf("link secret: %w", err)
	}
	return c, nil
}

func checkServer(server string) error {
	if len(server) == 0 || len(server) > MaxServerLen {
		return fmt.Errorf("%w: the server URL must be 1 to %d bytes", ErrBadCode, MaxServerLen)
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: %q is not an http or https server URL", ErrBadCode, server)
	}
	return nil
}

// Server returns the URL of the relay server.
func (c Code) Server() string { return c.server }

// LinkID returns a copy of the 16-byte link id (the relay slot).
func (c Code) LinkID() []byte { return bytes.Clone(c.id[:]) }

// ID returns the link id in hex, as the relay's URLs spell it.
func (c Code) ID() string { return hex.EncodeToString(c.id[:]) }

// String returns the code as the user copies it. It contains the secret.
func (c Code) String() string {
	b := make([]byte, 0, 3+len(c.server)+LinkIDSize+SecretSize)
	b = append(b, CodeVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.server)))
	b = append(b, c.server...)
	b = append(b, c.id[:]...)
	b = append(b, c.secret[:]...)
	return CodePrefix + base64.RawURLEncoding.EncodeToString(b)
}

// ParseCode parses a code as String writes it. Spaces and line breaks
// anywhere are ignored (a code pasted from a wrapped terminal line). A
// mistyped character in the server URL or the length shows here; one in the
// secret cannot (a code carries no checksum) and shows as ErrNotAuthentic
// when the primary opens the request.
func ParseCode(s string) (Code, error) {
	s = strings.Join(strings.Fields(s), "")
	if len(s) > maxCodeLen {
		return Code{}, fmt.Errorf("%w: %d characters is longer than any link code", ErrBadCode, len(s))
	}
	body, ok := strings.CutPrefix(s, CodePrefix)
	if !ok {
		if strings.HasPrefix(strings.ToLower(s), CodePrefix) {
			return Code{}, fmt.Errorf("%w: the code is case-sensitive (it starts with %q)", ErrBadCode, CodePrefix)
		}
		return Code{}, ErrNotCode
	}
	if i := strings.IndexFunc(body, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}); i >= 0 {
		return Code{}, fmt.Errorf("%w: character %d (%q) cannot appear in a link code", ErrBadCode, len(CodePrefix)+i+1, body[i])
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		return Code{}, fmt.Errorf("%w: it is cut short or has a mistyped last character", ErrBadCode)
	}
	if len(b) < 1 {
		return Code{}, fmt.Errorf("%w: it is empty after %q", ErrBadCode, CodePrefix)
	}
	if b[0] != CodeVersion {
		return Code{}, fmt.Errorf("%w (version %d)", ErrCodeVersion, b[0])
	}
	if len(b) < 3 {
		return Code{}, fmt.Errorf("%w: it is cut short", ErrBadCode)
	}
	n := int(binary.BigEndian.Uint16(b[1:3]))
	want := 3 + n + LinkIDSize + SecretSize
	switch {
	case n > MaxServerLen:
		return Code{}, fmt.Errorf("%w: it names a %d-byte server URL (mistyped near the start?)", ErrBadCode, n)
	case len(b) < want:
		return Code{}, fmt.Errorf("%w: it is %d bytes short (was it copied completely?)", ErrBadCode, want-len(b))
	case len(b) > want:
		return Code{}, fmt.Errorf("%w: it has %d bytes too many (extra characters at the end?)", ErrBadCode, len(b)-want)
	}
	c := Code{server: string(b[3 : 3+n])}
	if err := checkServer(c.server); err != nil {
		return Code{}, err
	}
	copy(c.id[:], b[3+n:])
	copy(c.secret[:], b[3+n+LinkIDSize:])
	return c, nil
}
