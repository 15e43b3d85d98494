// Package ratchet implements the Double Ratchet (Signal's published
// specification, X25519 + HKDF-SHA256 + HMAC-SHA256 chains + AES-256-GCM)
// extended with an ML-KEM-768 ratchet step in the style of Apple's PQ3, so
// that post-compromise security also holds against a quantum adversary.
//
// A State is created from a PQXDH result by InitInitiator or InitResponder.
// Encrypt and Decrypt advance it; Decrypt never changes the state when it
// fails (tampered, truncated, replayed or undecryptable messages), and a
// message is never decrypted twice. Marshal and Unmarshal persist the state
// between messages. The exact construction is in docs/protocol.md.
//
// Every message of a sending chain carries the chain's KEM fields until a
// message of the peer's next chain arrives (the implicit acknowledgement,
// SendingChain), so any message of a chain can open it at the receiver, and
// a repeat is authenticated with its message and otherwise changes nothing.
//
// Each message is sealed with AES-256-GCM under a key expanded from its
// message key and a synthetic nonce (an HMAC of the header and the
// plaintext, sent after the header), so a state that is restored from a
// backup and used again never encrypts two different plaintexts under one
// (key, nonce) pair; the same plaintext gives the same ciphertext.
package ratchet

import (
	"bytes"
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/subtle"
	"errors"
	"fmt"

	"backchannel/entropy"
	"backchannel/x25519"
)

// Limits and cadence, as in docs/protocol.md section "Limits".
const (
	// MaxSkip is the largest gap of missing messages accepted in one chain.
	MaxSkip = 1000
	// MaxSkippedKeys bounds the stored keys of skipped messages; beyond it
	// the oldest is evicted (that message can then no longer be decrypted).
	MaxSkippedKeys = 2000
	// KEMInterval is the KEM cadence: a side advertises a new ML-KEM key
	// pair on every KEMInterval-th of its DH ratchet turns, and
	// encapsulates to a key the peer advertised on its next turn after
	// receiving it (docs/protocol.md, "KEM cadence", argues the choice).
	KEMInterval = 8
	// maxRetired bounds remembered past receiving ratchet keys, used only to
	// tell a replay from a forgery.
	maxRetired = 8
	// MaxPlaintext is the largest plaintext one message may carry.
	MaxPlaintext = 1 << 20
)

// Errors callers branch on.
var (
	ErrMalformed      = errors.New("malformed message")
	ErrAuth           = errors.New("message failed authentication (tampered, or not for this session)")
	ErrDuplicate      = errors.New("message already received, or its key was discarded")
	ErrTooManySkipped = errors.New("too many skipped messages")
	ErrCannotSend     = errors.New("cannot send before the first message from the peer arrives")
	ErrKEMKey         = errors.New("KEM ciphertext is for an unknown key")
	ErrTooLarge       = errors.New("plaintext too large")
	// ErrEarlierNeeded: the message opens a chain but omits its KEM fields
	// (FlagKEMOmitted, sent only by releases before protocol 2.1, which put
	// them on the first four messages of a chain); retry once one of the
	// chain's earlier messages has arrived.
	ErrEarlierNeeded = errors.New("an earlier message of this chain must be decrypted first")
)

type skipID struct {
	dh [32]byte
	n  uint32
}

