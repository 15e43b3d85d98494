package handshake

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/mlkem"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"backchannel/identity"
)

// ErrBadPrekeyStore reports a stored prekey set that cannot be loaded.
var ErrBadPrekeyStore = errors.New("bad stored prekeys")

const (
	storeFlagUpload = 0x01 // NeedsUpload
	// Sizes of the stored records (docs/protocol.md, "Prekey store").
	storedGenerationFixed = 4 + timeSize + x25519Size + x25519Size + sigSize +
		4 + timeSize + mlkem.SeedSize + sigSize + timeSize + 4
	storedOneTimeSize = 4 + timeSize + x25519Size
	storedKEMSize     = 4 + timeSize + mlkem.SeedSize
	maxGenerations    = 2
)

// Marshal serialises the private prekey set for the encrypted local store
// (docs/protocol.md, "Prekey store"). It holds secrets: store it encrypted.
func (p *Prekeys) Marshal() []byte {
	n := 1 + 32 + 4 + 1 + 1 + len(p.oneTime)*storedOneTimeSize + 4 + len(p.kemOneTime)*storedKEMSize + 4
	for _, g := range p.gens {
		n += storedGenerationFixed + 32*len(g.seenOrder)
	}
	b := make([]byte, 0, n)
	b = append(b, prekeysVersion)
	b = append(b, p.device...)
	b = binary.BigEndian.AppendUint32(b, p.nextID)
	var f byte
	if p.needUpload {
		f |= storeFlagUpload
	}
	b = append(b, f, byte(len(p.gens)))
	for _, g := range p.gens {
		b = binary.BigEndian.AppendUint32(b, g.spk.ID)
		b = binary.BigEndian.AppendUint64(b, uint64(g.spk.Created))
		b = append(b, g.spkPriv...)
		b = append(b, g.spk.Public...)
		b = append(b, g.spk.Signature...)
		b = binary.BigEndian.AppendUint32(b, g.lastID)
		b = binary.BigEndian.AppendUint64(b, uint64(g.lastAt))
		b = append(b, g.lastSeed...)
		b = append(b, g.lastSig...)
		b = binary.BigEndian.AppendUint64(b, uint64(g.superseded))
		b = binary.BigEndian.AppendUint32(b, uint32(len(g.seenOrder)))
		for _, k := range g.seenOrder {
			b = append(b, k[:]...)
		}
	}
	for _, m := range []map[uint32]*oneTimeKey{p.oneTime, p.kemOneTime} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
		for _, id := range sortedIDs(m) {
			b = binary.BigEndian.AppendUint32(b, id)
			b = binary.BigEndian.AppendUint64(b, uint64(m[id].created))
			b = append(b, m[id].secret...)
		}
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

// view is a strict cursor over a private copy of the input that hands out
// sub-slices instead of copies: a store of 10,000 keys loads with a handful
// of allocations.
type view struct {
	b   []byte
	bad bool
}

func (v *view) take(n int) []byte {
	if v.bad || n < 0 || len(v.b) < n {
		v.bad = true
		return nil
	}
	out := v.b[:n:n]
	v.b = v.b[n:]
	return out
}

func (v *view) u8() byte {
	if b := v.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (v *view) u32() uint32 {
	if b := v.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (v *view) i64() int64 {
	if b := v.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

// UnmarshalPrekeys restores a prekey set saved by Marshal, for device dev.
// The store comes from the authenticated local store, so the device's own
// signatures are not verified again and no key is expanded until it is used:
// loading 10,000 one-time keys takes about a millisecond. A store of another
// device is refused. A version 1 store is migrated (see migrateV1).
func UnmarshalPrekeys(in []byte, dev *identity.Device) (*Prekeys, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadPrekeyStore)
	}
	switch in[0] {
	case prekeysVersion:
	case 1:
		return migrateV1(in, dev)
	default:
		return nil, fmt.Errorf("%w: unsupported version %d (this build reads %d)", ErrBadPrekeyStore, in[0], prekeysVersion)
	}
	fail := func(format string, a ...any) (*Prekeys, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadPrekeyStore, fmt.Sprintf(format, a...))
	}
	v := &view{b: bytes.Clone(in[1:])}
	device := v.take(ed25519.PublicKeySize)
	p := &Prekeys{nextID: v.u32(), oneTime: map[uint32]*oneTimeKey{}, kemOneTime: map[uint32]*oneTimeKey{}}
	f := v.u8()
	count := int(v.u8())
	if v.bad {
		return fail("truncated")
	}
	if !bytes.Equal(device, dev.Cert.SigningKey) {
		return fail("the prekeys belong to another device")
	}
	p.device = device
	if f&^storeFlagUpload != 0 {
		return fail("unknown flags %#02x", f)
	}
	p.needUpload = f&storeFlagUpload != 0
	if count < 1 || count > maxGenerations {
		return fail("%d generations", count)
	}
	ids := map[uint32]struct{}{}
	useID := func(id uint32) bool {
		if _, dup := ids[id]; dup || id == 0 || id >= p.nextID {
			return false
		}
		ids[id] = struct{}{}
		return true
	}
	for i := range count {
		g := &generation{seen: map[[32]byte]struct{}{}}
		g.spk.ID, g.spk.Created = v.u32(), v.i64()
		g.spkPriv, g.spk.Public, g.spk.Signature = v.take(x25519Size), v.take(x25519Size), v.take(sigSize)
		g.lastID, g.lastAt = v.u32(), v.i64()
		g.lastSeed, g.lastSig = v.take(mlkem.SeedSize), v.take(sigSize)
		g.superseded = v.i64()
		n := v.u32()
		if v.bad {
			return fail("truncated")
		}
		if !useID(g.spk.ID) || !useID(g.lastID) {
			return fail("bad or repeated prekey id")
		}
		if (g.superseded == 0) != (i == count-1) {
			return fail("only the last generation is current")
		}
		if n > maxReplayStored {
			return fail("replay cache of %d entries", n)
		}
		g.seenOrder = make([][32]byte, 0, n)
		for range n {
			t := v.take(32)
			if t == nil {
				return fail("truncated")
			}
			k := [32]byte(t)
			if _, dup := g.seen[k]; dup {
				return fail("repeated replay cache entry")
			}
			g.seen[k] = struct{}{}
			g.seenOrder = append(g.seenOrder, k)
		}
		p.gens = append(p.gens, g)
	}
	for _, kind := range []struct {
		m    *map[uint32]*oneTimeKey
		size int
	}{{&p.oneTime, x25519Size}, {&p.kemOneTime, mlkem.SeedSize}} {
		n := v.u32()
		if v.bad || n > MaxPrekeys {
			return fail("bad one-time prekey count")
		}
		m := make(map[uint32]*oneTimeKey, n)
		keys := make([]oneTimeKey, n) // one allocation for all of them
		var last uint32
		for i := range keys {
			id, created, secret := v.u32(), v.i64(), v.take(kind.size)
			if v.bad {
				return fail("truncated")
			}
			if id <= last || !useID(id) {
				return fail("one-time prekey ids not ascending and distinct")
			}
			last = id
			keys[i] = oneTimeKey{created: created, secret: secret}
			m[id] = &keys[i]
		}
		*kind.m = m
	}
	if v.bad {
		return fail("truncated")
	}
	if len(v.b) != 0 {
		return fail("%d trailing bytes", len(v.b))
	}
	return p, nil
}

// signedPrekeyLabelV1 is the signed-prekey label of stores of version 1,
// checked once when such a store is migrated.
const signedPrekeyLabelV1 = "backchannel signed prekey v1"

// migrateV1 loads a version 1 store (no creation times). Its current signed
// prekey and its last-resort KEM prekey become the only generation, dated 0
// (unknown, so older than any limit) and re-signed with the v2 labels: the
// next Rotate supersedes it at once and keeps it for Grace; initiators
// refuse it as stale meanwhile. Its one-time keys are dated 0 as well, so
// the next Expire deletes them: they were published in the old format,
// which no current initiator uses. The replay cache moves into the
// generation. An older signed prekey that version 1 kept is dropped (the
// client never rotated under version 1). The current signed prekey's v1
// signature must verify under dev's key: that binds the store to dev.
func migrateV1(in []byte, dev *identity.Device) (*Prekeys, error) {
	fail := func(what string) (*Prekeys, error) {
		return nil, fmt.Errorf("%w: version 1: %s", ErrBadPrekeyStore, what)
	}
	v := &view{b: bytes.Clone(in[1:])}
	p := newPrekeySet(dev)
	p.nextID = v.u32()
	current := v.u32()
	n := v.u32()
	if v.bad || n > 8 {
		return fail("bad signed prekey count")
	}
	g := &generation{seen: map[[32]byte]struct{}{}}
	var oldSig []byte
	for range n {
		id, priv, sig := v.u32(), v.take(x25519Size), v.take(sigSize)
		if v.bad {
			return fail("truncated")
		}
		if id == current {
			g.spk.ID, g.spkPriv, oldSig = id, priv, sig
		}
	}
	if g.spkPriv == nil {
		return fail("current signed prekey missing")
	}
	spk, err := ecdh.X25519().NewPrivateKey(g.spkPriv)
	if err != nil {
		return fail("bad signed prekey")
	}
	g.spkKey = spk
	g.spk.Public = spk.PublicKey().Bytes()
	oldMsg := binary.BigEndian.AppendUint32([]byte(signedPrekeyLabelV1), g.spk.ID)
	if !ed25519.Verify(dev.Cert.SigningKey, append(oldMsg, g.spk.Public...), oldSig) {
		return fail("the prekeys belong to another device")
	}
	for _, kind := range []struct {
		m        map[uint32]*oneTimeKey
		size, sz int
	}{{p.oneTime, x25519Size, 0}, {p.kemOneTime, mlkem.SeedSize, sigSize}} {
		n := v.u32()
		if v.bad || n > MaxPrekeys {
			return fail("bad one-time prekey count")
		}
		for range n {
			id, secret := v.u32(), v.take(kind.size)
			v.take(kind.sz) // the v1 signature of a one-time KEM prekey
			if v.bad {
				return fail("truncated")
			}
			kind.m[id] = &oneTimeKey{secret: secret}
		}
	}
	g.lastID, g.lastSeed = v.u32(), v.take(mlkem.SeedSize)
	v.take(sigSize)
	n = v.u32()
	if v.bad || n > 4096 {
		return fail("bad replay cache")
	}
	for range n {
		t := v.take(32)
		if t == nil {
			return fail("truncated")
		}
		k := [32]byte(t)
		if _, dup := g.seen[k]; !dup {
			g.seen[k] = struct{}{}
			g.seenOrder = append(g.seenOrder, k)
		}
	}
	if len(v.b) != 0 {
		return fail("trailing bytes")
	}
	g.spk.Signature = dev.Sign(signedPrekeyMessage(g.spk.ID, 0, g.spk.Public))
	g.lastSig = dev.Sign(kemPrekeyMessage(true, g.lastID, 0, g.kemKey().EncapsulationKey().Bytes()))
	p.gens = []*generation{g}
	if p.nextID <= max(g.spk.ID, g.lastID) {
		return fail("bad id counter")
	}
	for id := range p.oneTime {
		if id >= p.nextID || id == g.spk.ID || id == g.lastID {
			return fail("bad one-time prekey id")
		}
		if _, dup := p.kemOneTime[id]; dup {
			return fail("repeated one-time prekey id")
		}
	}
	for id := range p.kemOneTime {
		if id >= p.nextID || id == g.spk.ID || id == g.lastID {
			return fail("bad one-time KEM prekey id")
		}
	}
	return p, nil
}
