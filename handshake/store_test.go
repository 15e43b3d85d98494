package handshake

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"backchannel/entropy"
	"backchannel/identity"
)

// v1Store writes a prekey store in the version 1 layout (no creation times,
// signatures under the v1 labels), as the previous release did:
//
//	0x01 || u32(next_id) || u32(current) || u32(n) × (u32 id || priv 32 || sig 64)
//	|| u32(n) × (u32 id || priv 32) || u32(n) × (u32 id || seed 64 || sig 64)
//	|| u32(last_id) || seed 64 || sig 64 || u32(n) × tag 32
func v1Store(t testing.TB, dev *identity.Device, oneTime, replays int) []byte {
	t.Helper()
	sign := func(label string, parts ...[]byte) []byte {
		m := []byte(label)
		for _, p := range parts {
			m = append(m, p...)
		}
		return dev.Sign(m)
	}
	u32 := func(x uint32) []byte { return binary.BigEndian.AppendUint32(nil, x) }
	id := uint32(1)
	next := func() uint32 { id++; return id - 1 }
	spk, _ := ecdh.X25519().GenerateKey(rand.Reader)
	spkID := next()
	b := []byte{1}
	var body []byte
	body = append(body, u32(spkID)...)
	body = append(body, u32(1)...)
	body = append(body, u32(spkID)...)
	body = append(body, spk.Bytes()...)
	body = append(body, sign("backchannel signed prekey v1", u32(spkID), spk.PublicKey().Bytes())...)
	body = append(body, u32(uint32(oneTime))...)
	for range oneTime {
		k, _ := ecdh.X25519().GenerateKey(rand.Reader)
		body = append(append(body, u32(next())...), k.Bytes()...)
	}
	body = append(body, u32(uint32(oneTime))...)
	for range oneTime {
		dk, _ := mlkem.GenerateKey768()
		kid := next()
		body = append(append(body, u32(kid)...), dk.Bytes()...)
		body = append(body, sign("backchannel kem prekey v1", []byte{KEMOneTime}, u32(kid), dk.EncapsulationKey().Bytes())...)
	}
	last, _ := mlkem.GenerateKey768()
	lastID := next()
	body = append(append(body, u32(lastID)...), last.Bytes()...)
	body = append(body, sign("backchannel kem prekey v1", []byte{KEMLastResort}, u32(lastID), last.EncapsulationKey().Bytes())...)
	body = append(body, u32(uint32(replays))...)
	for i := range replays {
		body = append(body, make([]byte, 31)...)
		body = append(body, byte(i+1))
	}
	b = append(b, u32(id)...)
	return append(b, body...)
}