// State is one side of a ratchet session. It is not safe for concurrent use.
type State struct {
	src entropy.Source

	ad   []byte
	rk   []byte
	dhs  []byte // our ratchet private key (X25519 scalar)
	dhsP []byte // its public key
	// dhsKey caches dhs and dhsP as a key object (free to build from the
	// stored bytes with package x25519; crypto/ecdh would pay a scalar
	// multiplication to derive the public key again).
	dhsKey *x25519.PrivateKey
	dhr    []byte // peer's ratchet public key, nil before the first message
	cks    []byte // sending chain key, nil until we can send
	ckr    []byte // receiving chain key, nil before the first message

	ns, nr, pn uint32

	// KEM ratchet.
	kemSeed   []byte // our current ML-KEM-768 decapsulation key seed
	kemID     []byte // its key id (SHA-256 of the encapsulation key, 8 bytes)
	kemPub    []byte // its encapsulation key, kept while the sending chain advertises it
	kemRemote []byte // peer's latest encapsulation key
	// kemRemoteKey caches kemRemote parsed (parsing costs tens of µs).
	kemRemoteKey *mlkem.EncapsulationKey768
	// kemRemoteFresh: nothing has been encapsulated to kemRemote yet; the
	// next sending step does.
	kemRemoteFresh bool
	// kemKey caches kemSeed expanded (an expansion costs about a key
	// generation); nil after Unmarshal until the first decapsulation.
	kemKey *mlkem.DecapsulationKey768
	// The KEM fields of the current sending chain, repeated on every one of
	// its messages: the chain ends when the peer's next chain arrives, which
	// is the implicit acknowledgement that the peer has them.
	sendKEMID []byte
	sendKEMCT []byte
	sendPub   bool
	sendKEM   bool   // the current sending chain has KEM fields
	turns     uint32 // DH turns since our last KEM step

	skipped map[skipID][]byte
	order   []skipID // insertion order for eviction; may hold deleted ids
	retired [][]byte // past receiving ratchet keys

	scratch []byte   // AD || header, reused between messages
	mac     nonceMAC // the synthetic-nonce HMAC's reusable state
	// scratchBuf is scratch's first storage: AD (two certificates) and a
	// header without KEM fields fit, so most messages allocate nothing.
	scratchBuf [scratchInline]byte
}

// scratchInline holds AD (two 164-byte certificates) and a plain header.
const scratchInline = 2*164 + headerFixedSize + 16

// Source sets the entropy source used for new ratchet keys; State uses
// entropy.System by default, including after Unmarshal.
func (s *State) Source(src entropy.Source) { s.src = src }

func newState(src entropy.Source, ad []byte) *State {
	if src == nil {
		src = entropy.System{}
	}
	return &State{src: src, ad: bytes.Clone(ad), skipped: map[skipID][]byte{}}
}

// InitInitiator starts the initiator's side from the PQXDH secret sk, the
// associated data ad and the responder's signed prekey. Its first sending
// chain uses a fresh ratchet key, so that EK_A's private key can be
// deleted as soon as PQXDH is done, and carries no KEM fields: SK already
// holds the PQXDH KEM secret, and the first key pair is advertised on the
// initiator's next chain (docs/protocol.md, "Initialisation").
func InitInitiator(src entropy.Source, sk, ad []byte, remoteSPK *ecdh.PublicKey) (*State, error) {
	s := newState(src, ad)
	s.dhr = remoteSPK.Bytes()
	s.rk = bytes.Clone(sk)
	if err := s.step(false, false); err != nil {
		return nil, fmt.Errorf("init initiator: %w", err)
	}
	return s, nil
}

// InitResponder starts the responder's side from the PQXDH secret sk, the
// associated data ad and its signed prekey's private key.
func InitResponder(src entropy.Source, sk, ad []byte, spk *ecdh.PrivateKey) (*State, error) {
	s := newState(src, ad)
	s.rk = bytes.Clone(sk)
	s.dhs, s.dhsP = spk.Bytes(), spk.PublicKey().Bytes()
	k, err := x25519.NewPrivateKeyWithPublic(s.dhs, s.dhsP)
	if err != nil {
		return nil, fmt.Errorf("init responder: %w", err)
	}
	s.dhsKey = k
	return s, nil
}

// AD returns the session's associated data (both identities).
func (s *State) AD() []byte { return s.ad }

