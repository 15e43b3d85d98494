package transcript

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"backchannel/transcript/leak"
)

// Bundle format constants.
const (
	BundleFormat     = "backchannel-transcript-bundle"
	BundleVersion    = 1
	MaxBundleSize    = 256 << 20
	MaxBundleEntries = 1 << 20
	MaxBundleMembers = 1 << 14
	// MaxBundleDevices bounds the device keys listed for one member, and
	// MaxBundleDeviceLists the device lists carried for one member.
	MaxBundleDevices     = MaxDeviceKeys
	MaxBundleDeviceLists = 1 << 12
)

// ErrBadBundle is wrapped by every bundle decoding error.
var ErrBadBundle = errors.New("not a valid transcript bundle")

// Bundle is the exported, self-contained transcript: every entry of the
// log, with the salt and content of the disclosed ones only.
type Bundle struct {
	Format     string         `json:"format"`
	Version    int            `json:"version"`
	Room       string         `json:"room"`
	Mode       string         `json:"mode"`
	ExportedAt time.Time      `json:"exported_at"`
	Selection  Selection      `json:"selection"`
	Members    []BundleMember `json:"members"`
	Entries    []BundleEntry  `json:"entries"`
}

// Selection records which messages the exporter disclosed.
type Selection struct {
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
	Only []string   `json:"only,omitempty"`
}

// BundleMember is a member id and its Ed25519 identity key (base64), the
// device keys other than the identity key that signed the member's entries
// in the bundle, and the member's device lists (opaque, signed by the
// identity key, base64, oldest first) that prove those keys are the
// member's.
type BundleMember struct {
	ID          string         `json:"id"`
	IdentityKey string         `json:"identity_key"`
	Devices     []BundleDevice `json:"devices,omitempty"`
	DeviceLists []string       `json:"device_lists,omitempty"`
}

// BundleDevice is a device signing key (base64 Ed25519 public key).
type BundleDevice struct {
	Key string `json:"key"`
}

// BundleEntry is one encoded entry (base64) and, if disclosed, the salt
// (hex) and content that open its commitment.
type BundleEntry struct {
	Entry   string  `json:"entry"`
	Salt    string  `json:"salt,omitempty"`
	Content *string `json:"content,omitempty"`
}

// ExportOptions selects the disclosed messages. Zero From/To mean
// unbounded; Only lists message ids (full hash, a unique prefix of at least
// 8 hex digits, or "sender#seq" when only one of the sender's keys used that
// number). Membership entries are always disclosed. DeviceLists maps a
// member to its encoded device lists, oldest first, written into the bundle
// as they are (lists of ids that are not members are ignored).
type ExportOptions struct {
	From, To    time.Time
	Only        []string
	DeviceLists map[string][][]byte
}

