package ratchet

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"
)

func TestHMACShortMatchesCryptoHMAC(t *testing.T) {
	for _, keyLen := range []int{0, 1, 32, 64} {
		key := bytes.Repeat([]byte{0x5A}, keyLen)
		for _, parts := range [][3][]byte{
			{nil, nil, nil},
			{[]byte(MessageKeysInfo), {1}, nil},
			{bytes.Repeat([]byte{9}, 32), []byte(MessageKeysInfo), {2}},
			{bytes.Repeat([]byte{7}, 64), nil, nil},
		} {
			var got [32]byte
			hmacShort(&got, key, parts[0], parts[1], parts[2])
			m := hmac.New(sha256.New, key)
			m.Write(bytes.Join(parts[:], nil))
			if want := m.Sum(nil); !bytes.Equal(got[:], want) {
				t.Errorf("key %d bytes, message %d bytes: got %x, want %x", keyLen, len(bytes.Join(parts[:], nil)), got, want)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a message longer than a block was accepted")
		}
	}()
	var out [32]byte
	hmacShort(&out, nil, make([]byte, 60), make([]byte, 5), nil)
}

func TestMessageKeysAreHKDFExpand(t *testing.T) {
	mk := bytes.Repeat([]byte{0x42}, KeySize)
	want, err := hkdf.Expand(sha256.New, mk, MessageKeysInfo, 64)
	if err != nil {
		t.Fatal(err)
	}
	enc, nk := messageKeys(mk)
	if !bytes.Equal(enc[:], want[:32]) || !bytes.Equal(nk[:], want[32:]) {
		t.Fatalf("messageKeys = %x || %x, want %x", enc, nk, want)
	}
}

func TestNonceIsTruncatedHMAC(t *testing.T) {
	var m nonceMAC
	nk := [32]byte{1, 2, 3}
	for _, n := range []int{0, 1, 100, 5000} { // the state is reused between calls
		header, pt := bytes.Repeat([]byte{0xA1}, 41), bytes.Repeat([]byte{byte(n)}, n)
		got := m.nonce(&nk, header, pt)
		h := hmac.New(sha256.New, nk[:])
		h.Write(header)
		h.Write(pt)
		if want := h.Sum(nil)[:NonceSize]; !bytes.Equal(got[:], want) {
			t.Fatalf("plaintext %d bytes: nonce %x, want %x", n, got, want)
		}
	}
}

func TestTamperedOrForeignNonceRefused(t *testing.T) {
	a, b := pairStates(t)
	msg, err := a.Encrypt([]byte("a message whose nonce is altered"))
	if err != nil {
		t.Fatal(err)
	}
	_, hlen, _ := ParseHeader(msg)
	for i := hlen; i < hlen+NonceSize; i++ {
		bad := bytes.Clone(msg)
		bad[i] ^= 0x01
		before := b.Marshal()
		if _, err := b.Decrypt(bad); !errors.Is(err, ErrAuth) {
			t.Fatalf("nonce byte %d flipped: err = %v, want ErrAuth", i-hlen, err)
		}
		if !bytes.Equal(before, b.Marshal()) {
			t.Fatal("a refused message changed the state")
		}
	}
	// A sender that seals correctly under the right key but with a nonce of
	// its own choosing (here the old fixed zero nonce) is refused: the nonce
	// must be the synthetic one.
	_, mk := kdfChain(a.cks)
	h := Header{DH: a.dhsP, PN: a.pn, N: a.ns}
	forged := h.Marshal(nil)
	enc, _ := messageKeys(mk)
	aead, _ := messageAEAD(enc[:])
	zero := make([]byte, NonceSize)
	forged = aead.Seal(append(forged, zero...), zero, []byte("fixed nonce"), append(bytes.Clone(a.ad), forged...))
	if _, err := b.Decrypt(forged); !errors.Is(err, ErrAuth) {
		t.Fatalf("a message with a non-synthetic nonce: err = %v, want ErrAuth", err)
	}
	// The genuine message still opens.
	if pt, err := b.Decrypt(msg); err != nil || string(pt) != "a message whose nonce is altered" {
		t.Fatalf("genuine message: %q %v", pt, err)
	}
	// Too short to hold a nonce and a tag.
	if _, err := b.Decrypt(msg[:hlen+NonceSize+TagSize-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated body: err = %v, want ErrMalformed", err)
	}
}

// pairStates returns an initiator a and a responder b that has received a
// first message, so a keeps sending in its chain.
func pairStates(t testing.TB) (*State, *State) {
	t.Helper()
	a, b := freshPair(t)
	m, err := a.Encrypt([]byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(m); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// BenchmarkMessage1KiB: one op seals 1 KiB in a chain and opens it on the
// other side, in memory (no DH or KEM step).
func BenchmarkMessage1KiB(b *testing.B) {
	x, y := pairStates(b)
	pt := make([]byte, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		m, err := x.Encrypt(pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := y.Decrypt(m); err != nil {
			b.Fatal(err)
		}
	}
}
