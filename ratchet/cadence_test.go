package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"errors"
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

// A receiving step deletes this side's ratchet private key at once: it has
// done its last DH, and for a responder it is the signed prekey, which must
// not outlive its generation inside a session that never replied. While the
// step is pending, a second new chain from the peer (which a conforming peer
// cannot send) is refused and changes nothing.
func TestReceivingStepDeletesTheRatchetKey(t *testing.T) {
	sk, ad := make([]byte, 32), make([]byte, 128)
	spk, _ := ecdh.X25519().GenerateKey(nil)
	a, _ := InitInitiator(entropy.System{}, sk, ad, spk.PublicKey())
	b, _ := InitResponder(entropy.System{}, sk, ad, spk)
	m, _ := a.Encrypt([]byte("open"))
	if _, err := b.Decrypt(m); err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]*State{"in memory": b, "saved": mustRestore(t, b)} {
		if st.dhs != nil || st.dhsKey != nil || bytes.Contains(st.Marshal(), spk.Bytes()) {
			t.Fatalf("%s: the responder's state still holds the signed prekey's private key", name)
		}
	}
	// The patched peer starts a second chain without having read ours.
	forged := mustRestore(t, a) // a copy that shares no key with a
	forged.cks, forged.kemRemote = nil, nil
	if err := forged.sendingStep(); err != nil {
		t.Fatal(err)
	}
	x2, _ := forged.Encrypt([]byte("second chain"))
	before := b.Marshal()
	if _, err := b.Decrypt(x2); !errors.Is(err, ErrAuth) {
		t.Fatalf("a second new chain while ours was pending: err = %v, want ErrAuth", err)
	}
	if !bytes.Equal(before, b.Marshal()) {
		t.Fatal("the refused chain changed the state")
	}
	// The initiator deletes its first ratchet key when the reply arrives.
	r, _ := b.Encrypt([]byte("reply"))
	first := bytes.Clone(a.dhs)
	if _, err := a.Decrypt(r); err != nil {
		t.Fatal(err)
	}
	if a.dhs != nil || bytes.Contains(a.Marshal(), first) {
		t.Fatal("the initiator's state still holds its first ratchet key")
	}
}

func mustRestore(t *testing.T, s *State) *State {
	t.Helper()
	r, err := Unmarshal(s.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	return r
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

// The KEM secret of a chain with a ciphertext enters the root key on both
// sides (what makes the healing of TestQuantumHealingBound real): the root
// key after the step is KDF_RK over DH || the decapsulated secret with the
// KEM label, and not what the DH alone would give.
func TestKEMSecretEntersTheRoot(t *testing.T) {
	a, b := freshPair(t)
	m, _ := a.Encrypt([]byte("open"))
	if _, err := b.Decrypt(m); err != nil {
		t.Fatal(err)
	}
	r, _ := b.Encrypt([]byte("reply")) // advertises b's first key
	if _, err := a.Decrypt(r); err != nil {
		t.Fatal(err)
	}
	withCT, _ := a.Encrypt([]byte("encapsulates to it"))
	h, _, err := ParseHeader(withCT)
	if err != nil || h.KEMCiphertext == nil {
		t.Fatalf("set-up: %+v, %v", h, err)
	}
	rk, priv := bytes.Clone(b.rk), b.dhsKey
	dh, err := priv.ECDH(h.DH)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := mlkem.NewDecapsulationKey768(b.kemSeed)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := dk.Decapsulate(h.KEMCiphertext)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(withCT); err != nil {
		t.Fatal(err)
	}
	want, _, _ := kdfRoot(rk, append(bytes.Clone(dh), ss...), true)
	dhOnly, _, _ := kdfRoot(rk, dh, false)
	if !bytes.Equal(b.rk, want) || bytes.Equal(b.rk, dhOnly) {
		t.Fatal("the receiver's root key is not KDF_RK(RK, DH || KEM secret)")
	}
	if !bytes.Equal(a.rk, b.rk) {
		t.Fatal("the two sides' root keys differ after the KEM step")
	}
}