// Export writes every accepted entry of the log into a bundle, disclosing
// the contents selected by opt.
func (l *Log) Export(opt ExportOptions, now time.Time) (*Bundle, error) {
	recs := l.Records()
	only := map[Hash]bool{}
	for _, id := range opt.Only {
		h, err := resolveID(recs, id)
		if err != nil {
			return nil, err
		}
		only[h] = true
	}
	b := &Bundle{Format: BundleFormat, Version: BundleVersion, Room: l.room, Mode: l.mode.String(), ExportedAt: now.UTC()}
	if !opt.From.IsZero() {
		f := opt.From.UTC()
		b.Selection.From = &f
	}
	if !opt.To.IsZero() {
		t := opt.To.UTC()
		b.Selection.To = &t
	}
	b.Selection.Only = append([]string(nil), opt.Only...)
	members := l.Members()
	used := map[string]map[string]bool{} // member -> device keys that signed entries
	for _, r := range recs {
		e := r.Entry
		if !bytes.Equal(members[e.Sender], e.SenderKey) {
			if used[e.Sender] == nil {
				used[e.Sender] = map[string]bool{}
			}
			used[e.Sender][string(e.SenderKey)] = true
		}
	}
	for id, k := range members {
		bm := BundleMember{ID: id, IdentityKey: base64.StdEncoding.EncodeToString(k)}
		devs := make([]string, 0, len(used[id]))
		for d := range used[id] {
			devs = append(devs, d)
		}
		sort.Strings(devs)
		for _, d := range devs {
			bm.Devices = append(bm.Devices, BundleDevice{Key: base64.StdEncoding.EncodeToString([]byte(d))})
		}
		for _, dl := range opt.DeviceLists[id] {
			bm.DeviceLists = append(bm.DeviceLists, base64.StdEncoding.EncodeToString(dl))
		}
		b.Members = append(b.Members, bm)
	}
	sort.Slice(b.Members, func(i, j int) bool { return b.Members[i].ID < b.Members[j].ID })
	for _, r := range recs {
		enc, err := r.Entry.Encode()
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", r.Hash.ID(), err)
		}
		be := BundleEntry{Entry: base64.StdEncoding.EncodeToString(enc)}
		e := r.Entry
		disclose := e.Kind == KindMembership ||
			((opt.From.IsZero() || !e.Time.Before(opt.From)) && (opt.To.IsZero() || !e.Time.After(opt.To)) &&
				(len(only) == 0 || only[r.Hash]))
		if disclose {
			if !utf8.Valid(r.Content) {
				return nil, fmt.Errorf("export %s: content is not UTF-8 text", r.Hash.ID())
			}
			c := string(r.Content)
			be.Salt = hex.EncodeToString(r.Salt[:])
			be.Content = &c
		}
		b.Entries = append(b.Entries, be)
	}
	return b, nil
}

func resolveID(recs []*Record, id string) (Hash, error) {
	if i := strings.LastIndexByte(id, '#'); i > 0 {
		if seq, err := strconv.ParseUint(id[i+1:], 10, 64); err == nil {
			var found []Hash
			for _, r := range recs {
				if r.Entry.Sender == id[:i] && r.Entry.Seq == seq {
					found = append(found, r.Hash)
				}
			}
			switch len(found) {
			case 0:
				return Hash{}, fmt.Errorf("no message %s in this room", id)
			case 1:
				return found[0], nil
			}
			return Hash{}, fmt.Errorf("%s is ambiguous: %d of %s's devices sent a message #%d (give the message id)", id, len(found), id[:i], seq)
		}
	}
	id = strings.ToLower(id)
	if len(id) < 8 {
		return Hash{}, fmt.Errorf("message id %q too short (at least 8 hex digits, or sender#seq)", id)
	}
	var found []Hash
	for _, r := range recs {
		if strings.HasPrefix(r.Hash.String(), id) {
			found = append(found, r.Hash)
		}
	}
	switch len(found) {
	case 0:
		return Hash{}, fmt.Errorf("no message %s in this room", id)
	case 1:
		return found[0], nil
	}
	return Hash{}, fmt.Errorf("message id %s is ambiguous (%d matches)", id, len(found))
}

// Marshal returns the bundle as indented JSON.
func (b *Bundle) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", " ")
	if err != nil {
		return nil, fmt.Errorf("marshal bundle: %w", err)
	}
	return append(out, '\n'), nil
}

// ReadBundle reads at most MaxBundleSize bytes from r and decodes them.
func ReadBundle(r io.Reader) (*Bundle, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	return DecodeBundle(data)
}

