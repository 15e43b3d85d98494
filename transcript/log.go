package transcript

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"backchannel/transcript/leak"
)

// Sentinel errors returned (wrapped) by Log.Append.
var (
	ErrWrongRoom      = errors.New("entry belongs to another room")
	ErrWrongMode      = errors.New("entry mode differs from the room's mode")
	ErrUnknownSender  = errors.New("sender is not a member of the room")
	ErrKeyMismatch    = errors.New("entry key is not the sender's identity key or one of its device keys")
	ErrDuplicate      = errors.New("duplicate entry")
	ErrEquivocation   = errors.New("two different entries with the same sender and sequence number (fork)")
	ErrTooManyPending = errors.New("too many entries waiting for their parents")
)

// MaxPending bounds the entries a Log holds while their parents are missing.
const MaxPending = 4096

// MaxDeviceKeys bounds the device keys a Log holds per member (every key a
// member's device lists ever named, removed devices included).
const MaxDeviceKeys = 1024

// MaxDeviceNameLen bounds, in characters, a name given to SetDeviceName.
const MaxDeviceNameLen = 32

// ClockSkew is how far an entry may be timed before an entry it cites
// (another member's clock) before the log warns.
const ClockSkew = 2 * time.Minute

// Status is the outcome of a successful Append.
type Status int

// Append outcomes.
const (
	Accepted Status = iota + 1 // linked into the transcript
	Pending                    // held until its parents arrive
)

// Record is an entry with its opened content.
type Record struct {
	Hash    Hash
	Entry   *Entry
	Salt    Salt
	Content []byte
}

// WarningKind classifies a warning.
type WarningKind string

// Warning kinds. Gap and Pending clear once the missing entries arrive;
// Fork and Clock are permanent.
const (
	WarnGap     WarningKind = "gap"
	WarnPending WarningKind = "pending"
	WarnFork    WarningKind = "fork"
	WarnClock   WarningKind = "clock"
)

// Warning is a problem to show to the user. Device is empty when the
// entries concerned are signed with the sender's identity key; otherwise it
// names the device (its name, if set, and its ShortFingerprint).
type Warning struct {
	Kind   WarningKind `json:"kind"`
	Sender string      `json:"sender"`
	Text   string      `json:"text"`
	Device string      `json:"device,omitempty"`
}

// signer is who a sequence number belongs to: a member and the key it
// signs with (its identity key or one of its device keys). Each signer
// numbers its own entries 1, 2, 3, … so that two devices of one member can
// send at the same moment without that looking like a fork.
type signer struct {
	member string
	key    [ed25519.PublicKeySize]byte
}

func signerOf(e *Entry) signer {
	s := signer{member: e.Sender}
	copy(s.key[:], e.SenderKey)
	return s
}

// Log is the per-room transcript state a client keeps. It is safe for
// concurrent use.
type Log struct {
	mu        sync.Mutex
	room      string
	mode      Mode
	loc       *time.Location
	members   map[string]ed25519.PublicKey
	devices   map[string]map[[ed25519.PublicKeySize]byte]bool // member -> device keys
	names     map[[ed25519.PublicKeySize]byte]string          // device key -> display name
	records   map[Hash]*Record
	order     []*Record
	pending   map[Hash]*Record
	waiting   map[Hash][]Hash // missing parent -> pending entries that cite it
	seqs      map[signer]map[uint64]*Record
	maxSeq    map[signer]uint64
	heads     map[Hash]bool
	permanent []Warning
	notices   []string
	// base and floor: what predates this member's join (see Predate)
	base  map[Hash]bool
	floor map[signer]uint64
}

// NewLog returns an empty log for room in mode. Times in warnings are shown
// in loc (UTC if nil).
func NewLog(room string, mode Mode, loc *time.Location) *Log {
	if loc == nil {
		loc = time.UTC
	}
	return &Log{
		room: room, mode: mode, loc: loc,
		members: map[string]ed25519.PublicKey{},
		devices: map[string]map[[ed25519.PublicKeySize]byte]bool{},
		names:   map[[ed25519.PublicKeySize]byte]string{},
		records: map[Hash]*Record{},
		pending: map[Hash]*Record{},
		waiting: map[Hash][]Hash{},
		seqs:    map[signer]map[uint64]*Record{},
		maxSeq:  map[signer]uint64{},
		heads:   map[Hash]bool{},
	}
}

// Room returns the room id.
func (l *Log) Room() string { return l.room }

// Mode returns the room mode.
func (l *Log) Mode() Mode { return l.mode }

