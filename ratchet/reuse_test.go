package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"testing"
)

// A malicious peer re-opens a chain under a long-retired ratchet key whose
// skipped keys are still stored: the skipped-key order gets duplicates and
// the persisted state no longer loads.
func TestReusedOldRatchetKeyIsRefused(t *testing.T) {
	sk, ad := make([]byte, 32), make([]byte, 64)
	a, b := initPair(t, sk, ad)
	var msgs [][]byte
	for i := 0; i < 6; i++ {
		m, _ := a.Encrypt([]byte("x"))
		msgs = append(msgs, m)
	}
	oldDH := append([]byte(nil), a.dhsP...)
	for _, i := range []int{0, 5} {
		if _, err := b.Decrypt(msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	// 10 full turns: the old key leaves b's retired list.
	for turn := 0; turn < 10; turn++ {
		m, _ := b.Encrypt([]byte("y"))
		if _, err := a.Decrypt(m); err != nil {
			t.Fatal(err)
		}
		m, _ = a.Encrypt([]byte("z"))
		if _, err := b.Decrypt(m); err != nil {
			t.Fatal(err)
		}
	}
	if b.Skipped() == 0 || len(b.retired) != maxRetired {
		t.Fatalf("set-up: %d skipped keys, %d retired keys", b.Skipped(), len(b.retired))
	}
	if _, err := Unmarshal(b.Marshal()); err != nil {
		t.Fatalf("honest state does not round-trip: %v", err)
	}
	// b answers (the answer is lost), so it holds a ratchet key again.
	if _, err := b.Encrypt([]byte("y")); err != nil {
		t.Fatal(err)
	}
	// Malicious a: new chain under oldDH, N=6, no KEM, keyed from the shared root key.
	peer, _ := ecdh.X25519().NewPublicKey(oldDH)
	priv, _ := ecdh.X25519().NewPrivateKey(b.dhs)
	ikm, _ := priv.ECDH(peer)
	_, ck, _ := kdfRoot(b.rk, ikm, false)
	for i := 0; i < 6; i++ {
		ck, _ = kdfChain(ck)
	}
	_, mk := kdfChain(ck)
	h := Header{DH: oldDH, PN: b.nr, N: 6}
	out, err := b.sealMessage(h.Marshal(nil), 0, mk, []byte("evil"))
	if err != nil {
		t.Fatal(err)
	}
	before := b.Marshal()
	if _, err := b.Decrypt(out); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("a chain re-opened under an old ratchet key: err = %v, want ErrDuplicate", err)
	}
	if !bytes.Equal(before, b.Marshal()) {
		t.Fatal("the refused message changed the state")
	}
	if _, err := Unmarshal(b.Marshal()); err != nil {
		t.Fatalf("state does not load after the attempt: %v", err)
	}
}
