package session

import (
	"bytes"
	"errors"
	"testing"

	"backchannel/envelope"
	"backchannel/identity"
	"backchannel/ratchet"
)

// What the KEM cadence and the repeated KEM fields cost, measured on real
// sessions (docs/benchmarks.md records them): the initiator's first chain
// (EK_A) carries no KEM fields; then each side makes a KEM step on every
// ratchet.KEMInterval-th turn, and every message of such a chain carries its
// fields, the same bytes each time.
func TestKEMFieldCost(t *testing.T) {
	x, _ := pair(t)
	e1, e2 := mustEncrypt(t, x, "a"), mustEncrypt(t, x, "b")
	if len(e1) != len(e2) {
		t.Fatalf("prekey envelopes of one chain differ in size: %d, %d", len(e1), len(e2))
	}
	p, _ := envelope.Parse(e2)
	h, _, err := ratchet.ParseHeader(p.Message)
	if err != nil || h.KEMPublic != nil || h.KEMCiphertext != nil || h.N != 2 || bytes.Equal(h.DH, x.BaseKey()) {
		t.Fatalf("initiator's third message: header %+v, %v; want a fresh ratchet key (not EK_A) and no KEM fields", h, err)
	}

	a, b := pair(t)
	pt := make([]byte, 1024)
	base := 2 + 41 + ratchet.NonceSize + ratchet.TagSize
	ctSize, pubSize := ratchet.KEMKeyIDSize+ratchet.KEMCiphertextSz, ratchet.KEMPublicSize
	turns := 2 * ratchet.KEMInterval // of each side
	adverts, encaps := map[*Session]int{}, map[*Session]int{}
	for turn := range 2 * turns {
		from, to := b, a // b answers a's first message
		if turn%2 == 1 {
			from, to = a, b
		}
		var size int
		for n := range 3 {
			env, err := from.Encrypt(pt)
			if err != nil {
				t.Fatal(err)
			}
			got := len(env) - len(pt)
			if n > 0 && got != size {
				t.Fatalf("turn %d, message %d: %d bytes of overhead, the chain's first had %d", turn, n, got, size)
			}
			size = got
			mustDecrypt(t, to, env, string(pt))
		}
		switch size - base {
		case 0:
		case pubSize:
			adverts[from]++
		case ctSize:
			encaps[from]++
		case ctSize + pubSize:
			adverts[from]++
			encaps[from]++
		default:
			t.Fatalf("turn %d: %d bytes of overhead: no combination of KEM fields", turn, size)
		}
		if turn == 2*turns-1 {
			t.Logf("plain envelope overhead: %d bytes without KEM fields, %d with a ciphertext, %d with a key, %d with both",
				base, base+ctSize, base+pubSize, base+ctSize+pubSize)
			t.Logf("session at rest: sender mid-chain %d bytes, receiver %d bytes", len(from.Marshal()), len(to.Marshal()))
		}
	}
	// Each side advertises on its first turn and every KEMInterval-th after,
	// and encapsulates once to every key the other advertised, on its next
	// turn (the last advertisement of the run may be answered after it).
	for who, s := range map[string]*Session{"initiator": a, "responder": b} {
		if adverts[s] != 2 {
			t.Fatalf("%s advertised %d keys in %d turns; want 2 (one every %d turns)", who, adverts[s], turns, ratchet.KEMInterval)
		}
	}
	if encaps[a] != adverts[b] || encaps[b] < adverts[a]-1 || encaps[b] > adverts[a] {
		t.Fatalf("encapsulations: initiator %d to the responder's %d keys, responder %d to the initiator's %d",
			encaps[a], adverts[b], encaps[b], adverts[a])
	}
}

// SendingChain changes exactly when the peer's next chain arrives, the
// acknowledgement the client prunes its resend log by.
func TestSendingChainAcknowledgement(t *testing.T) {
	a, b := pair(t)
	c0 := a.SendingChain() // a's first chain, acknowledged by b's reply
	mustDecrypt(t, a, mustEncrypt(t, b, "reply"), "reply")
	if !a.Acknowledged(c0) {
		t.Fatal("the peer's reply did not acknowledge the first chain before a sent again")
	}
	m1 := mustEncrypt(t, a, "1")
	c1 := a.SendingChain() // what the client records with m1
	if c1 == nil || a.Acknowledged(c1) || bytes.Equal(c1, c0) {
		t.Fatal("a fresh chain is reported acknowledged")
	}
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