// AddMember records a member's identity key, which the caller has checked
// against the key log. Re-adding a member with a different key fails.
func (l *Log) AddMember(id string, key ed25519.PublicKey) error {
	if err := checkID("member id", id); err != nil {
		return err
	}
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("member %s: key must be %d bytes", id, ed25519.PublicKeySize)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.members[id]; ok && !bytes.Equal(old, key) {
		return fmt.Errorf("%w: member %s already has a different key", ErrKeyMismatch, id)
	}
	l.members[id] = append(ed25519.PublicKey(nil), key...)
	return nil
}

// AddDeviceKey lets member sign entries with key, the signing key of one of
// its linked devices, which the caller has checked against the member's
// device list (signed by the member's identity key). The member must have
// been added; adding a key twice, or the member's own identity key, is a
// no-op. The same key may be added for two members: an entry's signature
// covers its sender id, so a device key vouches only for the member its
// entries name.
func (l *Log) AddDeviceKey(member string, key ed25519.PublicKey) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("device key of %s must be %d bytes", member, ed25519.PublicKeySize)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	id, ok := l.members[member]
	if !ok {
		return fmt.Errorf("%w: device key for %q, who is not a member", ErrUnknownSender, member)
	}
	if bytes.Equal(id, key) {
		return nil
	}
	var k [ed25519.PublicKeySize]byte
	copy(k[:], key)
	ds := l.devices[member]
	if ds[k] {
		return nil
	}
	if len(ds) >= MaxDeviceKeys {
		return fmt.Errorf("member %s already has %d device keys (max %d)", member, len(ds), MaxDeviceKeys)
	}
	if ds == nil {
		ds = map[[ed25519.PublicKeySize]byte]bool{}
		l.devices[member] = ds
	}
	ds[k] = true
	return nil
}

// DeviceKeys returns the device keys added for member, sorted.
func (l *Log) DeviceKeys(member string) []ed25519.PublicKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ed25519.PublicKey, 0, len(l.devices[member]))
	for k := range l.devices[member] {
		out = append(out, append(ed25519.PublicKey(nil), k[:]...))
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i], out[j]) < 0 })
	return out
}

// SetDeviceName gives a device key a name for warnings and notices
// ("bob's message #3 (laptop, device 1a2b3c4d)"). The fingerprint is always
// shown too, so a name cannot pass one device off as another. Control and
// format characters are dropped and the name is cut to MaxDeviceNameLen
// characters; an empty name removes it. Names of identity keys are not
// shown: entries signed with the identity key name the member only.
func (l *Log) SetDeviceName(key ed25519.PublicKey, name string) {
	if len(key) != ed25519.PublicKeySize {
		return
	}
	var k [ed25519.PublicKeySize]byte
	copy(k[:], key)
	name = cleanName(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == "" {
		delete(l.names, k)
		return
	}
	l.names[k] = name
}

// cleanName keeps printable characters, folds runs of white space into one
// space and cuts the result to MaxDeviceNameLen characters.
func cleanName(name string) string {
	var out []rune
	space := false
	for _, r := range name {
		switch {
		case unicode.IsSpace(r):
			space = len(out) > 0
			continue
		case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		out = append(out, r)
		if len(out) >= MaxDeviceNameLen {
			break
		}
	}
	return string(out)
}

// device returns the label of s's key when it is not the member's identity
// key ("laptop, device 1a2b3c4d" or "device 1a2b3c4d"), else "".
func (l *Log) device(s signer) string {
	if id := l.members[s.member]; bytes.Equal(id, s.key[:]) {
		return ""
	}
	fp := ShortFingerprint(s.key[:])
	if name := l.names[s.key]; name != "" {
		return name + ", device " + fp
	}
	return "device " + fp
}

// who names a signer in text: "bob", or "bob (device 1a2b3c4d)".
func (l *Log) who(s signer) string {
	if d := l.device(s); d != "" {
		return s.member + " (" + d + ")"
	}
	return s.member
}

// msgRef names one message of a signer: "bob's message #3", or
// "bob's message #3 (device 1a2b3c4d)".
func (l *Log) msgRef(s signer, seq uint64) string {
	if d := l.device(s); d != "" {
		return fmt.Sprintf("%s's message #%d (%s)", s.member, seq, d)
	}
	return fmt.Sprintf("%s's message #%d", s.member, seq)
}

// ownsKey reports whether key is member's identity key or one of its
// device keys.
func (l *Log) ownsKey(member string, key ed25519.PublicKey) bool {
	id, ok := l.members[member]
	if !ok {
		return false
	}
	if bytes.Equal(id, key) {
		return true
	}
	if len(key) != ed25519.PublicKeySize {
		return false
	}
	var k [ed25519.PublicKeySize]byte
	copy(k[:], key)
	return l.devices[member][k]
}

// Members returns a copy of the member keys.
func (l *Log) Members() map[string]ed25519.PublicKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]ed25519.PublicKey, len(l.members))
	for k, v := range l.members {
		out[k] = v
	}
	return out
}

