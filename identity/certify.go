package identity

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"fmt"

	"backchannel/entropy"
)

// DeviceKeys are a device's private keys before it has a certificate: what a
// device being linked generates, shows to the primary device (the public
// halves), and keeps until the primary returns a certificate from Certify.
type DeviceKeys struct {
	signing ed25519.PrivateKey
	dh      *ecdh.PrivateKey
}

// NewDeviceKeys makes fresh device keys (an Ed25519 signing key and an
// X25519 key) from the entropy source, without a certificate yet.
func NewDeviceKeys(src entropy.Source) (*DeviceKeys, error) {
	seed := make([]byte, ed25519.SeedSize)
	if err := src.Bytes(seed); err != nil {
		return nil, fmt.Errorf("new device keys: %w", err)
	}
	k, err := src.X25519()
	if err != nil {
		return nil, fmt.Errorf("new device keys: %w", err)
	}
	dh, err := k.ECDHKey()
	if err != nil {
		return nil, fmt.Errorf("new device keys: %w", err)
	}
	return &DeviceKeys{signing: ed25519.NewKeyFromSeed(seed), dh: dh}, nil
}

// RestoreDeviceKeys rebuilds device keys from their stored secrets (a link
// that is still waiting for its certificate).
func RestoreDeviceKeys(signingSeed, dhPriv []byte) (*DeviceKeys, error) {
	if len(signingSeed) != ed25519.SeedSize {
		return nil, fmt.Errorf("restore device keys: signing seed is %d bytes, want %d", len(signingSeed), ed25519.SeedSize)
	}
	dh, err := ecdh.X25519().NewPrivateKey(dhPriv)
	if err != nil {
		return nil, fmt.Errorf("restore device keys: %w", err)
	}
	return &DeviceKeys{signing: ed25519.NewKeyFromSeed(signingSeed), dh: dh}, nil
}

// SigningSeed returns the signing key's seed, for the encrypted local store only.
func (k *DeviceKeys) SigningSeed() []byte { return k.signing.Seed() }

// SigningKey returns the Ed25519 signing private key.
func (k *DeviceKeys) SigningKey() ed25519.PrivateKey { return k.signing }

// SigningPublic returns the 32-byte Ed25519 signing public key (DS).
func (k *DeviceKeys) SigningPublic() ed25519.PublicKey { return k.signing.Public().(ed25519.PublicKey) }

// DHPrivate returns the X25519 private key.
func (k *DeviceKeys) DHPrivate() *ecdh.PrivateKey { return k.dh }

// DHPublic returns the 32-byte X25519 public key (DH).
func (k *DeviceKeys) DHPublic() []byte { return k.dh.PublicKey().Bytes() }

// Device combines the keys with the certificate the primary device made for
// them; it fails if the certificate is invalid or names other keys.
func (k *DeviceKeys) Device(cert Certificate) (*Device, error) {
	if err := cert.Verify(); err != nil {
		return nil, fmt.Errorf("device keys: %w", err)
	}
	return RestoreDevice(k.SigningSeed(), k.dh.Bytes(), cert)
}

// Certify signs a device certificate for keys that another device generated
// (linking): the primary device, which holds the user key, certifies the
// public keys the new device showed it. signingKey is the device's Ed25519
// public key (DS), dhKey its X25519 public key (DH).
func Certify(user *User, id uint32, signingKey, dhKey []byte) (Certificate, error) {
	if user == nil {
		return Certificate{}, fmt.Errorf("certify device %d: no user key", id)
	}
	if len(signingKey) != ed25519.PublicKeySize {
		return Certificate{}, fmt.Errorf("certify device %d: signing key is %d bytes, want %d", id, len(signingKey), ed25519.PublicKeySize)
	}
	if _, err := ecdh.X25519().NewPublicKey(dhKey); err != nil {
		return Certificate{}, fmt.Errorf("certify device %d: DH key: %w", id, err)
	}
	c := Certificate{
		UserKey:    user.Public(),
		DeviceID:   id,
		SigningKey: clone(signingKey),
		DHKey:      clone(dhKey),
	}
	c.Signature = user.Sign(c.signedBytes())
	return c, nil
}
