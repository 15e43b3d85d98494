// Package devicelist is the signed, versioned, hash-chained list of an
// account's devices (docs/protocol.md section 14).
//
// Contract:
//
//   - The account (identity) key signs every list; each entry carries the
//     device's own counter-signature, made with the device signing key over
//     the account and the entry. A server that lacks the account key cannot
//     add a device, and the account key alone cannot enrol keys that no
//     device holds.
//   - Parse decodes strictly (the encoding is canonical: whatever parses
//     re-marshals to the same bytes) and verifies every signature. A *List
//     that came from Parse, Genesis or Next is valid; Marshal encodes any
//     *List as it is, so a hand-built one is valid only if Parse accepts
//     its bytes.
//   - Lists form a chain: version n+1 names the hash of version n, keeps
//     every remaining entry byte for byte, and gives new devices ids above
//     every id used before, so a removed device never comes back under its
//     old id and no entry is silently rewritten. VerifyNext checks one link,
//     VerifyChain a run of links from a pinned list (or from version 1).
//   - Peers encrypt only to the devices of the newest list they verified.
//     A list older than one accepted, or a different list of the same
//     version, is ErrRollback.
//
// Errors wrap the sentinels ErrMalformed, ErrSignature, ErrChain,
// ErrRollback and ErrUnknownDevice, which callers test with errors.Is.
package devicelist

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"backchannel/identity"
)

// Labels and sizes, word for word as in docs/protocol.md section 14.
const (
	ListLabel     = "backchannel device list v1"
	EntryLabel    = "backchannel device list entry v1"
	HashLabel     = "backchannel device list hash v1"
	FormatVersion = 1
	MaxDevices    = 16
	MaxNameLen    = 64
	MaxAccountLen = 32

	// KeySize is the size of IKU, DS and DH; SignatureSize of account_sig and device_sig.
	KeySize       = 32
	SignatureSize = ed25519.SignatureSize
	HashSize      = sha256.Size

	// headerSize is everything before the devices, for an account name of 0 bytes.
	headerSize = 1 + 1 + KeySize + 8 + HashSize + 8 + 4 + 1
	// entryFixedSize is a device entry without its name.
	entryFixedSize = 4 + KeySize + KeySize + 1 + 8 + SignatureSize

	// MinListSize and MaxListSize bound the encoding of a list.
	MinListSize = headerSize + 1 + (entryFixedSize + 1) + SignatureSize
	MaxListSize = headerSize + MaxAccountLen + MaxDevices*(entryFixedSize+MaxNameLen) + SignatureSize // 3463
)

var (
	// ErrMalformed reports bytes that do not parse exactly as a list, or a
	// list whose fields break the format rules (order, uniqueness, sizes,
	// names).
	ErrMalformed = errors.New("malformed device list")
	// ErrSignature reports an account or device signature that does not verify.
	ErrSignature = errors.New("signature does not verify")
	// ErrChain reports a list that does not extend the previous one.
	ErrChain = errors.New("list does not extend the previous one")
	// ErrRollback reports a list older than one already accepted: a lower
	// version, or the same version with a different hash (a fork).
	ErrRollback = errors.New("list is older than one already accepted")
	// ErrUnknownDevice reports a device id that the list does not hold.
	ErrUnknownDevice = errors.New("no such device in the list")
)

// Entry is one device of the account.
type Entry struct {
	ID         uint32
	SigningKey []byte // DS, Ed25519, 32 bytes
	DHKey      []byte // DH, X25519, 32 bytes
	Name       string // 1..MaxNameLen bytes of UTF-8, no control characters
	AddedAt    time.Time
	DeviceSig  []byte // by SigningKey over the entry (docs/protocol.md section 14)
}

// List is one version of an account's device list.
type List struct {
	Account    string
	AccountKey []byte // IKU, Ed25519, 32 bytes
	Version    uint64
	Prev       [32]byte // zero for version 1, else the Hash of version-1
	IssuedAt   time.Time
	MaxID      uint32 // the largest device id ever assigned in the account
	Devices    []Entry
	Signature  []byte // by AccountKey
}