func TestMigrateV1Store(t *testing.T) {
	bob, alice := device(t), device(t)
	old := v1Store(t, bob, 3, 2)
	pk, err := UnmarshalPrekeys(old, bob)
	if err != nil {
		t.Fatalf("version 1 store: %v", err)
	}
	if pk.Generations() != 1 || pk.ReplayEntries() != 2 || pk.NeedsUpload() {
		t.Fatalf("migrated: %d generations, %d replay entries, upload %v", pk.Generations(), pk.ReplayEntries(), pk.NeedsUpload())
	}
	if ot, kem := pk.Counts(); ot != 3 || kem != 3 {
		t.Fatalf("migrated one-time keys: %d, %d", ot, kem)
	}
	// The migrated generation is valid v2 but dated 0: initiators refuse it.
	b := pk.Bundle(bob)
	if err := b.Verify(); err != nil {
		t.Fatalf("migrated generation: %v", err)
	}
	if err := CheckFresh(b, time.Now()); !errors.Is(err, ErrStalePrekey) {
		t.Fatalf("migrated generation: CheckFresh = %v, want ErrStalePrekey", err)
	}
	// Its private keys still answer (an initiation in flight).
	if _, err := handshakeWith(t, alice, bob, pk, b); err != nil {
		t.Fatalf("handshake with migrated keys: %v", err)
	}
	// The first Rotate replaces it; the first Expire drops the old one-time keys.
	now := time.Now()
	if rotated, err := pk.Rotate(entropy.System{}, bob, now); err != nil || !rotated || !pk.NeedsUpload() {
		t.Fatalf("rotate after migration: %v %v", rotated, err)
	}
	if n := pk.Expire(now); n != 4 {
		t.Fatalf("expired %d migrated one-time keys, want the 4 left", n)
	}
	if err := CheckFresh(pk.Bundle(bob), now); err != nil {
		t.Fatalf("after rotation and expiry: %v", err)
	}
	enc := pk.Marshal()
	if enc[0] != prekeysVersion {
		t.Fatal("a migrated store is not saved in the current version")
	}
	if _, err := UnmarshalPrekeys(enc, bob); err != nil {
		t.Fatal(err)
	}
	// Bound to the device, as before.
	if _, err := UnmarshalPrekeys(old, alice); !errors.Is(err, ErrBadPrekeyStore) {
		t.Fatalf("v1 store of another device: err = %v", err)
	}
	for name, bad := range map[string][]byte{"truncated": old[:len(old)-1], "trailing": append(old[:len(old):len(old)], 0)} {
		if _, err := UnmarshalPrekeys(bad, bob); !errors.Is(err, ErrBadPrekeyStore) {
			t.Errorf("v1 %s: err = %v", name, err)
		}
	}
}

// bigStore builds a store holding n one-time keys of each kind, as a
// drained profile of the previous release had (10,000 at the old cap).
// Random bytes are valid X25519 scalars and ML-KEM seeds.
func bigStore(t testing.TB, dev *identity.Device, n int) []byte {
	t.Helper()
	pk := prekeys(t, dev, 0)
	for range n {
		x := make([]byte, x25519Size)
		rand.Read(x)
		pk.oneTime[pk.id()] = &oneTimeKey{created: t0.Unix(), secret: x}
		s := make([]byte, mlkem.SeedSize)
		rand.Read(s)
		pk.kemOneTime[pk.id()] = &oneTimeKey{created: t0.Unix(), secret: s}
	}
	return pk.Marshal()
}

// Loading does no public-key work: no signature is checked and no key is
// built or expanded until it is used.
func TestUnmarshalIsLazy(t *testing.T) {
	d, alice := device(t), device(t)
	enc := bigStore(t, d, 10000)
	start := time.Now()
	pk, err := UnmarshalPrekeys(enc, d)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if ot, kem := pk.Counts(); ot != 10000 || kem != 10000 {
		t.Fatalf("loaded %d and %d keys", ot, kem)
	}
	for _, m := range []map[uint32]*oneTimeKey{pk.oneTime, pk.kemOneTime} {
		for id, k := range m {
			if k.x != nil || k.kem != nil {
				t.Fatalf("one-time key %d was built at load", id)
			}
		}
	}
	for _, g := range pk.gens {
		if g.spkKey != nil || g.lastKey != nil {
			t.Fatal("a generation's keys were built at load")
		}
	}
	t.Logf("loaded a %d-byte store of 2 × 10,000 one-time keys in %v", len(enc), took)
	// And the lazily built keys work.
	if _, err := handshakeWith(t, alice, d, pk, pk.Bundle(d)); err != nil {
		t.Fatal(err)
	}
	if ot, kem := pk.Counts(); ot != 9999 || kem != 9999 {
		t.Fatal("the handshake did not consume the one-time keys")
	}
}

// BenchmarkUnmarshalPrekeys loads a store of 10,000 one-time keys of each kind.
func BenchmarkUnmarshalPrekeys(b *testing.B) {
	d := device(b)
	enc := bigStore(b, d, 10000)
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := UnmarshalPrekeys(enc, d); err != nil {
			b.Fatal(err)
		}
	}
}