// Compose builds the next entry for sender: the next sequence number of
// the signer (sender with the public key of priv, its identity key or one
// of its device keys), the current heads as parents, a fresh salted
// commitment, and (on-record) a signature by priv. The caller then sends
// it and calls Append with it.
func (l *Log) Compose(sender string, priv ed25519.PrivateKey, kind Kind, content []byte, now time.Time) (*Entry, Salt, error) {
	if len(content) > MaxContentLen {
		return nil, Salt{}, fmt.Errorf("content of %d bytes exceeds %d", len(content), MaxContentLen)
	}
	salt, err := NewSalt()
	if err != nil {
		return nil, salt, err
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, salt, fmt.Errorf("compose: private key must be %d bytes", ed25519.PrivateKeySize)
	}
	pub := append(ed25519.PublicKey(nil), priv.Public().(ed25519.PublicKey)...)
	s := signer{member: sender}
	copy(s.key[:], pub)
	l.mu.Lock()
	e := &Entry{
		Mode: l.mode, Kind: kind, Room: l.room, Sender: sender,
		SenderKey:  pub,
		Seq:        l.maxSeq[s] + 1,
		Time:       now.UTC(),
		Parents:    l.headsLocked(),
		Commitment: Commit(salt, content),
	}
	l.mu.Unlock()
	if l.mode == ModeOnRecord {
		if err := e.Sign(priv); err != nil {
			return nil, salt, fmt.Errorf("compose: %w", err)
		}
	} else if err := e.validate(); err != nil {
		return nil, salt, fmt.Errorf("compose: %w", err)
	}
	return e, salt, nil
}

// Heads returns the hashes of accepted entries no accepted entry cites,
// sorted: the parents of the next entry.
func (l *Log) Heads() []Hash {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.headsLocked()
}

func (l *Log) headsLocked() []Hash {
	hs := make([]Hash, 0, len(l.heads))
	for h := range l.heads {
		hs = append(hs, h)
	}
	hs = SortParents(hs)
	if len(hs) > MaxParents {
		hs = hs[len(hs)-MaxParents:]
	}
	return hs
}

func (l *Log) clock(t time.Time) string { return t.In(l.loc).Format("15:04") }

