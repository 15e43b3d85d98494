package ratchet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// Labels and sizes, as in docs/protocol.md section "Double Ratchet".
const (
	RootInfo       = "backchannel_ratchet_root"
	RootKEMInfo    = "backchannel_ratchet_root_kem"
	MessageKeyInfo = "backchannel_message_key"

	KeySize   = 32
	NonceSize = 12
	TagSize   = 16

	chainMessageByte = 0x01
	chainNextByte    = 0x02
)

// kdfRoot is KDF_RK: HKDF-SHA256 with the root key as salt and the DH output
// (followed by the KEM shared secret on a KEM step) as input keying material,
// yielding a new root key and a chain key.
func kdfRoot(rk, ikm []byte, withKEM bool) (newRK, ck []byte, err error) {
	info := RootInfo
	if withKEM {
		info = RootKEMInfo
	}
	out, err := hkdf.Key(sha256.New, ikm, rk, info, 2*KeySize)
	if err != nil {
		return nil, nil, fmt.Errorf("root KDF: %w", err)
	}
	return out[:KeySize], out[KeySize:], nil
}

// kdfChain is KDF_CK: message key = HMAC-SHA256(ck, 0x01), next chain key =
// HMAC-SHA256(ck, 0x02).
func kdfChain(ck []byte) (next, mk []byte) {
	m := hmac.New(sha256.New, ck)
	m.Write([]byte{chainMessageByte})
	mk = m.Sum(nil)
	m.Reset()
	m.Write([]byte{chainNextByte})
	return m.Sum(nil), mk
}

// messageCipher expands a message key into an AES-256-GCM key and nonce:
// HKDF-SHA256(salt = 32 zero bytes, ikm = mk, info = MessageKeyInfo, L = 44).
func messageCipher(mk []byte) (cipher.AEAD, []byte, error) {
	out, err := hkdf.Key(sha256.New, mk, zeroSalt[:], MessageKeyInfo, KeySize+NonceSize)
	if err != nil {
		return nil, nil, fmt.Errorf("message KDF: %w", err)
	}
	block, err := aes.NewCipher(out[:KeySize])
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	return aead, out[KeySize:], nil
}

var zeroSalt [32]byte
