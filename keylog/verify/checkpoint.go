package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"backchannel/keylog/prefix"
)

// Trust is what a client pinned about a server's log at init.
type Trust struct {
	Origin        string   // the checkpoint's first line: backchannel/keylog/<host>
	LogKey        string   // the log's note verifier key (C2SP vkey text)
	VRFKey        []byte   // the VRF public key, VRFKeySize bytes
	Witnesses     []string // witness verifier keys (Ed25519 or cosignature/v1 vkeys)
	WitnessQuorum int      // how many distinct Witnesses must cosign each checkpoint
}

// Checkpoint is a verified checkpoint of the log.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [32]byte
	Note   []byte // the signed note text, kept as evidence
}

// verifiers returns the log's verifier and one cosignature/v1 verifier per
// witness. A witness key is an Ed25519 vkey (algorithm 1) or a
// cosignature/v1 vkey (algorithm 4); either way the witness's signatures
// are cosignature/v1 (C2SP tlog-cosignature), as Tessera's witness client
// checks them.
func (t Trust) verifiers() (log note.Verifier, witnesses []note.Verifier, err error) {
	log, err = note.NewVerifier(t.LogKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pinned log key: %v", err)
	}
	if t.WitnessQuorum < 0 || t.WitnessQuorum > len(t.Witnesses) {
		return nil, nil, fmt.Errorf("witness quorum %d of %d witnesses", t.WitnessQuorum, len(t.Witnesses))
	}
	for i, w := range t.Witnesses {
		v, err := fnote.NewVerifierForCosignatureV1(w)
		if err != nil {
			return nil, nil, fmt.Errorf("pinned witness key %d: %v", i, err)
		}
		witnesses = append(witnesses, v)
	}
	return log, witnesses, nil
}

// ParseCheckpoint verifies a checkpoint note under t and parses its body:
// the pinned log key must have signed it (ErrSignature), its origin must be
// t.Origin (ErrSignature), at least t.WitnessQuorum distinct pinned
// witnesses must have cosigned it (ErrSignature), and its body must be a
// C2SP tlog-checkpoint (ErrMalformed). A pinned key whose signature in the
// note does not verify is ErrSignature even when others do. Signatures by
// keys the client does not know are ignored.
func ParseCheckpoint(t Trust, signed []byte) (Checkpoint, error) {
	if len(signed) > MaxCheckpointSize {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint of %d bytes, at most %d", ErrMalformed, len(signed), MaxCheckpointSize)
	}
	logV, witV, err := t.verifiers()
	if err != nil {
		return Checkpoint{}, err
	}
	n, err := note.Open(signed, note.VerifierList(append([]note.Verifier{logV}, witV...)...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("%w: no signature by the pinned log key or a witness", ErrSignature)
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrSignature, err)
		default:
			// A malformed note, or two pinned keys with one name and hash.
			return Checkpoint{}, fmt.Errorf("%w: checkpoint note: %v", ErrMalformed, err)
		}
	}
	logSigned := false
	cosigned := 0
	for _, s := range n.Sigs {
		if s.Name == logV.Name() && s.Hash == logV.KeyHash() {
			logSigned = true
			continue
		}
		for _, w := range witV {
			if s.Name == w.Name() && s.Hash == w.KeyHash() {
				cosigned++ // Open keeps one signature per name and hash
				break
			}
		}
	}
	if !logSigned {
		return Checkpoint{}, fmt.Errorf("%w: not signed by the pinned log key", ErrSignature)
	}
	if cosigned < t.WitnessQuorum {
		return Checkpoint{}, fmt.Errorf("%w: cosigned by %d of the pinned witnesses, the policy needs %d", ErrSignature, cosigned, t.WitnessQuorum)
	}
	cp, err := parseBody(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if cp.Origin != t.Origin {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint of origin %q, pinned %q", ErrSignature, cp.Origin, t.Origin)
	}
	cp.Note = bytes.Clone(signed)
	return cp, nil
}

// parseBody parses a C2SP tlog-checkpoint body strictly: origin line, size
// in decimal without leading zeros, the root in standard padded base64 of
// exactly 32 bytes, then zero or more non-empty extension lines, each line
// ending in a newline.
func parseBody(text string) (Checkpoint, error) {
	var cp Checkpoint
	if !strings.HasSuffix(text, "\n") {
		return cp, fmt.Errorf("%w: checkpoint body does not end in a newline", ErrMalformed)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return cp, fmt.Errorf("%w: checkpoint body of %d lines, want at least 3", ErrMalformed, len(lines))
	}
	for i, l := range lines {
		if l == "" {
			return cp, fmt.Errorf("%w: checkpoint line %d is empty", ErrMalformed, i+1)
		}
	}
	cp.Origin = lines[0]
	size := lines[1]
	if size[0] < '0' || size[0] > '9' || (len(size) > 1 && size[0] == '0') {
		return cp, fmt.Errorf("%w: checkpoint size %q", ErrMalformed, size)
	}
	s, err := strconv.ParseUint(size, 10, 64)
	if err != nil {
		return cp, fmt.Errorf("%w: checkpoint size %q", ErrMalformed, size)
	}
	cp.Size = s
	// Go's base64 decoders skip \r and \n even in strict mode: the
	// re-encoding check keeps the root line canonical.
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != len(cp.Root) || base64.StdEncoding.EncodeToString(root) != lines[2] {
		return cp, fmt.Errorf("%w: checkpoint root %q", ErrMalformed, lines[2])
	}
	copy(cp.Root[:], root)
	return cp, nil
}

// DecodeLookup decodes the JSON of a lookup strictly: one object of at most
// MaxLookupSize bytes, no unknown fields, nothing after it, and a listing
// proof (changed) of bounded size. Sizes of the other fields are checked by
// Verify (which checks the listing's again).
func DecodeLookup(b []byte) (*Lookup, error) {
	if len(b) > MaxLookupSize {
		return nil, fmt.Errorf("%w: lookup of %d bytes, at most %d", ErrMalformed, len(b), MaxLookupSize)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var l Lookup
	if err := d.Decode(&l); err != nil {
		return nil, fmt.Errorf("%w: lookup: %v", ErrMalformed, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: lookup: data after the object", ErrMalformed)
	}
	if c := l.Changed; c != nil && (len(c.Inclusion) > MaxInclusion || len(c.Path) > MaxChangePath || len(c.Entry) != prefix.EntrySize) {
		return nil, fmt.Errorf("%w: lookup: a listing proof of %d and %d hashes with an entry of %d bytes", ErrMalformed, len(c.Inclusion), len(c.Path), len(c.Entry))
	}
	return &l, nil
}
