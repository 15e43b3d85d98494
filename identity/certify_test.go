package identity

import (
	"bytes"
	"errors"
	"testing"

	"backchannel/entropy"
)

func TestCertifyLinkedDevice(t *testing.T) {
	user, err := NewUser(entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewDeviceKeys(entropy.System{})
	if err != nil {
		t.Fatal(err)
	}
	// The primary sees only the public halves.
	cert, err := Certify(user, 7, keys.SigningPublic(), keys.DHPublic())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseCertificate(cert.Marshal())
	if err != nil {
		t.Fatalf("certificate from Certify does not verify: %v", err)
	}
	if parsed.DeviceID != 7 || !bytes.Equal(parsed.UserKey, user.Public()) {
		t.Fatalf("certificate names device %d of %x", parsed.DeviceID, parsed.UserKey)
	}
	d, err := RestoreDevice(keys.SigningSeed(), keys.DHPrivate().Bytes(), parsed)
	if err != nil {
		t.Fatalf("RestoreDevice with the linked keys: %v", err)
	}
	if !bytes.Equal(d.SigningKey(), keys.SigningKey()) || !bytes.Equal(d.DHPrivate().Bytes(), keys.DHPrivate().Bytes()) {
		t.Fatal("restored device has other keys")
	}
	if d2, err := keys.Device(parsed); err != nil || d2.ID != 7 {
		t.Fatalf("DeviceKeys.Device: %v", err)
	}
	again, err := RestoreDeviceKeys(keys.SigningSeed(), keys.DHPrivate().Bytes())
	if err != nil || !bytes.Equal(again.DHPublic(), keys.DHPublic()) || !again.SigningPublic().Equal(keys.SigningPublic()) {
		t.Fatalf("RestoreDeviceKeys: %v", err)
	}
}

func TestCertifyOtherKeysFail(t *testing.T) {
	user, _ := NewUser(entropy.System{})
	other, _ := NewUser(entropy.System{})
	keys, _ := NewDeviceKeys(entropy.System{})
	stranger, _ := NewDeviceKeys(entropy.System{})

	cases := []struct {
		name string
		cert func() Certificate
	}{
		{"certificate over another device's keys", func() Certificate {
			c, _ := Certify(user, 7, stranger.SigningPublic(), stranger.DHPublic())
			return c
		}},
		{"another device's signing key only", func() Certificate {
			c, _ := Certify(user, 7, stranger.SigningPublic(), keys.DHPublic())
			return c
		}},
		{"another device's DH key only", func() Certificate {
			c, _ := Certify(user, 7, keys.SigningPublic(), stranger.DHPublic())
			return c
		}},
		{"signature by another user", func() Certificate {
			c, _ := Certify(other, 7, keys.SigningPublic(), keys.DHPublic())
			c.UserKey = user.Public()
			return c
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := keys.Device(tc.cert()); !errors.Is(err, ErrBadCertificate) {
				t.Fatalf("accepted (err = %v)", err)
			}
		})
	}
	// RestoreDevice alone (no signature check) still refuses other keys.
	c, _ := Certify(user, 7, stranger.SigningPublic(), stranger.DHPublic())
	if _, err := RestoreDevice(keys.SigningSeed(), keys.DHPrivate().Bytes(), c); !errors.Is(err, ErrBadCertificate) {
		t.Fatalf("RestoreDevice accepted a certificate over other keys: %v", err)
	}
}

func TestCertifyRefusesBadInput(t *testing.T) {
	user, _ := NewUser(entropy.System{})
	keys, _ := NewDeviceKeys(entropy.System{})
	for _, tc := range []struct {
		name   string
		user   *User
		ds, dh []byte
	}{
		{"no user", nil, keys.SigningPublic(), keys.DHPublic()},
		{"short signing key", user, keys.SigningPublic()[:31], keys.DHPublic()},
		{"short DH key", user, keys.SigningPublic(), keys.DHPublic()[:31]},
		{"long DH key", user, keys.SigningPublic(), append(keys.DHPublic(), 0)},
	} {
		if _, err := Certify(tc.user, 1, tc.ds, tc.dh); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := RestoreDeviceKeys(make([]byte, 31), keys.DHPrivate().Bytes()); err == nil {
		t.Error("RestoreDeviceKeys accepted a short seed")
	}
}
