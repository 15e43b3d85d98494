package x25519

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stdECDH is crypto/ecdh's answer for the same bytes: the public key of
// scalar and X25519(scalar, peer), or the first error.
func stdECDH(scalar, peer []byte) (public, shared []byte, err error) {
	k, err := ecdh.X25519().NewPrivateKey(scalar)
	if err != nil {
		return nil, nil, err
	}
	p, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return k.PublicKey().Bytes(), nil, err
	}
	shared, err = k.ECDH(p)
	return k.PublicKey().Bytes(), shared, err
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 7748 section 5.2, the two single-shot vectors.
func TestRFC7748Vectors(t *testing.T) {
	for _, v := range []struct{ scalar, u, out string }{
		{
			"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
			"e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
			"c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
		},
		{
			"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
			"e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
			"95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
		},
	} {
		got, err := ECDH(unhex(t, v.scalar), unhex(t, v.u))
		if err != nil {
			t.Fatal(err)
		}
		if want := unhex(t, v.out); !bytes.Equal(got, want) {
			t.Errorf("X25519(%s, %s) = %x, want %x", v.scalar, v.u, got, want)
		}
	}
}

// RFC 7748 section 5.2, the iterated vector: k = u = 9, then k, u =
// X25519(k, u), k. The million iterations are left out.
func TestRFC7748Iterated(t *testing.T) {
	k := make([]byte, 32)
	k[0] = 9
	u := bytes.Clone(k)
	for i, want := range map[int]string{
		1:    "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
		1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
	} {
		k, u := bytes.Clone(k), bytes.Clone(u)
		for range i {
			out, err := ECDH(k, u)
			if err != nil {
				t.Fatal(err)
			}
			k, u = out, k
		}
		if got := hex.EncodeToString(k); got != want {
			t.Errorf("after %d iterations: %s, want %s", i, got, want)
		}
	}
}

