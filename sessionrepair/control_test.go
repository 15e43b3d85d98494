package sessionrepair

import (
	"bytes"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	good := Encode(Control{Kind: KindReset, Reason: Undecryptable, Failed: 3, Resend: true, Sent: 2})
	cases := []struct {
		name    string
		in      []byte
		isCtl   bool
		wantErr bool
	}{
		{"a room payload", []byte(`{"v":1,"kind":"text"}`), false, false},
		{"empty", nil, false, false},
		{"a reset", good, true, false},
		{"a reset for unacknowledged", Encode(Control{Kind: KindReset, Reason: Unacknowledged, Sent: MaxResend + 1}), true, false},
		{"an answer", Encode(Control{Kind: KindResent, Sent: 4, Lost: 1}), true, false},
		{"unknown kind", Encode(Control{Kind: "wipe"}), true, true},
		{"reset without reason", Encode(Control{Kind: KindReset}), true, true},
		{"reset for an unknown reason", Encode(Control{Kind: KindReset, Reason: "bored"}), true, true},
		{"answer with a reason", Encode(Control{Kind: KindResent, Reason: Undecryptable}), true, true},
		{"answer asking again", Encode(Control{Kind: KindResent, Resend: true}), true, true},
		{"negative sent", Encode(Control{Kind: KindResent, Sent: -1}), true, true},
		{"negative failed", Encode(Control{Kind: KindReset, Reason: Undecryptable, Failed: -1}), true, true},
		{"negative lost", Encode(Control{Kind: KindResent, Lost: -1}), true, true},
		{"too many resent", Encode(Control{Kind: KindResent, Sent: MaxResend + 2}), true, true},
		{"unknown field", append([]byte(ControlPrefix), `{"kind":"resent","sent":0,"x":1}`...), true, true},
		{"trailing bytes", append(bytes.Clone(good), '}'), true, true},
		{"oversized", append([]byte(ControlPrefix), bytes.Repeat([]byte(" "), MaxControl)...), true, true},
		{"prefix only", []byte(ControlPrefix), true, true},
		{"prefix, one byte less", []byte(ControlPrefix[:len(ControlPrefix)-1]), false, false},
	}
	for _, c := range cases {
		ctl, isCtl, err := Parse(c.in)
		if isCtl != c.isCtl || (err != nil) != c.wantErr || (err == nil && isCtl && ctl == nil) {
			t.Errorf("%s: control %v, err %v", c.name, isCtl, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v does not match ErrMalformed", c.name, err)
		}
	}
}

func TestParseKeepsTheFields(t *testing.T) {
	want := Control{Kind: KindReset, Reason: Undecryptable, Failed: 3, Resend: true, Sent: 2, Lost: 5}
	got, ok, err := Parse(Encode(want))
	if !ok || err != nil || *got != want {
		t.Fatalf("Parse(Encode(%+v)) = %+v, %v, %v", want, got, ok, err)
	}
}

// TestWireForm: the bytes are those of docs/protocol.md section 8.
func TestWireForm(t *testing.T) {
	if ControlPrefix != "\xff"+"backchannel session control v1"+"\x0a" {
		t.Fatalf("prefix %q", ControlPrefix)
	}
	got := string(Encode(Control{Kind: KindResent, Sent: 2, Lost: 1}))
	if want := ControlPrefix + `{"kind":"resent","sent":2,"lost":1}`; got != want {
		t.Fatalf("encoded %q, want %q", got, want)
	}
}

func TestIsReset(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want bool
	}{
		{"a reset", Encode(Control{Kind: KindReset, Reason: Unacknowledged}), true},
		{"an answer", Encode(Control{Kind: KindResent}), false},
		{"a malformed reset", Encode(Control{Kind: KindReset}), false},
		{"a room payload", []byte(`{"kind":"reset"}`), false},
	}
	for _, c := range cases {
		if got := IsReset(c.in); got != c.want {
			t.Errorf("%s: IsReset %v, want %v", c.name, got, c.want)
		}
	}
}

// FuzzParse: the session control decoder never panics, never claims a room
// payload (JSON) as control, never accepts more than MaxControl bytes, and
// what it accepts re-encodes to a message it accepts the same way.
func FuzzParse(f *testing.F) {
	f.Add(Encode(Control{Kind: KindReset, Reason: Unacknowledged, Sent: 3}))
	f.Add(Encode(Control{Kind: KindResent}))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(ControlPrefix))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctl, isCtl, err := Parse(b)
		if len(b) > 0 && b[0] == '{' && isCtl {
			t.Fatal("a JSON payload taken for a control message")
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not match ErrMalformed", err)
		}
		if err != nil || !isCtl {
			return
		}
		if len(b) > MaxControl {
			t.Fatalf("accepted %d bytes", len(b))
		}
		again, ok, err := Parse(Encode(*ctl))
		if !ok || err != nil || *again != *ctl {
			t.Fatalf("accepted control %+v does not re-encode: %v", ctl, err)
		}
	})
}
