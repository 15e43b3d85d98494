package devicelink

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"backchannel/entropy"
	"backchannel/entropy/entropytest"
)

func TestCodeRoundTrip(t *testing.T) {
	for _, server := range []string{"http://127.0.0.1:7450", testServer, "https://chat.example.org/backchannel/", "https://" + strings.Repeat("a", MaxServerLen-8)} {
		c, err := NewCode(entropy.System{}, server)
		if err != nil {
			t.Fatalf("%s: %v", server, err)
		}
		s := c.String()
		if !strings.HasPrefix(s, CodePrefix) {
			t.Fatalf("code %q lacks the prefix", s)
		}
		got, err := ParseCode(s)
		if err != nil {
			t.Fatalf("ParseCode(%q): %v", s, err)
		}
		if got != c || got.Server() != server || len(got.LinkID()) != LinkIDSize || len(got.ID()) != 2*LinkIDSize {
			t.Fatalf("round trip changed the code: %+v", got)
		}
		// Pasted with line breaks and surrounding spaces.
		wrapped := "  " + s[:20] + "\n" + s[20:40] + " \r\n" + s[40:] + "\n"
		if got, err := ParseCode(wrapped); err != nil || got != c {
			t.Fatalf("wrapped code: %v", err)
		}
	}
}

func TestCodeLayout(t *testing.T) {
	src := entropytest.New("code layout")
	c, err := NewCode(src, "http://h")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(c.String(), CodePrefix))
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] != 1 || binary.BigEndian.Uint16(raw[1:3]) != 8 || string(raw[3:11]) != "http://h" ||
		string(raw[11:27]) != string(c.id[:]) || string(raw[27:]) != string(c.secret[:]) || len(raw) != 59 {
		t.Fatalf("layout: %x", raw)
	}
}

func encodeRaw(b []byte) string { return CodePrefix + base64.RawURLEncoding.EncodeToString(b) }

func TestParseCodeErrors(t *testing.T) {
	good, err := NewCode(entropy.System{}, testServer)
	if err != nil {
		t.Fatal(err)
	}
	s := good.String()
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, CodePrefix))
	withVersion := func(v byte) string { b := append([]byte(nil), raw...); b[0] = v; return encodeRaw(b) }
	withLen := func(n uint16) string {
		b := append([]byte(nil), raw...)
		binary.BigEndian.PutUint16(b[1:3], n)
		return encodeRaw(b)
	}
	serverCode := func(server string) string {
		b := []byte{1, 0, 0}
		binary.BigEndian.PutUint16(b[1:3], uint16(len(server)))
		b = append(b, server...)
		return encodeRaw(append(b, make([]byte, LinkIDSize+SecretSize)...))
	}
	for _, tc := range []struct {
		name, in, want string // want: a phrase of the message
		is             error
	}{
		{"empty", "", "does not start", ErrNotCode},
		{"an invite instead", "bci_abcdef", "does not start", ErrNotCode},
		{"upper case", strings.ToUpper(s[:5]) + s[5:], "case-sensitive", ErrBadCode},
		{"bad character", s[:30] + "+" + s[31:], "character 31", ErrBadCode},
		{"bad character dot", s[:12] + "." + s[13:], "character 13", ErrBadCode},
		{"one char missing at the end", s[:len(s)-1], "", ErrBadCode},
		{"half missing", s[:len(s)/2], "short", ErrBadCode},
		{"prefix only", CodePrefix, "empty", ErrBadCode},
		{"extra characters", s + "AAAA", "too many", ErrBadCode},
		{"newer version", withVersion(2), "newer version", ErrCodeVersion},
		{"length mistyped", withLen(600), "server URL", ErrBadCode},
		{"length too short", withLen(3), "", ErrBadCode},
		{"not a URL scheme", serverCode("ftp://example.org"), "not an http", ErrBadCode},
		{"no host", serverCode("https://"), "not an http", ErrBadCode},
		{"user info", serverCode("https://u:p@example.org"), "not an http", ErrBadCode},
		{"way too long", CodePrefix + strings.Repeat("A", maxCodeLen), "longer than any", ErrBadCode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCode(tc.in)
			if !errors.Is(err, tc.is) || !errors.Is(err, ErrBadCode) {
				t.Fatalf("got %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestNewCodeRefusesBadServers(t *testing.T) {
	for _, s := range []string{"", "example.org", "ws://example.org", "https://" + strings.Repeat("a", MaxServerLen)} {
		if _, err := NewCode(entropy.System{}, s); !errors.Is(err, ErrBadCode) {
			t.Errorf("NewCode(%q): %v", s, err)
		}
	}
}

func FuzzParseCode(f *testing.F) {
	c, _ := NewCode(entropytest.New("fuzz code"), testServer)
	f.Add(c.String())
	f.Add(CodePrefix)
	f.Add(CodePrefix + "AQAI")
	f.Add("bcl1-AQAIaHR0cDovL2g" + strings.Repeat("A", 64))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			if !errors.Is(err, ErrBadCode) {
				t.Fatalf("error %v does not wrap ErrBadCode", err)
			}
			return
		}
		again, err := ParseCode(c.String())
		if err != nil || again != c {
			t.Fatalf("a parsed code does not round-trip: %v", err)
		}
	})
}