// DecodeBundle parses a bundle strictly: size limits, known format and
// version, no unknown fields, no trailing data. It does not verify it.
func DecodeBundle(data []byte) (*Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w: file is larger than %d MiB", ErrBadBundle, MaxBundleSize>>20)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: file is empty", ErrBadBundle)
	}
	if trimmed[0] != '{' || !utf8.Valid(trimmed) {
		return nil, fmt.Errorf("%w: file is not JSON (binary or text file given?)", ErrBadBundle)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	var b Bundle
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the bundle", ErrBadBundle)
	}
	if b.Format != BundleFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrBadBundle, b.Format, BundleFormat)
	}
	if b.Version != BundleVersion {
		return nil, fmt.Errorf("%w: unsupported version %d (this build reads %d)", ErrBadBundle, b.Version, BundleVersion)
	}
	if _, err := ParseMode(b.Mode); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	if err := checkID("room id", b.Room); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	if len(b.Entries) > MaxBundleEntries || len(b.Members) > MaxBundleMembers {
		return nil, fmt.Errorf("%w: too many entries or members", ErrBadBundle)
	}
	for _, m := range b.Members {
		if len(m.Devices) > MaxBundleDevices || len(m.DeviceLists) > MaxBundleDeviceLists {
			return nil, fmt.Errorf("%w: too many devices or device lists for member %q", ErrBadBundle, m.ID)
		}
	}
	return &b, nil
}

// VerifyOptions configures VerifyBundle.
//
// Trusted maps member ids to the identity keys the verifier itself has
// checked (from the key log or compared safety numbers). A member whose
// listed key differs from its trusted key is always a problem. A member
// missing from Trusted (or every member, when Trusted is nil) is
// unverified: it is listed in BundleReport.Unverified and, when
// RequireTrusted is false, reported as a warning ("as listed in the
// bundle"); when RequireTrusted is true it is a problem and the bundle
// fails.
//
// DeviceKeys decides which device keys belong to a member: VerifyBundle
// calls it once for each member that lists device keys, with the member's
// identity key as listed in the bundle and its device lists (decoded from
// base64, oldest first); it returns the device signing keys the lists prove
// are the member's (for a chain of lists, every key any verified list
// names, so entries of a device removed later still verify). An entry
// signed by a device key is a problem unless DeviceKeys is set, succeeds and
// returns that key.
type VerifyOptions struct {
	Trusted        map[string]ed25519.PublicKey
	RequireTrusted bool
	DeviceKeys     func(member string, identityKey ed25519.PublicKey, lists [][]byte) ([]ed25519.PublicKey, error)
}

// MemberReport identifies a member key by id and Fingerprint, and lists the
// member's device keys.
type MemberReport struct {
	ID          string         `json:"id"`
	Fingerprint string         `json:"fingerprint"` // Fingerprint(identity key)
	Trusted     bool           `json:"trusted"`
	Devices     []DeviceReport `json:"devices,omitempty"`
}

// DeviceReport is one listed device key: its Fingerprint and whether the
// member's device lists prove it is the member's (VerifyOptions.DeviceKeys).
type DeviceReport struct {
	Fingerprint string `json:"fingerprint"`
	Proven      bool   `json:"proven"`
}

// BundleReport is the outcome of VerifyBundle. OK is false iff Problems is
// not empty; Warnings (gaps, unverified identities when not required) do
// not fail a bundle. Unverified lists, sorted, the members whose identity
// keys no trusted key vouched for.
type BundleReport struct {
	OK         bool           `json:"ok"`
	Room       string         `json:"room"`
	Mode       string         `json:"mode"`
	Entries    int            `json:"entries"`
	Disclosed  int            `json:"disclosed"`
	Members    []MemberReport `json:"members"`
	Unverified []string       `json:"unverified"`
	Heads      []string       `json:"heads"`
	Problems   []string       `json:"problems"`
	Warnings   []string       `json:"warnings"`
	Claims     []string       `json:"claims"`
	// Messages are the disclosed messages, parents first.
	Messages []leak.Message `json:"messages"`
}

// VerifyBundle decodes and checks a bundle offline: every entry decodes and
// belongs to the room; every sender is a listed member and (on-record) the
// signature verifies under that member's identity key or under a device key
// that VerifyOptions.DeviceKeys accepts for the member; parents precede the
// entries that cite them; no signer (member and key) uses a sequence number
// twice; every disclosed content opens its commitment; identities are
// checked against VerifyOptions.Trusted. Decoding failures are returned as
// errors; verification failures are listed in the report.
func VerifyBundle(data []byte, opt VerifyOptions) (*BundleReport, error) {
	b, err := DecodeBundle(data)
	if err != nil {
		return nil, err
	}
	return b.Verify(opt), nil
}

