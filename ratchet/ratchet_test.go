package ratchet

import (
	"crypto/ecdh"
	"testing"

	"backchannel/entropy"
)

// fuzzState returns a responder state that has received one message, so
// both chains and the KEM keys exist.
func fuzzState(t testing.TB) *State {
	t.Helper()
	a, b := freshPair(t)
	m, err := a.Encrypt([]byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(m); err != nil {
		t.Fatal(err)
	}
	return b
}

// freshPair returns an initiator and a responder that share a root key and
// have exchanged nothing.
func freshPair(t testing.TB) (*State, *State) {
	t.Helper()
	sk := make([]byte, 32)
	ad := make([]byte, 128)
	return initPair(t, sk, ad)
}

// initPair starts both sides from sk and ad as a handshake does.
func initPair(t testing.TB, sk, ad []byte) (*State, *State) {
	t.Helper()
	spk, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := InitInitiator(entropy.System{}, sk, ad, spk.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	b, err := InitResponder(entropy.System{}, sk, ad, spk)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}