// NewEntry makes the counter-signed entry for a device: the device signs,
// with its own signing key, that it joins account (whose identity key is
// accountKey) under id, with its DH key and name. The id is assigned by the
// primary device; a device being linked learns it from the primary.
func NewEntry(account string, accountKey []byte, id uint32, signingKey ed25519.PrivateKey, dhPublic []byte, name string, addedAt time.Time) (Entry, error) {
	if err := checkAccount(account); err != nil {
		return Entry{}, fmt.Errorf("new device list entry: %w", err)
	}
	if len(accountKey) != KeySize {
		return Entry{}, fmt.Errorf("new device list entry: %w: account key is %d bytes", ErrMalformed, len(accountKey))
	}
	if len(signingKey) != ed25519.PrivateKeySize {
		return Entry{}, fmt.Errorf("new device list entry: %w: signing key is %d bytes", ErrMalformed, len(signingKey))
	}
	if len(dhPublic) != KeySize {
		return Entry{}, fmt.Errorf("new device list entry: %w: DH key is %d bytes", ErrMalformed, len(dhPublic))
	}
	if id == 0 {
		return Entry{}, fmt.Errorf("new device list entry: %w: device id 0", ErrMalformed)
	}
	if err := checkName(name); err != nil {
		return Entry{}, fmt.Errorf("new device list entry: %w", err)
	}
	e := Entry{
		ID:         id,
		SigningKey: bytes.Clone(signingKey.Public().(ed25519.PublicKey)),
		DHKey:      bytes.Clone(dhPublic),
		Name:       name,
		AddedAt:    seconds(addedAt),
	}
	e.DeviceSig = ed25519.Sign(signingKey, e.signedBytes(account, accountKey))
	return e, nil
}

// Genesis makes version 1 of account's list, holding entries (in any
// order), signed by user's identity key. MaxID is the largest entry id.
func Genesis(account string, user *identity.User, entries []Entry, now time.Time) (*List, error) {
	if user == nil {
		return nil, errors.New("genesis: no account key")
	}
	l := &List{
		Account:    account,
		AccountKey: bytes.Clone(user.Public()),
		Version:    1,
		IssuedAt:   seconds(now),
		Devices:    sortedCopy(entries),
	}
	for _, e := range l.Devices {
		l.MaxID = max(l.MaxID, e.ID)
	}
	l.sign(user)
	out, err := Parse(l.Marshal())
	if err != nil {
		return nil, fmt.Errorf("genesis device list: %w", err)
	}
	return out, nil
}

// Next makes the version after prev with add appended and the ids in remove
// dropped, signed by user (whose key must be prev's account key). MaxID is
// raised to cover added ids, which must be above prev.MaxID. IssuedAt is now,
// or prev's IssuedAt if the clock reads earlier. It fails if the result
// would be empty or over MaxDevices, or if remove names a device that prev
// does not hold (ErrUnknownDevice). The result satisfies VerifyNext(prev, ·).
func Next(prev *List, user *identity.User, add []Entry, remove []uint32, now time.Time) (*List, error) {
	if prev == nil || user == nil {
		return nil, errors.New("next: no previous list or no account key")
	}
	if !bytes.Equal(user.Public(), prev.AccountKey) {
		return nil, fmt.Errorf("next version of the device list: %w: the signing user's key is not the account key of %q", ErrChain, prev.Account)
	}
	drop := make(map[uint32]bool, len(remove))
	for _, id := range remove {
		if _, ok := prev.Device(id); !ok {
			return nil, fmt.Errorf("next version of the device list: remove device %d: %w", id, ErrUnknownDevice)
		}
		drop[id] = true
	}
	var devices []Entry
	for _, e := range prev.Devices {
		if !drop[e.ID] {
			devices = append(devices, e)
		}
	}
	devices = append(devices, add...)
	if len(devices) == 0 || len(devices) > MaxDevices {
		return nil, fmt.Errorf("next version of the device list: %w: %d devices, want 1..%d", ErrMalformed, len(devices), MaxDevices)
	}
	issued := seconds(now)
	if issued.Before(prev.IssuedAt) {
		issued = prev.IssuedAt
	}
	l := &List{
		Account:    prev.Account,
		AccountKey: bytes.Clone(user.Public()),
		Version:    prev.Version + 1,
		Prev:       prev.Hash(),
		IssuedAt:   issued,
		MaxID:      prev.MaxID,
		Devices:    sortedCopy(devices),
	}
	for _, e := range add {
		l.MaxID = max(l.MaxID, e.ID)
	}
	l.sign(user)
	out, err := Parse(l.Marshal())
	if err != nil {
		return nil, fmt.Errorf("next version of the device list: %w", err)
	}
	if err := VerifyNext(prev, out); err != nil {
		return nil, fmt.Errorf("next version of the device list: %w", err)
	}
	return out, nil
}

