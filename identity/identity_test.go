package identity

import (
	"bytes"
	"errors"
	"regexp"
	"testing"

	"backchannel/entropy"
)

func TestCertificate(t *testing.T) {
	u, _ := NewUser(entropy.System{})
	d, err := NewDevice(entropy.System{}, u, 42)
	if err != nil {
		t.Fatal(err)
	}
	enc := d.Cert.Marshal()
	if len(enc) != CertificateSize {
		t.Fatalf("certificate is %d bytes", len(enc))
	}
	c, err := ParseCertificate(enc)
	if err != nil || c.DeviceID != 42 || !bytes.Equal(c.Marshal(), enc) {
		t.Fatalf("round trip: %v", err)
	}
	for _, i := range []int{0, 33, 40, 80, 163} {
		bad := bytes.Clone(enc)
		bad[i] ^= 1
		if _, err := ParseCertificate(bad); !errors.Is(err, ErrBadCertificate) {
			t.Errorf("flip at %d: err = %v", i, err)
		}
	}
	if _, err := ParseCertificate(enc[:100]); !errors.Is(err, ErrBadCertificate) {
		t.Error("truncated certificate accepted")
	}
	r, err := RestoreDevice(d.SigningSeed(), d.DHPrivate().Bytes(), c)
	if err != nil || !bytes.Equal(r.Cert.Marshal(), enc) {
		t.Fatalf("restore: %v", err)
	}
	other, _ := NewDevice(entropy.System{}, u, 43)
	if _, err := RestoreDevice(other.SigningSeed(), d.DHPrivate().Bytes(), c); !errors.Is(err, ErrBadCertificate) {
		t.Errorf("restore with mismatched keys: err = %v", err)
	}
}

func TestSafetyNumber(t *testing.T) {
	a, _ := NewUser(entropy.System{})
	b, _ := NewUser(entropy.System{})
	ab := SafetyNumber("alice", a.Public(), "bob", b.Public())
	ba := SafetyNumber("bob", b.Public(), "alice", a.Public())
	if ab != ba {
		t.Fatal("the two sides see different safety numbers")
	}
	if !regexp.MustCompile(`^[0-9]{60}$`).MatchString(ab) {
		t.Fatalf("safety number %q is not 60 digits", ab)
	}
	c, _ := NewUser(entropy.System{})
	if SafetyNumber("alice", a.Public(), "bob", c.Public()) == ab {
		t.Fatal("a different key gives the same safety number")
	}
	f := FormatSafetyNumber(ab)
	if !regexp.MustCompile(`^(\d{5} ){3}\d{5}\n(\d{5} ){3}\d{5}\n(\d{5} ){3}\d{5}$`).MatchString(f) {
		t.Fatalf("format:\n%s", f)
	}
}
