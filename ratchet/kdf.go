package ratchet

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
)

// Labels and sizes, as in docs/protocol.md section "Double Ratchet".
const (
	RootInfo    = "backchannel_ratchet_root"
	RootKEMInfo = "backchannel_ratchet_root_kem"

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
	var n, m [32]byte
	hmac32(&m, ck, chainMessageByte)
	hmac32(&n, ck, chainNextByte)
	return n[:], m[:]
}

// hmac32 computes HMAC-SHA256(key, msg) for a key of at most 64 bytes and a
// one-byte message (RFC 2104) without allocating: the hot path runs it twice
// per message. TestHMAC32 checks it against crypto/hmac.
func hmac32(out *[32]byte, key []byte, msg byte) {
	var inner [sha256.BlockSize + 1]byte
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(inner[:], key)
	copy(outer[:], key)
	for i := 0; i < sha256.BlockSize; i++ {
		inner[i] ^= 0x36
		outer[i] ^= 0x5c
	}
	inner[sha256.BlockSize] = msg
	ih := sha256.Sum256(inner[:])
	copy(outer[sha256.BlockSize:], ih[:])
	*out = sha256.Sum256(outer[:])
}

// messageCipher returns the AEAD for one message: AES-256-GCM keyed with the
// message key itself, with the all-zero nonce. Each message key encrypts
// exactly one message, so the (key, nonce) pair never repeats.
func messageCipher(mk []byte) (cipher.AEAD, []byte, error) {
	block, err := aes.NewCipher(mk)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	return aead, zeroNonce[:], nil
}

var zeroNonce [NonceSize]byte