// Marshal returns the wire form of l (docs/protocol.md section 14).
func (l *List) Marshal() []byte {
	b := l.appendBody(make([]byte, 0, l.size()))
	return append(b, l.Signature...)
}

// Hash returns ListHash(l) = SHA-256(HashLabel || Marshal()).
func (l *List) Hash() [32]byte {
	h := sha256.New()
	h.Write([]byte(HashLabel))
	h.Write(l.Marshal())
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Device returns the entry with the given id.
func (l *List) Device(id uint32) (Entry, bool) {
	i, ok := slices.BinarySearchFunc(l.Devices, id, func(e Entry, id uint32) int {
		switch {
		case e.ID < id:
			return -1
		case e.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		// Lists from Parse are sorted; a hand-built one may not be.
		for _, e := range l.Devices {
			if e.ID == id {
				return e, true
			}
		}
		return Entry{}, false
	}
	return l.Devices[i], true
}

// Has reports whether the list holds exactly this device: the id with these
// signing and DH keys.
func (l *List) Has(id uint32, signingKey, dhKey []byte) bool {
	e, ok := l.Device(id)
	return ok && bytes.Equal(e.SigningKey, signingKey) && bytes.Equal(e.DHKey, dhKey)
}

// Change is what differs between two lists of an account.
type Change struct {
	Added, Removed []Entry
}

// Diff returns the entries of new that old lacks (Added) and those of old
// that new lacks (Removed), each sorted by id. An entry whose id is in both
// but whose bytes differ (which VerifyNext refuses) is both removed and
// added. old may be nil: then every device of new is added.
func Diff(old, new *List) Change {
	var c Change
	if new != nil {
		for _, e := range new.Devices {
			if old == nil || !old.hasEntry(e) {
				c.Added = append(c.Added, e)
			}
		}
	}
	if old != nil {
		for _, e := range old.Devices {
			if new == nil || !new.hasEntry(e) {
				c.Removed = append(c.Removed, e)
			}
		}
	}
	slices.SortFunc(c.Added, byID)
	slices.SortFunc(c.Removed, byID)
	return c
}

func (l *List) hasEntry(e Entry) bool {
	f, ok := l.Device(e.ID)
	return ok && f.equal(e)
}

// equal reports whether two entries encode to the same bytes.
func (e Entry) equal(f Entry) bool {
	return e.ID == f.ID && bytes.Equal(e.SigningKey, f.SigningKey) && bytes.Equal(e.DHKey, f.DHKey) &&
		e.Name == f.Name && e.AddedAt.Unix() == f.AddedAt.Unix() && bytes.Equal(e.DeviceSig, f.DeviceSig)
}

func byID(a, b Entry) int {
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

func sortedCopy(entries []Entry) []Entry {
	out := slices.Clone(entries)
	slices.SortStableFunc(out, byID)
	return out
}

// seconds drops what the encoding cannot carry (sub-seconds, the location),
// so that a list compares equal to its parsed copy.
func seconds(t time.Time) time.Time { return time.Unix(t.Unix(), 0).UTC() }

// ---- encoding -----------------------------------------------------------------------------

func (l *List) size() int {
	n := headerSize + len(l.Account) + len(l.Signature)
	for _, e := range l.Devices {
		n += entryFixedSize + len(e.Name)
	}
	return n
}

// appendBody appends the list bytes before account_sig.
func (l *List) appendBody(b []byte) []byte {
	b = append(b, FormatVersion)
	b = append(b, byte(len(l.Account)))
	b = append(b, l.Account...)
	b = append(b, l.AccountKey...)
	b = binary.BigEndian.AppendUint64(b, l.Version)
	b = append(b, l.Prev[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(l.IssuedAt.Unix()))
	b = binary.BigEndian.AppendUint32(b, l.MaxID)
	b = append(b, byte(len(l.Devices)))
	for _, e := range l.Devices {
		b = e.appendTo(b)
	}
	return b
}

// appendTo appends the device encoding (with device_sig).
func (e Entry) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, e.ID)
	b = append(b, e.SigningKey...)
	b = append(b, e.DHKey...)
	b = append(b, byte(len(e.Name)))
	b = append(b, e.Name...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.AddedAt.Unix()))
	return append(b, e.DeviceSig...)
}

// signedBytes is the message of device_sig:
// EntryLabel || u8(len(account)) || account || IKU || u32(id) || DS || DH || u8(len(name)) || name || i64(added_at).
func (e Entry) signedBytes(account string, accountKey []byte) []byte {
	b := make([]byte, 0, len(EntryLabel)+1+len(account)+KeySize+entryFixedSize+len(e.Name))
	b = append(b, EntryLabel...)
	b = append(b, byte(len(account)))
	b = append(b, account...)
	b = append(b, accountKey...)
	b = binary.BigEndian.AppendUint32(b, e.ID)
	b = append(b, e.SigningKey...)
	b = append(b, e.DHKey...)
	b = append(b, byte(len(e.Name)))
	b = append(b, e.Name...)
	return binary.BigEndian.AppendUint64(b, uint64(e.AddedAt.Unix()))
}

// signedBytes is the message of account_sig: ListLabel || list bytes before account_sig.
func (l *List) signedBytes() []byte {
	return l.appendBody(append(make([]byte, 0, len(ListLabel)+l.size()), ListLabel...))
}

func (l *List) sign(user *identity.User) { l.Signature = user.Sign(l.signedBytes()) }

// ---- decoding -----------------------------------------------------------------------------

// Parse decodes a list strictly and verifies its account signature and every
// device signature. Errors wrap ErrMalformed or ErrSignature.
func Parse(b []byte) (*List, error) {
	l, err := decode(b)
	if err != nil {
		return nil, err
	}
	if err := l.verifySignatures(nil); err != nil {
		return nil, err
	}
	return l, nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrMalformed)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// decode parses b and checks every format rule, but no signature.
func decode(b []byte) (*List, error) {
	if len(b) > MaxListSize {
		return nil, malformed("%d bytes, at most %d", len(b), MaxListSize)
	}
	r := &reader{b: b}
	if v := r.u8(); r.err == nil && v != FormatVersion {
		return nil, malformed("format version %d, want %d", v, FormatVersion)
	}
	l := &List{}
	l.Account = string(r.take(int(r.u8())))
	l.AccountKey = bytes.Clone(r.take(KeySize))
	l.Version = r.u64()
	copy(l.Prev[:], r.take(HashSize))
	l.IssuedAt = time.Unix(int64(r.u64()), 0).UTC()
	l.MaxID = r.u32()
	count := int(r.u8())
	if r.err != nil {
		return nil, r.err
	}
	if err := checkAccount(l.Account); err != nil {
		return nil, err
	}
	if l.Version == 0 {
		return nil, malformed("version 0")
	}
	if zero := l.Prev == [32]byte{}; zero && l.Version != 1 {
		return nil, malformed("version %d with a zero prev", l.Version)
	} else if !zero && l.Version == 1 {
		return nil, malformed("version 1 with a non-zero prev")
	}
	if count == 0 || count > MaxDevices {
		return nil, malformed("%d devices, want 1..%d", count, MaxDevices)
	}
	l.Devices = make([]Entry, count)
	for i := range l.Devices {
		e := &l.Devices[i]
		e.ID = r.u32()
		e.SigningKey = bytes.Clone(r.take(KeySize))
		e.DHKey = bytes.Clone(r.take(KeySize))
		e.Name = string(r.take(int(r.u8())))
		e.AddedAt = time.Unix(int64(r.u64()), 0).UTC()
		e.DeviceSig = bytes.Clone(r.take(SignatureSize))
		if r.err != nil {
			return nil, r.err
		}
		if err := checkName(e.Name); err != nil {
			return nil, fmt.Errorf("device %d: %w", e.ID, err)
		}
		if e.ID == 0 || e.ID > l.MaxID {
			return nil, malformed("device id %d, want 1..max_id (%d)", e.ID, l.MaxID)
		}
		if i > 0 && e.ID <= l.Devices[i-1].ID {
			return nil, malformed("device ids not strictly ascending (%d after %d)", e.ID, l.Devices[i-1].ID)
		}
		for _, f := range l.Devices[:i] {
			if bytes.Equal(f.SigningKey, e.SigningKey) {
				return nil, malformed("devices %d and %d share a signing key", f.ID, e.ID)
			}
			if bytes.Equal(f.DHKey, e.DHKey) {
				return nil, malformed("devices %d and %d share a DH key", f.ID, e.ID)
			}
		}
	}
	l.Signature = bytes.Clone(r.take(SignatureSize))
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, malformed("%d trailing bytes", len(r.b))
	}
	return l, nil
}

// verifySignatures checks account_sig and each device_sig, except the
// device_sig of an entry that known (a verified list of the same account and
// key) holds byte for byte: that signature, over the same message, was
// verified already.
func (l *List) verifySignatures(known *List) error {
	if !ed25519.Verify(ed25519.PublicKey(l.AccountKey), l.signedBytes(), l.Signature) {
		return fmt.Errorf("%w: account signature of %q version %d", ErrSignature, l.Account, l.Version)
	}
	if known != nil && (known.Account != l.Account || !bytes.Equal(known.AccountKey, l.AccountKey)) {
		known = nil
	}
	for _, e := range l.Devices {
		if known != nil && known.hasEntry(e) {
			continue
		}
		if !ed25519.Verify(ed25519.PublicKey(e.SigningKey), e.signedBytes(l.Account, l.AccountKey), e.DeviceSig) {
			return fmt.Errorf("%w: counter-signature of device %d (%q)", ErrSignature, e.ID, e.Name)
		}
	}
	return nil
}

func checkAccount(a string) error {
	if len(a) == 0 || len(a) > MaxAccountLen {
		return malformed("account name of %d bytes, want 1..%d", len(a), MaxAccountLen)
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return malformed("account name %q: byte %d is not [a-z0-9_-]", a, i)
		}
	}
	return nil
}

