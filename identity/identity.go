// Package identity holds a user's long-term identity key, the keys of each of
// the user's devices, the certificate that binds a device to its user, and
// safety numbers.
//
// A user is an Ed25519 identity key. Each device has its own Ed25519 signing
// key (it signs the device's prekeys and its requests to the server) and its
// own X25519 key (its identity key in the PQXDH handshake). The user's
// identity key signs a Certificate over both, so a peer that trusts the user
// key (by comparing safety numbers, or through the key log) can trust every
// certified device. The exact bytes are specified in docs/protocol.md.
package identity

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"backchannel/entropy"
)

// Domain-separation labels and sizes, as in docs/protocol.md section "Identity".
const (
	CertificateLabel = "backchannel device certificate v1"
	CertificateSize  = 32 + 4 + 32 + 32 + ed25519.SignatureSize // 164
	PublicKeySize    = 32
)

// ErrBadCertificate reports a device certificate that does not parse or whose
// signature does not verify.
var ErrBadCertificate = errors.New("bad device certificate")

// User is a user's long-term identity key pair.
type User struct {
	priv ed25519.PrivateKey
}

// NewUser creates a user identity from the entropy source.
func NewUser(src entropy.Source) (*User, error) {
	seed := make([]byte, ed25519.SeedSize)
	if err := src.Bytes(seed); err != nil {
		return nil, fmt.Errorf("new user identity: %w", err)
	}
	return UserFromSeed(seed)
}

