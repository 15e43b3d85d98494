package witness

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"backchannel/entropy"
)

// KeyFile is the witness's private key in its data directory: a C2SP
// signed-note signer key ("PRIVATE+KEY+<name>+<hash>+<base64>"), mode 0600.
const KeyFile = "witness.key"

// ErrKeyName is returned when an existing key carries another name than the
// one asked for.
var ErrKeyName = errors.New("the key in the data directory has another name")

// Key is a witness's identity: a name and an Ed25519 key used for
// cosignature/v1 signatures.
type Key struct {
	name string
	skey string
	pub  ed25519.PublicKey
}

// Name is the witness name that appears in its signature lines.
func (k *Key) Name() string { return k.name }

// VerifierKey is the witness's cosignature/v1 verifier key (a C2SP vkey with
// algorithm 0x04), the value logs and clients configure.
func (k *Key) VerifierKey() string {
	vkey, err := note.NewEd25519VerifierKey(k.name, k.pub)
	if err != nil {
		panic("witness: a loaded key has an invalid name: " + err.Error())
	}
	cv, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		panic("witness: cannot convert a valid vkey: " + err.Error())
	}
	return cv
}

// Signer returns the note signer that produces the witness's timestamped
// cosignatures.
func (k *Key) Signer() (note.Signer, error) {
	s, err := fnote.NewSignerForCosignatureV1(k.skey)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return s, nil
}

// LoadOrCreateKey reads DIR/witness.key, or creates it (with name, from src)
// when it does not exist. A non-empty name must match an existing key's.
func LoadOrCreateKey(dir, name string, src entropy.Source) (k *Key, created bool, err error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if name == "" {
			return nil, false, fmt.Errorf("no key in %s and no name to create one", dir)
		}
		if k, err = createKey(path, name, src); err != nil {
			return nil, false, err
		}
		return k, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read key: %w", err)
	}
	k, err = parseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	if name != "" && name != k.name {
		return nil, false, fmt.Errorf("%w: %q, not %q", ErrKeyName, k.name, name)
	}
	return k, false, nil
}

func createKey(path, name string, src entropy.Source) (*Key, error) {
	seed := make([]byte, ed25519.SeedSize)
	if err := src.Bytes(seed); err != nil {
		return nil, fmt.Errorf("key seed: %w", err)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return nil, fmt.Errorf("name %q: %w", name, err)
	}
	// The signer key encodes the same name and key hash as the vkey, with
	// the seed in place of the public key (c2sp.org/signed-note).
	hash, _, _ := strings.Cut(strings.TrimPrefix(vkey, name+"+"), "+")
	skey := "PRIVATE+KEY+" + name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, seed...))
	k, err := parseKey(skey)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key: %w", err)
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("close key: %w", err)
	}
	return k, syncDir(filepath.Dir(path))
}

const algEd25519 = 0x01 // signed-note key algorithm byte for Ed25519

func parseKey(skey string) (*Key, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return nil, errors.New("not a signed-note signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != algEd25519 {
		return nil, errors.New("not an Ed25519 signer key")
	}
	// note.NewSigner checks the name and the key hash.
	if _, err := note.NewSigner(skey); err != nil {
		return nil, fmt.Errorf("signer key: %w", err)
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return &Key{name: parts[2], skey: skey, pub: pub}, nil
}

// syncDir makes a rename or creation in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}