// bundleMember is a listed member as Verify decoded it.
type bundleMember struct {
	key     ed25519.PublicKey
	devices map[string]bool // listed device keys
	proven  map[string]bool // device keys DeviceKeys returned
	report  int             // index in BundleReport.Members
}

// Verify checks a decoded bundle; see VerifyBundle.
func (b *Bundle) Verify(opt VerifyOptions) *BundleReport {
	rep := &BundleReport{Room: b.Room, Mode: b.Mode, Entries: len(b.Entries), Unverified: []string{}, Problems: []string{}, Warnings: []string{}}
	mode, _ := ParseMode(b.Mode)
	members := map[string]*bundleMember{}
	for _, m := range b.Members {
		k, err := base64.StdEncoding.DecodeString(m.IdentityKey)
		if err != nil || len(k) != ed25519.PublicKeySize || checkID("member id", m.ID) != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("member %q: invalid id or identity key", m.ID))
			continue
		}
		if _, dup := members[m.ID]; dup {
			rep.Problems = append(rep.Problems, fmt.Sprintf("member %q listed twice", m.ID))
			continue
		}
		bm := &bundleMember{key: k, devices: map[string]bool{}, report: len(rep.Members)}
		members[m.ID] = bm
		mr := MemberReport{ID: m.ID, Fingerprint: Fingerprint(k)}
		tk, ok := opt.Trusted[m.ID]
		switch {
		case !ok:
			rep.Unverified = append(rep.Unverified, m.ID)
			if opt.RequireTrusted {
				rep.Problems = append(rep.Problems, fmt.Sprintf("member %s: identity key %s is not among the trusted identities (unverified)", m.ID, mr.Fingerprint))
			} else if opt.Trusted != nil {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("member %s is not among the trusted identities", m.ID))
			}
		case !bytes.Equal(tk, k):
			rep.Problems = append(rep.Problems, fmt.Sprintf("member %s: identity key in the bundle differs from the trusted key", m.ID))
		default:
			mr.Trusted = true
		}
		b.memberDevices(rep, m, bm, &mr, opt)
		rep.Members = append(rep.Members, mr)
	}
	sort.Strings(rep.Unverified)
	if opt.Trusted == nil && !opt.RequireTrusted {
		rep.Warnings = append(rep.Warnings, "identities are as listed in the bundle; compare the fingerprints with the members' safety numbers")
	}
	entries := make([]*Entry, len(b.Entries))
	bodies := make([][]byte, len(b.Entries))
	rejected := map[Hash]bool{} // decoded entries refused for their key: links to them are not problems twice
	deviceSigned := 0
	for i, be := range b.Entries {
		raw, err := base64.StdEncoding.DecodeString(be.Entry)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d: not base64", i+1))
			continue
		}
		e, err := DecodeEntry(raw)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d: %v", i+1, err))
			continue
		}
		if e.Room != b.Room {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d (%s #%d): belongs to room %q", i+1, e.Sender, e.Seq, e.Room))
			continue
		}
		if e.Mode != mode {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d (%s #%d): mode %s in a %s room", i+1, e.Sender, e.Seq, e.Mode, mode))
			continue
		}
		bm, ok := members[e.Sender]
		if !ok {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d: sender %q is not a listed member", i+1, e.Sender))
			continue
		}
		body, _ := e.Body()
		if !bytes.Equal(bm.key, e.SenderKey) {
			var problem string
			switch {
			case !bm.devices[string(e.SenderKey)]:
				problem = fmt.Sprintf("entry %d (%s #%d): signed with a key that is not %s's identity key or one of %s's listed device keys", i+1, e.Sender, e.Seq, e.Sender, e.Sender)
			case !bm.proven[string(e.SenderKey)]:
				problem = fmt.Sprintf("entry %d (%s #%d, device %s): signed by a device key that the bundle does not prove belongs to %s", i+1, e.Sender, e.Seq, ShortFingerprint(e.SenderKey), e.Sender)
			}
			if problem != "" {
				rep.Problems = append(rep.Problems, problem)
				rejected[hashBody(body)] = true
				continue
			}
			deviceSigned++
		}
		entries[i] = e
		bodies[i] = body
	}
	for i, err := range verifyAll(entries, bodies) {
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d (%s #%d): signature does not verify", i+1, entries[i].Sender, entries[i].Seq))
			rejected[hashBody(bodies[i])] = true
			entries[i] = nil
		}
	}
	b.checkLinks(rep, entries, bodies, members, rejected)
	if mode == ModeDeniable {
		rep.Claims = append(rep.Claims, "deniable room: entries are unsigned, so this bundle shows the structure of the conversation but proves nothing about who wrote what")
	} else if len(rep.Problems) == 0 {
		signed := fmt.Sprintf("every one of the %d entries is signed by the listed identity key of its sender", rep.Entries)
		if deviceSigned > 0 {
			signed = fmt.Sprintf("every one of the %d entries is signed by the listed identity key of its sender or (%d of them) by a device key that the sender's device lists prove is the sender's", rep.Entries, deviceSigned)
		}
		rep.Claims = append(rep.Claims,
			signed,
			fmt.Sprintf("the %d disclosed contents are exactly what their senders committed to", rep.Disclosed),
			"every entry's position is fixed by the hashes of the entries its sender had seen")
	}
	rep.OK = len(rep.Problems) == 0
	return rep
}

