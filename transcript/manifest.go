package transcript

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Copy manifests (docs/protocol.md section 13, "Rooms, marked copies and
// the transcript"). Every recipient of a message receives a differently
// marked copy, so a message entry commits to a manifest: one salted
// commitment per member's copy and, from version 2 on, one commitment to
// the canonical text — the words every copy shares once the marks are
// folded away. Each recipient opens its own line with its own copy and
// checks that its copy's canonical text is the committed one; so a sender
// who gives two members copies that differ in meaning (not only in marks)
// under one signed entry is caught by whichever member got the odd copy,
// and that member's copy and salt are proof against the sender.

// Labels and sizes of the manifest, as in docs/protocol.md section 13.
const (
	CopyCommitmentLabel      = "backchannel copy commitment v1"
	CanonicalCommitmentLabel = "backchannel canonical text v1"
	ManifestHeaderV1         = "backchannel copies v1\n"
	ManifestHeader           = "backchannel copies v2\n"
	// CanonicalLinePrefix starts the canonical line of a version 2
	// manifest; the colon cannot occur in a member name, so the line
	// never reads as a member's.
	CanonicalLinePrefix = "canonical: "
	CopySaltSize        = 32
	// MaxManifestMembers bounds the member lines of a manifest.
	MaxManifestMembers = 1024
)

// Sentinel errors of the manifest checks.
var (
	ErrManifest = errors.New("malformed copy manifest")
	// ErrNotInManifest: the manifest has no line for the member.
	ErrNotInManifest = errors.New("the manifest lists no copy for this member")
	// ErrCopyMismatch: the text and salt do not open the member's line.
	ErrCopyMismatch = errors.New("the text is not the copy the entry commits to")
	// ErrNoCanonical: a version 1 manifest commits to no canonical text.
	ErrNoCanonical = errors.New("the manifest commits to no canonical text (an older format)")
	// ErrDifferentMeaning: a copy's canonical text is not the one the
	// entry commits to for every member.
	ErrDifferentMeaning = errors.New("the copy's words differ from the text the entry commits to for every member")
)

// CommitCopy returns SHA-256(CopyCommitmentLabel || 0x00 || salt || copy).
func CommitCopy(salt []byte, copy string) Hash {
	h := sha256.New()
	h.Write([]byte(CopyCommitmentLabel))
	h.Write([]byte{0})
	h.Write(salt)
	h.Write([]byte(copy))
	var out Hash
	h.Sum(out[:0])
	return out
}

// CommitCanonical returns SHA-256(CanonicalCommitmentLabel || 0x00 ||
// canonical). It is not salted: whoever sees a manifest (a member, or the
// reader of an export that discloses it) also holds a copy, whose
// canonical text it already knows.
func CommitCanonical(canonical string) Hash {
	h := sha256.New()
	h.Write([]byte(CanonicalCommitmentLabel))
	h.Write([]byte{0})
	h.Write([]byte(canonical))
	var out Hash
	h.Sum(out[:0])
	return out
}

// Manifest is a parsed copy manifest.
type Manifest struct {
	Version   int  // 1 or 2
	Canonical Hash // version 2 only
	// Copies maps each member to the commitment to its copy.
	Copies map[string]Hash
}

// NewManifest returns a version 2 manifest over the commitment to the
// canonical text and the members' copy commitments.
func NewManifest(canonical Hash, copies map[string]Hash) *Manifest {
	return &Manifest{Version: 2, Canonical: canonical, Copies: copies}
}

// Members returns the member names in the manifest's (sorted) order.
func (m *Manifest) Members() []string {
	out := make([]string, 0, len(m.Copies))
	for u := range m.Copies {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Encode returns the manifest's one encoding:
//
//	version 1: "backchannel copies v1\n" || per member, sorted: name " " hex(commitment) "\n"
//	version 2: "backchannel copies v2\n" || "canonical: " hex(canonical commitment) "\n" || the member lines
func (m *Manifest) Encode() []byte {
	var b bytes.Buffer
	if m.Version == 1 {
		b.WriteString(ManifestHeaderV1)
	} else {
		b.WriteString(ManifestHeader)
		b.WriteString(CanonicalLinePrefix)
		b.WriteString(hex.EncodeToString(m.Canonical[:]))
		b.WriteByte('\n')
	}
	for _, u := range m.Members() {
		c := m.Copies[u]
		b.WriteString(u)
		b.WriteByte(' ')
		b.WriteString(hex.EncodeToString(c[:]))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// validMemberName is the account name rule of docs/protocol.md section
// 14: 1 to 32 bytes of [a-z0-9_-].
func validMemberName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func parseHexHash(s string) (Hash, bool) {
	var h Hash
	if len(s) != 2*HashSize || strings.ToLower(s) != s {
		return h, false
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, false
	}
	return h, true
}

// ParseManifest parses a manifest strictly: exactly the bytes Encode
// produces for some manifest (lower-case hex, members sorted and unique,
// every line ended by a newline, nothing else).
func ParseManifest(b []byte) (*Manifest, error) {
	s := string(b)
	m := &Manifest{Copies: map[string]Hash{}}
	switch {
	case strings.HasPrefix(s, ManifestHeader):
		m.Version, s = 2, s[len(ManifestHeader):]
		line, rest, ok := strings.Cut(s, "\n")
		hx, isCanon := strings.CutPrefix(line, CanonicalLinePrefix)
		if !ok || !isCanon {
			return nil, fmt.Errorf("%w: no canonical line", ErrManifest)
		}
		h, ok := parseHexHash(hx)
		if !ok {
			return nil, fmt.Errorf("%w: canonical commitment is not 64 lower-case hex digits", ErrManifest)
		}
		m.Canonical, s = h, rest
	case strings.HasPrefix(s, ManifestHeaderV1):
		m.Version, s = 1, s[len(ManifestHeaderV1):]
	default:
		return nil, fmt.Errorf("%w: unknown header", ErrManifest)
	}
	last := ""
	for s != "" {
		line, rest, ok := strings.Cut(s, "\n")
		if !ok {
			return nil, fmt.Errorf("%w: last line has no newline", ErrManifest)
		}
		name, hx, ok := strings.Cut(line, " ")
		if !ok || !validMemberName(name) {
			return nil, fmt.Errorf("%w: bad member line", ErrManifest)
		}
		if name <= last {
			return nil, fmt.Errorf("%w: members not sorted or listed twice", ErrManifest)
		}
		h, ok := parseHexHash(hx)
		if !ok {
			return nil, fmt.Errorf("%w: %s's commitment is not 64 lower-case hex digits", ErrManifest, name)
		}
		if len(m.Copies) == MaxManifestMembers {
			return nil, fmt.Errorf("%w: more than %d members", ErrManifest, MaxManifestMembers)
		}
		m.Copies[name], last, s = h, name, rest
	}
	if len(m.Copies) == 0 {
		return nil, fmt.Errorf("%w: no member lines", ErrManifest)
	}
	return m, nil
}

// OpenCopy checks that copy with salt opens member's line.
func (m *Manifest) OpenCopy(member string, salt []byte, copy string) error {
	want, ok := m.Copies[member]
	if !ok {
		return fmt.Errorf("%w (%s)", ErrNotInManifest, member)
	}
	got := CommitCopy(salt, copy)
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return ErrCopyMismatch
	}
	return nil
}

// CheckCanonical checks that canonical is the canonical text the manifest
// commits to: ErrNoCanonical for a version 1 manifest,
// ErrDifferentMeaning when it is another text.
func (m *Manifest) CheckCanonical(canonical string) error {
	if m.Version < 2 {
		return ErrNoCanonical
	}
	got := CommitCanonical(canonical)
	if subtle.ConstantTimeCompare(m.Canonical[:], got[:]) != 1 {
		return ErrDifferentMeaning
	}
	return nil
}
