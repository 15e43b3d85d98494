// Package session joins the PQXDH handshake, the ratchet and the envelope
// format into the one object a client keeps per peer device.
//
// The initiator creates a Session from the peer's bundle with Initiate and
// sends prekey envelopes until the first reply arrives, so that whichever of
// its early messages the peer receives first can start the session. The
// responder creates its Session with Accept from the first prekey envelope;
// Accept consumes the one-time prekeys only after that envelope has
// decrypted. Later prekey envelopes carrying the same initiation are routed
// to the existing session, and a replayed initiation for which no session
// exists is refused because its one-time prekeys are gone.
package session

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"backchannel/entropy"
	"backchannel/envelope"
	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/ratchet"
)

// Version is the serialisation version of Session.
const Version = 1

// Errors callers branch on.
var (
	ErrNotPrekey     = errors.New("first envelope from a new peer must be a prekey message")
	ErrOtherSession  = errors.New("prekey message belongs to a different session")
	ErrWrongIdentity = errors.New("envelope is from a different identity than this session's peer")
	ErrBadSession    = errors.New("bad serialised session")
)

// Session is one device's end of a pairwise session with a peer device.
type Session struct {
	state *ratchet.State
	// Peer is the peer device's certificate.
	Peer identity.Certificate
	// pending is the initiator's initiation, resent in every envelope until
	// the peer's first reply arrives.
	pending *handshake.Initiation
	// baseKey is the initiation's ephemeral key, which names the session on
	// both sides.
	baseKey []byte
}

// Initiate starts a session with the device that published b.
func Initiate(src entropy.Source, me *identity.Device, b *handshake.Bundle) (*Session, error) {
	in, res, err := handshake.Initiate(src, me, b)
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	st, err := ratchet.InitInitiator(src, res.SecretKey, res.AD, res.RemoteSignedPrekey)
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	return &Session{state: st, Peer: b.Cert, pending: in, baseKey: in.EphemeralKey}, nil
}

// Accept starts the responder's session from a prekey envelope and returns
// it with the first plaintext. pk is changed (one-time prekeys retired) only
// on success; persist it together with the new session.
func Accept(src entropy.Source, me *identity.Device, pk *handshake.Prekeys, env []byte) (*Session, []byte, error) {
	e, err := envelope.Parse(env)
	if err != nil {
		return nil, nil, err
	}
	if e.Type != envelope.TypePrekey {
		return nil, nil, ErrNotPrekey
	}
	res, err := handshake.Respond(me, pk, e.Initiation)
	if err != nil {
		return nil, nil, fmt.Errorf("accept session: %w", err)
	}
	st, err := ratchet.InitResponder(src, res.SecretKey, res.AD, res.LocalSignedPrekey)
	if err != nil {
		return nil, nil, fmt.Errorf("accept session: %w", err)
	}
	pt, err := st.Decrypt(e.Message)
	if err != nil {
		return nil, nil, fmt.Errorf("accept session: %w", err)
	}
	pk.Consume(e.Initiation)
	return &Session{state: st, Peer: e.Initiation.Cert, baseKey: e.Initiation.EphemeralKey}, pt, nil
}

// Encrypt seals plaintext into an envelope for the peer.
func (s *Session) Encrypt(plaintext []byte) ([]byte, error) {
	e := envelope.Envelope{Type: envelope.TypeMessage}
	if s.pending != nil {
		e.Type, e.Initiation = envelope.TypePrekey, s.pending
	}
	buf := make([]byte, 0, envelope.PrefixSize(e.Initiation)+s.state.Overhead()+len(plaintext))
	return s.state.EncryptAppend(e.AppendPrefix(buf), plaintext)
}

// Decrypt opens an envelope from the peer. On error the session is unchanged.
func (s *Session) Decrypt(env []byte) ([]byte, error) {
	e, err := envelope.Parse(env)
	if err != nil {
		return nil, err
	}
	if e.Type == envelope.TypePrekey {
		if !bytes.Equal(e.Initiation.EphemeralKey, s.baseKey) {
			return nil, ErrOtherSession
		}
		if !bytes.Equal(e.Initiation.Cert.Marshal(), s.Peer.Marshal()) {
			return nil, ErrWrongIdentity
		}
	}
	pt, err := s.state.Decrypt(e.Message)
	if err != nil {
		return nil, err
	}
	s.pending = nil // the peer has the session: plain messages from now on
	return pt, nil
}

// Answered reports whether the peer has taken part in this session: it
// started it, or replied to our initiation. An unanswered session is one we
// started that the peer has not seen yet.
func (s *Session) Answered() bool { return s.pending == nil }

// BaseKey returns the initiation's ephemeral key, which names the session.
func (s *Session) BaseKey() []byte { return s.baseKey }

// SendingChain names the current sending chain, nil before this side can
// send (ratchet.State.SendingChain). When it changes after a Decrypt, the
// peer has acknowledged every earlier chain: it decrypted one of its
// messages, each of which carried the chain's KEM fields, so it can decrypt
// all of them.
func (s *Session) SendingChain() []byte { return s.state.SendingChain() }

// Acknowledged reports whether the peer has acknowledged the sending chain
// named chain (a value SendingChain returned earlier for this session).
func (s *Session) Acknowledged(chain []byte) bool {
	cur := s.state.SendingChain()
	return cur != nil && !bytes.Equal(cur, chain)
}

// IsPrekeyEnvelope reports whether env is a prekey message, and its base key.
func IsPrekeyEnvelope(env []byte) (bool, []byte) {
	e, err := envelope.Parse(env)
	if err != nil || e.Type != envelope.TypePrekey {
		return false, nil
	}
	return true, e.Initiation.EphemeralKey
}

// Marshal serialises the session for the encrypted local store.
func (s *Session) Marshal() []byte {
	b := make([]byte, 0, 1+identity.CertificateSize+32+4+envelope.PrefixSize(s.pending)+s.state.Size())
	b = append(b, Version)
	b = append(b, s.Peer.Marshal()...)
	b = append(b, s.baseKey...)
	var pend []byte
	if s.pending != nil {
		pend = envelope.AppendInitiation(nil, s.pending)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(pend)))
	b = append(b, pend...)
	return s.state.AppendBinary(b)
}

// Unmarshal restores a session saved by Marshal.
func Unmarshal(b []byte) (*Session, error) {
	if len(b) < 1+identity.CertificateSize+32+4 {
		return nil, fmt.Errorf("%w: truncated", ErrBadSession)
	}
	if b[0] != Version {
		return nil, fmt.Errorf("%w: unsupported version %d", ErrBadSession, b[0])
	}
	// The record comes from the authenticated local store, where the
	// certificate was stored after verification.
	cert, err := identity.DecodeCertificate(b[1 : 1+identity.CertificateSize])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSession, err)
	}
	off := 1 + identity.CertificateSize
	s := &Session{Peer: cert, baseKey: bytes.Clone(b[off : off+32])}
	off += 32
	n := int(binary.BigEndian.Uint32(b[off:]))
	off += 4
	if n > len(b)-off {
		return nil, fmt.Errorf("%w: truncated", ErrBadSession)
	}
	if n > 0 {
		in, used, err := envelope.ParseInitiation(b[off : off+n])
		if err != nil || used != n {
			return nil, fmt.Errorf("%w: pending initiation: %v", ErrBadSession, err)
		}
		s.pending = in
	}
	s.state, err = ratchet.Unmarshal(b[off+n:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSession, err)
	}
	return s, nil
}

// SetSource sets the entropy source (tests use a deterministic one).
func (s *Session) SetSource(src entropy.Source) { s.state.Source(src) }