// SendingChain names the current sending chain, or is nil before this side
// can send. It changes when a message of the peer's next chain is received:
// a change is the implicit acknowledgement that the peer has decrypted a
// message of the earlier chain. Until the first message after that, whose
// sending step is deferred to Encrypt, it names the peer's chain that the
// next one will answer; then it names that new chain, on which nothing was
// sent before.
func (s *State) SendingChain() []byte {
	switch {
	case s.cks != nil:
		return bytes.Clone(s.dhsP)
	case s.stepDue():
		return bytes.Clone(s.dhr)
	}
	return nil
}

// stepDue reports whether a message of a new peer chain arrived since this
// side last sent: the next Encrypt starts a new sending chain first.
func (s *State) stepDue() bool { return s.cks == nil && s.dhr != nil }

// advertiseDue reports whether the next sending step draws and advertises
// a new ML-KEM key pair.
func (s *State) advertiseDue() bool { return s.kemSeed == nil || s.turns+1 >= KEMInterval }

// encapsulateDue reports whether the next sending step encapsulates to the
// peer's latest KEM key: once per key, on the first turn after it arrived.
func (s *State) encapsulateDue() bool { return s.kemRemote != nil && s.kemRemoteFresh }

// sendingStep starts a new sending chain: a fresh ratchet key, a KEM step
// when due, and KDF_RK over DH(new key, peer key) [|| KEM secret]. It
// changes s only once everything has succeeded.
func (s *State) sendingStep() error { return s.step(s.advertiseDue(), s.encapsulateDue()) }

// step is a sending step that advertises a new KEM key pair and
// encapsulates to the peer's as told (the initiator's first chain does
// neither).
func (s *State) step(advertise, withKEM bool) error {
	priv, err := s.src.X25519()
	if err != nil {
		return err
	}
	ikm, err := priv.ECDH(s.dhr)
	if err != nil {
		return fmt.Errorf("%w: ratchet DH: %v", ErrMalformed, err)
	}
	var sendID, sendCT []byte
	var dk *mlkem.DecapsulationKey768
	ek := s.kemRemoteKey
	if withKEM {
		if ek == nil {
			if ek, err = mlkem.NewEncapsulationKey768(s.kemRemote); err != nil {
				return fmt.Errorf("%w: peer KEM key: %v", ErrMalformed, err)
			}
		}
		ss, ct, err := s.src.Encapsulate(ek)
		if err != nil {
			return err
		}
		ikm = append(ikm, ss...)
		sendID, sendCT = kemKeyID(s.kemRemote), ct
	}
	if advertise {
		if dk, err = s.src.MLKEM768(); err != nil {
			return err
		}
	}
	rk, ck, err := kdfRoot(s.rk, ikm, withKEM)
	if err != nil {
		return err
	}
	s.kemRemoteKey = ek
	s.kemRemoteFresh = s.kemRemoteFresh && !withKEM
	s.sendKEMID, s.sendKEMCT, s.sendPub, s.sendKEM = sendID, sendCT, advertise, advertise || withKEM
	if advertise {
		s.kemSeed, s.kemPub, s.kemKey = dk.Bytes(), dk.EncapsulationKey().Bytes(), dk
		s.kemID = kemKeyID(s.kemPub)
		s.turns = 0
	} else if s.kemSeed != nil {
		s.turns++ // counted from the first advertisement on
	}
	clear(ikm)
	clear(s.rk) // replaced; s owns it
	s.rk, s.cks = rk, ck
	s.dhs, s.dhsP, s.dhsKey = priv.Bytes(), priv.PublicKey(), priv
	s.pn, s.ns = s.ns, 0
	return nil
}

// Overhead is how many bytes the next message adds to its plaintext.
func (s *State) Overhead() int {
	ct, pub := s.sendKEM && s.sendKEMCT != nil, s.sendKEM && s.sendPub
	if s.stepDue() {
		ct, pub = s.encapsulateDue(), s.advertiseDue()
	}
	return Overhead(ct, pub)
}

