package keylog_test

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"backchannel/devicelist"
	"backchannel/identity"
)

// realLists makes versions 1 and 2 of a real device list of name.
func realLists(t testing.TB, name string) (*devicelist.List, *devicelist.List) {
	t.Helper()
	_, ik, _ := ed25519.GenerateKey(rand.Reader)
	u, err := identity.UserFromSeed(ik.Seed())
	if err != nil {
		t.Fatal(err)
	}
	entry := func(id uint32) devicelist.Entry {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		dh, _ := ecdh.X25519().GenerateKey(rand.Reader)
		e, err := devicelist.NewEntry(name, ik.Public().(ed25519.PublicKey), id, k, dh.PublicKey().Bytes(), "device", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	l1, err := devicelist.Genesis(name, u, []devicelist.Entry{entry(1)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l2, err := devicelist.Next(l1, u, []devicelist.Entry{entry(2)}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return l1, l2
}
