package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"testing"

	"backchannel/entropy"
	"backchannel/handshake"
	"backchannel/ratchet"
)

var msg1KiB = make([]byte, 1024)

// BenchmarkHandshake: one op is a complete session set-up on both sides:
// the responder's bundle is decoded from the bytes the server would hand
// out, the initiator verifies it (every signature, every op, as libsignal's
// processPreKeyBundle does) and runs PQXDH, encrypts a first 1 KiB message,
// and the responder runs PQXDH and decrypts it.
func BenchmarkHandshake(b *testing.B) {
	alice, bob := newParty(b, 0), newParty(b, 0)
	served := bob.pk.Bundle(bob.dev).Marshal() // last-resort KEM key: reusable across iterations
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		// A fresh Bundle each op: one reused would remember its verification.
		bundle, err := handshake.ParseBundle(served)
		if err != nil {
			b.Fatal(err)
		}
		as, err := Initiate(entropy.System{}, alice.dev, bundle)
		if err != nil {
			b.Fatal(err)
		}
		env, err := as.Encrypt(msg1KiB)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := Accept(entropy.System{}, bob.dev, bob.pk, env); err != nil {
			b.Fatal(err)
		}
	}
}

func established(b *testing.B) (*Session, *Session) {
	a, s := pair(b)
	env, err := s.Encrypt([]byte("reply"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.Decrypt(env); err != nil {
		b.Fatal(err)
	}
	return a, s
}

// establishedPlain is established, then turns taken until a's next chain
// has no KEM step: the case of three chains in four (ratchet.KEMInterval).
func establishedPlain(b *testing.B) (*Session, *Session) {
	a, s := established(b)
	for range 2 * ratchet.KEMInterval {
		env, err := a.Encrypt([]byte("turn"))
		if err != nil {
			b.Fatal(err)
		}
		if a.state.Overhead() == ratchet.Overhead(false, false) {
			if _, err := s.Decrypt(env); err != nil {
				b.Fatal(err)
			}
			return a, s
		}
		if _, err := s.Decrypt(env); err != nil {
			b.Fatal(err)
		}
		if env, err = s.Encrypt([]byte("turn")); err != nil {
			b.Fatal(err)
		}
		if _, err := a.Decrypt(env); err != nil {
			b.Fatal(err)
		}
	}
	b.Fatal("no chain without a KEM step")
	return nil, nil
}

// BenchmarkEncryptDecrypt1KiB: one op encrypts 1 KiB on one side and
// decrypts it on the other, in memory, on a chain with a KEM step (its
// 2,280 bytes of KEM fields ride on every message: the costlier case).
func BenchmarkEncryptDecrypt1KiB(b *testing.B) {
	a, s := established(b)
	benchEncryptDecrypt(b, a, s)
}

// BenchmarkEncryptDecrypt1KiBPlainChain: as above on a chain without a KEM
// step, three chains in four.
func BenchmarkEncryptDecrypt1KiBPlainChain(b *testing.B) {
	a, s := establishedPlain(b)
	benchEncryptDecrypt(b, a, s)
}

func benchEncryptDecrypt(b *testing.B, a, s *Session) {
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		env, err := a.Encrypt(msg1KiB)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Decrypt(env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncryptDecrypt1KiBPersisted: as BenchmarkEncryptDecrypt1KiB,
// but with sessions kept only as bytes: each side's session is restored
// from bytes, used, and serialised again, as libsignal's
// encrypt_decrypt_1kib_persisted does with both SessionRecords.
func BenchmarkEncryptDecrypt1KiBPersisted(b *testing.B) {
	a, s := established(b)
	benchPersisted(b, a, s)
}

// BenchmarkEncryptDecrypt1KiBPersistedPlainChain: as above on a chain
// without a KEM step.
func BenchmarkEncryptDecrypt1KiBPersistedPlainChain(b *testing.B) {
	a, s := establishedPlain(b)
	benchPersisted(b, a, s)
}

func benchPersisted(b *testing.B, a, s *Session) {
	sent, stored := a.Marshal(), s.Marshal()
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w, err := Unmarshal(sent)
		if err != nil {
			b.Fatal(err)
		}
		env, err := w.Encrypt(msg1KiB)
		if err != nil {
			b.Fatal(err)
		}
		sent = w.Marshal()
		r, err := Unmarshal(stored)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Decrypt(env); err != nil {
			b.Fatal(err)
		}
		stored = r.Marshal()
	}
}

// BenchmarkPingPong1KiB: one op is a message each way, so every op pays two
// DH turns with a KEM step each: the worst case of the KEM cadence.
func BenchmarkPingPong1KiB(b *testing.B) {
	a, s := established(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		env, err := a.Encrypt(msg1KiB)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Decrypt(env); err != nil {
			b.Fatal(err)
		}
		env, err = s.Encrypt(msg1KiB)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Decrypt(env); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPingPong1KiBPersisted: one op is a round trip as two clients
// that keep their sessions only as bytes work: before each Encrypt and
// each Decrypt the session is restored from its serialised form, and it is
// serialised again after. Every message opens a new sending chain (a DH
// turn, with a KEM step when the cadence calls for one). libsignal's
// pingpong_1kib_persisted (bench/libsignal/bench.mjs) does the same.
func BenchmarkPingPong1KiBPersisted(b *testing.B) {
	a, s := established(b)
	storedA, storedS := a.Marshal(), s.Marshal()
	// step restores the sender from, and saves it to, *from; the receiver
	// likewise to *to.
	step := func(from, to *[]byte) {
		snd, err := Unmarshal(*from)
		if err != nil {
			b.Fatal(err)
		}
		env, err := snd.Encrypt(msg1KiB)
		if err != nil {
			b.Fatal(err)
		}
		*from = snd.Marshal()
		rcv, err := Unmarshal(*to)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rcv.Decrypt(env); err != nil {
			b.Fatal(err)
		}
		*to = rcv.Marshal()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		step(&storedA, &storedS)
		step(&storedS, &storedA)
	}
}

// BenchmarkAESGCM1KiB is the physical limit: raw AES-256-GCM seal and open
// of 1 KiB with a fixed key.
func BenchmarkAESGCM1KiB(b *testing.B) {
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	buf := make([]byte, 0, 1024+16)
	out := make([]byte, 0, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ct := aead.Seal(buf[:0], nonce, msg1KiB, nil)
		if _, err := aead.Open(out[:0], nonce, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}
