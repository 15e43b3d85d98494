package handshake

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"encoding/binary"
	"fmt"
	"sort"

	"backchannel/identity"
)

// Marshal serialises the private prekey set for the encrypted local store
// (docs/protocol.md, "Prekey store"). Public parts are recomputed on load.
func (p *Prekeys) Marshal() []byte {
	b := []byte{prekeysVersion}
	b = binary.BigEndian.AppendUint32(b, p.nextID)
	b = binary.BigEndian.AppendUint32(b, p.current)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.signed)))
	for _, id := range sortedIDs(p.signed) {
		k := p.signed[id]
		b = binary.BigEndian.AppendUint32(b, id)
		b = append(b, k.priv.Bytes()...)
		b = append(b, k.pub.Signature...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.oneTime)))
	for _, id := range sortedIDs(p.oneTime) {
		b = binary.BigEndian.AppendUint32(b, id)
		b = append(b, p.oneTime[id].Bytes()...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.kemOneTime)))
	for _, id := range sortedIDs(p.kemOneTime) {
		b = binary.BigEndian.AppendUint32(b, id)
		b = append(b, p.kemOneTime[id].Bytes()...)
		b = append(b, p.kemPublic[id].Signature...)
	}
	b = binary.BigEndian.AppendUint32(b, p.lastResort.ID)
	b = append(b, p.lastKey.Bytes()...)
	b = append(b, p.lastResort.Signature...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.seenOrder)))
	for _, k := range p.seenOrder {
		b = append(b, k[:]...)
	}
	return b
}

func sortedIDs[V any](m map[uint32]V) []uint32 {
	ids := make([]uint32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// UnmarshalPrekeys restores a prekey set saved by Marshal. dev supplies the
// device signing key used to re-check each stored signature.
func UnmarshalPrekeys(in []byte, dev *identity.Device) (*Prekeys, error) {
	fail := func(what string) (*Prekeys, error) {
		return nil, fmt.Errorf("load prekeys: %s", what)
	}
	r := reader{b: in}
	if v := r.byte(); v != prekeysVersion {
		return fail(fmt.Sprintf("unsupported version %d", v))
	}
	p := &Prekeys{
		nextID: r.uint32(), current: r.uint32(),
		signed: map[uint32]*signedKey{}, oneTime: map[uint32]*ecdh.PrivateKey{},
		kemOneTime: map[uint32]*mlkem.DecapsulationKey768{}, seen: map[[32]byte]struct{}{},
		kemPublic: map[uint32]KEMPrekey{}, otPublic: map[uint32]OneTimePrekey{},
	}
	n := r.uint32()
	if n > 8 {
		return fail("too many signed prekeys")
	}
	for range n {
		id := r.uint32()
		priv, sig := r.bytes(32), r.bytes(sigSize)
		if r.err != nil {
			return fail("truncated")
		}
		k, err := ecdh.X25519().NewPrivateKey(priv)
		if err != nil {
			return fail("bad signed prekey")
		}
		p.signed[id] = &signedKey{priv: k, pub: SignedPrekey{ID: id, Public: k.PublicKey().Bytes(), Signature: sig}}
	}
	if _, ok := p.signed[p.current]; !ok {
		return fail("current signed prekey missing")
	}
	if n = r.uint32(); n > MaxPrekeys {
		return fail("too many one-time prekeys")
	}
	for range n {
		id, priv := r.uint32(), r.bytes(32)
		if r.err != nil {
			return fail("truncated")
		}
		k, err := ecdh.X25519().NewPrivateKey(priv)
		if err != nil {
			return fail("bad one-time prekey")
		}
		p.oneTime[id] = k
		p.otPublic[id] = OneTimePrekey{ID: id, Public: k.PublicKey().Bytes()}
	}
	if n = r.uint32(); n > MaxPrekeys {
		return fail("too many KEM prekeys")
	}
	for range n {
		id, seed, sig := r.uint32(), r.bytes(mlkem.SeedSize), r.bytes(sigSize)
		if r.err != nil {
			return fail("truncated")
		}
		dk, err := mlkem.NewDecapsulationKey768(seed)
		if err != nil {
			return fail("bad KEM prekey")
		}
		p.kemOneTime[id] = dk
		p.kemPublic[id] = KEMPrekey{ID: id, Public: dk.EncapsulationKey().Bytes(), Signature: sig}
	}
	id, seed, sig := r.uint32(), r.bytes(mlkem.SeedSize), r.bytes(sigSize)
	if r.err != nil {
		return fail("truncated")
	}
	dk, err := mlkem.NewDecapsulationKey768(seed)
	if err != nil {
		return fail("bad last-resort KEM prekey")
	}
	p.lastKey = dk
	p.lastResort = KEMPrekey{ID: id, LastResort: true, Public: dk.EncapsulationKey().Bytes(), Signature: sig}
	if n = r.uint32(); n > MaxReplayCache {
		return fail("replay cache too large")
	}
	for range n {
		var k [32]byte
		copy(k[:], r.bytes(32))
		p.seen[k] = struct{}{}
		p.seenOrder = append(p.seenOrder, k)
	}
	if r.err != nil {
		return fail("truncated")
	}
	if len(r.b) != 0 {
		return fail("trailing bytes")
	}
	// Every stored signature must still verify under this device's key.
	for _, k := range p.signed {
		if err := k.pub.Verify(dev.Cert.SigningKey); err != nil {
			return nil, fmt.Errorf("load prekeys: %w", err)
		}
	}
	if err := p.lastResort.Verify(dev.Cert.SigningKey); err != nil {
		return nil, fmt.Errorf("load prekeys: %w", err)
	}
	for _, k := range p.kemPublic {
		if err := k.Verify(dev.Cert.SigningKey); err != nil {
			return nil, fmt.Errorf("load prekeys: %w", err)
		}
	}
	return p, nil
}