// RFC 7748 section 6.1: Alice's and Bob's keys and their shared secret.
func TestRFC7748DiffieHellman(t *testing.T) {
	alice, err := NewPrivateKey(unhex(t, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := NewPrivateKey(unhex(t, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want []byte
	}{
		{"Alice's public key", alice.PublicKey(), unhex(t, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")},
		{"Bob's public key", bob.PublicKey(), unhex(t, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s = %x, want %x", c.name, c.got, c.want)
		}
	}
	want := unhex(t, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
	for name, k := range map[string]struct {
		k    *PrivateKey
		peer []byte
	}{"Alice": {alice, bob.PublicKey()}, "Bob": {bob, alice.PublicKey()}} {
		got, err := k.k.ECDH(k.peer)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s's shared secret = %x, want %x", name, got, want)
		}
	}
}

// sameAsStdlib checks ECDH, NewPrivateKey, PublicKey, Bytes and
// PrivateKey.ECDH against crypto/ecdh: equal results, or errors on both sides.
func sameAsStdlib(t testing.TB, scalar, peer []byte) {
	t.Helper()
	wantPub, wantShared, wantErr := stdECDH(scalar, peer)
	got, err := ECDH(scalar, peer)
	if (err != nil) != (wantErr != nil) || !bytes.Equal(got, wantShared) {
		t.Fatalf("ECDH(%x, %x) = %x, %v; crypto/ecdh: %x, %v", scalar, peer, got, err, wantShared, wantErr)
	}
	k, err := NewPrivateKey(scalar)
	if (err != nil) != (wantPub == nil) {
		t.Fatalf("NewPrivateKey(%x): error %v, crypto/ecdh's public key %x", scalar, err, wantPub)
	}
	if err != nil {
		return
	}
	if !bytes.Equal(k.PublicKey(), wantPub) || !bytes.Equal(k.Bytes(), scalar) {
		t.Fatalf("key of %x = (%x, %x), crypto/ecdh's public key %x", scalar, k.Bytes(), k.PublicKey(), wantPub)
	}
	got, err = k.ECDH(peer)
	if (err != nil) != (wantErr != nil) || !bytes.Equal(got, wantShared) {
		t.Fatalf("PrivateKey.ECDH(%x, %x) = %x, %v; crypto/ecdh: %x, %v", scalar, peer, got, err, wantShared, wantErr)
	}
}

// fieldP is 2^255 - 19, little-endian.
func fieldP() []byte {
	p := bytes.Repeat([]byte{0xff}, 32)
	p[0], p[31] = 0xed, 0x7f
	return p
}

// plus returns x + j (little-endian, mod 2^256).
func plus(x []byte, j int) []byte {
	out := bytes.Clone(x)
	for i := 0; j != 0 && i < len(out); i++ {
		s := int(out[i]) + j
		out[i], j = byte(s), s>>8
	}
	return out
}

func TestMatchesStdlib(t *testing.T) {
	for range 1000 {
		scalar := randomBytes(t, 32)
		peer := randomBytes(t, 32)
		sameAsStdlib(t, scalar, peer)
		peer[31] |= 0x80 // the top bit is masked
		sameAsStdlib(t, scalar, peer)
		peer[31] &^= 0x80
		sameAsStdlib(t, scalar, peer)
	}
	// Non-canonical u-coordinates: p .. 2^255-1, and the same with the top
	// bit set; p and p+1 are low order (0 and 1 reduced), both sides refuse.
	for j := range 19 {
		u := plus(fieldP(), j)
		for range 20 {
			scalar := randomBytes(t, 32)
			sameAsStdlib(t, scalar, u)
			hi := bytes.Clone(u)
			hi[31] |= 0x80
			sameAsStdlib(t, scalar, hi)
		}
	}
	// Non-canonical values reduce to the same answer as their canonical form.
	scalar := randomBytes(t, 32)
	for j := 2; j < 19; j++ {
		a, err := ECDH(scalar, plus(fieldP(), j))
		if err != nil {
			t.Fatal(err)
		}
		b, err := ECDH(scalar, plus(make([]byte, 32), j))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("u = p + %d gives %x, u = %d gives %x", j, a, j, b)
		}
	}
}

func TestLowOrder(t *testing.T) {
	points := []string{
		"0000000000000000000000000000000000000000000000000000000000000000", // 0
		"0100000000000000000000000000000000000000000000000000000000000000", // 1
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", // order 8
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", // order 8
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p - 1
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p (0)
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p + 1 (1)
	}
	var all [][]byte
	for _, p := range points {
		u := unhex(t, p)
		hi := bytes.Clone(u)
		hi[31] |= 0x80 // the same point once the top bit is masked
		all = append(all, u, hi)
	}
	for _, u := range all {
		for range 10 {
			scalar := randomBytes(t, 32)
			k, err := NewPrivateKey(scalar)
			if err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]func() ([]byte, error){
				"PrivateKey.ECDH": func() ([]byte, error) { return k.ECDH(u) },
				"ECDH":            func() ([]byte, error) { return ECDH(scalar, u) },
			} {
				out, err := f()
				if !errors.Is(err, ErrLowOrder) || out != nil {
					t.Errorf("%s(%x, %x) = %x, %v; want ErrLowOrder", name, scalar, u, out, err)
				}
			}
			if _, shared, err := stdECDH(scalar, u); err == nil {
				t.Errorf("crypto/ecdh accepts %x (shared %x)", u, shared)
			}
		}
	}
}

func TestNewPrivateKeyWithPublic(t *testing.T) {
	scalar := randomBytes(t, 32)
	public := randomBytes(t, 32) // not scalar's public key: nothing is checked or computed
	k, err := NewPrivateKeyWithPublic(scalar, public)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.PublicKey(), public) || !bytes.Equal(k.Bytes(), scalar) {
		t.Fatalf("got (%x, %x), want (%x, %x)", k.Bytes(), k.PublicKey(), scalar, public)
	}
	// The key holds copies; the returned slices are copies too.
	scalar[0]++
	public[0]++
	k.Bytes()[1]++
	k.PublicKey()[1]++
	if bytes.Equal(k.Bytes(), scalar) || bytes.Equal(k.PublicKey(), public) {
		t.Fatal("the key shares memory with its inputs")
	}
	scalar[0]--
	public[0]--
	if !bytes.Equal(k.PublicKey(), public) || !bytes.Equal(k.Bytes(), scalar) {
		t.Fatal("the key changed through a returned slice")
	}
	// A stored key round-trips: ECDH as from the generated key.
	g, err := NewPrivateKey(scalar)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := NewPrivateKeyWithPublic(g.Bytes(), g.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	peer := randomBytes(t, 32)
	a, errA := g.ECDH(peer)
	b, errB := loaded.ECDH(peer)
	if errA != nil || errB != nil || !bytes.Equal(a, b) || !bytes.Equal(loaded.PublicKey(), g.PublicKey()) {
		t.Fatalf("loaded key differs: %x %v, %x %v", a, errA, b, errB)
	}
}

func TestSizes(t *testing.T) {
	ok := make([]byte, 32)
	ok[0] = 9
	k, err := NewPrivateKey(randomBytes(t, 32))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{nil, {}, {9}, make([]byte, 31), make([]byte, 33), make([]byte, 64)} {
		n := len(bad)
		calls := map[string]func() error{
			"NewPrivateKey":                  func() error { _, err := NewPrivateKey(bad); return err },
			"NewPrivateKeyWithPublic scalar": func() error { _, err := NewPrivateKeyWithPublic(bad, ok); return err },
			"NewPrivateKeyWithPublic public": func() error { _, err := NewPrivateKeyWithPublic(ok, bad); return err },
			"ECDH scalar":                    func() error { _, err := ECDH(bad, ok); return err },
			"ECDH peer":                      func() error { _, err := ECDH(ok, bad); return err },
			"PrivateKey.ECDH":                func() error { _, err := k.ECDH(bad); return err },
		}
		for name, f := range calls {
			if f() == nil {
				t.Errorf("%s accepts %d bytes", name, n)
			}
		}
	}
}

func TestGenerateKey(t *testing.T) {
	want := randomBytes(t, 32)
	k, err := GenerateKey(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.Bytes(), want) {
		t.Fatalf("Bytes() = %x, want the 32 bytes read, %x", k.Bytes(), want)
	}
	sameAsStdlib(t, k.Bytes(), randomBytes(t, 32))
	if _, err := GenerateKey(bytes.NewReader(want[:31])); err == nil {
		t.Error("GenerateKey accepts a short read")
	}
	if _, err := GenerateKey(nil); err == nil {
		t.Error("GenerateKey(nil) succeeds")
	}
	a, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ab, errA := a.ECDH(b.PublicKey())
	ba, errB := b.ECDH(a.PublicKey())
	if errA != nil || errB != nil || !bytes.Equal(ab, ba) {
		t.Fatalf("shared secrets differ: %x %v, %x %v", ab, errA, ba, errB)
	}
}

func FuzzECDH(f *testing.F) {
	nine := make([]byte, 32)
	nine[0] = 9
	f.Add(nine, nine)
	f.Add(make([]byte, 32), make([]byte, 32))
	f.Add(bytes.Repeat([]byte{0xff}, 32), fieldP())
	f.Add([]byte{1}, nine)
	f.Fuzz(func(t *testing.T, scalar, peer []byte) { sameAsStdlib(t, scalar, peer) })
}

var sink []byte

func BenchmarkGenerateKey(b *testing.B) {
	for b.Loop() {
		k, err := GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		sink = k.public[:]
	}
}

func BenchmarkECDHGenerateKey(b *testing.B) {
	for b.Loop() {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		sink = k.PublicKey().Bytes()
	}
}

func BenchmarkECDH(b *testing.B) {
	k, _ := GenerateKey(rand.Reader)
	pub := randomBytes(b, 32)
	for b.Loop() {
		out, err := k.ECDH(pub)
		if err != nil {
			b.Fatal(err)
		}
		sink = out
	}
}

func BenchmarkStdlibECDH(b *testing.B) {
	k, _ := ecdh.X25519().GenerateKey(rand.Reader)
	peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
	pub := peer.PublicKey()
	for b.Loop() {
		out, err := k.ECDH(pub)
		if err != nil {
			b.Fatal(err)
		}
		sink = out
	}
}

func BenchmarkNewPrivateKeyWithPublic(b *testing.B) {
	k, _ := GenerateKey(rand.Reader)
	scalar, public := k.Bytes(), k.PublicKey()
	for b.Loop() {
		l, err := NewPrivateKeyWithPublic(scalar, public)
		if err != nil {
			b.Fatal(err)
		}
		sink = l.public[:]
	}
}
