// Package devicelink is the cryptography and framing of linking a new device
// to an account: a one-time code, three sealed messages relayed by the
// server, and a short authentication string (SAS) the user compares on both
// screens. It does no networking; docs/protocol.md section 15 specifies the
// bytes.
//
// The existing (primary) device makes a Code and a Primary, and posts the
// hello. The new device (the joiner) parses the code, reads the hello and
// makes a Joiner, which yields the request to post and the SAS to show. The
// primary opens the request, which yields the new device's name and public
// keys and the same SAS. Only after the user has confirmed that the two SAS
// match does the primary seal its response: the provisioning payload, which
// only the joiner can open.
//
// Contract:
//   - The relay sees the link id, the two ephemeral X25519 public keys and
//     ciphertexts; never the code's secret, the new device's name or keys,
//     or the payload. A relay that alters any message makes it fail to open.
//   - An attacker who learned the code and relays both directions (a
//     man in the middle) is seen as different SAS on the two screens: the
//     primary must not seal the response unless the user confirms a match.
//     (Section 15 states the attacker's cost of forcing a match anyway.)
//   - The new device's private keys never leave it; the request carries its
//     public keys and a signature proving it holds the signing key.
//   - Each message key is used once: a Primary opens one request and seals
//     one response; later calls fail with ErrUsed. Neither type is safe for
//     concurrent use by several goroutines without external locking, except
//     that the one-time guards are themselves locked.
//   - A replayed request fails: on the same Primary with ErrUsed, on any
//     other Primary (another ephemeral key) with ErrNotAuthentic.
package devicelink

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unicode"
	"unicode/utf8"

	"backchannel/entropy"
	"backchannel/x25519"
)

// Domain-separation labels, word for word as in docs/protocol.md section 15.
const (
	// RequestSignatureLabel starts the bytes the new device signs.
	RequestSignatureLabel = "backchannel link request v1"
	// RequestKeyLabel derives k_req, the request's AES-256-GCM key.
	RequestKeyLabel = "backchannel link request key v1"
	// ResponseKeyLabel derives k_resp, the response's AES-256-GCM key.
	ResponseKeyLabel = "backchannel link response key v1"
	// SASLabel derives the short authentication string.
	SASLabel = "backchannel link sas v1"
)

// Sizes and limits.
const (
	// HelloSize is the hello: the primary's ephemeral X25519 public key.
	HelloSize = 32
	// MaxNameLen bounds the new device's name, in bytes of UTF-8.
	MaxNameLen = 64
	// MaxRequestSize bounds a request (the relay refuses larger ones).
	MaxRequestSize = 4 << 10
	// MaxPayloadSize bounds the provisioning payload.
	MaxPayloadSize = 64 << 20
	// SASDigits is the number of decimal digits of the SAS.
	SASDigits = 12

	keySize   = 32
	tagSize   = 16
	nonceSize = 12
	sasBytes  = 8
)

// Errors callers branch on.
var (
	// ErrNotAuthentic: a request or response did not decrypt. The other
	// device used another code (a mistyped secret), or the message was
	// altered, replayed from another link, or made by a man in the middle
	// who does not know the code.
	ErrNotAuthentic = errors.New("the message does not authenticate (a different link code, or altered in transit)")
	// ErrMalformed: a message has the wrong size or structure.
	ErrMalformed = errors.New("malformed link message")
	// ErrBadSignature: the request decrypted but its signature by the new
	// device's signing key does not verify.
	ErrBadSignature = errors.New("the new device's signature does not verify")
	// ErrUsed: a one-time step was attempted twice (a second request, a
	// second response).
	ErrUsed = errors.New("this link step was already done")
	// ErrState: a step out of order (a response before any request).
	ErrState = errors.New("link step out of order")
	// ErrBadName: the device name is empty, too long, not UTF-8 or has
	// control or formatting characters.
	ErrBadName = errors.New("invalid device name")
	// ErrTooLarge: a payload above MaxPayloadSize.
	ErrTooLarge = errors.New("payload too large")
)

// JoinKeys are the new device's keys: its Ed25519 signing key (the private
// key signs the request and stays on the device) and its X25519 public key.
type JoinKeys struct {
	SigningKey ed25519.PrivateKey
	DHPublic   []byte
}

// Request is what the primary learns about the new device.
type Request struct {
	Name       string // as the user named it; checked by ValidName
	SigningKey []byte // Ed25519 public key (32 bytes), DS
	DHKey      []byte // X25519 public key (32 bytes), DH
}

// ValidName reports whether name may name a device: 1 to MaxNameLen bytes of
// UTF-8 with no control or formatting characters (no bidi overrides, no
// zero-width characters, no line breaks).
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLen || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// zeroNonce is the fixed nonce of both sealed messages: each key seals
// exactly one message (section 15 explains why that is safe).
var zeroNonce [nonceSize]byte