// Overhead is how many bytes a message adds to its plaintext with or
// without a KEM ciphertext (and its target id) and an advertised KEM key.
func Overhead(kemCiphertext, kemPublic bool) int {
	n := headerFixedSize + NonceSize + TagSize
	if kemCiphertext {
		n += KEMKeyIDSize + KEMCiphertextSz
	}
	if kemPublic {
		n += KEMPublicSize
	}
	return n
}

// Encrypt seals plaintext as the next message of the sending chain.
func (s *State) Encrypt(plaintext []byte) ([]byte, error) {
	return s.EncryptAppend(nil, plaintext)
}

// EncryptAppend is Encrypt appending the message to dst, so a caller can
// build an envelope around it without copying.
func (s *State) EncryptAppend(dst, plaintext []byte) ([]byte, error) {
	if s.cks == nil && !s.stepDue() {
		return nil, ErrCannotSend
	}
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxPlaintext)
	}
	if s.stepDue() {
		// Deferred from the receiving step: a side that never replies
		// never pays for a chain it does not use.
		if err := s.sendingStep(); err != nil {
			return nil, err
		}
	}
	var next, mk [32]byte
	defer clear(mk[:])
	defer clear(next[:])
	kdfChainInto(&next, &mk, s.cks)
	// Every message of a chain with a KEM step carries its KEM fields, so
	// any one of them opens the chain at the receiver: withholding some
	// messages of a chain can no longer make the rest undecryptable.
	h := Header{DH: s.dhsP, PN: s.pn, N: s.ns}
	if s.sendKEM {
		if s.sendKEMCT != nil {
			h.KEMTargetID, h.KEMCiphertext = s.sendKEMID, s.sendKEMCT
		}
		if s.sendPub {
			h.KEMPublic = s.kemPub
		}
	}
	start := len(dst)
	if need := h.size() + NonceSize + len(plaintext) + TagSize; cap(dst)-len(dst) < need {
		dst = append(make([]byte, 0, len(dst)+need), dst...)
	}
	out, err := s.sealMessage(h.Marshal(dst), start, mk[:], plaintext)
	if err != nil {
		return nil, err
	}
	copy(s.cks, next[:]) // in place: s owns its chain key (no copy of s shares it)
	s.ns++
	return out, nil
}

// associated returns AD || header in a scratch buffer owned by s.
func (s *State) associated(header []byte) []byte {
	if s.scratch == nil {
		s.scratch = s.scratchBuf[:0]
	}
	s.scratch = append(append(s.scratch[:0], s.ad...), header...)
	return s.scratch
}

func (s *State) open(mk []byte, header, body []byte) ([]byte, error) {
	return s.openMessage(mk, header, body)
}

func toID(dh []byte, n uint32) skipID {
	var id skipID
	copy(id.dh[:], dh)
	id.n = n
	return id
}

// Decrypt opens a message. On any error the state is unchanged.
func (s *State) Decrypt(msg []byte) ([]byte, error) {
	var hv Header
	h := &hv
	hlen, err := parseHeader(h, msg)
	if err != nil {
		return nil, err
	}
	if len(msg)-hlen < NonceSize+TagSize {
		return nil, fmt.Errorf("%w: ciphertext truncated", ErrMalformed)
	}
	header, ct := msg[:hlen], msg[hlen:]
	id := toID(h.DH, h.N)
	if mk, ok := s.skipped[id]; ok {
		pt, err := s.open(mk, header, ct)
		if err != nil {
			return nil, err
		}
		delete(s.skipped, id)
		clear(mk)
		return pt, nil
	}
	if s.dhr != nil && subtle.ConstantTimeCompare(h.DH, s.dhr) == 1 {
		return s.decryptCurrent(h, header, ct)
	}
	for _, r := range s.retired {
		if bytes.Equal(r, h.DH) {
			return nil, ErrDuplicate
		}
	}
	if s.hasSkippedFor(h.DH) {
		// A chain we already stepped past, presented again as new: only a
		// replay or a peer reusing an old ratchet key does that.
		return nil, ErrDuplicate
	}
	if s.stepDue() {
		// A second new chain before we answered the first: a conforming
		// peer starts a chain only after reading ours, and our ratchet key
		// for that turn is gone.
		return nil, ErrAuth
	}
	return s.decryptNewChain(h, header, ct)
}