// checkName: 1..MaxNameLen bytes of valid UTF-8 without control characters
// (U+0000–U+001F, U+007F–U+009F).
func checkName(n string) error {
	if len(n) == 0 || len(n) > MaxNameLen {
		return malformed("device name of %d bytes, want 1..%d", len(n), MaxNameLen)
	}
	if !utf8.ValidString(n) {
		return malformed("device name is not valid UTF-8")
	}
	for _, c := range n {
		if c < 0x20 || (0x7f <= c && c <= 0x9f) {
			return malformed("device name %q holds control character U+%04X", n, c)
		}
	}
	return nil
}

// ---- chains -------------------------------------------------------------------------------

// VerifyNext checks that next extends prev (both parsed and verified):
// the same account and key; next.version = prev.version+1 (a lower version,
// or the same version with another hash, is ErrRollback); next.prev =
// prev.Hash(); max_id and issued_at do not decrease; every device in both
// has byte-identical entries; every device only in next has an id above
// prev.max_id. Other failures wrap ErrChain.
func VerifyNext(prev, next *List) error {
	if prev == nil || next == nil {
		return fmt.Errorf("%w: missing list", ErrChain)
	}
	if next.Account != prev.Account || !bytes.Equal(next.AccountKey, prev.AccountKey) {
		return fmt.Errorf("%w: list of %q under another account or account key than %q", ErrChain, next.Account, prev.Account)
	}
	if next.Version <= prev.Version {
		if next.Version == prev.Version && next.Hash() == prev.Hash() {
			return fmt.Errorf("%w: version %d is the accepted list itself, not a successor", ErrChain, next.Version)
		}
		if next.Version == prev.Version {
			return fmt.Errorf("%w: a different version %d (a fork)", ErrRollback, next.Version)
		}
		return fmt.Errorf("%w: version %d offered after version %d", ErrRollback, next.Version, prev.Version)
	}
	if next.Version != prev.Version+1 {
		return fmt.Errorf("%w: version %d after %d skips versions", ErrChain, next.Version, prev.Version)
	}
	if next.Prev != prev.Hash() {
		return fmt.Errorf("%w: version %d does not name the hash of version %d", ErrChain, next.Version, prev.Version)
	}
	if next.MaxID < prev.MaxID {
		return fmt.Errorf("%w: max_id decreased from %d to %d", ErrChain, prev.MaxID, next.MaxID)
	}
	if next.IssuedAt.Before(prev.IssuedAt) {
		return fmt.Errorf("%w: issued_at went back from %d to %d", ErrChain, prev.IssuedAt.Unix(), next.IssuedAt.Unix())
	}
	for _, e := range next.Devices {
		if old, ok := prev.Device(e.ID); ok {
			if !old.equal(e) {
				return fmt.Errorf("%w: device %d changed under its id", ErrChain, e.ID)
			}
		} else if e.ID <= prev.MaxID {
			return fmt.Errorf("%w: new device %d is not above max_id %d (a removed or skipped id)", ErrChain, e.ID, prev.MaxID)
		}
	}
	return nil
}

