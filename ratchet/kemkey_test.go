package ratchet

import (
	"bytes"
	"crypto/mlkem"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"testing"
)

// validKEMKey accepts exactly what mlkem.NewEncapsulationKey768 accepts:
// genuine keys, genuine keys with one coefficient raised to q or above
// (refused), to q−1 (accepted), and random bytes of every size.
func TestValidKEMKey(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	same := func(name string, ek []byte) {
		t.Helper()
		_, err := mlkem.NewEncapsulationKey768(ek)
		if got, want := validKEMKey(ek), err == nil; got != want {
			t.Fatalf("%s: validKEMKey = %v, crypto/mlkem accepts it: %v", name, got, want)
		}
	}
	setCoeff := func(ek []byte, j int, v uint16) {
		i := j / 2 * 3
		if j%2 == 0 {
			ek[i], ek[i+1] = byte(v), ek[i+1]&0xf0|byte(v>>8)
		} else {
			ek[i+1], ek[i+2] = ek[i+1]&0x0f|byte(v<<4), byte(v>>4)
		}
	}
	accepted, refused := 0, 0
	for n := range 200 {
		dk, err := mlkem.GenerateKey768()
		if err != nil {
			t.Fatal(err)
		}
		ek := dk.EncapsulationKey().Bytes()
		same("genuine", ek)
		j := r.IntN(768)
		for _, v := range []uint16{mlkemQ - 1, mlkemQ, mlkemQ + 1 + uint16(r.IntN(4096-mlkemQ-1)), 4095} {
			bad := append([]byte(nil), ek...)
			setCoeff(bad, j, v)
			same("one coefficient changed", bad)
			if validKEMKey(bad) {
				accepted++
			} else {
				refused++
			}
		}
		junk := make([]byte, r.IntN(2*mlkem.EncapsulationKeySize768))
		if n%4 == 0 {
			junk = make([]byte, mlkem.EncapsulationKeySize768)
		}
		rand.Read(junk)
		same("random bytes", junk)
	}
	if accepted == 0 || refused == 0 {
		t.Fatalf("the cases did not cover both answers: %d accepted, %d refused", accepted, refused)
	}
}

// A patched peer advertises an encapsulation key that fails the modulus
// check: the receiver refuses the message (it authenticates, so only the
// peer could have sent it) and its state is unchanged.
func TestMalformedAdvertisedKEMKeyIsRefused(t *testing.T) {
	a, b := freshPair(t)
	m, _ := a.Encrypt([]byte("open"))
	if _, err := b.Decrypt(m); err != nil {
		t.Fatal(err)
	}
	r, _ := b.Encrypt([]byte("reply")) // a's next chain is a KEM step
	if _, err := a.Decrypt(r); err != nil {
		t.Fatal(err)
	}
	if err := a.sendingStep(); err != nil {
		t.Fatal(err)
	}
	a.kemPub = append([]byte(nil), a.kemPub...)
	a.kemPub[0], a.kemPub[1] = 0xff, a.kemPub[1]|0x0f // coefficient 0 = 4095
	bad, err := a.Encrypt([]byte("bad key"))
	if err != nil {
		t.Fatal(err)
	}
	before := b.Marshal()
	if _, err := b.Decrypt(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	if !bytes.Equal(before, b.Marshal()) {
		t.Fatal("the refused message changed the state")
	}
}
