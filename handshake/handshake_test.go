package handshake

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"backchannel/entropy"
	"backchannel/identity"
)

// t0 is the creation time of the test prekeys.
var t0 = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z

const day = 24 * time.Hour

func device(t testing.TB) *identity.Device {
	t.Helper()
	u, err := identity.NewUser(entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := identity.NewDevice(entropy.System{}, u, 7)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func prekeys(t testing.TB, d *identity.Device, oneTime int) *Prekeys {
	t.Helper()
	pk, err := NewPrekeysAt(entropy.System{}, d, t0)
	if err != nil {
		t.Fatal(err)
	}
	if oneTime > 0 {
		if _, _, err := pk.GenerateOneTimeAt(entropy.System{}, d, oneTime, t0); err != nil {
			t.Fatal(err)
		}
	}
	return pk
}

// handshakeWith runs Initiate against b and Respond on pk, and consumes the
// initiation on success, as session.Accept does after the first message.
func handshakeWith(t testing.TB, alice, bob *identity.Device, pk *Prekeys, b *Bundle) (*Initiation, error) {
	t.Helper()
	in, ra, err := Initiate(entropy.System{}, alice, b)
	if err != nil {
		t.Fatal(err)
	}
	return in, respondAndConsume(t, bob, pk, in, ra)
}

func respondAndConsume(t testing.TB, bob *identity.Device, pk *Prekeys, in *Initiation, ra *Result) error {
	t.Helper()
	rb, err := Respond(bob, pk, in)
	if err != nil {
		return err
	}
	if ra != nil && !bytes.Equal(ra.SecretKey, rb.SecretKey) {
		t.Fatal("initiator and responder derived different secrets")
	}
	pk.Consume(in)
	return nil
}

func TestBundleRoundTrip(t *testing.T) {
	d := device(t)
	pk := prekeys(t, d, 0)
	noOT := pk.Bundle(d)
	if _, _, err := pk.GenerateOneTimeAt(entropy.System{}, d, 3, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	withOT := pk.Bundle(d)
	for name, b := range map[string]*Bundle{"last resort only": noOT, "one-time": withOT} {
		enc := b.Marshal()
		if len(enc) > maxBundleSize {
			t.Fatalf("%s: %d bytes, more than maxBundleSize %d", name, len(enc), maxBundleSize)
		}
		got, err := ParseBundle(enc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Marshal(), enc) {
			t.Fatalf("%s: round trip differs", name)
		}
	}
	if noOT.Signed.Created != t0.Unix() || noOT.KEM.Created != t0.Unix() || withOT.KEM.Created != t0.Add(time.Hour).Unix() {
		t.Fatalf("creation times: signed %d, last resort %d, one-time KEM %d", noOT.Signed.Created, noOT.KEM.Created, withOT.KEM.Created)
	}
	if ot, kem := pk.Counts(); ot != 3 || kem != 3 {
		t.Fatalf("counts = %d, %d; want 3, 3", ot, kem)
	}
}

func TestParseBundleRefusesBadInput(t *testing.T) {
	d := device(t)
	pk := prekeys(t, d, 1)
	good := pk.Bundle(d).Marshal()
	spkAt := 1 + identity.CertificateSize + 4 // the signed prekey's creation time
	otFlagAt := spkAt + timeSize + x25519Size + sigSize
	kemAt := otFlagAt + 1 + 4 + x25519Size + 4 + 1 // the KEM prekey's creation time
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrBadBundle},
		{"version 1", append([]byte{1}, good[1:]...), ErrBadBundle},
		{"future version", append([]byte{3}, good[1:]...), ErrBadBundle},
		{"truncated", good[:len(good)-10], ErrBadBundle},
		{"trailing", append(bytes.Clone(good), 0), ErrBadBundle},
		{"bad ot flag", func() []byte { b := bytes.Clone(good); b[otFlagAt] = 5; return b }(), ErrBadBundle},
		{"bad KEM kind", func() []byte { b := bytes.Clone(good); b[kemAt-1] = 2; return b }(), ErrBadBundle},
		{"flipped KEM signature", flip(len(good) - 1), ErrBadSignature},
		// The server cannot re-date a prekey: the time is signed.
		{"re-dated signed prekey", flip(spkAt + timeSize - 1), ErrBadSignature},
		{"re-dated KEM prekey", flip(kemAt + timeSize - 1), ErrBadSignature},
		{"KEM kind changed", func() []byte { b := bytes.Clone(good); b[kemAt-1] = KEMLastResort; return b }(), ErrBadSignature},
	}
	if _, err := ParseBundle(good); err != nil {
		t.Fatalf("good bundle refused: %v", err)
	}
	for _, c := range cases {
		if _, err := ParseBundle(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestCheckFresh(t *testing.T) {
	d := device(t)
	pk := prekeys(t, d, 0)
	lastResort := pk.Bundle(d)
	// A one-time KEM prekey made later than the signed prekey.
	if _, _, err := pk.GenerateOneTimeAt(entropy.System{}, d, 1, t0.Add(10*day)); err != nil {
		t.Fatal(err)
	}
	oneTime := pk.Bundle(d)
	cases := []struct {
		name  string
		b     *Bundle
		now   time.Time
		fresh bool
	}{
		{"just made", lastResort, t0, true},
		{"MaxPrekeyAge old", lastResort, t0.Add(MaxPrekeyAge), true},
		{"a second older", lastResort, t0.Add(MaxPrekeyAge + time.Second), false},
		{"a year old", lastResort, t0.Add(365 * day), false},
		{"MaxClockSkew in the future", lastResort, t0.Add(-MaxClockSkew), true},
		{"further in the future", lastResort, t0.Add(-MaxClockSkew - time.Second), false},
		// The signed prekey is the older of the two here.
		{"one-time KEM fresh, signed prekey stale", oneTime, t0.Add(MaxPrekeyAge + time.Second), false},
		// And the KEM prekey is the one dated in the future here.
		{"signed prekey fine, KEM prekey in the future", oneTime, t0.Add(10*day - MaxClockSkew - time.Second), false},
		{"both within limits", oneTime, t0.Add(10 * day), true},
	}
	for _, c := range cases {
		err := CheckFresh(c.b, c.now)
		if c.fresh && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.fresh && !errors.Is(err, ErrStalePrekey) {
			t.Errorf("%s: err = %v, want ErrStalePrekey", c.name, err)
		}
	}
	// Extreme dates do not overflow into acceptance.
	for _, created := range []int64{-1 << 63, 1<<63 - 1} {
		b := *lastResort
		b.Signed.Created = created
		if err := CheckFresh(&b, t0); !errors.Is(err, ErrStalePrekey) {
			t.Errorf("created %d: err = %v", created, err)
		}
	}
}

func TestPrekeysPersistence(t *testing.T) {
	d := device(t)
	pk := prekeys(t, d, 2)
	alice := device(t)
	if _, err := handshakeWith(t, alice, d, pk, &Bundle{Cert: d.Cert, Signed: pk.Signed(), KEM: pk.LastResort()}); err != nil {
		t.Fatal(err)
	}
	if rotated, err := pk.Rotate(entropy.System{}, d, t0.Add(8*day)); err != nil || !rotated {
		t.Fatalf("rotate: %v %v", rotated, err)
	}
	enc := pk.Marshal()
	got, err := UnmarshalPrekeys(enc, d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), enc) {
		t.Fatal("round trip differs")
	}
	if got.Generations() != 2 || got.ReplayEntries() != 1 || !got.NeedsUpload() {
		t.Fatalf("restored: %d generations, %d replay entries, upload pending %v", got.Generations(), got.ReplayEntries(), got.NeedsUpload())
	}
	got.MarkUploaded()
	if again, _ := UnmarshalPrekeys(got.Marshal(), d); again.NeedsUpload() {
		t.Fatal("MarkUploaded did not persist")
	}
	// The restored keys work: a handshake against the restored set.
	if _, err := handshakeWith(t, alice, d, got, got.Bundle(d)); err != nil {
		t.Fatalf("handshake with restored prekeys: %v", err)
	}
	// Another device's store is refused.
	if _, err := UnmarshalPrekeys(enc, device(t)); !errors.Is(err, ErrBadPrekeyStore) {
		t.Fatalf("prekeys loaded under the wrong device: %v", err)
	}
	for name, bad := range map[string][]byte{
		"empty":         nil,
		"truncated":     enc[:len(enc)-1],
		"trailing":      append(bytes.Clone(enc), 0),
		"version 9":     append([]byte{9}, enc[1:]...),
		"unknown flag":  func() []byte { b := bytes.Clone(enc); b[1+32+4] |= 0x80; return b }(),
		"3 generations": func() []byte { b := bytes.Clone(enc); b[1+32+4+1] = 3; return b }(),
		"0 generations": func() []byte { b := bytes.Clone(enc); b[1+32+4+1] = 0; return b }(),
		"id counter":    func() []byte { b := bytes.Clone(enc); copy(b[1+32:], []byte{0, 0, 0, 1}); return b }(),
	} {
		if _, err := UnmarshalPrekeys(bad, d); !errors.Is(err, ErrBadPrekeyStore) {
			t.Errorf("%s: err = %v, want ErrBadPrekeyStore", name, err)
		}
	}
}

// TestRotationSchedule walks a device through three rotations and checks
// which initiations still complete.
func TestRotationSchedule(t *testing.T) {
	bob, alice := device(t), device(t)
	pk := prekeys(t, bob, 0)
	pk.MarkUploaded()
	gen1 := pk.Bundle(bob)
	rotate := func(at time.Duration, want bool) {
		t.Helper()
		got, err := pk.Rotate(entropy.System{}, bob, t0.Add(at))
		if err != nil || got != want {
			t.Fatalf("Rotate at %v: rotated = %v (%v), want %v", at, got, err, want)
		}
	}
	rotate(RotateEvery-time.Second, false)
	if pk.NeedsUpload() || pk.Generations() != 1 {
		t.Fatal("no rotation is due yet")
	}
	rotate(RotateEvery, true)
	gen2 := pk.Bundle(bob)
	if !pk.NeedsUpload() || pk.Generations() != 2 || gen2.Signed.ID == gen1.Signed.ID || gen2.KEM.ID == gen1.KEM.ID {
		t.Fatal("rotation did not make a new generation to upload")
	}
	if gen2.Signed.Created != t0.Add(RotateEvery).Unix() || gen2.KEM.Created != gen2.Signed.Created {
		t.Fatalf("new generation dated %d / %d", gen2.Signed.Created, gen2.KEM.Created)
	}
	if err := gen2.Verify(); err != nil {
		t.Fatal(err)
	}
	rotate(RotateEvery+time.Hour, false)
	// During the grace period both generations answer.
	for name, b := range map[string]*Bundle{"previous": gen1, "current": gen2} {
		if _, err := handshakeWith(t, alice, bob, pk, b); err != nil {
			t.Fatalf("%s generation during grace: %v", name, err)
		}
	}
	// Grace over: the previous generation goes; gen2 is 7 days old: a new one.
	rotate(RotateEvery+Grace, true)
	if pk.Generations() != 2 || pk.generationOf(gen1.Signed.ID) != nil {
		t.Fatal("the generation past its grace period is still held")
	}
	if _, err := handshakeWith(t, alice, bob, pk, gen1); !errors.Is(err, ErrUnknownPrekey) {
		t.Fatalf("initiation to a deleted generation: err = %v, want ErrUnknownPrekey", err)
	}
	if _, err := handshakeWith(t, alice, bob, pk, gen2); err != nil {
		t.Fatalf("superseded generation in grace: %v", err)
	}
	// A device offline for a month: one rotation, never more than two generations.
	rotate(60*day, true)
	if pk.Generations() != 2 || pk.generationOf(gen2.Signed.ID) != nil {
		t.Fatalf("%d generations after a long absence", pk.Generations())
	}
	// A clock that was wrong: a generation dated far in the future is replaced.
	fut, _ := NewPrekeysAt(entropy.System{}, bob, t0.Add(100*day))
	if rotated, _ := fut.Rotate(entropy.System{}, bob, t0); !rotated {
		t.Fatal("a generation dated in the future was kept")
	}
}

// A flood of initiations without one-time keys forces a rotation, and the
// hard bound refuses rather than forgets.
func TestReplayCacheBoundsForceRotation(t *testing.T) {
	bob, alice := device(t), device(t)
	pk := prekeys(t, bob, 0)
	b1 := pk.Bundle(bob)
	in, err := handshakeWith(t, alice, bob, pk, b1)
	if err != nil {
		t.Fatal(err)
	}
	g := pk.current()
	// Stand-ins for MaxReplayPerGeneration other accepted initiations.
	for i := 0; len(g.seenOrder) <= MaxReplayPerGeneration; i++ {
		k := [32]byte{byte(i), byte(i >> 8), 0xAA}
		g.seen[k] = struct{}{}
		g.seenOrder = append(g.seenOrder, k)
	}
	if rb, err := Respond(bob, pk, in); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay with a full cache: %v %v", rb, err)
	}
	// Over the soft bound: the next Rotate makes a new generation although
	// the current one is only an hour old.
	if rotated, _ := pk.Rotate(entropy.System{}, bob, t0.Add(time.Hour)); !rotated {
		t.Fatal("an overfull replay cache did not force a rotation")
	}
	// The superseded, overfull generation is then deleted at the next call.
	pk.Rotate(entropy.System{}, bob, t0.Add(2*time.Hour))
	if pk.Generations() != 1 {
		t.Fatalf("%d generations: the overfull superseded one was kept", pk.Generations())
	}
	if _, err := Respond(bob, pk, in); !errors.Is(err, ErrUnknownPrekey) {
		t.Fatalf("replay after the generation went: err = %v, want ErrUnknownPrekey", err)
	}
	// The hard bound: refuse new initiations without one-time keys, never forget.
	g = pk.current()
	for i := 0; len(g.seenOrder) < maxReplayStored; i++ {
		k := [32]byte{byte(i), byte(i >> 8), 0xBB}
		g.seen[k] = struct{}{}
		g.seenOrder = append(g.seenOrder, k)
	}
	if _, err := handshakeWith(t, alice, bob, pk, pk.Bundle(bob)); !errors.Is(err, ErrReplayCacheFull) {
		t.Fatalf("initiation beyond the hard bound: err = %v, want ErrReplayCacheFull", err)
	}
	if _, err := UnmarshalPrekeys(pk.Marshal(), bob); err != nil {
		t.Fatalf("a store at the hard bound does not load: %v", err)
	}
	// With a one-time key the initiation needs no cache entry and completes.
	pk.GenerateOneTimeAt(entropy.System{}, bob, 1, t0)
	if _, err := handshakeWith(t, alice, bob, pk, pk.Bundle(bob)); err != nil {
		t.Fatalf("one-time initiation at the hard bound: %v", err)
	}
}

func TestOneTimeCapAndExpiry(t *testing.T) {
	bob, alice := device(t), device(t)
	pk := prekeys(t, bob, 0)
	ots, kems, err := pk.GenerateOneTimeAt(entropy.System{}, bob, MaxOneTime+50, t0)
	if err != nil || len(ots) != MaxOneTime || len(kems) != MaxOneTime {
		t.Fatalf("generated %d and %d (%v), want the cap %d", len(ots), len(kems), err, MaxOneTime)
	}
	for _, k := range kems {
		if err := k.Verify(bob.Cert.SigningKey); err != nil || k.LastResort || k.Created != t0.Unix() {
			t.Fatalf("one-time KEM prekey %d: %v", k.ID, err)
		}
	}
	if ots, kems, _ := pk.GenerateOneTimeAt(entropy.System{}, bob, 10, t0); len(ots)+len(kems) != 0 {
		t.Fatal("a full pool grew")
	}
	// Use one of each kind (the same bundle): the pool has room for exactly one more.
	early := pk.Bundle(bob)
	if _, err := handshakeWith(t, alice, bob, pk, early); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(3 * day)
	ots, kems, _ = pk.GenerateOneTimeAt(entropy.System{}, bob, 10, later)
	if len(ots) != 1 || len(kems) != 1 {
		t.Fatalf("refill after one use gave %d and %d, want 1 and 1", len(ots), len(kems))
	}
	// The X25519 pool can be emptier than the KEM pool: they refill apart.
	b := pk.Bundle(bob)
	b.KEM = pk.LastResort()
	if _, err := handshakeWith(t, alice, bob, pk, b); err != nil {
		t.Fatal(err)
	}
	if ots, kems, _ := pk.GenerateOneTimeAt(entropy.System{}, bob, 10, later); len(ots) != 1 || len(kems) != 0 {
		t.Fatalf("refill gave %d and %d, want 1 and 0", len(ots), len(kems))
	}
	held := pk.Bundle(bob) // a bundle handed out on day 0, used only after expiry
	if n := pk.Expire(t0.Add(RotateEvery + Grace - time.Second)); n != 0 {
		t.Fatalf("expired %d keys too early", n)
	}
	if n := pk.Expire(t0.Add(RotateEvery + Grace)); n != 2*MaxOneTime-3 {
		t.Fatalf("expired %d keys, want %d", n, 2*MaxOneTime-3)
	}
	if ot, kem := pk.Counts(); ot != 2 || kem != 1 {
		t.Fatalf("left %d and %d, want the 2 and 1 made later", ot, kem)
	}
	if _, err := handshakeWith(t, alice, bob, pk, held); !errors.Is(err, ErrUnknownPrekey) {
		t.Fatalf("initiation with an expired one-time key: err = %v, want ErrUnknownPrekey", err)
	}
}

func TestStoredBundleRoundTrip(t *testing.T) {
	d := device(t)
	pk := prekeys(t, d, 0)
	ots, kems, _ := pk.GenerateOneTimeAt(entropy.System{}, d, 1, t0)
	s := StoredBundle{Certificate: d.Cert.Marshal(), SignedID: pk.Signed().ID, Signed: pk.Signed().Blob(),
		OneTimeID: ots[0].ID, OneTime: ots[0].Blob(), KEMID: kems[0].ID, KEM: kems[0].Blob()}
	if len(s.Signed) != SignedBlobSize || len(s.KEM) != KEMBlobSize || len(s.OneTime) != OneTimeBlobSize {
		t.Fatalf("blob sizes %d, %d, %d", len(s.Signed), len(s.KEM), len(s.OneTime))
	}
	b, err := s.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Marshal(), pk.Bundle(d).Marshal()) {
		t.Fatal("assembled bundle differs from the device's own")
	}
	bad := s
	bad.KEMLastResort = true // the signature covers the kind
	if _, err := bad.Assemble(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("wrong KEM kind: err = %v", err)
	}
	bad = s
	bad.Signed = bytes.Clone(s.Signed)
	bad.Signed[0] ^= 0x40 // re-dated
	if _, err := bad.Assemble(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("re-dated signed prekey: err = %v", err)
	}
	bad = s
	bad.Signed = bad.Signed[:50]
	if _, err := bad.Assemble(); !errors.Is(err, ErrBadBundle) {
		t.Fatalf("short blob: err = %v", err)
	}
}

// FuzzParseBundle: never panics; what it accepts re-encodes to the same bytes.
func FuzzParseBundle(f *testing.F) {
	d := device(f)
	pk := prekeys(f, d, 0)
	f.Add(pk.Bundle(d).Marshal())
	pk.GenerateOneTimeAt(entropy.System{}, d, 1, t0)
	f.Add(pk.Bundle(d).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseBundle(b)
		if err != nil {
			return
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatal("accepted bundle does not round-trip")
		}
	})
}

