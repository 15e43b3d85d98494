package handshake

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/sha256"
	"fmt"

	"backchannel/entropy"
	"backchannel/identity"
)

// Limits on the responder's private prekey set, as in docs/protocol.md.
const (
	// MaxReplayCache bounds how many last-resort initiations are remembered
	// to refuse replays; the oldest is forgotten first.
	MaxReplayCache = 4096
	// MaxPrekeys bounds each kind of stored one-time prekey.
	MaxPrekeys = 10000
	// prekeysVersion is the serialisation version of Prekeys.
	prekeysVersion = 1
)

type signedKey struct {
	priv *ecdh.PrivateKey
	pub  SignedPrekey
}

// Prekeys is a device's private prekey material: the signed prekeys (current
// and the previous one, so handshakes in flight during a rotation still
// complete), unused one-time X25519 and ML-KEM prekeys, the last-resort
// ML-KEM prekey, and a bounded cache of last-resort initiations already seen.
type Prekeys struct {
	nextID     uint32
	current    uint32
	signed     map[uint32]*signedKey
	oneTime    map[uint32]*ecdh.PrivateKey
	kemOneTime map[uint32]*mlkem.DecapsulationKey768
	lastResort KEMPrekey
	lastKey    *mlkem.DecapsulationKey768
	seen       map[[32]byte]struct{}
	seenOrder  [][32]byte
	kemPublic  map[uint32]KEMPrekey
	otPublic   map[uint32]OneTimePrekey
}

// NewPrekeys creates a device's first signed prekey and last-resort KEM prekey.
func NewPrekeys(src entropy.Source, dev *identity.Device) (*Prekeys, error) {
	p := &Prekeys{
		nextID:     1,
		signed:     map[uint32]*signedKey{},
		oneTime:    map[uint32]*ecdh.PrivateKey{},
		kemOneTime: map[uint32]*mlkem.DecapsulationKey768{},
		seen:       map[[32]byte]struct{}{},
		kemPublic:  map[uint32]KEMPrekey{},
		otPublic:   map[uint32]OneTimePrekey{},
	}
	if err := p.RotateSigned(src, dev); err != nil {
		return nil, err
	}
	dk, err := src.MLKEM768()
	if err != nil {
		return nil, fmt.Errorf("new prekeys: %w", err)
	}
	p.lastKey = dk
	p.lastResort = signKEM(dev, p.id(), true, dk)
	return p, nil
}

func (p *Prekeys) id() uint32 {
	id := p.nextID
	p.nextID++
	return id
}

func signKEM(dev *identity.Device, id uint32, lastResort bool, dk *mlkem.DecapsulationKey768) KEMPrekey {
	pub := dk.EncapsulationKey().Bytes()
	return KEMPrekey{ID: id, LastResort: lastResort, Public: pub, Signature: dev.Sign(kemPrekeyMessage(lastResort, id, pub))}
}

// RotateSigned makes a new signed prekey current, keeps the previous one and
// forgets any older.
func (p *Prekeys) RotateSigned(src entropy.Source, dev *identity.Device) error {
	k, err := src.X25519()
	if err != nil {
		return fmt.Errorf("rotate signed prekey: %w", err)
	}
	id := p.id()
	pub := k.PublicKey().Bytes()
	for old := range p.signed {
		if old != p.current {
			delete(p.signed, old)
		}
	}
	p.signed[id] = &signedKey{priv: k, pub: SignedPrekey{ID: id, Public: pub, Signature: dev.Sign(signedPrekeyMessage(id, pub))}}
	p.current = id
	return nil
}

// Signed returns the current signed prekey's public part.
func (p *Prekeys) Signed() SignedPrekey { return p.signed[p.current].pub }

// LastResort returns the last-resort KEM prekey's public part.
func (p *Prekeys) LastResort() KEMPrekey { return p.lastResort }