// keys are the secrets both sides derive from the code and the exchange.
type keys struct {
	req, resp []byte
	sas       string
}

// derive computes k_req, k_resp and the SAS from the code's secret, the
// X25519 shared secret and both ephemeral public keys.
func derive(c Code, shared, ep, en []byte) (keys, error) {
	ikm := make([]byte, 0, SecretSize+len(shared))
	ikm = append(ikm, c.secret[:]...)
	ikm = append(ikm, shared...)
	defer clear(ikm)
	info := func(label string) string { return label + string(ep) + string(en) }
	var k keys
	var err error
	if k.req, err = hkdf.Key(sha256.New, ikm, c.id[:], info(RequestKeyLabel), keySize); err != nil {
		return keys{}, fmt.Errorf("derive request key: %w", err)
	}
	if k.resp, err = hkdf.Key(sha256.New, ikm, c.id[:], info(ResponseKeyLabel), keySize); err != nil {
		return keys{}, fmt.Errorf("derive response key: %w", err)
	}
	s, err := hkdf.Key(sha256.New, ikm, c.id[:], info(SASLabel), sasBytes)
	if err != nil {
		return keys{}, fmt.Errorf("derive SAS: %w", err)
	}
	k.sas = formatSAS(binary.BigEndian.Uint64(s))
	return k, nil
}

// formatSAS writes v mod 10^12 as "1234 5678 9012".
func formatSAS(v uint64) string {
	d := fmt.Sprintf("%012d", v%1_000_000_000_000)
	return d[0:4] + " " + d[4:8] + " " + d[8:12]
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("link cipher: %w", err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("link cipher: %w", err)
	}
	return a, nil
}

// x25519 computes the shared secret; a low-order peer key is malformed.
func dh(priv *x25519.PrivateKey, peer []byte) ([]byte, error) {
	if len(peer) != x25519.PointSize {
		return nil, fmt.Errorf("%w: bad X25519 public key", ErrMalformed)
	}
	s, err := priv.ECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("%w: low-order X25519 public key", ErrMalformed)
	}
	return s, nil
}

// signedBytes is what the new device signs.
func signedBytes(c Code, ep, en []byte, name string, ds, dh []byte) []byte {
	b := make([]byte, 0, len(RequestSignatureLabel)+LinkIDSize+2*HelloSize+len(name)+64)
	b = append(b, RequestSignatureLabel...)
	b = append(b, c.id[:]...)
	b = append(b, ep...)
	b = append(b, en...)
	b = append(b, name...)
	b = append(b, ds...)
	return append(b, dh...)
}

// encodeRequestBody is the request plaintext:
// u8(len(name)) || name || DS (32) || DH (32) || signature (64).
func encodeRequestBody(name string, ds, dh, sig []byte) []byte {
	b := make([]byte, 0, 1+len(name)+32+32+ed25519.SignatureSize)
	b = append(b, byte(len(name)))
	b = append(b, name...)
	b = append(b, ds...)
	b = append(b, dh...)
	return append(b, sig...)
}

// parseRequestBody decodes the request plaintext strictly.
func parseRequestBody(b []byte) (name string, ds, dh, sig []byte, err error) {
	if len(b) < 1 {
		return "", nil, nil, nil, fmt.Errorf("%w: empty request", ErrMalformed)
	}
	n := int(b[0])
	if len(b) != 1+n+32+32+ed25519.SignatureSize {
		return "", nil, nil, nil, fmt.Errorf("%w: request body is %d bytes for a %d-byte name", ErrMalformed, len(b), n)
	}
	name = string(b[1 : 1+n])
	if !ValidName(name) {
		return "", nil, nil, nil, fmt.Errorf("%w: %w", ErrMalformed, ErrBadName)
	}
	rest := b[1+n:]
	return name, bytes.Clone(rest[:32]), bytes.Clone(rest[32:64]), bytes.Clone(rest[64:]), nil
}

// Primary is the existing device's side of one link.
type Primary struct {
	code  Code
	eph   *x25519.PrivateKey
	hello []byte

	mu      sync.Mutex
	opened  bool
	sealed  bool
	resp    []byte   // k_resp, once a request opened
	reqHash [32]byte // SHA-256 of the opened request
}

// NewPrimary starts the primary's side of the link named by code and returns
// the hello to post to the relay.
func NewPrimary(src entropy.Source, code Code) (*Primary, []byte, error) {
	if code.server == "" {
		return nil, nil, fmt.Errorf("%w: the zero Code", ErrBadCode)
	}
	eph, err := src.X25519()
	if err != nil {
		return nil, nil, fmt.Errorf("ephemeral key: %w", err)
	}
	hello := eph.PublicKey()
	return &Primary{code: code, eph: eph, hello: hello}, bytes.Clone(hello), nil
}