// skipKeys derives the message keys of chain ck from index from up to (not
// including) until, and writes the chain key at index until into at. ck
// itself is left as it is; every chain key derived on the way is cleared,
// so the caller clears at and nothing else.
func skipKeys(dh, ck []byte, from, until uint32, at *[32]byte) (map[skipID][]byte, []skipID, error) {
	if until <= from {
		copy(at[:], ck)
		return nil, nil, nil
	}
	if until-from > MaxSkip {
		return nil, nil, fmt.Errorf("%w: %d missing, limit %d", ErrTooManySkipped, until-from, MaxSkip)
	}
	keys := make(map[skipID][]byte, until-from)
	ids := make([]skipID, 0, until-from)
	copy(at[:], ck)
	for n := from; n < until; n++ {
		mk := new([32]byte)
		kdfChainInto(at, mk, at[:])
		id := toID(dh, n)
		keys[id] = mk[:]
		ids = append(ids, id)
	}
	return keys, ids, nil
}

func (s *State) decryptCurrent(h *Header, header, ct []byte) ([]byte, error) {
	if s.ckr == nil {
		// Only the initiator before any reply, whose DHr is the responder's
		// signed prekey: nothing legitimate is sent under that key.
		return nil, ErrAuth
	}
	if h.N < s.nr {
		return nil, ErrDuplicate
	}
	var ck, next, mk [32]byte
	defer clear(ck[:])
	defer clear(mk[:])
	defer clear(next[:])
	keys, ids, err := skipKeys(h.DH, s.ckr, s.nr, h.N, &ck)
	if err != nil {
		return nil, err
	}
	kdfChainInto(&next, &mk, ck[:])
	pt, err := s.open(mk[:], header, ct)
	if err != nil {
		return nil, err
	}
	copy(s.ckr, next[:]) // in place, as in Encrypt
	s.nr = h.N + 1
	s.storeSkipped(keys, ids)
	return pt, nil
}

