package ratchet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
)

// Labels and sizes, as in docs/protocol.md section "Double Ratchet".
const (
	RootInfo    = "backchannel_ratchet_root"
	RootKEMInfo = "backchannel_ratchet_root_kem"
	// MessageKeysInfo is the HKDF-Expand info that turns a message key into
	// the message's encryption key and nonce key.
	MessageKeysInfo = "backchannel message keys v1"

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
	// Two allocations, not two halves of one: the root key outlives the
	// chain key, and a chain key left in the root key's array would outlive
	// the messages it opened (a state kept in memory between messages).
	newRK, ck = bytes.Clone(out[:KeySize]), bytes.Clone(out[KeySize:])
	clear(out)
	return newRK, ck, nil
}

// kdfChain is KDF_CK: message key = HMAC-SHA256(ck, 0x01), next chain key =
// HMAC-SHA256(ck, 0x02).
func kdfChain(ck []byte) (next, mk []byte) {
	n, m := new([32]byte), new([32]byte)
	kdfChainInto(n, m, ck)
	return n[:], m[:]
}

// kdfChainInto is kdfChain into the caller's arrays, for the hot path,
// which keeps both on its stack. next may be ck's own array: hmac32 has
// read its key before it writes its output.
func kdfChainInto(next, mk *[32]byte, ck []byte) {
	hmac32(mk, ck, chainMessageByte)
	hmac32(next, ck, chainNextByte)
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
	clear(inner[:]) // the padded key gives the key back
	clear(outer[:])
}

// hmacShort computes HMAC-SHA256(key, a || b || c) for a key of at most 64
// bytes and a message of at most 64 bytes, without allocating (the HKDF-Expand
// of every message key runs it twice). TestHMACShort checks it against
// crypto/hmac.
func hmacShort(out *[32]byte, key, a, b, c []byte) {
	var inner [2 * sha256.BlockSize]byte
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(inner[:], key)
	copy(outer[:], key)
	for i := 0; i < sha256.BlockSize; i++ {
		inner[i] ^= 0x36
		outer[i] ^= 0x5c
	}
	n := sha256.BlockSize
	n += copy(inner[n:], a)
	n += copy(inner[n:], b)
	n += copy(inner[n:], c)
	if n != sha256.BlockSize+len(a)+len(b)+len(c) {
		panic("ratchet: hmacShort message longer than a block")
	}
	ih := sha256.Sum256(inner[:n])
	copy(outer[sha256.BlockSize:], ih[:])
	*out = sha256.Sum256(outer[:])
	clear(inner[:])
	clear(outer[:])
}

// messageKeys expands a message key: HKDF-Expand(PRK = MK, info =
// MessageKeysInfo, L = 64) = T(1) || T(2) with T(1) = HMAC(MK, info || 0x01)
// and T(2) = HMAC(MK, T(1) || info || 0x02) (RFC 5869); the encryption key
// is T(1), the nonce key T(2).
func messageKeys(mk []byte) (enc, nonceKey [32]byte) {
	hmacShort(&enc, mk, []byte(MessageKeysInfo), []byte{1}, nil)
	hmacShort(&nonceKey, mk, enc[:], []byte(MessageKeysInfo), []byte{2})
	return enc, nonceKey
}

// nonceMAC computes the synthetic nonce, the first NonceSize bytes of
// HMAC-SHA256(nonceKey, header || plaintext), reusing one SHA-256 state.
type nonceMAC struct {
	h hash.Hash
	// Fields, not locals: passing a local to the hash would move it to the heap.
	sum [2 * sha256.Size]byte
	pad [sha256.BlockSize]byte
}

func (m *nonceMAC) nonce(nonceKey *[32]byte, header, plaintext []byte) [NonceSize]byte {
	if m.h == nil {
		m.h = sha256.New()
	}
	pad := &m.pad
	*pad = [sha256.BlockSize]byte{}
	copy(pad[:], nonceKey[:])
	for i := range pad {
		pad[i] ^= 0x36
	}
	m.h.Reset()
	m.h.Write(pad[:])
	m.h.Write(header)
	m.h.Write(plaintext)
	inner := m.h.Sum(m.sum[:0])
	for i := range pad {
		pad[i] ^= 0x36 ^ 0x5c
	}
	m.h.Reset()
	m.h.Write(pad[:])
	m.h.Write(inner)
	full := m.h.Sum(inner[len(inner):])
	var n [NonceSize]byte
	copy(n[:], full)
	clear(pad[:])
	return n
}

// messageAEAD is AES-256-GCM under a message's encryption key.
func messageAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealMessage appends nonce || AES-256-GCM(enc, nonce, plaintext, AD ||
// header) to msg, whose bytes from start on are the header, where (enc,
// nonce key) = messageKeys(mk) and nonce = HMAC(nonce key, header ||
// plaintext)[0:12]. The nonce is synthetic (SIV style): a state rolled back
// and used again for a different plaintext picks a different nonce, so
// AES-GCM never sees one (key, nonce) pair with two plaintexts.
func (s *State) sealMessage(msg []byte, start int, mk, plaintext []byte) ([]byte, error) {
	enc, nk := messageKeys(mk)
	defer clear(enc[:])
	defer clear(nk[:])
	header := msg[start:]
	nonce := s.mac.nonce(&nk, header, plaintext)
	aead, err := messageAEAD(enc[:])
	if err != nil {
		return nil, err
	}
	hlen := len(header)
	msg = append(msg, nonce[:]...)
	// The nonce as it stands in msg (a local passed to the AEAD would move
	// to the heap); Seal writes only past it.
	n := msg[len(msg)-NonceSize:]
	return aead.Seal(msg, n, plaintext, s.associated(msg[start:start+hlen])), nil
}

// openMessage opens body = nonce || ciphertext under mk and checks that the
// nonce is the synthetic one for header and the plaintext.
func (s *State) openMessage(mk, header, body []byte) ([]byte, error) {
	if len(body) < NonceSize+TagSize {
		return nil, fmt.Errorf("%w: ciphertext truncated", ErrMalformed)
	}
	enc, nk := messageKeys(mk)
	defer clear(enc[:])
	defer clear(nk[:])
	aead, err := messageAEAD(enc[:])
	if err != nil {
		return nil, err
	}
	nonce := body[:NonceSize]
	pt, err := aead.Open(nil, nonce, body[NonceSize:], s.associated(header))
	if err != nil {
		return nil, ErrAuth
	}
	want := s.mac.nonce(&nk, header, pt)
	if subtle.ConstantTimeCompare(want[:], nonce) != 1 {
		return nil, ErrAuth // authentic under the key, but not this protocol's nonce
	}
	return pt, nil
}
