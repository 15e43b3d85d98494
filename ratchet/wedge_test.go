package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// kemFields returns the KEM fields of a message's header.
func kemFields(t *testing.T, msg []byte) (flags byte, fields []byte) {
	t.Helper()
	h, n, err := ParseHeader(msg)
	if err != nil {
		t.Fatal(err)
	}
	if h.KEMOmitted {
		t.Fatalf("message %d omits the chain's KEM fields", h.N)
	}
	return msg[0], msg[headerFixedSize:n]
}

// Every message of a chain carries the chain's KEM fields, the same bytes
// on each, and the receiver opens the chain with whichever arrives first
// however many before it were withheld: the attack of issue 10, item 6.
func TestEveryMessageCarriesTheChainsKEMFields(t *testing.T) {
	for _, withheld := range []int{1, 4, 5, 12, 39} {
		t.Run(fmt.Sprintf("first %d withheld", withheld), func(t *testing.T) {
			a, b := freshPair(t)
			// a's first chain (EK_A) carries no KEM fields; b's reply chain
			// advertises b's first KEM key; a's next chain carries a
			// ciphertext for it and a's first KEM key.
			first, err := a.Encrypt([]byte("open"))
			if err != nil {
				t.Fatal(err)
			}
			if f, fields := kemFields(t, first); f != 0 || len(fields) != 0 {
				t.Fatalf("initiator's first chain: flags %#x, %d bytes of KEM fields", f, len(fields))
			}
			if _, err := b.Decrypt(first); err != nil {
				t.Fatal(err)
			}
			reply, _ := b.Encrypt([]byte("reply"))
			if f, fields := kemFields(t, reply); f != FlagKEMPublic || len(fields) != KEMPublicSize {
				t.Fatalf("responder's first chain: flags %#x, %d bytes of KEM fields", f, len(fields))
			}
			if _, err := a.Decrypt(reply); err != nil {
				t.Fatal(err)
			}
			var chain [][]byte
			for i := range withheld + 3 {
				m, err := a.Encrypt([]byte(fmt.Sprint("message ", i)))
				if err != nil {
					t.Fatal(err)
				}
				chain = append(chain, m)
			}
			want := FlagKEMCiphertext | FlagKEMPublic
			_, fields0 := kemFields(t, chain[0])
			for i, m := range chain {
				f, fields := kemFields(t, m)
				if f != byte(want) || !bytes.Equal(fields, fields0) {
					t.Fatalf("message %d: flags %#x, KEM fields equal to the first message's: %v", i, f, bytes.Equal(fields, fields0))
				}
				if len(fields) != KEMKeyIDSize+KEMCiphertextSz+KEMPublicSize {
					t.Fatalf("message %d: %d bytes of KEM fields", i, len(fields))
				}
			}
			// The front end withholds the first messages of the chain.
			for i := withheld; i < len(chain); i++ {
				if pt, err := b.Decrypt(chain[i]); err != nil || string(pt) != fmt.Sprint("message ", i) {
					t.Fatalf("message %d after %d withheld: %q, %v", i, withheld, pt, err)
				}
			}
			// Released late, the withheld ones decrypt once each: their
			// repeated KEM fields are authenticated and otherwise ignored.
			for i := withheld - 1; i >= 0; i-- {
				if pt, err := b.Decrypt(chain[i]); err != nil || string(pt) != fmt.Sprint("message ", i) {
					t.Fatalf("withheld message %d released: %q, %v", i, pt, err)
				}
			}
			for i, m := range chain {
				before := b.Marshal()
				if _, err := b.Decrypt(m); !errors.Is(err, ErrDuplicate) {
					t.Fatalf("repeat of message %d: err = %v, want ErrDuplicate", i, err)
				}
				if !bytes.Equal(before, b.Marshal()) {
					t.Fatalf("repeat of message %d changed the state", i)
				}
			}
			if b.Skipped() != 0 {
				t.Fatalf("%d skipped keys left", b.Skipped())
			}
		})
	}
}

