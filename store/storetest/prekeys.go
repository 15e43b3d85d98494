package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"backchannel/store"
)

func prekeys(first, n int, prefix string) []store.Prekey {
	out := make([]store.Prekey, n)
	for i := range out {
		out[i] = pk(uint32(first+i), fmt.Sprint(prefix, first+i))
	}
	return out
}

// testPrekeyCap: the pools never exceed MaxOneTime; an upload that would is
// refused whole, saying what is stored.
func testPrekeyCap(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := newUser(t, s, "alice")
	const max = 10
	spk := pk(1, "spk")
	c, err := s.PutPrekeys(ctx, alice, store.PrekeyUpload{SignedPrekey: &spk,
		OneTimePrekeys: prekeys(100, 8, "otk"), OneTimeKEMPrekeys: prekeys(200, max, "kem"), MaxOneTime: max})
	must(t, err)
	if c != (store.PrekeyCounts{OneTime: 8, OneTimeKEM: max}) {
		t.Fatalf("counts = %+v", c)
	}
	cases := []struct {
		name string
		up   store.PrekeyUpload
		ok   bool
		want store.PrekeyCounts // counts afterwards
	}{
		{"one X25519 too many", store.PrekeyUpload{OneTimePrekeys: prekeys(108, 3, "otk")}, false, store.PrekeyCounts{OneTime: 8, OneTimeKEM: max}},
		{"one KEM too many, with a new signed prekey", store.PrekeyUpload{SignedPrekey: &store.Prekey{ID: 2, Data: []byte("spk2")}, OneTimeKEMPrekeys: prekeys(210, 1, "kem")}, false, store.PrekeyCounts{OneTime: 8, OneTimeKEM: max}},
		{"up to the cap", store.PrekeyUpload{OneTimePrekeys: prekeys(108, 2, "otk")}, true, store.PrekeyCounts{OneTime: max, OneTimeKEM: max}},
		{"same ids replace, no growth", store.PrekeyUpload{OneTimePrekeys: prekeys(100, 5, "new")}, true, store.PrekeyCounts{OneTime: max, OneTimeKEM: max}},
		{"too many in one upload", store.PrekeyUpload{OneTimePrekeys: prekeys(500, max+1, "otk"), ReplaceOneTime: true}, false, store.PrekeyCounts{OneTime: max, OneTimeKEM: max}},
		{"replace both pools", store.PrekeyUpload{OneTimePrekeys: prekeys(300, 4, "r"), ReplaceOneTime: true}, true, store.PrekeyCounts{OneTime: 4, OneTimeKEM: 0}},
		{"replace with nothing", store.PrekeyUpload{ReplaceOneTime: true}, true, store.PrekeyCounts{}},
		{"refill to the cap", store.PrekeyUpload{OneTimePrekeys: prekeys(400, max, "f"), OneTimeKEMPrekeys: prekeys(600, max, "g")}, true, store.PrekeyCounts{OneTime: max, OneTimeKEM: max}},
	}
	for _, tc := range cases {
		tc.up.MaxOneTime = max
		before, err := s.PrekeyCounts(ctx, alice)
		must(t, err)
		c, err := s.PutPrekeys(ctx, alice, tc.up)
		if tc.ok {
			if err != nil || c != tc.want {
				t.Fatalf("%s: %+v, %v; want %+v", tc.name, c, err, tc.want)
			}
		} else {
			var le *store.PrekeyLimitError
			if !errors.Is(err, store.ErrPrekeyLimit) || !errors.As(err, &le) || le.Stored != before || le.Max != max {
				t.Fatalf("%s: got %v, want a limit error reporting %+v", tc.name, err, before)
			}
		}
		after, err := s.PrekeyCounts(ctx, alice)
		must(t, err)
		if after != tc.want {
			t.Fatalf("%s: counts afterwards %+v, want %+v", tc.name, after, tc.want)
		}
	}
	// Nothing of a refused upload was applied: not even its signed prekey.
	b, err := s.TakeBundle(ctx, alice)
	must(t, err)
	if b.SignedPrekey.ID != 1 {
		t.Fatalf("refused upload replaced the signed prekey: %+v", b.SignedPrekey)
	}
	// The replaced keys are gone: the bundle hands out only the refill.
	if b.OneTimePrekey == nil || b.OneTimePrekey.ID < 400 || b.OneTimePrekey.ID >= 400+max {
		t.Fatalf("bundle one-time prekey %+v, want one of the refill", b.OneTimePrekey)
	}
	// Replace touches only the uploading device.
	two := store.Address{User: "alice", Device: 2}
	must(t, s.AddDevice(ctx, store.Device{User: "alice", ID: 2, SigningKey: []byte("k2"), CreatedAt: epoch}))
	_, err = s.PutPrekeys(ctx, two, store.PrekeyUpload{OneTimePrekeys: prekeys(1, 3, "d2")})
	must(t, err)
	_, err = s.PutPrekeys(ctx, alice, store.PrekeyUpload{ReplaceOneTime: true})
	must(t, err)
	if c, _ := s.PrekeyCounts(ctx, two); c.OneTime != 3 {
		t.Fatalf("replace on device 1 changed device 2: %+v", c)
	}
}
