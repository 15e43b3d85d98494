package envelope

import (
	"bytes"
	"errors"
	"testing"
)

func validMessage() []byte {
	m := make([]byte, 41+12+16)
	return append([]byte{Version, TypeMessage}, m...)
}

func TestParseStrictness(t *testing.T) {
	good := validMessage()
	if _, err := Parse(good); err != nil {
		t.Fatalf("valid envelope refused: %v", err)
	}
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"one byte", []byte{Version}, ErrMalformed},
		{"future version", append([]byte{Version + 1}, good[1:]...), ErrVersion},
		{"version 1 (fixed nonce)", append([]byte{1}, good[1:]...), ErrVersion},
		{"unknown type", append([]byte{Version, 9}, good[2:]...), ErrMalformed},
		{"short header", good[:20], ErrMalformed},
		{"prekey truncated", append([]byte{Version, TypePrekey}, make([]byte, 100)...), ErrMalformed},
		{"oversized", make([]byte, MaxSize+1), ErrTooLarge},
	}
	for _, c := range cases {
		if _, err := Parse(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

// FuzzParse: never panics; what it accepts re-encodes to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add(validMessage())
	f.Add(append([]byte{Version, TypePrekey}, make([]byte, 1400)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			return
		}
		if got := e.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("accepted envelope does not round-trip")
		}
	})
}