// Append checks e, whose content was opened with salt, and adds it. It
// returns Accepted when linked, Pending when held for missing parents, or an
// error wrapping one of the sentinel errors. Nothing is stored on error.
func (l *Log) Append(e *Entry, salt Salt, content []byte) (Status, error) {
	if e == nil {
		return 0, fmt.Errorf("%w: nil entry", ErrMalformed)
	}
	body, err := e.Body()
	if err != nil {
		return 0, err
	}
	h := hashBody(body)
	if e.Room != l.room {
		return 0, fmt.Errorf("%w: %q, this is %q", ErrWrongRoom, e.Room, l.room)
	}
	if e.Mode != l.mode {
		return 0, fmt.Errorf("%w: entry is %s, room is %s", ErrWrongMode, e.Mode, l.mode)
	}
	if len(content) > MaxContentLen {
		return 0, fmt.Errorf("content of %d bytes exceeds %d", len(content), MaxContentLen)
	}
	if err := CheckCommitment(e.Commitment, salt, content); err != nil {
		return 0, fmt.Errorf("%w: %s #%d", err, e.Sender, e.Seq)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.members[e.Sender]; !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownSender, e.Sender)
	}
	if !l.ownsKey(e.Sender, e.SenderKey) {
		return 0, fmt.Errorf("%w: %s #%d (key %s)", ErrKeyMismatch, e.Sender, e.Seq, ShortFingerprint(e.SenderKey))
	}
	if err := verifyBody(e, body); err != nil {
		return 0, err
	}
	s := signerOf(e)
	if _, ok := l.records[h]; ok {
		l.notices = append(l.notices, fmt.Sprintf("duplicate delivery of message #%d from %s ignored", e.Seq, l.who(s)))
		return 0, fmt.Errorf("%w: %s #%d already received", ErrDuplicate, e.Sender, e.Seq)
	}
	if _, ok := l.pending[h]; ok {
		return 0, fmt.Errorf("%w: %s #%d already held", ErrDuplicate, e.Sender, e.Seq)
	}
	if other, ok := l.seqs[s][e.Seq]; ok {
		l.permanent = append(l.permanent, Warning{WarnFork, e.Sender, fmt.Sprintf(
			"%s exists in two different versions (sent %s and %s): the transcript was forked or replayed",
			l.msgRef(s, e.Seq), l.clock(other.Entry.Time), l.clock(e.Time)), l.device(s)})
		return 0, fmt.Errorf("%w: %s #%d: have %s, got %s", ErrEquivocation, e.Sender, e.Seq, other.Hash.ID(), h.ID())
	}
	rec := &Record{Hash: h, Entry: e, Salt: salt, Content: append([]byte(nil), content...)}
	var missing []Hash
	for _, p := range e.Parents {
		if _, ok := l.records[p]; !ok && !l.base[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 && len(l.pending) >= MaxPending {
		return 0, fmt.Errorf("%w: %d held", ErrTooManyPending, len(l.pending))
	}
	if e.Seq < l.maxSeq[s] {
		l.notices = append(l.notices, fmt.Sprintf("message #%d from %s arrived out of order (after #%d)", e.Seq, l.who(s), l.maxSeq[s]))
	}
	if l.seqs[s] == nil {
		l.seqs[s] = map[uint64]*Record{}
	}
	l.seqs[s][e.Seq] = rec
	if e.Seq > l.maxSeq[s] {
		l.maxSeq[s] = e.Seq
	}
	if len(missing) > 0 {
		l.pending[h] = rec
		for _, p := range missing {
			l.waiting[p] = append(l.waiting[p], h)
		}
		return Pending, nil
	}
	l.accept(rec)
	return Accepted, nil
}

// accept links rec and then every held entry that it completes.
func (l *Log) accept(rec *Record) {
	queue := []*Record{rec}
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		delete(l.pending, r.Hash)
		l.records[r.Hash] = r
		l.order = append(l.order, r)
		l.heads[r.Hash] = true
		for _, p := range r.Entry.Parents {
			delete(l.heads, p)
		}
		l.checkClock(r)
		for _, c := range l.waiting[r.Hash] {
			cr := l.pending[c]
			if cr == nil {
				continue
			}
			if l.parentsKnown(cr) {
				queue = append(queue, cr)
			}
		}
		delete(l.waiting, r.Hash)
	}
}

func (l *Log) checkClock(r *Record) {
	e := r.Entry
	s := signerOf(e)
	if prev, ok := l.seqs[s][e.Seq-1]; ok && e.Time.Before(prev.Entry.Time) {
		l.permanent = append(l.permanent, Warning{WarnClock, e.Sender, fmt.Sprintf(
			"%s is timed %s, before their message #%d at %s", l.msgRef(s, e.Seq), l.clock(e.Time), e.Seq-1, l.clock(prev.Entry.Time)), l.device(s)})
	}
	for _, p := range e.Parents {
		if pr := l.records[p]; pr != nil && e.Time.Add(ClockSkew).Before(pr.Entry.Time) {
			l.permanent = append(l.permanent, Warning{WarnClock, e.Sender, fmt.Sprintf(
				"%s is timed %s, before %s at %s that it cites",
				l.msgRef(s, e.Seq), l.clock(e.Time), l.msgRef(signerOf(pr.Entry), pr.Entry.Seq), l.clock(pr.Entry.Time)), l.device(s)})
		}
	}
}

