// Package handshake implements PQXDH, Signal's post-quantum extended
// triple Diffie-Hellman key agreement, instantiated with X25519, ML-KEM-768,
// Ed25519 prekey signatures and HKDF-SHA256.
//
// A responder publishes a Bundle (device certificate, signed X25519 prekey,
// optional one-time X25519 prekey, signed ML-KEM-768 prekey). An initiator
// verifies every signature, runs Initiate and sends the Initiation alongside
// its first ratchet message. The responder runs Respond with its private
// Prekeys and, once the first message has decrypted, Consume so that each
// one-time prekey serves exactly one handshake. Both sides end with the same
// 32-byte secret and the same associated data binding both identities. The
// derivation is specified in docs/protocol.md, section "PQXDH".
//
// Prekeys age: the signed prekey and every KEM prekey carry a signed
// creation time. An initiator refuses a bundle older than MaxPrekeyAge or
// dated in the future (CheckFresh). A responder rotates its signed and
// last-resort prekeys every RotateEvery (Rotate), keeps the superseded
// generation for Grace and then deletes it, deletes one-time keys older than
// RotateEvery + Grace (Expire), and never holds more than MaxOneTime
// one-time keys of a kind. An initiation without one-time keys is remembered
// for as long as the generation it used exists, so it is accepted at most
// once; a replay after that generation is gone fails as an unknown prekey.
package handshake

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"

	"backchannel/entropy"
	"backchannel/identity"
	"backchannel/x25519"
)

// KDF parameters, as in docs/protocol.md section "PQXDH".
const (
	KDFInfo = "backchannel_CURVE25519_SHA-256_ML-KEM-768"
	ADSize  = 4 * 32
)

// Initiation is what the initiator sends so the responder can derive the same
// secret: its certificate, its ephemeral key, the ids of the prekeys used and
// the KEM ciphertext.
type Initiation struct {
	Cert           identity.Certificate
	EphemeralKey   []byte
	SignedPrekeyID uint32
	OneTimeUsed    bool
	OneTimeID      uint32
	KEMPrekeyID    uint32
	KEMLastResort  bool
	KEMCiphertext  []byte
}

// Result is the outcome of a handshake on either side.
type Result struct {
	// SecretKey is SK, the ratchet's initial root key.
	SecretKey []byte
	// AD binds both identities: initiator user key, initiator device DH key,
	// responder user key, responder device DH key.
	AD []byte
	// RemoteSignedPrekey is, on the initiator, the responder's signed prekey
	// (the ratchet's first remote ratchet key).
	RemoteSignedPrekey *ecdh.PublicKey
	// LocalSignedPrekey is, on the responder, the signed prekey's private key
	// (the ratchet's first local ratchet key).
	LocalSignedPrekey *ecdh.PrivateKey
}

// Initiate runs the initiator's side of PQXDH against a bundle, which it
// verifies first: a bundle with any bad signature is refused.
func Initiate(src entropy.Source, me *identity.Device, b *Bundle) (*Initiation, *Result, error) {
	pqpk, err := b.verify()
	if err != nil {
		return nil, nil, err
	}
	x := ecdh.X25519()
	ikB, _ := x.NewPublicKey(b.Cert.DHKey)
	spkB, _ := x.NewPublicKey(b.Signed.Public)
	ek, err := src.X25519()
	if err != nil {
		return nil, nil, fmt.Errorf("pqxdh initiate: %w", err)
	}
	ss, ct, err := src.Encapsulate(pqpk)
	if err != nil {
		return nil, nil, fmt.Errorf("pqxdh initiate: encapsulate: %w", err)
	}
	dhs := []dhFunc{pair(me.DHPrivate(), spkB), xpair(ek, ikB.Bytes()), xpair(ek, spkB.Bytes())}
	in := &Initiation{
		Cert:           me.Cert,
		EphemeralKey:   ek.PublicKey(),
		SignedPrekeyID: b.Signed.ID,
		KEMPrekeyID:    b.KEM.ID,
		KEMLastResort:  b.KEM.LastResort,
		KEMCiphertext:  ct,
	}
	if b.OneTime != nil {
		dhs = append(dhs, xpair(ek, b.OneTime.Public))
		in.OneTimeUsed, in.OneTimeID = true, b.OneTime.ID
	}
	sk, err := deriveSecret(dhs, ss)
	if err != nil {
		return nil, nil, fmt.Errorf("pqxdh initiate: %w", err)
	}
	return in, &Result{
		SecretKey:          sk,
		AD:                 associatedData(&me.Cert, &b.Cert),
		RemoteSignedPrekey: spkB,
	}, nil
}