// memberDevices decodes m's listed device keys and device lists and asks
// opt.DeviceKeys which of the keys the lists prove are m's.
func (b *Bundle) memberDevices(rep *BundleReport, m BundleMember, bm *bundleMember, mr *MemberReport, opt VerifyOptions) {
	if len(m.Devices) == 0 && len(m.DeviceLists) == 0 {
		return
	}
	var keys []ed25519.PublicKey
	for j, d := range m.Devices {
		k, err := base64.StdEncoding.DecodeString(d.Key)
		if err != nil || len(k) != ed25519.PublicKeySize {
			rep.Problems = append(rep.Problems, fmt.Sprintf("member %s: device key %d is not a base64 Ed25519 public key", m.ID, j+1))
			continue
		}
		if bytes.Equal(k, bm.key) || bm.devices[string(k)] {
			rep.Problems = append(rep.Problems, fmt.Sprintf("member %s: device key %s listed twice", m.ID, ShortFingerprint(k)))
			continue
		}
		bm.devices[string(k)] = true
		keys = append(keys, k)
	}
	lists := make([][]byte, 0, len(m.DeviceLists))
	listsOK := true
	for j, dl := range m.DeviceLists {
		raw, err := base64.StdEncoding.DecodeString(dl)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("member %s: device list %d is not base64", m.ID, j+1))
			listsOK = false
			break
		}
		lists = append(lists, raw)
	}
	if len(keys) > 0 && opt.DeviceKeys != nil && listsOK {
		proven, err := opt.DeviceKeys(m.ID, bm.key, lists)
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("member %s: device lists do not verify: %v", m.ID, err))
		} else {
			bm.proven = make(map[string]bool, len(proven))
			for _, k := range proven {
				bm.proven[string(k)] = true
			}
		}
	}
	for _, k := range keys {
		mr.Devices = append(mr.Devices, DeviceReport{Fingerprint: Fingerprint(k), Proven: bm.proven[string(k)]})
	}
}

// verifyAll checks signatures in parallel; the result has an error at i
// for each entry that fails.
func verifyAll(entries []*Entry, bodies [][]byte) []error {
	errs := make([]error, len(entries))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(entries); i += workers {
				if entries[i] != nil {
					errs[i] = verifyBody(entries[i], bodies[i])
				}
			}
		}(w)
	}
	wg.Wait()
	return errs
}

