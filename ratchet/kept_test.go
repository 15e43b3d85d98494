package ratchet

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"backchannel/entropy/entropytest"
)

// The client keeps a session's state in memory from one message to the
// next (vault.PutObject); before, it decoded the state from its record for
// every message. A kept state must behave exactly like one reloaded before
// every step: same ciphertexts, same plaintexts, same errors, the same
// serialisation, with sends, out-of-order, duplicate and tampered
// deliveries, and KEM steps; and a failed Decrypt leaves it unchanged.
func TestKeptStateBehavesLikeReloaded(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 99))
			a, b := freshPair(t)
			live := [2]*State{a, b}
			var inflight [2][][]byte
			opened := 0
			for step := range 400 {
				who := r.IntN(2)
				st := live[who]
				reloaded, err := Unmarshal(st.Marshal())
				if err != nil {
					t.Fatal(err)
				}
				label := fmt.Sprintf("%d/%d", seed, step)
				st.Source(entropytest.New(label))
				reloaded.Source(entropytest.New(label))
				before := st.Marshal()
				if r.IntN(10) < 4 {
					m1, e1 := st.Encrypt([]byte(label))
					m2, e2 := reloaded.Encrypt([]byte(label))
					if (e1 == nil) != (e2 == nil) || !bytes.Equal(m1, m2) {
						t.Fatalf("step %d: Encrypt differs: %v, %v", step, e1, e2)
					}
					if e1 == nil {
						inflight[1-who] = append(inflight[1-who], m1)
					}
				} else {
					q := inflight[who]
					if len(q) == 0 {
						continue
					}
					i := r.IntN(len(q))
					m := bytes.Clone(q[i])
					switch {
					case r.IntN(5) == 0:
						m[r.IntN(len(m))] ^= 1 << r.IntN(8) // tampered; stays in flight
					case r.IntN(3) > 0:
						inflight[who] = append(q[:i:i], q[i+1:]...)
					} // else delivered and kept in flight: a duplicate later
					pt1, e1 := st.Decrypt(m)
					pt2, e2 := reloaded.Decrypt(m)
					if (e1 == nil) != (e2 == nil) || !bytes.Equal(pt1, pt2) {
						t.Fatalf("step %d: Decrypt differs: %v, %v", step, e1, e2)
					}
					if e1 == nil {
						opened++
					} else if !bytes.Equal(before, st.Marshal()) {
						t.Fatalf("step %d: a failed Decrypt (%v) changed the state", step, e1)
					}
				}
				if !bytes.Equal(st.Marshal(), reloaded.Marshal()) {
					t.Fatalf("step %d: the kept and the reloaded state diverge", step)
				}
			}
			if opened < 50 {
				t.Fatalf("only %d messages opened: the run exercises too little", opened)
			}
		})
	}
}

// A state kept in memory holds no key it has finished with, not even past
// the end of a slice: a chain key left in the spare capacity of the root
// key (both were once halves of one array) re-derived every message key of
// its chain, messages already read included.
func TestKeptStateHoldsNoSpentKeys(t *testing.T) {
	a, b := freshPair(t)
	exchange := func(from, to *State, n int) {
		t.Helper()
		for i := range n {
			m, err := from.Encrypt([]byte(fmt.Sprint("message ", i)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := to.Decrypt(m); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(when string, s *State) {
		t.Helper()
		for name, k := range map[string][]byte{"root key": s.rk, "sending chain key": s.cks, "receiving chain key": s.ckr} {
			if spare := k[len(k):cap(k)]; !bytes.Equal(spare, make([]byte, len(spare))) {
				t.Fatalf("%s: the %s has %d bytes of key material past its end", when, name, len(spare))
			}
		}
	}
	for turn := range 2 * KEMInterval {
		exchange(a, b, 5)
		check(fmt.Sprint("turn ", turn, ", receiver"), b)
		check(fmt.Sprint("turn ", turn, ", sender"), a)
		a, b = b, a
	}
	// Skipped keys are deleted when used, and cleared.
	var held [][]byte
	for range 3 {
		m, _ := a.Encrypt([]byte("late"))
		held = append(held, m)
	}
	exchange(a, b, 1)
	var keys [][]byte
	for _, mk := range b.skipped {
		keys = append(keys, mk)
	}
	if len(keys) != 3 {
		t.Fatalf("%d skipped keys stored, want 3", len(keys))
	}
	for _, m := range held {
		if _, err := b.Decrypt(m); err != nil {
			t.Fatal(err)
		}
	}
	for _, mk := range keys {
		if !bytes.Equal(mk, make([]byte, len(mk))) {
			t.Fatal("a skipped message key was deleted but not cleared")
		}
	}
}