// OpenRequest opens the new device's request and returns its name and keys
// and the SAS to show. A request that fails to open leaves the Primary
// waiting for another; once one has opened, every later call returns
// ErrUsed.
func (p *Primary) OpenRequest(req []byte) (Request, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.opened {
		return Request{}, "", ErrUsed
	}
	if len(req) < HelloSize+tagSize || len(req) > MaxRequestSize {
		return Request{}, "", fmt.Errorf("%w: request of %d bytes", ErrMalformed, len(req))
	}
	en := req[:HelloSize]
	shared, err := dh(p.eph, en)
	if err != nil {
		return Request{}, "", err
	}
	k, err := derive(p.code, shared, p.hello, en)
	clear(shared)
	if err != nil {
		return Request{}, "", err
	}
	defer clear(k.req)
	a, err := gcm(k.req)
	if err != nil {
		return Request{}, "", err
	}
	body, err := a.Open(nil, zeroNonce[:], req[HelloSize:], nil)
	if err != nil {
		return Request{}, "", ErrNotAuthentic
	}
	name, ds, dh, sig, err := parseRequestBody(body)
	if err != nil {
		return Request{}, "", err
	}
	if !ed25519.Verify(ed25519.PublicKey(ds), signedBytes(p.code, p.hello, en, name, ds, dh), sig) {
		return Request{}, "", ErrBadSignature
	}
	p.opened = true
	p.eph = nil // forward secrecy: the ephemeral key is not needed any more
	p.resp = k.resp
	p.reqHash = sha256.Sum256(req)
	return Request{Name: name, SigningKey: ds, DHKey: dh}, k.sas, nil
}

// SealResponse seals the provisioning payload (at most MaxPayloadSize bytes)
// for the device whose request opened. Call it only after the user has
// confirmed that both devices show the same SAS. It works once.
func (p *Primary) SealResponse(payload []byte) ([]byte, error) {
	if len(payload) > MaxPayloadSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(payload), MaxPayloadSize)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.opened:
		return nil, fmt.Errorf("%w: no request has been opened", ErrState)
	case p.sealed:
		return nil, ErrUsed
	}
	a, err := gcm(p.resp)
	if err != nil {
		return nil, err
	}
	p.sealed = true
	out := a.Seal(nil, zeroNonce[:], payload, p.reqHash[:])
	clear(p.resp)
	return out, nil
}

// Joiner is the new device's side of one link.
type Joiner struct {
	resp    []byte   // k_resp
	reqHash [32]byte // SHA-256 of the request it sent
}

// NewJoiner answers the hello read from the relay for code with the new
// device's name and keys. It returns the request to post and the SAS to
// show the user.
func NewJoiner(src entropy.Source, code Code, hello []byte, name string, keys JoinKeys) (*Joiner, []byte, string, error) {
	if code.server == "" {
		return nil, nil, "", fmt.Errorf("%w: the zero Code", ErrBadCode)
	}
	if len(hello) != HelloSize {
		return nil, nil, "", fmt.Errorf("%w: hello of %d bytes, want %d", ErrMalformed, len(hello), HelloSize)
	}
	if !ValidName(name) {
		return nil, nil, "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	if len(keys.SigningKey) != ed25519.PrivateKeySize {
		return nil, nil, "", errors.New("the signing key must be an Ed25519 private key")
	}
	if _, err := ecdh.X25519().NewPublicKey(keys.DHPublic); err != nil {
		return nil, nil, "", errors.New("the DH key must be a 32-byte X25519 public key")
	}
	eph, err := src.X25519()
	if err != nil {
		return nil, nil, "", fmt.Errorf("ephemeral key: %w", err)
	}
	en := eph.PublicKey()
	shared, err := dh(eph, hello)
	if err != nil {
		return nil, nil, "", err
	}
	k, err := derive(code, shared, hello, en)
	clear(shared)
	if err != nil {
		return nil, nil, "", err
	}
	defer clear(k.req)
	ds := keys.SigningKey.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(keys.SigningKey, signedBytes(code, hello, en, name, ds, keys.DHPublic))
	a, err := gcm(k.req)
	if err != nil {
		return nil, nil, "", err
	}
	req := a.Seal(bytes.Clone(en), zeroNonce[:], encodeRequestBody(name, ds, keys.DHPublic, sig), nil)
	return &Joiner{resp: k.resp, reqHash: sha256.Sum256(req)}, req, k.sas, nil
}

// OpenResponse opens the primary's response and returns the payload.
func (j *Joiner) OpenResponse(resp []byte) ([]byte, error) {
	if len(resp) < tagSize || len(resp) > MaxPayloadSize+tagSize {
		return nil, fmt.Errorf("%w: response of %d bytes", ErrMalformed, len(resp))
	}
	a, err := gcm(j.resp)
	if err != nil {
		return nil, err
	}
	payload, err := a.Open(nil, zeroNonce[:], resp, j.reqHash[:])
	if err != nil {
		return nil, ErrNotAuthentic
	}
	return payload, nil
}