// GenerateOneTime creates n one-time X25519 and n one-time ML-KEM prekeys and
// returns their public parts for upload.
func (p *Prekeys) GenerateOneTime(src entropy.Source, dev *identity.Device, n int) ([]OneTimePrekey, []KEMPrekey, error) {
	if len(p.oneTime)+n > MaxPrekeys || len(p.kemOneTime)+n > MaxPrekeys {
		return nil, nil, fmt.Errorf("generate one-time prekeys: would exceed %d stored", MaxPrekeys)
	}
	ots := make([]OneTimePrekey, 0, n)
	kems := make([]KEMPrekey, 0, n)
	for range n {
		k, err := src.X25519()
		if err != nil {
			return nil, nil, fmt.Errorf("generate one-time prekey: %w", err)
		}
		dk, err := src.MLKEM768()
		if err != nil {
			return nil, nil, fmt.Errorf("generate one-time KEM prekey: %w", err)
		}
		ot := OneTimePrekey{ID: p.id(), Public: k.PublicKey().Bytes()}
		p.oneTime[ot.ID] = k
		p.otPublic[ot.ID] = ot
		km := signKEM(dev, p.id(), false, dk)
		p.kemOneTime[km.ID] = dk
		p.kemPublic[km.ID] = km
		ots = append(ots, ot)
		kems = append(kems, km)
	}
	return ots, kems, nil
}

// Counts reports how many one-time X25519 and ML-KEM prekeys remain unused.
func (p *Prekeys) Counts() (oneTime, kem int) { return len(p.oneTime), len(p.kemOneTime) }

// Bundle assembles a bundle from this device's own keys, using the lowest
// unused one-time keys; for tests and local demos (a server hands out bundles
// in production).
func (p *Prekeys) Bundle(dev *identity.Device) *Bundle {
	b := &Bundle{Cert: dev.Cert, Signed: p.Signed(), KEM: p.lastResort}
	if id, ok := lowest(p.otPublic); ok {
		ot := p.otPublic[id]
		b.OneTime = &ot
	}
	if id, ok := lowest(p.kemPublic); ok {
		b.KEM = p.kemPublic[id]
	}
	return b
}

func lowest[V any](m map[uint32]V) (uint32, bool) {
	var best uint32
	found := false
	for id := range m {
		if !found || id < best {
			best, found = id, true
		}
	}
	return best, found
}

func (p *Prekeys) kemKey(id uint32, lastResort bool) (*mlkem.DecapsulationKey768, error) {
	if lastResort {
		if id != p.lastResort.ID {
			return nil, fmt.Errorf("last-resort KEM prekey %d: %w", id, ErrUnknownPrekey)
		}
		return p.lastKey, nil
	}
	dk, ok := p.kemOneTime[id]
	if !ok {
		return nil, fmt.Errorf("one-time KEM prekey %d: %w", id, ErrUnknownPrekey)
	}
	return dk, nil
}

func replayKey(in *Initiation) [32]byte {
	h := sha256.New()
	h.Write(in.EphemeralKey)
	h.Write(in.KEMCiphertext)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (p *Prekeys) checkReplay(in *Initiation) error {
	if _, ok := p.seen[replayKey(in)]; ok {
		return ErrReplay
	}
	return nil
}

// Consume retires the one-time prekeys an initiation used, or, when it used
// only the last-resort KEM prekey, remembers it so the same initiation is
// refused next time. Call it once the first message has authenticated.
func (p *Prekeys) Consume(in *Initiation) {
	if in.OneTimeUsed {
		delete(p.oneTime, in.OneTimeID)
		delete(p.otPublic, in.OneTimeID)
	}
	if !in.KEMLastResort {
		delete(p.kemOneTime, in.KEMPrekeyID)
		delete(p.kemPublic, in.KEMPrekeyID)
	}
	if in.OneTimeUsed || !in.KEMLastResort {
		return // a retired one-time key already makes a replay fail
	}
	k := replayKey(in)
	if _, ok := p.seen[k]; ok {
		return
	}
	if len(p.seenOrder) >= MaxReplayCache {
		delete(p.seen, p.seenOrder[0])
		p.seenOrder = p.seenOrder[1:]
	}
	p.seen[k] = struct{}{}
	p.seenOrder = append(p.seenOrder, k)
}
