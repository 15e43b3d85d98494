package session

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"backchannel/entropy"
	"backchannel/envelope"
	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/ratchet"
)

type party struct {
	user *identity.User
	dev  *identity.Device
	pk   *handshake.Prekeys
}

func newParty(t testing.TB, oneTime int) *party {
	t.Helper()
	src := entropy.System{}
	u, err := identity.NewUser(src)
	if err != nil {
		t.Fatal(err)
	}
	d, err := identity.NewDevice(src, u, 1)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := handshake.NewPrekeys(src, d)
	if err != nil {
		t.Fatal(err)
	}
	if oneTime > 0 {
		if _, _, err := pk.GenerateOneTime(src, d, oneTime); err != nil {
			t.Fatal(err)
		}
	}
	return &party{u, d, pk}
}

// pair returns an established pair: alice initiated, bob accepted the first message.
func pair(t testing.TB) (*Session, *Session) {
	t.Helper()
	alice, bob := newParty(t, 2), newParty(t, 2)
	as, err := Initiate(entropy.System{}, alice.dev, bob.pk.Bundle(bob.dev))
	if err != nil {
		t.Fatal(err)
	}
	env, err := as.Encrypt([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	bs, pt, err := Accept(entropy.System{}, bob.dev, bob.pk, env)
	if err != nil {
		t.Fatal(err)
	}
	if string(pt) != "hello" {
		t.Fatalf("first message = %q", pt)
	}
	return as, bs
}

// roundTrip persists and restores a session, as a client does after every message.
func roundTrip(t testing.TB, s *Session) *Session {
	t.Helper()
	b := s.Marshal()
	if st := s.state.Marshal(); len(st) != s.state.Size() {
		t.Fatalf("state Size() = %d, marshalled %d bytes", s.state.Size(), len(st))
	}
	r, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !bytes.Equal(r.Marshal(), b) {
		t.Fatal("restore is not faithful: re-marshal differs")
	}
	return r
}

func mustEncrypt(t testing.TB, s *Session, text string) []byte {
	t.Helper()
	env, err := s.Encrypt([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func mustDecrypt(t testing.TB, s *Session, env []byte, want string) {
	t.Helper()
	pt, err := s.Decrypt(env)
	if err != nil {
		t.Fatalf("decrypt %q: %v", want, err)
	}
	if string(pt) != want {
		t.Fatalf("decrypt = %q, want %q", pt, want)
	}
}

func TestConversationWithRestoreAtEveryStep(t *testing.T) {
	a, b := pair(t)
	for i := range 30 {
		// Alternate bursts so that DH and KEM steps happen in both directions.
		from, to := a, b
		if (i/3)%2 == 1 {
			from, to = b, a
		}
		msg := fmt.Sprintf("message %d", i)
		env := mustEncrypt(t, from, msg)
		mustDecrypt(t, to, env, msg)
		a, b = roundTrip(t, a), roundTrip(t, b)
	}
}

func TestPrekeyMessagesUntilFirstReply(t *testing.T) {
	alice, bob := newParty(t, 1), newParty(t, 1)
	as, err := Initiate(entropy.System{}, alice.dev, bob.pk.Bundle(bob.dev))
	if err != nil {
		t.Fatal(err)
	}
	e1, e2 := mustEncrypt(t, as, "one"), mustEncrypt(t, as, "two")
	for _, e := range [][]byte{e1, e2} {
		if ok, _ := IsPrekeyEnvelope(e); !ok {
			t.Fatal("initiator's early messages must be prekey messages")
		}
	}
	// The second arrives first and starts the session; the first still decrypts.
	bs, pt, err := Accept(entropy.System{}, bob.dev, bob.pk, e2)
	if err != nil || string(pt) != "two" {
		t.Fatalf("accept: %q %v", pt, err)
	}
	mustDecrypt(t, bs, e1, "one")
	mustDecrypt(t, as, mustEncrypt(t, bs, "reply"), "reply")
	if ok, _ := IsPrekeyEnvelope(mustEncrypt(t, as, "after")); ok {
		t.Fatal("after the first reply the initiator must send plain messages")
	}
	// Replaying the initiation to a responder that has no session fails:
	// the one-time prekeys it used are gone.
	if _, _, err := Accept(entropy.System{}, bob.dev, bob.pk, e1); !errors.Is(err, handshake.ErrUnknownPrekey) {
		t.Fatalf("replayed initiation: err = %v, want ErrUnknownPrekey", err)
	}
}

func TestExhaustedOneTimePrekeys(t *testing.T) {
	bob := newParty(t, 0) // no one-time prekeys at all: last resort only
	b := bob.pk.Bundle(bob.dev)
	if b.OneTime != nil || !b.KEM.LastResort {
		t.Fatal("bundle should fall back to the last-resort KEM key and no one-time X25519 key")
	}
	alice := newParty(t, 0)
	as, err := Initiate(entropy.System{}, alice.dev, b)
	if err != nil {
		t.Fatal(err)
	}
	env := mustEncrypt(t, as, "hi")
	if _, _, err := Accept(entropy.System{}, bob.dev, bob.pk, env); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Accept(entropy.System{}, bob.dev, bob.pk, env); !errors.Is(err, handshake.ErrReplay) {
		t.Fatalf("replay with last-resort keys: err = %v, want ErrReplay", err)
	}
	// The replay cache survives persistence.
	restored, err := handshake.UnmarshalPrekeys(bob.pk.Marshal(), bob.dev)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Accept(entropy.System{}, bob.dev, restored, env); !errors.Is(err, handshake.ErrReplay) {
		t.Fatalf("replay after restore: err = %v, want ErrReplay", err)
	}
}

func TestOutOfOrderLostAndDuplicated(t *testing.T) {
	a, b := pair(t)
	mustDecrypt(t, a, mustEncrypt(t, b, "open"), "open")
	var envs [][]byte
	for i := range 10 {
		envs = append(envs, mustEncrypt(t, a, fmt.Sprint(i)))
	}
	// Message 9 opens the chain (every message repeats the chain's KEM
	// fields); then 3, 0, 5 (1,2,4,6,7,8 lost for now), then duplicates.
	for _, i := range []int{9, 3, 0, 5} {
		mustDecrypt(t, b, envs[i], fmt.Sprint(i))
	}
	for _, i := range []int{9, 3, 0} {
		if _, err := b.Decrypt(envs[i]); !errors.Is(err, ratchet.ErrDuplicate) {
			t.Fatalf("duplicate %d: err = %v, want ErrDuplicate", i, err)
		}
	}
	// A new chain from b, then the stragglers of a's old chain still arrive.
	mustDecrypt(t, a, mustEncrypt(t, b, "turn"), "turn")
	next := mustEncrypt(t, a, "new chain")
	mustDecrypt(t, b, next, "new chain")
	b = roundTrip(t, b)
	for _, i := range []int{8, 1, 2, 4, 7, 6} {
		mustDecrypt(t, b, envs[i], fmt.Sprint(i))
	}
	if b.state.Skipped() != 0 {
		t.Fatalf("%d skipped keys left after all arrived", b.state.Skipped())
	}
	if _, err := b.Decrypt(envs[4]); !errors.Is(err, ratchet.ErrDuplicate) {
		t.Fatalf("old-chain duplicate: err = %v, want ErrDuplicate", err)
	}
}

func TestTamperedMessagesLeaveStateUntouched(t *testing.T) {
	a, b := pair(t)
	mustDecrypt(t, a, mustEncrypt(t, b, "open"), "open")
	good := mustEncrypt(t, a, "the real one")
	newChainFromB := mustEncrypt(t, b, "b turn")

	cases := map[string][]byte{
		"empty":          {},
		"version only":   {envelope.Version},
		"truncated":      good[:len(good)-1],
		"header only":    good[:2+41],
		"bit flip body":  flip(good, len(good)-5),
		"bit flip tag":   flip(good, len(good)-1),
		"bit flip count": flip(good, 2+1+32+4+3),
		"bit flip dh":    flip(good, 2+1+5),
		"bad version":    append([]byte{99}, good[1:]...),
		"bad type":       append([]byte{good[0], 7}, good[2:]...),
		"trailing":       append(bytes.Clone(good), 0),
		"new chain flip": flip(newChainFromB, len(newChainFromB)-3),
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			target := b
			if name == "new chain flip" {
				target = a
			}
			before := target.Marshal()
			if _, err := target.Decrypt(env); err == nil {
				t.Fatal("tampered envelope decrypted")
			}
			if !bytes.Equal(before, target.Marshal()) {
				t.Fatal("failed decryption changed the session state")
			}
		})
	}
	mustDecrypt(t, b, good, "the real one")
	mustDecrypt(t, a, newChainFromB, "b turn")
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x04
	return c
}

func TestSkippedKeyBound(t *testing.T) {
	a, b := pair(t)
	mustDecrypt(t, a, mustEncrypt(t, b, "open"), "open")
	mustDecrypt(t, b, mustEncrypt(t, a, "chain start"), "chain start")
	for range ratchet.MaxSkip + 1 {
		mustEncrypt(t, a, "lost")
	}
	far := mustEncrypt(t, a, "too far")
	before := b.Marshal()
	if _, err := b.Decrypt(far); !errors.Is(err, ratchet.ErrTooManySkipped) {
		t.Fatalf("err = %v, want ErrTooManySkipped", err)
	}
	if !bytes.Equal(before, b.Marshal()) {
		t.Fatal("refused message changed the state")
	}
}

func TestSkippedKeysEvictOldest(t *testing.T) {
	a, b := pair(t)
	mustDecrypt(t, a, mustEncrypt(t, b, "open"), "open")
	// Three chains of 900 missing messages each: 2,700 skipped > MaxSkippedKeys.
	var first []byte
	for round := range 3 {
		var lost [][]byte
		mustDecrypt(t, b, mustEncrypt(t, a, "chain start"), "chain start")
		for range 900 {
			lost = append(lost, mustEncrypt(t, a, "lost"))
		}
		if round == 0 {
			first = lost[0]
		}
		mustDecrypt(t, b, mustEncrypt(t, a, "arrives"), "arrives")
		mustDecrypt(t, a, mustEncrypt(t, b, "turn"), "turn")
	}
	if n := b.state.Skipped(); n != ratchet.MaxSkippedKeys {
		t.Fatalf("stored %d skipped keys, want the bound %d", n, ratchet.MaxSkippedKeys)
	}
	if _, err := b.Decrypt(first); err == nil {
		t.Fatal("the evicted oldest key still decrypted")
	}
	roundTrip(t, b)
}

func TestWrongIdentity(t *testing.T) {
	alice, bob, mallory := newParty(t, 1), newParty(t, 1), newParty(t, 1)
	b := bob.pk.Bundle(bob.dev)

	// A bundle whose device certificate claims bob's user key but is signed by mallory.
	forged := *b
	forged.Cert.Signature = mallory.user.Sign([]byte("anything"))
	if _, err := Initiate(entropy.System{}, alice.dev, &forged); !errors.Is(err, identity.ErrBadCertificate) {
		t.Fatalf("forged certificate: err = %v", err)
	}
	// Mallory's signed prekey in bob's bundle.
	swapped := *b
	swapped.Signed = mallory.pk.Signed()
	if _, err := Initiate(entropy.System{}, alice.dev, &swapped); !errors.Is(err, handshake.ErrBadSignature) {
		t.Fatalf("swapped signed prekey: err = %v", err)
	}
	swappedKEM := *b
	swappedKEM.KEM = mallory.pk.LastResort()
	if _, err := Initiate(entropy.System{}, alice.dev, &swappedKEM); !errors.Is(err, handshake.ErrBadSignature) {
		t.Fatalf("swapped KEM prekey: err = %v", err)
	}
	// A message encrypted for bob cannot be accepted by mallory.
	as, err := Initiate(entropy.System{}, alice.dev, b)
	if err != nil {
		t.Fatal(err)
	}
	env := mustEncrypt(t, as, "for bob")
	if _, _, err := Accept(entropy.System{}, mallory.dev, mallory.pk, env); err == nil {
		t.Fatal("mallory accepted a session meant for bob")
	}
	// Another session's prekey message is not routed into this one.
	a2, b2 := pair(t)
	_ = b2
	if _, err := mustSession(t, bob, env).Decrypt(mustEncrypt(t, a2, "x")); !errors.Is(err, ErrOtherSession) {
		t.Fatalf("foreign prekey message: err = %v, want ErrOtherSession", err)
	}
}

func mustSession(t *testing.T, p *party, env []byte) *Session {
	t.Helper()
	s, _, err := Accept(entropy.System{}, p.dev, p.pk, env)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCannotSendBeforeFirstMessage(t *testing.T) {
	bob := newParty(t, 1)
	alice := newParty(t, 1)
	as, err := Initiate(entropy.System{}, alice.dev, bob.pk.Bundle(bob.dev))
	if err != nil {
		t.Fatal(err)
	}
	// The responder's state exists only after Accept, which has received one
	// message; a bare responder ratchet cannot send.
	_ = as
	res, err := handshake.Respond(bob.dev, bob.pk, as.pending)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ratchet.InitResponder(nil, res.SecretKey, res.AD, res.LocalSignedPrekey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Encrypt([]byte("x")); !errors.Is(err, ratchet.ErrCannotSend) {
		t.Fatalf("err = %v, want ErrCannotSend", err)
	}
}

func TestUnmarshalRejectsCorruptState(t *testing.T) {
	a, _ := pair(t)
	good := a.Marshal()
	for name, b := range map[string][]byte{
		"empty":       nil,
		"truncated":   good[:len(good)/2],
		"trailing":    append(bytes.Clone(good), 1),
		"bad version": append([]byte{9}, good[1:]...),
	} {
		if _, err := Unmarshal(b); !errors.Is(err, ErrBadSession) {
			t.Errorf("%s: err = %v, want ErrBadSession", name, err)
		}
	}
}

// FuzzUnmarshal: the session record decoder never panics.
func FuzzUnmarshal(f *testing.F) {
	a, b := pair(f)
	f.Add(a.Marshal())
	f.Add(b.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		if s, err := Unmarshal(in); err == nil {
			_ = s.Marshal()
		}
	})
}