// The chain's fields stop only when the peer's next chain arrives (the
// implicit acknowledgement): the next chain carries new ones.
func TestPeersNextChainEndsTheRepeats(t *testing.T) {
	a, b := freshPair(t)
	m, _ := a.Encrypt([]byte("open"))
	if _, err := b.Decrypt(m); err != nil {
		t.Fatal(err)
	}
	r, _ := b.Encrypt([]byte("r"))
	if _, err := a.Decrypt(r); err != nil {
		t.Fatal(err)
	}
	m1, _ := a.Encrypt([]byte("1"))
	m2, _ := a.Encrypt([]byte("2"))
	_, f1 := kemFields(t, m1)
	if _, f2 := kemFields(t, m2); !bytes.Equal(f1, f2) {
		t.Fatal("two messages of one chain carry different KEM fields")
	}
	if _, err := b.Decrypt(m2); err != nil {
		t.Fatal(err)
	}
	// b's reply opens b's next chain; a's chain after it has fresh fields.
	r2, _ := b.Encrypt([]byte("r2"))
	if _, err := a.Decrypt(r2); err != nil {
		t.Fatal(err)
	}
	m3, _ := a.Encrypt([]byte("3"))
	if _, f3 := kemFields(t, m3); bytes.Equal(f1, f3) {
		t.Fatal("a new chain repeats the acknowledged chain's KEM fields")
	}
	for _, m := range [][]byte{m3, m1} {
		if _, err := b.Decrypt(m); err != nil {
			t.Fatal(err)
		}
	}
}

// A state saved in the middle of a chain still holds the chain's fields, so
// the messages sent after a restart still open the chain.
func TestSavedStateKeepsTheChainsFields(t *testing.T) {
	a, b := freshPair(t)
	m0, _ := a.Encrypt([]byte("open"))
	if _, err := b.Decrypt(m0); err != nil {
		t.Fatal(err)
	}
	r, _ := b.Encrypt([]byte("reply"))
	if _, err := a.Decrypt(r); err != nil {
		t.Fatal(err)
	}
	for i := range 6 { // a's second chain, with a KEM step
		if _, err := a.Encrypt([]byte(fmt.Sprint(i))); err != nil { // all withheld
			t.Fatal(err)
		}
	}
	size := a.Size()
	a2, err := Unmarshal(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if a2.Size() != size || size < KEMPublicSize+KEMCiphertextSz {
		t.Fatalf("state sizes %d, %d: the advertised KEM key is not kept", size, a2.Size())
	}
	m, err := a2.Encrypt([]byte("after restart"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := b.Decrypt(m); err != nil || string(pt) != "after restart" {
		t.Fatalf("message 6 after a restart: %q, %v", pt, err)
	}
}

// A version 2 state loads when its layout is version 3's; one saved past
// the fourth message of a chain with KEM fields no longer holds them and is
// refused with ErrStaleState.
func TestVersion2States(t *testing.T) {
	a, _ := freshPair(t)
	v4 := a.Marshal()
	v2 := asOldVersion(v4, stateVersion2, len(a.ad))
	s, err := Unmarshal(v2)
	if err != nil {
		t.Fatalf("version 2 state at the start of a chain: %v", err)
	}
	if got := s.Marshal(); !bytes.Equal(got, v4) {
		t.Fatal("a version 2 state does not re-encode as the same version 4 state")
	}
	for range legacyKEMRepeat {
		if _, err := a.Encrypt([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Rebuild what version 2 stored after four messages: no KEM public key.
	old := *a
	old.kemPub, old.sendPub, old.sendKEM = nil, false, false
	raw := asOldVersion(old.Marshal(), stateVersion2, len(a.ad))
	flagsAt := 1 + 2 + len(a.ad) + 3*32
	raw[flagsAt] |= stSendPub | stSendKEM
	if _, err := Unmarshal(raw); !errors.Is(err, ErrStaleState) || !errors.Is(err, ErrBadState) {
		t.Fatalf("version 2 state past the fourth message: err = %v, want ErrStaleState", err)
	}
}

// A message from an earlier release that omits the chain's KEM fields and
// opens a chain still waits for an earlier one.
func TestLegacyOmittedOpenerWaits(t *testing.T) {
	_, b := freshPair(t)
	h := Header{DH: bytes.Repeat([]byte{9}, 32), N: 5, KEMOmitted: true}
	msg := append(h.Marshal(nil), make([]byte, NonceSize+TagSize+3)...)
	before := b.Marshal()
	if _, err := b.Decrypt(msg); !errors.Is(err, ErrEarlierNeeded) {
		t.Fatalf("err = %v, want ErrEarlierNeeded", err)
	}
	if !bytes.Equal(before, b.Marshal()) {
		t.Fatal("state changed")
	}
}

// asOldVersion turns a version 4 state into the same state in the layout of
// version 2 or 3, which lack the second flags byte.
func asOldVersion(v4 []byte, version byte, adLen int) []byte {
	at := 1 + 2 + adLen + 3*32 + 1 // the second flags byte
	out := append([]byte{version}, v4[1:at]...)
	return append(out, v4[at+1:]...)
}
