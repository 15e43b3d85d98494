package transcript

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
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
)

// ErrBadBundle is wrapped by every bundle decoding error.
var ErrBadBundle = errors.New("transcript: not a valid transcript bundle")

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

// BundleMember is a member id and its Ed25519 identity key (base64).
type BundleMember struct {
	ID          string `json:"id"`
	IdentityKey string `json:"identity_key"`
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
// 8 hex digits, or "sender#seq"). Membership entries are always disclosed.
type ExportOptions struct {
	From, To time.Time
	Only     []string
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
	for id, k := range members {
		b.Members = append(b.Members, BundleMember{ID: id, IdentityKey: base64.StdEncoding.EncodeToString(k)})
	}
	sort.Slice(b.Members, func(i, j int) bool { return b.Members[i].ID < b.Members[j].ID })
	for _, r := range recs {
		enc, err := r.Entry.Encode()
		if err != nil {
			return nil, fmt.Errorf("transcript: export %s: %w", r.Hash.ID(), err)
		}
		be := BundleEntry{Entry: base64.StdEncoding.EncodeToString(enc)}
		e := r.Entry
		disclose := e.Kind == KindMembership ||
			((opt.From.IsZero() || !e.Time.Before(opt.From)) && (opt.To.IsZero() || !e.Time.After(opt.To)) &&
				(len(only) == 0 || only[r.Hash]))
		if disclose {
			if !utf8.Valid(r.Content) {
				return nil, fmt.Errorf("transcript: export %s: content is not UTF-8 text", r.Hash.ID())
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
			for _, r := range recs {
				if r.Entry.Sender == id[:i] && r.Entry.Seq == seq {
					return r.Hash, nil
				}
			}
			return Hash{}, fmt.Errorf("transcript: no message %s in this room", id)
		}
	}
	id = strings.ToLower(id)
	if len(id) < 8 {
		return Hash{}, fmt.Errorf("transcript: message id %q too short (at least 8 hex digits, or sender#seq)", id)
	}
	var found []Hash
	for _, r := range recs {
		if strings.HasPrefix(r.Hash.String(), id) {
			found = append(found, r.Hash)
		}
	}
	switch len(found) {
	case 0:
		return Hash{}, fmt.Errorf("transcript: no message %s in this room", id)
	case 1:
		return found[0], nil
	}
	return Hash{}, fmt.Errorf("transcript: message id %s is ambiguous (%d matches)", id, len(found))
}

// Marshal returns the bundle as indented JSON.
func (b *Bundle) Marshal() ([]byte, error) {
	out, err := json.MarshalIndent(b, "", " ")
	if err != nil {
		return nil, fmt.Errorf("transcript: marshal bundle: %w", err)
	}
	return append(out, '\n'), nil
}

// ReadBundle reads at most MaxBundleSize bytes from r and decodes them.
func ReadBundle(r io.Reader) (*Bundle, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("transcript: read bundle: %w", err)
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
	return &b, nil
}

// VerifyOptions configures VerifyBundle. Trusted, if set, maps member ids
// to identity keys the verifier already trusts (from the key log or
// compared safety numbers); otherwise the bundle's own member list is used
// and the report says so.
type VerifyOptions struct {
	Trusted map[string]ed25519.PublicKey
}

// MemberReport identifies a member key by id and fingerprint.
type MemberReport struct {
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"` // first 16 bytes of SHA-256(key), hex
	Trusted     bool   `json:"trusted"`
}

// BundleReport is the outcome of VerifyBundle. OK is false iff Problems is
// not empty; Warnings (gaps, unverified identities) do not fail a bundle.
type BundleReport struct {
	OK        bool           `json:"ok"`
	Room      string         `json:"room"`
	Mode      string         `json:"mode"`
	Entries   int            `json:"entries"`
	Disclosed int            `json:"disclosed"`
	Members   []MemberReport `json:"members"`
	Heads     []string       `json:"heads"`
	Problems  []string       `json:"problems"`
	Warnings  []string       `json:"warnings"`
	Claims    []string       `json:"claims"`
	// Messages are the disclosed messages, parents first.
	Messages []leak.Message `json:"messages"`
}

// VerifyBundle decodes and checks a bundle offline: every entry decodes and
// belongs to the room; every sender is a listed member and (on-record) the
// signature verifies under that member's key; parents precede the entries
// that cite them; no sender uses a sequence number twice; every disclosed
// content opens its commitment. Decoding failures are returned as errors;
// verification failures are listed in the report.
func VerifyBundle(data []byte, opt VerifyOptions) (*BundleReport, error) {
	b, err := DecodeBundle(data)
	if err != nil {
		return nil, err
	}
	return b.Verify(opt), nil
}

// Verify checks a decoded bundle; see VerifyBundle.
func (b *Bundle) Verify(opt VerifyOptions) *BundleReport {
	rep := &BundleReport{Room: b.Room, Mode: b.Mode, Entries: len(b.Entries), Problems: []string{}, Warnings: []string{}}
	mode, _ := ParseMode(b.Mode)
	keys := map[string]ed25519.PublicKey{}
	for _, m := range b.Members {
		k, err := base64.StdEncoding.DecodeString(m.IdentityKey)
		if err != nil || len(k) != ed25519.PublicKeySize || checkID("member id", m.ID) != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("member %q: invalid id or identity key", m.ID))
			continue
		}
		if _, dup := keys[m.ID]; dup {
			rep.Problems = append(rep.Problems, fmt.Sprintf("member %q listed twice", m.ID))
			continue
		}
		keys[m.ID] = k
		fp := sha256.Sum256(k)
		mr := MemberReport{ID: m.ID, Fingerprint: hex.EncodeToString(fp[:16])}
		if opt.Trusted != nil {
			tk, ok := opt.Trusted[m.ID]
			switch {
			case !ok:
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("member %s is not among the trusted identities", m.ID))
			case !bytes.Equal(tk, k):
				rep.Problems = append(rep.Problems, fmt.Sprintf("member %s: identity key in the bundle differs from the trusted key", m.ID))
			default:
				mr.Trusted = true
			}
		}
		rep.Members = append(rep.Members, mr)
	}
	if opt.Trusted == nil {
		rep.Warnings = append(rep.Warnings, "identities are as listed in the bundle; compare the fingerprints with the members' safety numbers")
	}
	entries := make([]*Entry, len(b.Entries))
	bodies := make([][]byte, len(b.Entries))
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
		k, ok := keys[e.Sender]
		if !ok {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d: sender %q is not a listed member", i+1, e.Sender))
			continue
		}
		if !bytes.Equal(k, e.SenderKey) {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d (%s #%d): signed with a key that is not %s's identity key", i+1, e.Sender, e.Seq, e.Sender))
			continue
		}
		entries[i] = e
		bodies[i], _ = e.Body()
	}
	for i, err := range verifyAll(entries, bodies) {
		if err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d (%s #%d): signature does not verify", i+1, entries[i].Sender, entries[i].Seq))
			entries[i] = nil
		}
	}
	b.checkLinks(rep, entries, bodies)
	if mode == ModeDeniable {
		rep.Claims = append(rep.Claims, "deniable room: entries are unsigned, so this bundle shows the structure of the conversation but proves nothing about who wrote what")
	} else if len(rep.Problems) == 0 {
		rep.Claims = append(rep.Claims,
			fmt.Sprintf("every one of the %d entries is signed by the listed identity key of its sender", rep.Entries),
			fmt.Sprintf("the %d disclosed contents are exactly what their senders committed to", rep.Disclosed),
			"every entry's position is fixed by the hashes of the entries its sender had seen")
	}
	rep.OK = len(rep.Problems) == 0
	return rep
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

