package keylog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"backchannel/entropy"
	"backchannel/keylog/prefix"
)

// entropyReader adapts an entropy.Source to the io.Reader note.GenerateKey takes.
type entropyReader struct{ src entropy.Source }

func (r entropyReader) Read(b []byte) (int, error) {
	if err := r.src.Bytes(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// writeSecret creates path with mode 0600, failing if it exists.
func writeSecret(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadLogKey reads Dir/log.key, or creates it for origin (defaultOrigin if
// origin is empty) on first start. A stored key for another origin than a
// non-empty origin is ErrIdentity.
func loadLogKey(dir, origin, defaultOrigin string, src entropy.Source) (note.Signer, string, error) {
	path := filepath.Join(dir, LogKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		name := origin
		if name == "" {
			name = defaultOrigin
		}
		skey, _, gerr := note.GenerateKey(entropyReader{src}, name)
		if gerr != nil {
			return nil, "", fmt.Errorf("make the log key for origin %q: %w", name, gerr)
		}
		if werr := writeSecret(path, []byte(skey+"\n")); werr != nil {
			return nil, "", wrap(werr, "write %s", path)
		}
		b = []byte(skey + "\n")
	} else if err != nil {
		return nil, "", wrap(err, "read %s", path)
	}
	skey := string(bytes.TrimSpace(b))
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", wrap(err, "log key %s", path)
	}
	if origin != "" && signer.Name() != origin {
		return nil, "", fmt.Errorf("%w: the log's origin is %q, the configuration says %q (keep the origin, or start a new log in another data directory)", ErrIdentity, signer.Name(), origin)
	}
	vkey, err := verifierKey(skey)
	if err != nil {
		return nil, "", err
	}
	return signer, vkey, nil
}

// verifierKey derives the C2SP vkey text from a note signer key
// ("PRIVATE+KEY+name+hash+base64(0x01 || seed)"): same name, the Ed25519
// public key of the seed.
func verifierKey(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5) // the base64 key may hold "+"
	if len(parts) != 5 {
		return "", fmt.Errorf("log key: not a note signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", fmt.Errorf("log key: not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(parts[2], pub)
	if err != nil {
		return "", wrap(err, "log verifier key")
	}
	return vkey, nil
}

// loadVRFKey reads Dir/vrf.key or creates it on first start.
func loadVRFKey(dir string, src entropy.Source) (*prefix.VRFKey, error) {
	path := filepath.Join(dir, VRFKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, gerr := prefix.NewVRFKeyFrom(src)
		if gerr != nil {
			return nil, wrap(gerr, "make the VRF key")
		}
		if werr := writeSecret(path, k.Bytes()); werr != nil {
			return nil, wrap(werr, "write %s", path)
		}
		return k, nil
	}
	if err != nil {
		return nil, wrap(err, "read %s", path)
	}
	k, err := prefix.VRFKeyFromBytes(b)
	if err != nil {
		return nil, wrap(err, "VRF key %s", path)
	}
	return k, nil
}