func (s *State) decryptNewChain(h *Header, header, ct []byte) ([]byte, error) {
	if h.KEMOmitted {
		return nil, ErrEarlierNeeded // only from a release before protocol 2.1
	}
	// Work on a copy so that a failure anywhere leaves s untouched.
	t := s.shallowCopy()
	var oldKeys map[skipID][]byte
	var oldIDs []skipID
	if t.ckr != nil {
		var err error
		var last [32]byte // the ended chain's key past its last message: unused
		oldKeys, oldIDs, err = skipKeys(t.dhr, t.ckr, t.nr, h.PN, &last)
		clear(last[:])
		if err != nil {
			return nil, err
		}
	}
	priv := t.dhsKey
	if priv == nil {
		var err error
		if priv, err = x25519.NewPrivateKeyWithPublic(t.dhs, t.dhsP); err != nil {
			return nil, err
		}
		t.dhsKey = priv
	}
	ikm, err := priv.ECDH(h.DH)
	if err != nil {
		return nil, fmt.Errorf("%w: ratchet DH: %v", ErrMalformed, err)
	}
	withKEM := h.KEMCiphertext != nil
	if withKEM {
		if t.kemSeed == nil || !bytes.Equal(h.KEMTargetID, t.kemID) {
			return nil, ErrKEMKey
		}
		dk := t.kemKey
		if dk == nil {
			if dk, err = mlkem.NewDecapsulationKey768(t.kemSeed); err != nil {
				return nil, err
			}
			t.kemKey = dk
		}
		ss, err := dk.Decapsulate(h.KEMCiphertext)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		ikm = append(ikm, ss...)
	}
	rk, ckr, err := kdfRoot(t.rk, ikm, withKEM)
	clear(ikm)
	if err != nil {
		return nil, err
	}
	// The new chain's first key and every key up to message N go once the
	// next chain key is derived: only skipped message keys stay.
	defer clear(ckr)
	var ck [32]byte
	defer clear(ck[:])
	newKeys, newIDs, err := skipKeys(h.DH, ckr, 0, h.N, &ck)
	if err != nil {
		return nil, err
	}
	next, mk := kdfChain(ck[:])
	defer clear(mk)
	pt, err := t.open(mk, header, ct)
	if err != nil {
		clear(next)
		return nil, err
	}
	if h.KEMPublic != nil {
		// Checked now, parsed at the next KEM step: parsing expands the
		// key's matrix, and a reloaded state would parse it again anyway.
		if !validKEMKey(h.KEMPublic) {
			return nil, fmt.Errorf("%w: peer KEM key fails the ML-KEM modulus check", ErrMalformed)
		}
		t.kemRemote, t.kemRemoteKey, t.kemRemoteFresh = bytes.Clone(h.KEMPublic), nil, true
	}
	if t.dhr != nil {
		t.retired = append(t.retired, t.dhr)
		if len(t.retired) > maxRetired {
			t.retired = t.retired[1:]
		}
	}
	t.dhr = bytes.Clone(h.DH)
	t.rk, t.ckr, t.nr = rk, next, h.N+1
	// The sending step waits for the next Encrypt (stepDue). Ns stays as it
	// is until then: it becomes PN of the new chain. The ended chain's KEM
	// fields are no longer needed: the peer's new chain acknowledges them.
	// Our ratchet private key has done its last DH: it goes now, not at the
	// next send (forward secrecy; for a responder it is the signed prekey).
	t.cks = nil
	t.sendKEMID, t.sendKEMCT, t.sendPub, t.sendKEM, t.kemPub = nil, nil, false, false, nil
	oldDHs := t.dhs
	t.dhs, t.dhsP, t.dhsKey = nil, nil, nil
	// Commit: the skipped map is shared with s, so only now mutate it.
	oldRK, oldCKR := s.rk, s.ckr
	*s = *t
	s.scratch = nil // it may point into t's scratchBuf; s has its own
	clear(oldDHs)
	clear(oldRK)
	clear(oldCKR)
	s.storeSkipped(oldKeys, oldIDs)
	s.storeSkipped(newKeys, newIDs)
	return pt, nil
}

func (s *State) shallowCopy() *State {
	t := *s
	t.retired = append([][]byte(nil), s.retired...)
	return &t
}

// hasSkippedFor reports whether any stored skipped key belongs to the
// chain of ratchet key dh.
func (s *State) hasSkippedFor(dh []byte) bool {
	var k [32]byte
	copy(k[:], dh)
	for id := range s.skipped {
		if id.dh == k {
			return true
		}
	}
	return false
}

func (s *State) storeSkipped(keys map[skipID][]byte, ids []skipID) {
	for _, id := range ids {
		if _, dup := s.skipped[id]; dup {
			continue // never two entries for one message: the state must stay loadable
		}
		s.skipped[id] = keys[id]
		s.order = append(s.order, id)
	}
	for len(s.skipped) > MaxSkippedKeys {
		old := s.order[0]
		s.order = s.order[1:]
		delete(s.skipped, old)
	}
	if len(s.order) > 2*len(s.skipped)+64 {
		live := s.order[:0:0]
		for _, id := range s.order {
			if _, ok := s.skipped[id]; ok {
				live = append(live, id)
			}
		}
		s.order = live
	}
}

// Skipped reports how many skipped-message keys are stored.
func (s *State) Skipped() int { return len(s.skipped) }
