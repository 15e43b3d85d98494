// Package api defines the wire format of the backchannel HTTP API shared by
// the server and its Go client: JSON request and response types, their
// validation, error codes, and the request-signing scheme.
//
// Request signing: every authenticated request carries the headers
// Backchannel-User, Backchannel-Device, Backchannel-Timestamp (Unix
// milliseconds), Backchannel-Nonce (16 to 64 random bytes, base64url without
// padding) and Backchannel-Signature (base64url Ed25519 signature by the
// device key over CanonicalRequest). The server refuses timestamps more than
// the allowed skew away from its clock and nonces it has already seen.
package api

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// Header names of the request proof.
const (
	HeaderUser      = "Backchannel-User"
	HeaderDevice    = "Backchannel-Device"
	HeaderTimestamp = "Backchannel-Timestamp"
	HeaderNonce     = "Backchannel-Nonce"
	HeaderSignature = "Backchannel-Signature"
)

// SignatureLabel domain-separates request signatures from every other
// signature made with a device key.
const SignatureLabel = "backchannel request v1"

// Nonce size bounds in bytes.
const (
	MinNonceBytes = 16
	MaxNonceBytes = 64
)

// ErrBadProof reports missing or malformed proof headers.
var ErrBadProof = errors.New("malformed request proof")

var nameRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// ValidName reports whether s is a valid account name: [a-z0-9_-]{1,32}.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// CanonicalRequest returns the exact bytes a device signs: the label, method,
// request URI (escaped path and raw query, as sent on the request line),
// user, device, timestamp, nonce and the hex SHA-256 of the body, each
// followed by a newline.
func CanonicalRequest(method, requestURI, user string, device uint32, timestampMillis int64, nonce string, bodySHA256 [32]byte) []byte {
	var b bytes.Buffer
	for _, f := range []string{SignatureLabel, method, requestURI, user,
		strconv.FormatUint(uint64(device), 10), strconv.FormatInt(timestampMillis, 10), nonce,
		hex.EncodeToString(bodySHA256[:])} {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// SignRequest sets the proof headers on r for body (which must be the exact
// body r will send; nil for none).
func SignRequest(r *http.Request, body []byte, user string, device uint32, key ed25519.PrivateKey, now time.Time) {
	nonceBytes := make([]byte, MinNonceBytes)
	_, _ = rand.Read(nonceBytes)
	nonce := base64.RawURLEncoding.EncodeToString(nonceBytes)
	ts := now.UnixMilli()
	msg := CanonicalRequest(r.Method, r.URL.RequestURI(), user, device, ts, nonce, sha256.Sum256(body))
	sig := ed25519.Sign(key, msg)
	r.Header.Set(HeaderUser, user)
	r.Header.Set(HeaderDevice, strconv.FormatUint(uint64(device), 10))
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, base64.RawURLEncoding.EncodeToString(sig))
}

// Proof is a parsed, not yet verified, request proof.
type Proof struct {
	User      string
	Device    uint32
	Timestamp int64 // Unix milliseconds
	Nonce     string
	Signature []byte
}

// ParseProof parses the proof headers. It checks syntax only.
func ParseProof(h http.Header) (Proof, error) {
	var p Proof
	p.User = h.Get(HeaderUser)
	if !ValidName(p.User) {
		return p, fmt.Errorf("%w: bad %s", ErrBadProof, HeaderUser)
	}
	dev, err := strconv.ParseUint(h.Get(HeaderDevice), 10, 32)
	if err != nil {
		return p, fmt.Errorf("%w: bad %s", ErrBadProof, HeaderDevice)
	}
	p.Device = uint32(dev)
	p.Timestamp, err = strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return p, fmt.Errorf("%w: bad %s", ErrBadProof, HeaderTimestamp)
	}
	p.Nonce = h.Get(HeaderNonce)
	n, err := base64.RawURLEncoding.DecodeString(p.Nonce)
	if err != nil || len(n) < MinNonceBytes || len(n) > MaxNonceBytes {
		return p, fmt.Errorf("%w: bad %s", ErrBadProof, HeaderNonce)
	}
	p.Signature, err = base64.RawURLEncoding.DecodeString(h.Get(HeaderSignature))
	if err != nil || len(p.Signature) != ed25519.SignatureSize {
		return p, fmt.Errorf("%w: bad %s", ErrBadProof, HeaderSignature)
	}
	return p, nil
}

// Fresh reports whether the proof's timestamp is within skew of now.
func (p Proof) Fresh(now time.Time, skew time.Duration) bool {
	d := now.Sub(time.UnixMilli(p.Timestamp))
	return d <= skew && d >= -skew
}

// Verify checks the signature with the device's public key.
func (p Proof) Verify(pub []byte, method, requestURI string, bodySHA256 [32]byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	msg := CanonicalRequest(method, requestURI, p.User, p.Device, p.Timestamp, p.Nonce, bodySHA256)
	return ed25519.Verify(ed25519.PublicKey(pub), msg, p.Signature)
}