// Respond runs the responder's side of PQXDH. It does not consume any
// prekey: call Prekeys.Consume once the first message has authenticated, so
// that a forged or corrupted initiation cannot burn a one-time prekey.
func Respond(me *identity.Device, pk *Prekeys, in *Initiation) (*Result, error) {
	if err := in.Cert.Verify(); err != nil {
		return nil, fmt.Errorf("pqxdh respond: initiator %w", err)
	}
	x := ecdh.X25519()
	ikA, err := x.NewPublicKey(in.Cert.DHKey)
	if err != nil {
		return nil, fmt.Errorf("pqxdh respond: initiator identity key: %w", err)
	}
	ekA, err := x.NewPublicKey(in.EphemeralKey)
	if err != nil {
		return nil, fmt.Errorf("pqxdh respond: ephemeral key: %w", err)
	}
	g := pk.generationOf(in.SignedPrekeyID)
	if g == nil {
		return nil, fmt.Errorf("signed prekey %d: %w", in.SignedPrekeyID, ErrUnknownPrekey)
	}
	if err := pk.checkReplay(g, in); err != nil {
		return nil, err
	}
	spk := g.signedKey()
	dk, err := pk.kemKey(in.KEMPrekeyID, in.KEMLastResort)
	if err != nil {
		return nil, err
	}
	if len(in.KEMCiphertext) != kemCTSize {
		return nil, fmt.Errorf("pqxdh respond: KEM ciphertext is %d bytes, want %d", len(in.KEMCiphertext), kemCTSize)
	}
	ss, err := dk.Decapsulate(in.KEMCiphertext)
	if err != nil {
		return nil, fmt.Errorf("pqxdh respond: decapsulate: %w", err)
	}
	dhs := []dhFunc{pair(spk, ikA), pair(me.DHPrivate(), ekA), pair(spk, ekA)}
	if in.OneTimeUsed {
		opk, ok := pk.oneTime[in.OneTimeID]
		if !ok {
			return nil, fmt.Errorf("one-time prekey %d: %w", in.OneTimeID, ErrUnknownPrekey)
		}
		dhs = append(dhs, pair(opk.x25519(), ekA))
	}
	sk, err := deriveSecret(dhs, ss)
	if err != nil {
		return nil, fmt.Errorf("pqxdh respond: %w", err)
	}
	return &Result{
		SecretKey:         sk,
		AD:                associatedData(&in.Cert, &me.Cert),
		LocalSignedPrekey: spk,
	}, nil
}

// dhFunc computes one of PQXDH's Diffie-Hellman outputs.
type dhFunc func() ([]byte, error)

func pair(priv *ecdh.PrivateKey, pub *ecdh.PublicKey) dhFunc {
	return func() ([]byte, error) { return priv.ECDH(pub) }
}

func xpair(priv *x25519.PrivateKey, pub []byte) dhFunc {
	return func() ([]byte, error) { return priv.ECDH(pub) }
}

// deriveSecret computes SK = HKDF(salt = 32 zero bytes,
// IKM = 32×0xFF || DH1 || DH2 || DH3 [|| DH4] || SS, info = KDFInfo, L = 32).
func deriveSecret(dhs []dhFunc, ss []byte) ([]byte, error) {
	ikm := make([]byte, 32, 32*6)
	for i := range ikm {
		ikm[i] = 0xFF
	}
	for i, dh := range dhs {
		out, err := dh()
		if err != nil {
			return nil, fmt.Errorf("DH%d: %w", i+1, err)
		}
		ikm = append(ikm, out...)
		clear(out)
	}
	ikm = append(ikm, ss...)
	defer clear(ikm)
	return hkdf.Key(sha256.New, ikm, make([]byte, 32), KDFInfo, 32)
}

func associatedData(initiator, responder *identity.Certificate) []byte {
	ad := make([]byte, 0, ADSize)
	ad = append(ad, initiator.UserKey...)
	ad = append(ad, initiator.DHKey...)
	ad = append(ad, responder.UserKey...)
	return append(ad, responder.DHKey...)
}
