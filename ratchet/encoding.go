package ratchet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"backchannel/entropy"
)

// StateVersion is the serialisation version of State (docs/protocol.md,
// "Session state"). Version 4 has the layout of version 3 and one more
// meaning: a peer ratchet key without a sending chain is a sending step
// deferred to the next Encrypt, which an earlier release would take for
// "cannot send". Versions 3 and 2 are read (see Unmarshal).
const StateVersion = 4

// stateVersion3 kept the sending chain's KEM fields for the whole chain and
// ran every sending step as soon as the peer's chain arrived.
const stateVersion3 = 3

// stateVersion2 is the previous version, which dropped the KEM fields from
// the state after the fourth message of a chain.
const stateVersion2 = 2

// ErrBadState reports a serialised state that cannot be loaded.
var ErrBadState = errors.New("bad session state")

const (
	stDHR = 1 << iota
	stCKS
	stCKR
	stKEMLocal
	stKEMRemote
	stSendCT
	stSendPub
	stSendKEM
)

// Bits of the second flags byte (version 4).
const (
	// st2KEMRemoteFresh: nothing has been encapsulated to KEMr yet.
	st2KEMRemoteFresh = 1 << iota
	// st2NoDHs: no ratchet key pair (deleted by the receiving step, the
	// sending step pending); its 64 bytes are zeros.
	st2NoDHs
)

var noDHs = make([]byte, 64)

// Marshal serialises the state. The output holds secrets: store it encrypted.
func (s *State) Marshal() []byte { return s.AppendBinary(make([]byte, 0, s.size())) }

// Size is the exact length of the serialised state.
func (s *State) Size() int { return s.size() }

func (s *State) size() int {
	n := 1 + 2 + len(s.ad) + 3*32 + 2 + len(s.dhr) + len(s.cks) + len(s.ckr) + 16
	n += len(s.kemSeed) + len(s.kemID) + len(s.kemRemote) + len(s.sendKEMID) + len(s.sendKEMCT)
	if s.advertising() {
		n += len(s.kemPub)
	}
	return n + 1 + 32*len(s.retired) + 4 + len(s.skipped)*(32+4+KeySize)
}

// AppendBinary appends the serialised state to b.
func (s *State) AppendBinary(b []byte) []byte {
	var f byte
	set := func(cond bool, bit byte) {
		if cond {
			f |= bit
		}
	}
	set(s.dhr != nil, stDHR)
	set(s.cks != nil, stCKS)
	set(s.ckr != nil, stCKR)
	set(s.kemSeed != nil, stKEMLocal)
	set(s.kemRemote != nil, stKEMRemote)
	set(s.sendKEMCT != nil, stSendCT)
	set(s.sendPub, stSendPub)
	set(s.sendKEM, stSendKEM)

	b = append(b, StateVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.ad)))
	b = append(b, s.ad...)
	b = append(b, s.rk...)
	var f2 byte
	if s.dhs == nil {
		b = append(b, noDHs...)
		f2 |= st2NoDHs
	} else {
		b = append(b, s.dhs...)
		b = append(b, s.dhsP...)
	}
	b = append(b, f)
	if s.kemRemoteFresh {
		f2 |= st2KEMRemoteFresh
	}
	b = append(b, f2)
	b = append(b, s.dhr...)
	b = append(b, s.cks...)
	b = append(b, s.ckr...)
	for _, v := range []uint32{s.ns, s.nr, s.pn, s.turns} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	if s.kemSeed != nil {
		b = append(b, s.kemSeed...)
		b = append(b, s.kemID...)
	}
	if s.advertising() {
		b = append(b, s.kemPub...)
	}
	b = append(b, s.kemRemote...)
	if s.sendKEMCT != nil {
		b = append(b, s.sendKEMID...)
		b = append(b, s.sendKEMCT...)
	}
	b = append(b, byte(len(s.retired)))
	for _, r := range s.retired {
		b = append(b, r...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.skipped)))
	for _, id := range s.order {
		mk, ok := s.skipped[id]
		if !ok {
			continue
		}
		b = append(b, id.dh[:]...)
		b = binary.BigEndian.AppendUint32(b, id.n)
		b = append(b, mk...)
	}
	return b
}

type cursor struct {
	b   []byte
	bad bool
}

// take returns the next n bytes. Unmarshal gives the cursor its own copy
// of the input, so the fields share one allocation; each is capped at its
// length, so an append to one can never write into the next.
func (c *cursor) take(n int) []byte {
	if c.bad || len(c.b) < n {
		c.bad = true
		return nil
	}
	out := c.b[:n:n]
	c.b = c.b[n:]
	return out
}

