package session

import (
	"bytes"
	"errors"
	"testing"

	"backchannel/envelope"
	"backchannel/identity"
	"backchannel/ratchet"
)

// What the repeated KEM fields cost: the bytes an envelope adds to its
// plaintext, measured on real sessions (docs/benchmarks.md records them).
func TestKEMFieldCost(t *testing.T) {
	a, b := pair(t) // a's first chain (prekey envelopes) is behind us
	mustDecrypt(t, a, mustEncrypt(t, b, "reply"), "reply")
	pt := make([]byte, 1024)
	base := 2 + 41 + ratchet.NonceSize + ratchet.TagSize
	withKEM := base + ratchet.KEMKeyIDSize + ratchet.KEMCiphertextSz + ratchet.KEMPublicSize
	for n := range 10 {
		env, err := a.Encrypt(pt)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(env) - len(pt); got != withKEM {
			t.Fatalf("message %d of a chain: %d bytes of overhead, want %d", n, got, withKEM)
		}
		if n == 0 {
			t.Logf("plain envelope overhead: %d bytes without KEM fields, %d with (+%d)", base, withKEM, withKEM-base)
		}
		mustDecrypt(t, b, env, string(pt))
	}
	t.Logf("session at rest: sender mid-chain %d bytes, receiver %d bytes", len(a.Marshal()), len(b.Marshal()))
	// The initiator's first chain advertises its KEM key only, in prekey envelopes.
	x, _ := pair(t)
	e1, e2 := mustEncrypt(t, x, "a"), mustEncrypt(t, x, "b")
	if len(e1) != len(e2) {
		t.Fatalf("prekey envelopes of one chain differ in size: %d, %d", len(e1), len(e2))
	}
	p, _ := envelope.Parse(e2)
	h, _, err := ratchet.ParseHeader(p.Message)
	if err != nil || h.KEMPublic == nil || h.KEMCiphertext != nil || h.N != 2 {
		t.Fatalf("initiator's third message: header %+v, %v", h, err)
	}
}

// SendingChain changes exactly when the peer's next chain arrives, the
// acknowledgement the client prunes its resend log by.
func TestSendingChainAcknowledgement(t *testing.T) {
	a, b := pair(t)
	mustDecrypt(t, a, mustEncrypt(t, b, "reply"), "reply")
	c1 := a.SendingChain()
	if c1 == nil || a.Acknowledged(c1) {
		t.Fatal("a fresh chain is reported acknowledged")
	}
	m1 := mustEncrypt(t, a, "1")
	// b's messages on b's current chain acknowledge nothing.
	mustDecrypt(t, a, mustEncrypt(t, b, "still the old chain"), "still the old chain")
	if a.Acknowledged(c1) {
		t.Fatal("a message on the peer's old chain acknowledged ours")
	}
	a = roundTrip(t, a)
	if !bytes.Equal(a.SendingChain(), c1) {
		t.Fatal("SendingChain changed across a restore")
	}
	mustDecrypt(t, b, m1, "1")
	mustDecrypt(t, a, mustEncrypt(t, b, "next chain"), "next chain")
	if !a.Acknowledged(c1) {
		t.Fatal("the peer's next chain did not acknowledge ours")
	}
}

// A session record whose ratchet state an earlier release saved in the
// middle of a chain (version 2, the KEM fields dropped) is refused with an
// error that names the reason, so the client can start a new session.
func TestStaleStateIsNamed(t *testing.T) {
	a, b := pair(t)
	mustDecrypt(t, a, mustEncrypt(t, b, "reply"), "reply")
	for range 5 {
		mustEncrypt(t, a, "x")
	}
	raw := a.Marshal()
	raw[1+identity.CertificateSize+32+4] = 2 // the ratchet state's version byte
	if _, err := Unmarshal(raw); !errors.Is(err, ratchet.ErrStaleState) || !errors.Is(err, ErrBadSession) {
		t.Fatalf("err = %v, want ErrBadSession and ratchet.ErrStaleState", err)
	}
}