// Warnings returns the problems to show now: forks and clock anomalies
// (permanent), sequence gaps (a message withheld) and entries held for
// missing parents (both clear once the entries arrive).
func (l *Log) Warnings() []Warning {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]Warning(nil), l.permanent...)
	signers := make([]signer, 0, len(l.seqs))
	for s := range l.seqs {
		signers = append(signers, s)
	}
	sort.Slice(signers, func(i, j int) bool { return l.signerLess(signers[i], signers[j]) })
	for _, s := range signers {
		// walk the known sequence numbers, not 1..max: a member could
		// claim a huge one
		seqs := l.seqs[s]
		known := make([]uint64, 0, len(seqs))
		for q := range seqs {
			known = append(known, q)
		}
		sort.Slice(known, func(i, j int) bool { return known[i] < known[j] })
		prev := l.floor[s]
		for _, q := range known {
			if q <= l.floor[s] {
				continue // predates this member's join
			}
			if q > prev+1 {
				n := q - prev - 1
				noun := "messages"
				if n == 1 {
					noun = "message"
				}
				after := seqs[q]
				var text string
				if before, ok := seqs[prev]; ok {
					text = fmt.Sprintf("%d %s from %s missing between %s and %s", n, noun, l.who(s), l.clock(before.Entry.Time), l.clock(after.Entry.Time))
				} else {
					text = fmt.Sprintf("%d %s from %s missing before %s", n, noun, l.who(s), l.clock(after.Entry.Time))
				}
				out = append(out, Warning{WarnGap, s.member, text, l.device(s)})
			}
			prev = q
		}
	}
	held := make([]*Record, 0, len(l.pending))
	for _, r := range l.pending {
		held = append(held, r)
	}
	sort.Slice(held, func(i, j int) bool {
		si, sj := signerOf(held[i].Entry), signerOf(held[j].Entry)
		if si != sj {
			return l.signerLess(si, sj)
		}
		return held[i].Entry.Seq < held[j].Entry.Seq
	})
	for _, r := range held {
		n := 0
		for _, p := range r.Entry.Parents {
			if _, ok := l.records[p]; !ok && !l.base[p] {
				n++
			}
		}
		s := signerOf(r.Entry)
		out = append(out, Warning{WarnPending, r.Entry.Sender, fmt.Sprintf(
			"message #%d from %s (%s) is held: it follows %d message(s) the server has not delivered",
			r.Entry.Seq, l.who(s), l.clock(r.Entry.Time), n), l.device(s)})
	}
	return out
}

// signerLess orders signers by member, then the identity key before device
// keys, then device keys by their bytes.
func (l *Log) signerLess(a, b signer) bool {
	if a.member != b.member {
		return a.member < b.member
	}
	id := l.members[a.member]
	ai, bi := bytes.Equal(id, a.key[:]), bytes.Equal(id, b.key[:])
	if ai != bi {
		return ai
	}
	return bytes.Compare(a.key[:], b.key[:]) < 0
}

// Notices returns the history of harmless or resolved anomalies: duplicate
// deliveries and out-of-order arrivals.
func (l *Log) Notices() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.notices...)
}

// Records returns the accepted entries in acceptance order, which is a
// topological order of the DAG (parents first).
func (l *Log) Records() []*Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Record(nil), l.order...)
}

// Len returns the number of accepted entries.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.order)
}

// Messages returns the accepted message entries as leak-verifier input.
func (l *Log) Messages() []leak.Message {
	return messagesOf(l.Records())
}

func messagesOf(rs []*Record) []leak.Message {
	out := make([]leak.Message, 0, len(rs))
	for _, r := range rs {
		if r.Entry.Kind != KindMessage || r.Content == nil {
			continue
		}
		out = append(out, leak.Message{ID: r.Hash.ID(), Sender: r.Entry.Sender, SentAt: r.Entry.Time, Text: string(r.Content)})
	}
	return out
}

// Floor says that a signer's entries up to Seq predate this member's join.
type Floor struct {
	Member string
	Key    ed25519.PublicKey
	Seq    uint64
}

// Predate records what a member who joined the room later will never
// receive: the entries known (cited as parents, they count as present)
// and, per signer, the sequence numbers up to a floor (never reported
// missing). Entries held only for such parents are linked now.
func (l *Log) Predate(known []Hash, floors []Floor) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.base == nil {
		l.base, l.floor = map[Hash]bool{}, map[signer]uint64{}
	}
	for _, f := range floors {
		s := signer{member: f.Member}
		copy(s.key[:], f.Key)
		if f.Seq > l.floor[s] {
			l.floor[s] = f.Seq
		}
	}
	for _, h := range known {
		if _, ok := l.records[h]; ok || l.base[h] {
			continue
		}
		l.base[h] = true
		for _, c := range l.waiting[h] {
			cr := l.pending[c]
			if cr == nil {
				continue
			}
			if l.parentsKnown(cr) {
				l.accept(cr)
			}
		}
		delete(l.waiting, h)
	}
}

// parentsKnown reports whether every parent of r is in the log or predates
// the member's join (Predate).
func (l *Log) parentsKnown(r *Record) bool {
	for _, p := range r.Entry.Parents {
		if _, ok := l.records[p]; !ok && !l.base[p] {
			return false
		}
	}
	return true
}