func (c *cursor) u32() uint32 {
	v := c.take(4)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

// advertising reports whether the current chain carries this side's KEM
// public key, which the state then keeps.
func (s *State) advertising() bool { return s.sendKEM && s.sendPub }

// ErrStaleState reports a version 2 state saved in the middle of a sending
// chain, after it had dropped the chain's KEM fields: this release repeats
// them on every message and cannot continue that chain. The session must be
// started again.
var ErrStaleState = fmt.Errorf("%w: saved by an earlier release in the middle of a chain whose KEM fields it no longer holds", ErrBadState)

// legacyKEMRepeat is how many messages of a chain carried its KEM fields
// before protocol 2.1; a version 2 state past them lacks the fields.
const legacyKEMRepeat = 4

// Unmarshal restores a state saved by Marshal, strictly: wrong versions,
// truncation, trailing bytes and out-of-range counts are all refused. A
// version 3 state reads as version 4 (it never holds a deferred step); a
// version 2 state is read when its layout equals version 3's (no sending
// chain with KEM fields past its fourth message); otherwise ErrStaleState.
func Unmarshal(in []byte) (*State, error) {
	c := &cursor{b: bytes.Clone(in)}
	v := c.take(1)
	if v == nil {
		return nil, fmt.Errorf("%w: empty", ErrBadState)
	}
	if v[0] != StateVersion && v[0] != stateVersion3 && v[0] != stateVersion2 {
		return nil, fmt.Errorf("%w: unsupported version %d (this build reads %d)", ErrBadState, v[0], StateVersion)
	}
	adLen := c.take(2)
	if adLen == nil {
		return nil, fmt.Errorf("%w: truncated", ErrBadState)
	}
	s := newState(entropy.System{}, nil)
	s.ad = c.take(int(binary.BigEndian.Uint16(adLen)))
	s.rk = c.take(KeySize)
	s.dhs = c.take(32)
	s.dhsP = c.take(32)
	fb := c.take(1)
	if c.bad {
		return nil, fmt.Errorf("%w: truncated", ErrBadState)
	}
	f := fb[0]
	if v[0] == StateVersion {
		f2 := c.take(1)
		if c.bad || f2[0]&^(st2KEMRemoteFresh|st2NoDHs) != 0 {
			return nil, fmt.Errorf("%w: truncated or unknown flags", ErrBadState)
		}
		s.kemRemoteFresh = f2[0]&st2KEMRemoteFresh != 0
		if f2[0]&st2NoDHs != 0 {
			if !bytes.Equal(s.dhs, noDHs[:32]) || !bytes.Equal(s.dhsP, noDHs[32:]) {
				return nil, fmt.Errorf("%w: a ratchet key where none is flagged", ErrBadState)
			}
			s.dhs, s.dhsP = nil, nil
		}
	}
	if f&stDHR != 0 {
		s.dhr = c.take(32)
	}
	if f&stCKS != 0 {
		s.cks = c.take(KeySize)
	}
	if f&stCKR != 0 {
		s.ckr = c.take(KeySize)
	}
	s.ns, s.nr, s.pn, s.turns = c.u32(), c.u32(), c.u32(), c.u32()
	if f&stKEMLocal != 0 {
		s.kemSeed = c.take(64)
		s.kemID = c.take(KEMKeyIDSize)
	}
	s.sendPub = f&stSendPub != 0
	s.sendKEM = f&stSendKEM != 0
	if v[0] == stateVersion2 && s.sendKEM && s.ns >= legacyKEMRepeat {
		return nil, ErrStaleState
	}
	if s.advertising() {
		s.kemPub = c.take(KEMPublicSize)
	}
	if f&stKEMRemote != 0 {
		s.kemRemote = c.take(KEMPublicSize)
		// A version 2 or 3 state encapsulated on every turn: treat its
		// peer key as one still to encapsulate to (one extra KEM step at
		// most, never one missed).
		s.kemRemoteFresh = s.kemRemoteFresh || v[0] != StateVersion
	}
	if s.kemRemoteFresh && s.kemRemote == nil {
		return nil, fmt.Errorf("%w: a fresh peer KEM key flagged without one", ErrBadState)
	}
	if f&stSendCT != 0 {
		s.sendKEMID = c.take(KEMKeyIDSize)
		s.sendKEMCT = c.take(KEMCiphertextSz)
	}
	// A pending sending step (a peer key, no chain) exactly when there is
	// no ratchet key: no earlier version writes either, and only a
	// sending chain has KEM fields.
	if (s.dhr != nil && s.cks == nil) != (s.dhs == nil) || s.cks == nil && s.sendKEM {
		return nil, fmt.Errorf("%w: inconsistent sending state", ErrBadState)
	}
	if s.sendPub && s.kemSeed == nil || s.sendKEM != (s.sendPub || s.sendKEMCT != nil) {
		return nil, fmt.Errorf("%w: KEM public key flagged without a KEM key", ErrBadState)
	}
	nr := c.take(1)
	if nr == nil || int(nr[0]) > maxRetired {
		return nil, fmt.Errorf("%w: bad retired-key count", ErrBadState)
	}
	for range int(nr[0]) {
		s.retired = append(s.retired, c.take(32))
	}
	n := c.u32()
	if c.bad || n > MaxSkippedKeys {
		return nil, fmt.Errorf("%w: bad skipped-key count", ErrBadState)
	}
	for range n {
		dh, num, mk := c.take(32), c.u32(), c.take(KeySize)
		if c.bad {
			break
		}
		id := toID(dh, num)
		if _, dup := s.skipped[id]; dup {
			return nil, fmt.Errorf("%w: duplicate skipped key", ErrBadState)
		}
		s.skipped[id] = mk
		s.order = append(s.order, id)
	}
	if c.bad {
		return nil, fmt.Errorf("%w: truncated", ErrBadState)
	}
	if len(c.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadState, len(c.b))
	}
	return s, nil
}