func (b *Bundle) checkLinks(rep *BundleReport, entries []*Entry, bodies [][]byte) {
	seen := map[Hash]*Entry{}
	cited := map[Hash]bool{}
	seqs := map[string]map[uint64]bool{}
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
		if seqs[e.Sender] == nil {
			seqs[e.Sender] = map[uint64]bool{}
		}
		if seqs[e.Sender][e.Seq] {
			rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d: %s's message #%d appears in two different versions (fork)", i+1, e.Sender, e.Seq))
			continue
		}
		for _, p := range e.Parents {
			if _, ok := seen[p]; !ok {
				rep.Problems = append(rep.Problems, fmt.Sprintf("entry %d (%s #%d): cites entry %s, which is not earlier in the bundle", i+1, e.Sender, e.Seq, p.ID()))
			}
			cited[p] = true
		}
		seqs[e.Sender][e.Seq] = true
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
	senders := make([]string, 0, len(seqs))
	for s := range seqs {
		senders = append(senders, s)
	}
	sort.Strings(senders)
	for _, s := range senders {
		var top uint64
		for q := range seqs[s] {
			if q > top {
				top = q
			}
		}
		if missing := top - uint64(len(seqs[s])); missing > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%d message(s) from %s are missing from the bundle (sequence numbers up to %d)", missing, s, top))
		}
	}
}