// VerifyChain checks that lists (encoded, oldest first) extend pinned one by
// one and returns the newest list. pinned, if not nil, must be a list
// verified before (from Parse or an earlier VerifyChain). pinned may be nil: then lists[0] must be
// version 1 of account with accountKey. A list equal to the pinned one is
// skipped (a server may repeat it); any other list not newer than the one
// before it is ErrRollback. With no newer list, VerifyChain returns pinned.
// Every list must be of account with accountKey (ErrChain otherwise).
func VerifyChain(account string, accountKey []byte, pinned *List, lists [][]byte) (*List, error) {
	cur := pinned
	if cur != nil && (cur.Account != account || !bytes.Equal(cur.AccountKey, accountKey)) {
		return nil, fmt.Errorf("%w: pinned list is of %q, or under another key", ErrChain, cur.Account)
	}
	if cur == nil && len(lists) == 0 {
		return nil, fmt.Errorf("%w: no list for %q", ErrChain, account)
	}
	for i, b := range lists {
		l, err := decode(b)
		if err != nil {
			return nil, fmt.Errorf("list %d of %d: %w", i+1, len(lists), err)
		}
		if l.Account != account || !bytes.Equal(l.AccountKey, accountKey) {
			return nil, fmt.Errorf("list %d of %d: %w: list of %q under another account or key than %q", i+1, len(lists), ErrChain, l.Account, account)
		}
		if cur == nil {
			if l.Version != 1 {
				return nil, fmt.Errorf("list %d of %d: %w: first list of %q is version %d, want 1", i+1, len(lists), ErrChain, account, l.Version)
			}
		} else if l.Version == cur.Version && cur == pinned && bytes.Equal(b, cur.Marshal()) {
			continue
		}
		if err := l.verifySignatures(cur); err != nil {
			return nil, fmt.Errorf("list %d of %d: %w", i+1, len(lists), err)
		}
		if cur != nil {
			if err := VerifyNext(cur, l); err != nil {
				return nil, fmt.Errorf("list %d of %d: %w", i+1, len(lists), err)
			}
		}
		cur = l
	}
	return cur, nil
}
