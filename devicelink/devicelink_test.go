package devicelink

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"regexp"
	"strings"
	"testing"

	"backchannel/entropy"
	"backchannel/entropy/entropytest"
	"backchannel/x25519"
)

const testServer = "https://relay.example.org:7450"

type newDevice struct {
	keys JoinKeys
	dh   *x25519.PrivateKey
}

func makeDevice(t testing.TB, src entropy.Source) newDevice {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	if err := src.Bytes(seed); err != nil {
		t.Fatal(err)
	}
	dh, err := src.X25519()
	if err != nil {
		t.Fatal(err)
	}
	return newDevice{keys: JoinKeys{SigningKey: ed25519.NewKeyFromSeed(seed), DHPublic: dh.PublicKey()}, dh: dh}
}

func mustCode(t testing.TB, src entropy.Source) Code {
	t.Helper()
	c, err := NewCode(src, testServer)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var sasFormat = regexp.MustCompile(`^[0-9]{4} [0-9]{4} [0-9]{4}$`)

// run performs a whole link between a primary and a joiner that both hold
// code, and returns what each side saw.
type linkRun struct {
	primary            *Primary
	joiner             *Joiner
	hello, req         []byte
	sasP, sasJ         string
	got                Request
	resp, payloadAtNew []byte
}

func fullRun(t *testing.T, src entropy.Source, code Code, dev newDevice, name string, payload []byte) linkRun {
	t.Helper()
	var r linkRun
	var err error
	r.primary, r.hello, err = NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	wire, err := ParseCode(code.String()) // the new device types the code
	if err != nil {
		t.Fatal(err)
	}
	r.joiner, r.req, r.sasJ, err = NewJoiner(src, wire, r.hello, name, dev.keys)
	if err != nil {
		t.Fatal(err)
	}
	r.got, r.sasP, err = r.primary.OpenRequest(r.req)
	if err != nil {
		t.Fatalf("OpenRequest: %v", err)
	}
	r.resp, err = r.primary.SealResponse(payload)
	if err != nil {
		t.Fatalf("SealResponse: %v", err)
	}
	r.payloadAtNew, err = r.joiner.OpenResponse(r.resp)
	if err != nil {
		t.Fatalf("OpenResponse: %v", err)
	}
	return r
}

func TestFullLink(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     entropy.Source
		devName string
		payload []byte
	}{
		{"system entropy", entropy.System{}, "laptop", []byte("account alice, rooms, transcripts…")},
		{"deterministic", entropytest.New("devicelink full"), "Alice’s phone 📱", bytes.Repeat([]byte{7}, 100_000)},
		{"empty payload", entropy.System{}, "x", nil},
		{"longest name", entropy.System{}, strings.Repeat("n", MaxNameLen), []byte{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := mustCode(t, tc.src)
			dev := makeDevice(t, tc.src)
			r := fullRun(t, tc.src, code, dev, tc.devName, tc.payload)
			if r.sasP != r.sasJ {
				t.Fatalf("SAS differ: primary %q, joiner %q", r.sasP, r.sasJ)
			}
			if !sasFormat.MatchString(r.sasP) {
				t.Fatalf("SAS %q is not 12 digits in three groups", r.sasP)
			}
			if r.got.Name != tc.devName || !bytes.Equal(r.got.SigningKey, dev.keys.SigningKey.Public().(ed25519.PublicKey)) || !bytes.Equal(r.got.DHKey, dev.keys.DHPublic) {
				t.Fatalf("primary got %+v", r.got)
			}
			if !bytes.Equal(r.payloadAtNew, tc.payload) {
				t.Fatal("payload differs")
			}
			if len(r.hello) != HelloSize {
				t.Fatalf("hello is %d bytes", len(r.hello))
			}
			// Nothing secret is visible on the wire.
			for _, secret := range [][]byte{code.secret[:], []byte(tc.devName), dev.keys.SigningKey.Public().(ed25519.PublicKey), dev.keys.DHPublic} {
				for _, wire := range [][]byte{r.hello, r.req, r.resp} {
					if len(secret) >= 8 && bytes.Contains(wire, secret) {
						t.Fatalf("a link message contains %x in the clear", secret)
					}
				}
			}
		})
	}
}

