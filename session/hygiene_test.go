package session

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"testing"
	"time"

	"backchannel/entropy"
	"backchannel/envelope"
	"backchannel/handshake"
	"backchannel/ratchet"
)

// An initial message without one-time keys is accepted once, refused
// however many sessions follow it, and refused as unknown once the
// generation it used is gone.
func TestInitialMessageNeverAcceptedTwice(t *testing.T) {
	start := time.Unix(1767225600, 0)
	alice, bob := newParty(t, 0), newParty(t, 0)
	pk, err := handshake.NewPrekeysAt(entropy.System{}, bob.dev, start)
	if err != nil {
		t.Fatal(err)
	}
	bundle := pk.Bundle(bob.dev)
	as, err := Initiate(entropy.System{}, alice.dev, bundle)
	if err != nil {
		t.Fatal(err)
	}
	first := mustEncrypt(t, as, "the message a replay wants to repeat")
	if _, _, err := Accept(entropy.System{}, bob.dev, pk, first); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Accept(entropy.System{}, bob.dev, pk, first); !errors.Is(err, handshake.ErrReplay) {
		t.Fatalf("immediate replay: err = %v, want ErrReplay", err)
	}
	// 5,000 other sessions, more than the 4,096 the cache used to keep.
	// The first 100 are complete sessions; the other 4,900 are recorded by
	// Consume directly (what Accept does after the first message decrypted),
	// with distinct ephemeral keys and ciphertexts: a full handshake each
	// would take minutes under the race detector.
	for i := range 100 {
		s, err := Initiate(entropy.System{}, alice.dev, bundle)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Accept(entropy.System{}, bob.dev, pk, mustEncrypt(t, s, "another")); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
	e, err := envelope.Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4900 {
		in := *e.Initiation
		in.EphemeralKey = bytes.Clone(in.EphemeralKey)
		in.EphemeralKey[0], in.EphemeralKey[1] = byte(i), byte(i>>8)
		in.EphemeralKey[2] ^= 0xFF
		pk.Consume(&in)
	}
	if n := pk.ReplayEntries(); n != 5001 {
		t.Fatalf("replay cache holds %d entries, want 5001", n)
	}
	if _, _, err := Accept(entropy.System{}, bob.dev, pk, first); !errors.Is(err, handshake.ErrReplay) {
		t.Fatalf("replay after 5,000 other sessions: err = %v, want ErrReplay", err)
	}
	// The cache survives persistence.
	pk, err = handshake.UnmarshalPrekeys(pk.Marshal(), bob.dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Accept(entropy.System{}, bob.dev, pk, first); !errors.Is(err, handshake.ErrReplay) {
		t.Fatalf("replay after reload: err = %v, want ErrReplay", err)
	}
	// Rotate twice, each time past the grace period: the generation is gone.
	for _, at := range []time.Duration{handshake.RotateEvery + time.Hour, 2*handshake.RotateEvery + handshake.Grace} {
		if rotated, err := pk.Rotate(entropy.System{}, bob.dev, start.Add(at)); err != nil || !rotated {
			t.Fatalf("rotate at %v: %v %v", at, rotated, err)
		}
	}
	if _, _, err := Accept(entropy.System{}, bob.dev, pk, first); !errors.Is(err, handshake.ErrUnknownPrekey) {
		t.Fatalf("replay after two rotations past grace: err = %v, want ErrUnknownPrekey", err)
	}
	if pk.ReplayEntries() != 0 {
		t.Fatalf("%d replay entries outlive their generation", pk.ReplayEntries())
	}
}

// A session restored from a snapshot (a backup) and used again sends under
// the same message key and number: the synthetic nonce keeps AES-GCM from
// reusing a (key, nonce) pair, so the server learns nothing like the XOR of
// the two plaintexts.
func TestRolledBackSessionDoesNotReuseNonce(t *testing.T) {
	a, b := pair(t)
	mustDecrypt(t, a, mustEncrypt(t, b, "reply"), "reply")
	mustEncrypt(t, a, "opens a's new chain") // the sending step runs on the first send
	snapshot := a.Marshal()

	ptA := []byte("transfer 100 to alice, reference 2026-001")
	ptB := []byte("transfer 999 to mallo, reference 2026-001")
	envA := mustEncrypt(t, a, string(ptA))
	restored, err := Unmarshal(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	envB := mustEncrypt(t, restored, string(ptB))

	hA, bodyA := split(t, envA)
	hB, bodyB := split(t, envB)
	if !bytes.Equal(hA, hB) {
		t.Fatal("set-up: the restored session should reuse the header (same ratchet key and number)")
	}
	nA, ctA := bodyA[:ratchet.NonceSize], bodyA[ratchet.NonceSize:len(bodyA)-ratchet.TagSize]
	nB, ctB := bodyB[:ratchet.NonceSize], bodyB[ratchet.NonceSize:len(bodyB)-ratchet.TagSize]
	if bytes.Equal(nA, nB) {
		t.Fatal("two different plaintexts under one state got the same nonce")
	}
	if bytes.Equal(xor(ctA, ctB), xor(ptA, ptB)) {
		t.Fatal("the XOR of the ciphertexts is the XOR of the plaintexts: keystream reused")
	}
	// Control: the check above does detect reuse. With one key and one
	// nonce (the old fixed-nonce construction), the XOR leaks.
	key := bytes.Repeat([]byte{3}, 32)
	blk, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(blk)
	zero := make([]byte, ratchet.NonceSize)
	c1, c2 := gcm.Seal(nil, zero, ptA, nil), gcm.Seal(nil, zero, ptB, nil)
	if !bytes.Equal(xor(c1[:len(ptA)], c2[:len(ptB)]), xor(ptA, ptB)) {
		t.Fatal("control failed: a fixed nonce should leak the XOR")
	}
	// The same plaintext from the same state gives the same message: a
	// rollback reveals only that two messages are equal.
	again, _ := Unmarshal(snapshot)
	if !bytes.Equal(mustEncrypt(t, again, string(ptA)), envA) {
		t.Fatal("same state and plaintext gave different envelopes")
	}
	// The receiver takes the first and refuses the other as a duplicate.
	mustDecrypt(t, b, envA, string(ptA))
	if _, err := b.Decrypt(envB); !errors.Is(err, ratchet.ErrDuplicate) {
		t.Fatalf("second message under the same number: err = %v, want ErrDuplicate", err)
	}
}

// split returns a plain envelope's ratchet header and the rest
// (nonce || ciphertext || tag).
func split(t *testing.T, env []byte) (header, body []byte) {
	t.Helper()
	e, err := envelope.Parse(env)
	if err != nil {
		t.Fatal(err)
	}
	_, n, err := ratchet.ParseHeader(e.Message)
	if err != nil {
		t.Fatal(err)
	}
	return e.Message[:n], e.Message[n:]
}

func xor(a, b []byte) []byte {
	out := make([]byte, min(len(a), len(b)))
	for i := range out {
		out[i] = a[i] ^ b[i]
	}
	return out
}