// FuzzUnmarshalPrekeys: the prekey store decoder (both versions) never
// panics, and a version 2 store it accepts re-encodes to the same bytes.
func FuzzUnmarshalPrekeys(f *testing.F) {
	d := device(f)
	pk := prekeys(f, d, 1)
	f.Add(pk.Marshal())
	pk.Rotate(entropy.System{}, d, t0.Add(RotateEvery))
	f.Add(pk.Marshal())
	f.Add(v1Store(f, d, 1, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := UnmarshalPrekeys(b, d)
		if err != nil || b[0] != prekeysVersion {
			return
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatal("accepted store does not round-trip")
		}
	})
}

// A bundle verified once (ParseBundle, Assemble) is not verified again by
// Initiate, but any change to it after the verification is: a field
// flipped in place, or swapped for another device's, is refused as if it
// had never been verified.
func TestVerifiedBundleChangedAfterwards(t *testing.T) {
	alice, bob, carol := device(t), device(t), device(t)
	pk := prekeys(t, bob, 1)
	other := prekeys(t, carol, 0).Bundle(carol)
	cases := map[string]func(b *Bundle){
		"signed prekey signature": func(b *Bundle) { b.Signed.Signature[5] ^= 1 },
		"signed prekey":           func(b *Bundle) { b.Signed.Public = bytes.Clone(other.Signed.Public) },
		"KEM prekey":              func(b *Bundle) { b.KEM.Public = bytes.Clone(other.KEM.Public) },
		"KEM prekey id":           func(b *Bundle) { b.KEM.ID++ },
		"one-time prekey dropped": func(b *Bundle) { b.OneTime = nil },
		"certificate":             func(b *Bundle) { b.Cert = other.Cert },
		"creation time":           func(b *Bundle) { b.Signed.Created-- },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := ParseBundle(pk.Bundle(bob).Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := Initiate(entropy.System{}, alice, b); err != nil {
				t.Fatalf("the verified bundle itself: %v", err)
			}
			change(b)
			_, _, err = Initiate(entropy.System{}, alice, b)
			if name == "one-time prekey dropped" {
				// Still a genuine bundle (the one-time key is optional and
				// unsigned): verified again and accepted.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("a bundle changed after its verification was used")
			}
		})
	}
}
