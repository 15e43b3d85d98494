package handshake

import (
	"bytes"
	"errors"
	"testing"

	"backchannel/entropy"
	"backchannel/identity"
)

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

func TestBundleRoundTrip(t *testing.T) {
	d := device(t)
	pk, err := NewPrekeys(entropy.System{}, d)
	if err != nil {
		t.Fatal(err)
	}
	noOT := pk.Bundle(d)
	if _, _, err := pk.GenerateOneTime(entropy.System{}, d, 3); err != nil {
		t.Fatal(err)
	}
	withOT := pk.Bundle(d)
	for name, b := range map[string]*Bundle{"last resort only": noOT, "one-time": withOT} {
		enc := b.Marshal()
		got, err := ParseBundle(enc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Marshal(), enc) {
			t.Fatalf("%s: round trip differs", name)
		}
	}
	if ot, kem := pk.Counts(); ot != 3 || kem != 3 {
		t.Fatalf("counts = %d, %d; want 3, 3", ot, kem)
	}
}

func TestParseBundleRefusesBadInput(t *testing.T) {
	d := device(t)
	pk, _ := NewPrekeys(entropy.System{}, d)
	good := pk.Bundle(d).Marshal()
	cases := map[string][]byte{
		"empty":          nil,
		"future version": append([]byte{2}, good[1:]...),
		"truncated":      good[:len(good)-10],
		"trailing":       append(bytes.Clone(good), 0),
		"bad ot flag":    func() []byte { b := bytes.Clone(good); b[1+identity.CertificateSize+100] = 5; return b }(),
		"bad signature":  func() []byte { b := bytes.Clone(good); b[len(b)-1] ^= 1; return b }(),
	}
	for name, b := range cases {
		if _, err := ParseBundle(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	b := bytes.Clone(good)
	b[len(b)-1] ^= 1
	if _, err := ParseBundle(b); !errors.Is(err, ErrBadSignature) {
		t.Errorf("flipped KEM signature: err = %v, want ErrBadSignature", err)
	}
}

func TestPrekeysPersistence(t *testing.T) {
	d := device(t)
	pk, _ := NewPrekeys(entropy.System{}, d)
	pk.GenerateOneTime(entropy.System{}, d, 2)
	pk.RotateSigned(entropy.System{}, d)
	pk.RotateSigned(entropy.System{}, d)
	enc := pk.Marshal()
	got, err := UnmarshalPrekeys(enc, d)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), enc) {
		t.Fatal("round trip differs")
	}
	if len(got.signed) != 2 {
		t.Fatalf("kept %d signed prekeys, want current and previous", len(got.signed))
	}
	// Another device's key does not verify the stored signatures.
	if _, err := UnmarshalPrekeys(enc, device(t)); err == nil {
		t.Fatal("prekeys loaded under the wrong device")
	}
	for _, bad := range [][]byte{nil, enc[:len(enc)-1], append(bytes.Clone(enc), 0), append([]byte{9}, enc[1:]...)} {
		if _, err := UnmarshalPrekeys(bad, d); err == nil {
			t.Error("corrupt prekey store accepted")
		}
	}
}

// FuzzParseBundle: never panics; what it accepts re-encodes to the same bytes.
func FuzzParseBundle(f *testing.F) {
	d := device(f)
	pk, _ := NewPrekeys(entropy.System{}, d)
	f.Add(pk.Bundle(d).Marshal())
	pk.GenerateOneTime(entropy.System{}, d, 1)
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

// FuzzUnmarshalPrekeys: the prekey store decoder never panics.
func FuzzUnmarshalPrekeys(f *testing.F) {
	d := device(f)
	pk, _ := NewPrekeys(entropy.System{}, d)
	pk.GenerateOneTime(entropy.System{}, d, 1)
	f.Add(pk.Marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		UnmarshalPrekeys(b, d)
	})
}

func TestStoredBundleRoundTrip(t *testing.T) {
	d := device(t)
	pk, _ := NewPrekeys(entropy.System{}, d)
	ots, kems, _ := pk.GenerateOneTime(entropy.System{}, d, 1)
	s := StoredBundle{Certificate: d.Cert.Marshal(), SignedID: pk.Signed().ID, Signed: pk.Signed().Blob(),
		OneTimeID: ots[0].ID, OneTime: ots[0].Blob(), KEMID: kems[0].ID, KEM: kems[0].Blob()}
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
	bad.Signed = bad.Signed[:50]
	if _, err := bad.Assemble(); !errors.Is(err, ErrBadBundle) {
		t.Fatalf("short blob: err = %v", err)
	}
}