// deviceLabel names a signer's key in a bundle report: "" for the member's
// identity key, else "device 1a2b3c4d".
func deviceLabel(s signer, members map[string]*bundleMember) string {
	if bm := members[s.member]; bm != nil && bytes.Equal(bm.key, s.key[:]) {
		return ""
	}
	return "device " + ShortFingerprint(s.key[:])
}

// label names a signer in a bundle report: "bob", or "bob (device 1a2b3c4d)".
func label(s signer, members map[string]*bundleMember) string {
	if d := deviceLabel(s, members); d != "" {
		return s.member + " (" + d + ")"
	}
	return s.member
}

func (b *Bundle) checkLinks(rep *BundleReport, entries []*Entry, bodies [][]byte, members map[string]*bundleMember, rejected map[Hash]bool) {
	seen := map[Hash]*Entry{}
	cited := map[Hash]bool{}
	seqs := map[signer]map[uint64]bool{}
	var order []Hash
	for i, e := range entries {
		if e == nil {
			continue
		}
		h := hashBody(bodies[i])
		if _, dup := seen[h]; dup {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d (%s #%d): duplicate entry", i+1, e.Sender, e.Seq))
			continue
		}
		s := signerOf(e)
		if seqs[s] == nil {
			seqs[s] = map[uint64]bool{}
		}
		if seqs[s][e.Seq] {
			if d := deviceLabel(s, members); d != "" {
				rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d: %s's message #%d (%s) appears in two different versions (fork)", i+1, e.Sender, e.Seq, d))
			} else {
				rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d: %s's message #%d appears in two different versions (fork)", i+1, e.Sender, e.Seq))
			}
			continue
		}
		for _, p := range e.Parents {
			if _, ok := seen[p]; !ok && !rejected[p] {
				rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d (%s #%d): cites entry %s, which is not earlier in the bundle", i+1, e.Sender, e.Seq, p.ID()))
			}
			cited[p] = true
		}
		seqs[s][e.Seq] = true
		seen[h] = e
		order = append(order, h)
		be := b.Entries[i]
		if be.Content == nil && be.Salt == "" {
			continue
		}
		salt, err := hex.DecodeString(be.Salt)
		if err != nil || len(salt) != SaltSize || be.Content == nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d (%s #%d): disclosure needs a %d-byte hex salt and the content", i+1, e.Sender, e.Seq, SaltSize))
			continue
		}
		if CheckCommitment(e.Commitment, Salt(salt), []byte(*be.Content)) != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d (%s #%d): disclosed content does not match the signed commitment", i+1, e.Sender, e.Seq))
			continue
		}
		rep.Disclosed++
		if e.Kind == KindMessage {
			rep.Messages = append(rep.Messages, leak.Message{ID: h.ID(), Sender: e.Sender, SentAt: e.Time, Text: *be.Content})
		}
	}
	for _, h := range order {
		if !cited[h] {
			rep.Heads = append(rep.Heads, h.String())
		}
	}
	signers := make([]signer, 0, len(seqs))
	for s := range seqs {
		signers = append(signers, s)
	}
	sort.Slice(signers, func(i, j int) bool {
		a, c := signers[i], signers[j]
		if a.member != c.member {
			return a.member < c.member
		}
		ai, ci := deviceLabel(a, members) == "", deviceLabel(c, members) == ""
		if ai != ci {
			return ai
		}
		return bytes.Compare(a.key[:], c.key[:]) < 0
	})
	for _, s := range signers {
		var top uint64
		for q := range seqs[s] {
			if q > top {
				top = q
			}
		}
		if missing := top - uint64(len(seqs[s])); missing > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d message(s) from %s are missing from the bundle (sequence numbers up to %d)", missing, label(s, members), top))
		}
	}
}
