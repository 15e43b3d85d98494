package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"fmt"
	"testing"

	"backchannel/entropy"
	"backchannel/x25519"
)

// countingSource counts the random values a state draws.
type countingSource struct {
	entropy.System
	x25519, keygen, encaps int
}

func (c *countingSource) X25519() (*x25519.PrivateKey, error) {
	c.x25519++
	return c.System.X25519()
}

func (c *countingSource) MLKEM768() (*mlkem.DecapsulationKey768, error) {
	c.keygen++
	return c.System.MLKEM768()
}

func (c *countingSource) Encapsulate(ek *mlkem.EncapsulationKey768) ([]byte, []byte, error) {
	c.encaps++
	return c.System.Encapsulate(ek)
}

// A side that receives a new chain draws nothing until it sends; its first
// Encrypt runs the deferred sending step, also after the state was saved
// and restored in between, and the acknowledgement is visible at once.
func TestSendingStepWaitsForTheFirstSend(t *testing.T) {
	a, b := freshPair(t)
	var src countingSource
	b.Source(&src)
	m, err := a.Encrypt([]byte("open"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(m); err != nil {
		t.Fatal(err)
	}
	if src != (countingSource{}) {
		t.Fatalf("receiving drew randomness: %+v", src)
	}
	before := b.SendingChain()
	if before == nil {
		t.Fatal("no sending chain named after a received turn")
	}
	restored, err := Unmarshal(b.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if restored.Marshal()[0] != StateVersion || !bytes.Equal(restored.SendingChain(), before) {
		t.Fatal("the deferred step did not survive a restore")
	}
	restored.Source(&src)
	over := restored.Overhead()
	r, err := restored.Encrypt([]byte("reply"))
	if err != nil {
		t.Fatal(err)
	}
	if src.x25519 != 1 || src.keygen != 1 || src.encaps != 0 {
		t.Fatalf("the first send drew %+v; want one X25519 and one ML-KEM key pair (nothing to encapsulate to yet)", src)
	}
	if len(r)-len("reply") != over {
		t.Fatalf("Overhead said %d, the message added %d", over, len(r)-len("reply"))
	}
	if bytes.Equal(restored.SendingChain(), before) {
		t.Fatal("the new chain has the name of the pending one")
	}
	if _, err := a.Decrypt(r); err != nil {
		t.Fatal(err)
	}
	// A second message of the chain runs no step.
	if _, err := restored.Encrypt([]byte("again")); err != nil || src.x25519 != 1 {
		t.Fatalf("second message: %v, %d X25519 draws", err, src.x25519)
	}
}

// The responder uses the DH3 PQXDH gave it only for the initiator's first
// ratchet key; an initiator of an earlier revision, whose first chain uses
// a fresh key, is read by computing the DH.
func TestFirstChainUnderAnotherKey(t *testing.T) {
	sk, ad := make([]byte, 32), make([]byte, 128)
	spk, _ := ecdh.X25519().GenerateKey(nil)
	ek, _ := entropy.System{}.X25519()
	other, _ := entropy.System{}.X25519() // what a 2.1 initiator's sending step drew
	dh, _ := other.ECDH(spk.PublicKey().Bytes())
	dh3, _ := ek.ECDH(spk.PublicKey().Bytes())
	a, err := InitInitiator(entropy.System{}, sk, ad, spk.PublicKey(), other, dh)
	if err != nil {
		t.Fatal(err)
	}
	b, err := InitResponder(entropy.System{}, sk, ad, spk, ek.PublicKey(), dh3)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := a.Encrypt([]byte("from a 2.1 initiator"))
	if pt, err := b.Decrypt(m); err != nil || string(pt) != "from a 2.1 initiator" {
		t.Fatalf("%q, %v", pt, err)
	}
	// A forged DH3 for EK_A is not a way in either: the first chain then
	// fails to authenticate and the responder is unchanged.
	a2, _ := InitInitiator(entropy.System{}, sk, ad, spk.PublicKey(), ek, dh3)
	b2, _ := InitResponder(entropy.System{}, sk, ad, spk, ek.PublicKey(), bytes.Repeat([]byte{7}, 32))
	before := b2.Marshal()
	m2, _ := a2.Encrypt([]byte("x"))
	if _, err := b2.Decrypt(m2); err == nil || !bytes.Equal(before, b2.Marshal()) {
		t.Fatalf("a wrong DH3 opened the chain or changed the state: %v", err)
	}
}

// The healing bound of docs/protocol.md, section 11, against a quantum
// adversary, who can compute every X25519 secret: after a compromise at
// any point of a conversation, both directions are healed once a KEM
// ciphertext to a key pair drawn after the compromise has been decrypted,
// and that happens within KEMInterval+1 turns of each side (a new key pair
// within KEMInterval turns, the peer's encapsulation on its next turn).
func TestQuantumHealingBound(t *testing.T) {
	a, b := freshPair(t)
	type turn struct {
		from     string
		advertID []byte // key id this turn's chain advertises, if any
		targetID []byte // key id its KEM ciphertext targets, if any
	}
	var turns []turn
	from, to, name := a, b, "initiator"
	for i := range 80 {
		var h *Header
		for n := range 2 {
			m, err := from.Encrypt([]byte(fmt.Sprint(i, n)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := to.Decrypt(m); err != nil {
				t.Fatal(err)
			}
			if h, _, err = ParseHeader(m); err != nil {
				t.Fatal(err)
			}
		}
		tu := turn{from: name}
		if h.KEMPublic != nil {
			tu.advertID = kemKeyID(h.KEMPublic)
		}
		if h.KEMCiphertext != nil {
			tu.targetID = h.KEMTargetID
		}
		turns = append(turns, tu)
		from, to = to, from
		if name == "initiator" {
			name = "responder"
		} else {
			name = "initiator"
		}
	}
	worst := 0
	for c := 0; c < len(turns)-2*(KEMInterval+2); c++ {
		// Compromise just before turn c: key ids advertised from turn c on
		// were drawn after it.
		fresh := map[string]bool{}
		healed := -1
		for i := c; i < len(turns); i++ {
			if turns[i].targetID != nil && fresh[string(turns[i].targetID)] {
				healed = i
				break
			}
			if turns[i].advertID != nil {
				fresh[string(turns[i].advertID)] = true
			}
		}
		if healed < 0 {
			t.Fatalf("compromise before turn %d never healed in %d turns", c, len(turns)-c)
		}
		// The healing ciphertext is decrypted at the end of turn healed;
		// count the turns each side made from the compromise to then.
		if n := (healed - c + 2) / 2; n > worst {
			worst = n
		}
	}
	if worst > KEMInterval+1 {
		t.Fatalf("healing took up to %d turns of a side, bound %d", worst, KEMInterval+1)
	}
	t.Logf("worst case over every compromise point: healed within %d turns of each side (bound %d)", worst, KEMInterval+1)
}