// UserFromSeed rebuilds a user identity from its 32-byte Ed25519 seed.
func UserFromSeed(seed []byte) (*User, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("user seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return &User{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Seed returns the secret seed, for the encrypted local store only.
func (u *User) Seed() []byte { return u.priv.Seed() }

// Public returns the 32-byte identity public key.
func (u *User) Public() ed25519.PublicKey { return u.priv.Public().(ed25519.PublicKey) }

// PrivateKey returns the identity private key, for signers that take an
// ed25519.PrivateKey (transcript entries). It must never leave the device.
func (u *User) PrivateKey() ed25519.PrivateKey { return u.priv }

// Sign signs msg with the identity key. Callers prepend their own label.
func (u *User) Sign(msg []byte) []byte { return ed25519.Sign(u.priv, msg) }

// Device is one device's private keys and its certificate.
type Device struct {
	ID      uint32
	signing ed25519.PrivateKey
	dh      *ecdh.PrivateKey
	Cert    Certificate
}

// NewDevice creates a device with fresh keys and certifies it with user.
func NewDevice(src entropy.Source, user *User, id uint32) (*Device, error) {
	seed := make([]byte, ed25519.SeedSize)
	if err := src.Bytes(seed); err != nil {
		return nil, fmt.Errorf("new device: %w", err)
	}
	k, err := src.X25519()
	if err != nil {
		return nil, fmt.Errorf("new device: %w", err)
	}
	dh, err := k.ECDHKey()
	if err != nil {
		return nil, fmt.Errorf("new device: %w", err)
	}
	d := &Device{ID: id, signing: ed25519.NewKeyFromSeed(seed), dh: dh}
	d.Cert = Certificate{
		UserKey:    user.Public(),
		DeviceID:   id,
		SigningKey: d.signing.Public().(ed25519.PublicKey),
		DHKey:      dh.PublicKey().Bytes(),
	}
	d.Cert.Signature = user.Sign(d.Cert.signedBytes())
	return d, nil
}

// RestoreDevice rebuilds a device from its stored secrets and certificate.
func RestoreDevice(signingSeed, dhPriv []byte, cert Certificate) (*Device, error) {
	if len(signingSeed) != ed25519.SeedSize {
		return nil, fmt.Errorf("restore device: signing seed is %d bytes", len(signingSeed))
	}
	dh, err := ecdh.X25519().NewPrivateKey(dhPriv)
	if err != nil {
		return nil, fmt.Errorf("restore device: %w", err)
	}
	d := &Device{ID: cert.DeviceID, signing: ed25519.NewKeyFromSeed(signingSeed), dh: dh, Cert: cert}
	if !d.signing.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(cert.SigningKey)) ||
		string(dh.PublicKey().Bytes()) != string(cert.DHKey) {
		return nil, fmt.Errorf("restore device: keys do not match the certificate: %w", ErrBadCertificate)
	}
	return d, nil
}

// SigningSeed returns the device signing key's seed, for the encrypted local store only.
func (d *Device) SigningSeed() []byte { return d.signing.Seed() }

// DHPrivate returns the device's X25519 private key.
func (d *Device) DHPrivate() *ecdh.PrivateKey { return d.dh }

// SigningKey returns the device's Ed25519 private key.
func (d *Device) SigningKey() ed25519.PrivateKey { return d.signing }

// Sign signs msg with the device signing key. Callers prepend their own label.
func (d *Device) Sign(msg []byte) []byte { return ed25519.Sign(d.signing, msg) }

// Certificate binds a device's keys to its user's identity key.
type Certificate struct {
	UserKey    []byte // Ed25519, 32 bytes
	DeviceID   uint32
	SigningKey []byte // Ed25519, 32 bytes
	DHKey      []byte // X25519, 32 bytes
	Signature  []byte // Ed25519 by UserKey over signedBytes
}

func (c *Certificate) signedBytes() []byte {
	b := make([]byte, 0, len(CertificateLabel)+100)
	b = append(b, CertificateLabel...)
	b = append(b, c.UserKey...)
	b = binary.BigEndian.AppendUint32(b, c.DeviceID)
	b = append(b, c.SigningKey...)
	return append(b, c.DHKey...)
}

// Marshal returns the 164-byte wire form of the certificate.
func (c *Certificate) Marshal() []byte {
	b := make([]byte, 0, CertificateSize)
	b = append(b, c.UserKey...)
	b = binary.BigEndian.AppendUint32(b, c.DeviceID)
	b = append(b, c.SigningKey...)
	b = append(b, c.DHKey...)
	return append(b, c.Signature...)
}

// ParseCertificate decodes a certificate and verifies its signature.
func ParseCertificate(b []byte) (Certificate, error) {
	c, err := DecodeCertificate(b)
	if err != nil {
		return Certificate{}, err
	}
	if err := c.Verify(); err != nil {
		return Certificate{}, err
	}
	return c, nil
}

// DecodeCertificate decodes a certificate WITHOUT checking its signature:
// for bytes verified before and kept in the authenticated local store, or
// for a decoder whose caller verifies later (handshake.Respond does).
func DecodeCertificate(b []byte) (Certificate, error) {
	if len(b) != CertificateSize {
		return Certificate{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadCertificate, len(b), CertificateSize)
	}
	// One copy for all the fields (sessions decode a certificate every time
	// they are loaded), each capped so that an append cannot run into the
	// next.
	c := clone(b)
	return Certificate{
		UserKey:    c[0:32:32],
		DeviceID:   binary.BigEndian.Uint32(c[32:36]),
		SigningKey: c[36:68:68],
		DHKey:      c[68:100:100],
		Signature:  c[100:164:164],
	}, nil
}

// Verify checks the certificate's signature and key encodings.
func (c *Certificate) Verify() error {
	if len(c.UserKey) != 32 || len(c.SigningKey) != 32 || len(c.DHKey) != 32 || len(c.Signature) != ed25519.SignatureSize {
		return fmt.Errorf("%w: wrong field sizes", ErrBadCertificate)
	}
	if _, err := ecdh.X25519().NewPublicKey(c.DHKey); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCertificate, err)
	}
	if !ed25519.Verify(ed25519.PublicKey(c.UserKey), c.signedBytes(), c.Signature) {
		return fmt.Errorf("%w: signature does not verify", ErrBadCertificate)
	}
	return nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