func TestDeterministicRunIsReproducible(t *testing.T) {
	var sas []string
	var resp [][]byte
	for range 2 {
		src := entropytest.New("devicelink repro")
		r := fullRun(t, src, mustCode(t, src), makeDevice(t, src), "tablet", []byte("payload"))
		sas = append(sas, r.sasP)
		resp = append(resp, r.resp)
	}
	if sas[0] != sas[1] || !bytes.Equal(resp[0], resp[1]) {
		t.Fatal("the same entropy gave different links")
	}
}

func TestWrongSecret(t *testing.T) {
	src := entropy.System{}
	code := mustCode(t, src)
	primary, hello, err := NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	for i := range SecretSize {
		wrong := code
		wrong.secret[i] ^= 0x01
		_, req, sasJ, err := NewJoiner(src, wrong, hello, "phone", makeDevice(t, src).keys)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := primary.OpenRequest(req); !errors.Is(err, ErrNotAuthentic) {
			t.Fatalf("secret byte %d flipped: got %v, want ErrNotAuthentic", i, err)
		}
		if sasJ == "" {
			t.Fatal("no SAS")
		}
	}
	// A wrong link id (salt) fails the same way.
	wrong := code
	wrong.id[0] ^= 0x80
	_, req, _, err := NewJoiner(src, wrong, hello, "phone", makeDevice(t, src).keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := primary.OpenRequest(req); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("wrong link id: got %v", err)
	}
	// The failures did not use up the primary: the right request still opens.
	_, req, _, err = NewJoiner(src, code, hello, "phone", makeDevice(t, src).keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := primary.OpenRequest(req); err != nil {
		t.Fatalf("the right request after wrong ones: %v", err)
	}
}

// TestMITMWithCodeSeesDifferentSAS: a relay that knows the code runs one
// link with each device, swapping E_p and E_n for its own keys. It then reads
// everything, but the two screens show different SAS.
func TestMITMWithCodeSeesDifferentSAS(t *testing.T) {
	src := entropy.System{}
	differ := 0
	const runs = 20
	for range runs {
		code := mustCode(t, src)
		primary, hello, err := NewPrimary(src, code)
		if err != nil {
			t.Fatal(err)
		}
		// The attacker plays the primary toward the new device.
		fakePrimary, fakeHello, err := NewPrimary(src, code)
		if err != nil {
			t.Fatal(err)
		}
		dev := makeDevice(t, src)
		joiner, req, sasJ, err := NewJoiner(src, code, fakeHello, "phone", dev.keys)
		if err != nil {
			t.Fatal(err)
		}
		got, sasAtFake, err := fakePrimary.OpenRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		// ...and the joiner toward the primary, with its own device keys.
		attacker := makeDevice(t, src)
		fakeJoiner, fakeReq, sasAtFakeJ, err := NewJoiner(src, code, hello, got.Name, attacker.keys)
		if err != nil {
			t.Fatal(err)
		}
		_, sasP, err := primary.OpenRequest(fakeReq)
		if err != nil {
			t.Fatal(err)
		}
		if sasAtFake != sasJ || sasAtFakeJ != sasP {
			t.Fatal("each half of the MITM should agree with its victim")
		}
		if sasP != sasJ {
			differ++
		}
		// Were the user to confirm anyway, the attacker reads the payload,
		// and the relayed response does not open at the real new device.
		resp, err := primary.SealResponse([]byte("secrets"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fakeJoiner.OpenResponse(resp); err != nil {
			t.Fatal(err)
		}
		if _, err := joiner.OpenResponse(resp); !errors.Is(err, ErrNotAuthentic) {
			t.Fatalf("the primary's response opened at the victim: %v", err)
		}
	}
	if differ != runs {
		t.Fatalf("the SAS matched across a MITM in %d of %d runs", runs-differ, runs)
	}
}

// TestRelaySwapsKeysWithoutCode: a relay that does not know the code and
// substitutes its own ephemeral key in the hello or the request makes the
// link fail.
func TestRelaySwapsKeysWithoutCode(t *testing.T) {
	src := entropy.System{}
	code := mustCode(t, src)
	primary, hello, err := NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	mallory, err := src.X25519()
	if err != nil {
		t.Fatal(err)
	}
	_, req, _, err := NewJoiner(src, code, mallory.PublicKey(), "phone", makeDevice(t, src).keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := primary.OpenRequest(req); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("swapped E_p: got %v", err)
	}
	_, req, _, err = NewJoiner(src, code, hello, "phone", makeDevice(t, src).keys)
	if err != nil {
		t.Fatal(err)
	}
	swapped := append(mallory.PublicKey(), req[HelloSize:]...)
	if _, _, err := primary.OpenRequest(swapped); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("swapped E_n: got %v", err)
	}
}

func TestTamperedMessages(t *testing.T) {
	src := entropy.System{}
	code := mustCode(t, src)
	dev := makeDevice(t, src)
	primary, hello, err := NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	joiner, req, _, err := NewJoiner(src, code, hello, "phone", dev.keys)
	if err != nil {
		t.Fatal(err)
	}
	for i := range req {
		bad := bytes.Clone(req)
		bad[i] ^= 0x04
		_, _, err := primary.OpenRequest(bad)
		if !errors.Is(err, ErrNotAuthentic) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("request byte %d flipped: got %v", i, err)
		}
	}
	for _, n := range []int{0, HelloSize, HelloSize + tagSize - 1, len(req) - 1} {
		if _, _, err := primary.OpenRequest(req[:n]); err == nil {
			t.Fatalf("request truncated to %d bytes opened", n)
		}
	}
	if _, _, err := primary.OpenRequest(append(bytes.Clone(req), 0)); err == nil {
		t.Fatal("request with a trailing byte opened")
	}
	if _, _, err := primary.OpenRequest(req); err != nil {
		t.Fatalf("the intact request after tampered ones: %v", err)
	}
	resp, err := primary.SealResponse([]byte("the provisioning payload"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range resp {
		bad := bytes.Clone(resp)
		bad[i] ^= 0x80
		if _, err := joiner.OpenResponse(bad); !errors.Is(err, ErrNotAuthentic) {
			t.Fatalf("response byte %d flipped: got %v", i, err)
		}
	}
	for _, bad := range [][]byte{nil, resp[:tagSize-1], resp[:len(resp)-1], append(bytes.Clone(resp), 0)} {
		if _, err := joiner.OpenResponse(bad); err == nil {
			t.Fatalf("a %d-byte response opened", len(bad))
		}
	}
	if _, err := joiner.OpenResponse(resp); err != nil {
		t.Fatal(err)
	}
}

func TestReplayedRequest(t *testing.T) {
	src := entropy.System{}
	code := mustCode(t, src)
	primary, hello, err := NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	_, req, _, err := NewJoiner(src, code, hello, "phone", makeDevice(t, src).keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := primary.OpenRequest(req); err != nil {
		t.Fatal(err)
	}
	if _, _, err := primary.OpenRequest(req); !errors.Is(err, ErrUsed) {
		t.Fatalf("same request again: got %v, want ErrUsed", err)
	}
	// The same request replayed to a later link with the same code: the new
	// primary's ephemeral key differs, so the request does not open.
	again, _, err := NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := again.OpenRequest(req); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("request replayed to a new primary: got %v", err)
	}
}

func TestOneResponse(t *testing.T) {
	src := entropy.System{}
	code := mustCode(t, src)
	primary, hello, err := NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := primary.SealResponse([]byte("early")); !errors.Is(err, ErrState) {
		t.Fatalf("response before a request: got %v", err)
	}
	_, req, _, err := NewJoiner(src, code, hello, "phone", makeDevice(t, src).keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := primary.OpenRequest(req); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.SealResponse(make([]byte, MaxPayloadSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize payload: got %v", err)
	}
	if _, err := primary.SealResponse([]byte("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.SealResponse([]byte("two")); !errors.Is(err, ErrUsed) {
		t.Fatalf("second response (would reuse the key and nonce): got %v", err)
	}
}

// sealForgedRequest builds a request under the right key with an arbitrary
// body, as a device that knows the code (but not a signing key) could.
func sealForgedRequest(t *testing.T, src entropy.Source, code Code, hello, body []byte) []byte {
	t.Helper()
	eph, err := src.X25519()
	if err != nil {
		t.Fatal(err)
	}
	en := eph.PublicKey()
	shared, err := dh(eph, hello)
	if err != nil {
		t.Fatal(err)
	}
	k, err := derive(code, shared, hello, en)
	if err != nil {
		t.Fatal(err)
	}
	a, err := gcm(k.req)
	if err != nil {
		t.Fatal(err)
	}
	return a.Seal(en, zeroNonce[:], body, nil)
}

func TestRequestSignatureAndBody(t *testing.T) {
	src := entropy.System{}
	code := mustCode(t, src)
	dev := makeDevice(t, src)
	other := makeDevice(t, src)
	ds := dev.keys.SigningKey.Public().(ed25519.PublicKey)
	primary, hello, err := NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	goodSig := func(name string, ds, dh []byte, en []byte) []byte {
		return ed25519.Sign(dev.keys.SigningKey, signedBytes(code, hello, en, name, ds, dh))
	}
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"signed by another key", encodeRequestBody("phone", ds, dev.keys.DHPublic, ed25519.Sign(other.keys.SigningKey, []byte("x"))), ErrBadSignature},
		{"signature over other bytes", encodeRequestBody("phone", ds, dev.keys.DHPublic, goodSig("tablet", ds, dev.keys.DHPublic, make([]byte, 32))), ErrBadSignature},
		{"empty", nil, ErrMalformed},
		{"length byte too large", append([]byte{200}, make([]byte, 130)...), ErrMalformed},
		{"empty name", encodeRequestBody("", ds, dev.keys.DHPublic, make([]byte, 64)), ErrMalformed},
		{"control character in name", encodeRequestBody("ph\x1bone", ds, dev.keys.DHPublic, make([]byte, 64)), ErrMalformed},
		{"bidi override in name", encodeRequestBody("ph\u202eone", ds, dev.keys.DHPublic, make([]byte, 64)), ErrMalformed},
		{"invalid UTF-8", encodeRequestBody("ph\xffone", ds, dev.keys.DHPublic, make([]byte, 64)), ErrMalformed},
		{"trailing byte", append(encodeRequestBody("phone", ds, dev.keys.DHPublic, make([]byte, 64)), 0), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := sealForgedRequest(t, src, code, hello, tc.body)
			if _, _, err := primary.OpenRequest(req); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// The signature binds E_n: a body signed for another E_n fails.
	eph, _ := src.X25519()
	body := encodeRequestBody("phone", ds, dev.keys.DHPublic, goodSig("phone", ds, dev.keys.DHPublic, eph.PublicKey()))
	if _, _, err := primary.OpenRequest(sealForgedRequest(t, src, code, hello, body)); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("signature for another E_n: got %v", err)
	}
}

func TestJoinerInputs(t *testing.T) {
	src := entropy.System{}
	code := mustCode(t, src)
	dev := makeDevice(t, src)
	_, hello, err := NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		code  Code
		hello []byte
		dev   string
		keys  JoinKeys
	}{
		{"zero code", Code{}, hello, "phone", dev.keys},
		{"short hello", code, hello[:31], "phone", dev.keys},
		{"low-order hello", code, make([]byte, 32), "phone", dev.keys},
		{"name too long", code, hello, strings.Repeat("n", MaxNameLen+1), dev.keys},
		{"name with newline", code, hello, "a\nb", dev.keys},
		{"no signing key", code, hello, "phone", JoinKeys{DHPublic: dev.keys.DHPublic}},
		{"short DH key", code, hello, "phone", JoinKeys{SigningKey: dev.keys.SigningKey, DHPublic: dev.keys.DHPublic[:31]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := NewJoiner(src, tc.code, tc.hello, tc.dev, tc.keys); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, _, err := NewPrimary(src, Code{}); err == nil {
		t.Fatal("NewPrimary accepted the zero Code")
	}
}

func TestLowOrderRequestKey(t *testing.T) {
	src := entropy.System{}
	code := mustCode(t, src)
	primary, _, err := NewPrimary(src, code)
	if err != nil {
		t.Fatal(err)
	}
	req := make([]byte, HelloSize+tagSize+100)
	if _, _, err := primary.OpenRequest(req); !errors.Is(err, ErrMalformed) {
		t.Fatalf("all-zero E_n: got %v", err)
	}
}

func TestFormatSAS(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		want string
	}{
		{0, "0000 0000 0000"},
		{123456789012, "1234 5678 9012"},
		{999_999_999_999, "9999 9999 9999"},
		{1_000_000_000_000, "0000 0000 0000"},
		{^uint64(0), "0737 0955 1615"}, // 18446744073709551615 mod 10^12
	} {
		if got := formatSAS(tc.v); got != tc.want {
			t.Errorf("formatSAS(%d) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestSASDependsOnEverything: changing the secret, the link id or either
// ephemeral key changes the SAS.
func TestSASDependsOnEverything(t *testing.T) {
	src := entropytest.New("sas inputs")
	code := mustCode(t, src)
	ep, en := make([]byte, 32), make([]byte, 32)
	shared := make([]byte, 32)
	src.Bytes(ep)
	src.Bytes(en)
	src.Bytes(shared)
	base, err := derive(code, shared, ep, en)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte) []byte { c := bytes.Clone(b); c[3] ^= 1; return c }
	c2 := code
	c2.secret[5] ^= 1
	c3 := code
	c3.id[5] ^= 1
	for name, k := range map[string]func() (keys, error){
		"secret": func() (keys, error) { return derive(c2, shared, ep, en) },
		"id":     func() (keys, error) { return derive(c3, shared, ep, en) },
		"E_p":    func() (keys, error) { return derive(code, shared, flip(ep), en) },
		"E_n":    func() (keys, error) { return derive(code, shared, ep, flip(en)) },
		"DH":     func() (keys, error) { return derive(code, flip(shared), ep, en) },
	} {
		got, err := k()
		if err != nil {
			t.Fatal(err)
		}
		if got.sas == base.sas || bytes.Equal(got.req, base.req) || bytes.Equal(got.resp, base.resp) {
			t.Errorf("changing %s left a derived value unchanged", name)
		}
	}
	if bytes.Equal(base.req, base.resp) {
		t.Fatal("k_req == k_resp")
	}
}

// TestResponseBoundToRequest: the response's associated data is the hash of
// the request, so a joiner whose request was not the one opened cannot open
// it even with the right key.
func TestResponseBoundToRequest(t *testing.T) {
	src := entropy.System{}
	code := mustCode(t, src)
	r := fullRun(t, src, code, makeDevice(t, src), "phone", []byte("p"))
	j := &Joiner{resp: bytes.Clone(r.joiner.resp), reqHash: sha256.Sum256([]byte("another request"))}
	if _, err := j.OpenResponse(r.resp); !errors.Is(err, ErrNotAuthentic) {
		t.Fatalf("got %v", err)
	}
}

// BenchmarkLink: both sides of a whole link with a 1 MiB payload.
func BenchmarkLink(b *testing.B) {
	src := entropy.System{}
	dev := makeDevice(b, src)
	payload := make([]byte, 1<<20)
	for b.Loop() {
		code, _ := NewCode(src, testServer)
		p, hello, _ := NewPrimary(src, code)
		j, req, _, err := NewJoiner(src, code, hello, "phone", dev.keys)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := p.OpenRequest(req); err != nil {
			b.Fatal(err)
		}
		resp, _ := p.SealResponse(payload)
		if _, err := j.OpenResponse(resp); err != nil {
			b.Fatal(err)
		}
	}
}
