package transcript

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A stand-in for a device list (package devicelist is not imported here):
// the device keys followed by the account key's Ed25519 signature over
// testListLabel, the member id and the keys. testDeviceKeys verifies it for
// real, so a list signed by anyone else fails.
const testListLabel = "transcript test device list\x00"

func testList(member string, account ed25519.PrivateKey, keys ...ed25519.PublicKey) []byte {
	var ks []byte
	for _, k := range keys {
		ks = append(ks, k...)
	}
	msg := append([]byte(testListLabel+member+"\x00"), ks...)
	return append(ks, ed25519.Sign(account, msg)...)
}

var errTestList = errors.New("device list does not verify")

func testDeviceKeys(member string, identityKey ed25519.PublicKey, lists [][]byte) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for i, l := range lists {
		if len(l) < ed25519.SignatureSize || (len(l)-ed25519.SignatureSize)%ed25519.PublicKeySize != 0 {
			return nil, fmt.Errorf("list %d: %w: malformed", i+1, errTestList)
		}
		ks, sig := l[:len(l)-ed25519.SignatureSize], l[len(l)-ed25519.SignatureSize:]
		if !ed25519.Verify(identityKey, append([]byte(testListLabel+member+"\x00"), ks...), sig) {
			return nil, fmt.Errorf("list %d: %w: bad signature", i+1, errTestList)
		}
		for j := 0; j < len(ks); j += ed25519.PublicKeySize {
			out = append(out, ed25519.PublicKey(ks[j:j+ed25519.PublicKeySize]))
		}
	}
	return out, nil
}

// deviceChat is an on-record room where bob writes from his primary, his
// phone and his laptop, two of them concurrently; his device lists (the
// phone first, then phone and laptop) are exported with the bundle.
func deviceChat(t testing.TB) (*Log, ExportOptions) {
	t.Helper()
	l := NewLog("room-1", ModeOnRecord, nil)
	for _, m := range []string{"alice", "bob"} {
		if err := l.AddMember(m, pub(testKey(m))); err != nil {
			t.Fatal(err)
		}
	}
	unused := testKey("bob device never used")
	for _, k := range []ed25519.PrivateKey{bobPhone, bobLaptop, unused} {
		if err := l.AddDeviceKey("bob", pub(k)); err != nil {
			t.Fatal(err)
		}
	}
	send := func(who string, priv ed25519.PrivateKey, text string, min int) {
		e, salt, err := l.Compose(who, priv, KindMessage, []byte(text), t0.Add(time.Duration(min)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(e, salt, []byte(text)); err != nil {
			t.Fatal(err)
		}
	}
	send("alice", testKey("alice"), "are we agreed?", 0)
	// phone and laptop compose #1 at the same moment, from the same heads
	ep, sp, _ := l.Compose("bob", bobPhone, KindMessage, []byte("yes (phone)"), t0.Add(time.Minute))
	el, sl, _ := l.Compose("bob", bobLaptop, KindMessage, []byte("yes (laptop)"), t0.Add(time.Minute))
	for _, c := range []composed{{ep, sp, "yes (phone)"}, {el, sl, "yes (laptop)"}} {
		if _, err := l.Append(c.e, c.salt, []byte(c.text)); err != nil {
			t.Fatal(err)
		}
	}
	send("bob", testKey("bob"), "confirmed from the primary", 2)
	send("bob", bobPhone, "phone again", 3)
	send("alice", testKey("alice"), "good", 4)
	bob := testKey("bob")
	return l, ExportOptions{DeviceLists: map[string][][]byte{
		"bob":     {testList("bob", bob, pub(bobPhone)), testList("bob", bob, pub(bobPhone), pub(bobLaptop))},
		"nobody":  {[]byte("ignored")},
		"mallory": nil,
	}}
}

func problems(r *BundleReport) string { return strings.Join(r.Problems, "\n") }

func TestBundleExportDevices(t *testing.T) {
	l, opt := deviceChat(t)
	b, err := l.Export(opt, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Members) != 2 || len(b.Members[0].Devices) != 0 || len(b.Members[0].DeviceLists) != 0 {
		t.Fatalf("alice: %+v", b.Members)
	}
	bob := b.Members[1]
	want := []string{b64(pub(bobPhone)), b64(pub(bobLaptop))} // sorted by key bytes
	if bytes.Compare(pub(bobPhone), pub(bobLaptop)) > 0 {
		want[0], want[1] = want[1], want[0]
	}
	if len(bob.Devices) != 2 || bob.Devices[0].Key != want[0] || bob.Devices[1].Key != want[1] {
		t.Fatalf("bob's devices %+v, want the two that signed, sorted", bob.Devices)
	}
	if len(bob.DeviceLists) != 2 || !bytes.Equal(mustB64(t, bob.DeviceLists[1]), opt.DeviceLists["bob"][1]) {
		t.Fatalf("bob's device lists %v", bob.DeviceLists)
	}
	data, _ := b.Marshal()
	if !bytes.Contains(data, []byte(`"devices": [`)) || !bytes.Contains(data, []byte(`"device_lists": [`)) {
		t.Fatalf("JSON field names:\n%s", data)
	}
	// a bundle without devices keeps its old shape
	plain, _ := chatRoom(t, ModeOnRecord, 3)
	if d := exportJSON(t, plain, ExportOptions{}); bytes.Contains(d, []byte("device")) {
		t.Fatalf("single-key bundle mentions devices:\n%s", d)
	}
	// "bob#1" is ambiguous: three of bob's keys have a #1
	if _, err := l.Export(ExportOptions{Only: []string{"bob#1"}}, t0); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Fatalf("err %v", err)
	}
	if _, err := l.Export(ExportOptions{Only: []string{"bob#2"}}, t0); err != nil {
		t.Fatalf("bob#2 is only the phone's: %v", err)
	}
}

func TestBundleDeviceKeys(t *testing.T) {
	l, opt := deviceChat(t)
	clean := exportJSON(t, l, opt)
	const unproven = "signed by a device key that the bundle does not prove belongs to bob"
	laptop := ShortFingerprint(pub(bobLaptop))
	phoneOnly := func(member string, id ed25519.PublicKey, lists [][]byte) ([]ed25519.PublicKey, error) {
		ks, err := testDeviceKeys(member, id, lists[:1]) // a verifier that reads only the oldest list
		return ks, err
	}
	tamper := func(f func(b *Bundle)) []byte {
		var b Bundle
		if err := json.Unmarshal(clean, &b); err != nil {
			t.Fatal(err)
		}
		f(&b)
		out, _ := json.Marshal(&b)
		return out
	}
	mallory := testKey("mallory")
	forged := tamper(func(b *Bundle) {
		// mallory lists her key as bob's device, in a list she signs, and
		// adds an entry as bob signed with it
		bm := &b.Members[1]
		bm.Devices = append(bm.Devices, BundleDevice{Key: b64(pub(mallory))})
		bm.DeviceLists = append(bm.DeviceLists, b64(testList("bob", mallory, pub(bobPhone), pub(bobLaptop), pub(mallory))))
		raw := mustB64(t, b.Entries[len(b.Entries)-1].Entry)
		last, _ := DecodeEntry(raw)
		h, _ := last.Hash()
		e := &Entry{Mode: ModeOnRecord, Kind: KindMessage, Room: "room-1", Sender: "bob", Seq: 1,
			Time: t0.Add(5 * time.Minute), Parents: []Hash{h}, Commitment: Commit(testSalt("x"), []byte("I resign"))}
		if err := e.Sign(mallory); err != nil {
			t.Fatal(err)
		}
		enc, _ := e.Encode()
		b.Entries = append(b.Entries, BundleEntry{Entry: b64(enc)})
	})
	cases := []struct {
		name     string
		data     []byte
		keys     func(string, ed25519.PublicKey, [][]byte) ([]ed25519.PublicKey, error)
		ok       bool
		want     []string // substrings of the problems
		nProblem int
	}{
		{"device lists prove the keys", clean, testDeviceKeys, true, nil, 0},
		{"no DeviceKeys func", clean, nil, false, []string{"entry 2 (bob #1, device ", unproven}, 3},
		{"DeviceKeys refuses the laptop", clean, phoneOnly, false, []string{"(bob #1, device " + laptop + "): " + unproven}, 1},
		{"DeviceKeys errs", clean, func(string, ed25519.PublicKey, [][]byte) ([]ed25519.PublicKey, error) {
			return nil, errTestList
		}, false, []string{"member bob: device lists do not verify", unproven}, 4},
		{"device list re-signed by an attacker", tamper(func(b *Bundle) {
			b.Members[1].DeviceLists[1] = b64(testList("bob", mallory, pub(bobPhone), pub(bobLaptop)))
		}), testDeviceKeys, false, []string{"list 2: device list does not verify: bad signature", unproven}, 4},
		{"device list of another member", tamper(func(b *Bundle) {
			b.Members[1].DeviceLists = []string{b64(testList("alice", testKey("bob"), pub(bobPhone), pub(bobLaptop)))}
		}), testDeviceKeys, false, []string{"bad signature"}, 4},
		{"entry signed by an unlisted key", tamper(func(b *Bundle) {
			b.Members[1].Devices = b.Members[1].Devices[:1]
		}), testDeviceKeys, false, []string{"not bob's identity key or one of bob's listed device keys"}, 1},
		{"device keys removed from the bundle", tamper(func(b *Bundle) {
			b.Members[1].Devices = nil
		}), testDeviceKeys, false, []string{"not bob's identity key or one of bob's listed device keys"}, 3},
		{"attacker's key listed as bob's device", forged, testDeviceKeys, false, []string{"device lists do not verify", "entry 7 (bob #1, device " + ShortFingerprint(pub(mallory)) + "): " + unproven}, 5},
		{"device key listed twice", tamper(func(b *Bundle) {
			b.Members[1].Devices = append(b.Members[1].Devices, b.Members[1].Devices[0])
		}), testDeviceKeys, false, []string{"listed twice"}, 1},
		{"device list not base64", tamper(func(b *Bundle) {
			b.Members[1].DeviceLists[0] = "!!"
		}), testDeviceKeys, false, []string{"device list 1 is not base64", unproven}, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := VerifyBundle(c.data, VerifyOptions{DeviceKeys: c.keys})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK != c.ok || len(rep.Problems) != c.nProblem {
				t.Fatalf("ok=%v, %d problems:\n%s", rep.OK, len(rep.Problems), problems(rep))
			}
			for _, w := range c.want {
				if !strings.Contains(problems(rep), w) {
					t.Fatalf("problems\n%s\nwant %q", problems(rep), w)
				}
			}
			if strings.Contains(problems(rep), "not earlier in the bundle") {
				t.Fatalf("a refused entry's children are reported twice:\n%s", problems(rep))
			}
			if c.ok {
				if len(rep.Warnings) != 1 || len(rep.Messages) != 6 || rep.Disclosed != 6 {
					t.Fatalf("warnings %q, %d messages", rep.Warnings, len(rep.Messages))
				}
				if !strings.Contains(strings.Join(rep.Claims, "\n"), "(3 of them) by a device key") {
					t.Fatalf("claims %q", rep.Claims)
				}
				bob := rep.Members[1]
				if len(bob.Devices) != 2 || !bob.Devices[0].Proven || !bob.Devices[1].Proven {
					t.Fatalf("bob %+v", bob)
				}
			}
		})
	}
}

// TestBundleSequencePerSigner: the three #1 of bob's keys are no fork; a
// second #1 of one device is, and gaps are counted per device.
func TestBundleSequencePerSigner(t *testing.T) {
	r := deviceRoom(t, ModeOnRecord)
	p1 := r.makeBy("bob", bobPhone, 1, 0, "p1")
	l1 := r.makeBy("bob", bobLaptop, 1, 0, "l1")
	i1 := r.makeBy("bob", r.keys["bob"], 1, 0, "i1")
	p3 := r.makeBy("bob", bobPhone, 3, 2, "p3", p1.hash, l1.hash, i1.hash)
	for _, b := range []built{p1, l1, i1, p3} {
		r.mustAppend(b)
	}
	bob := testKey("bob")
	opt := ExportOptions{DeviceLists: map[string][][]byte{"bob": {testList("bob", bob, pub(bobPhone), pub(bobLaptop))}}}
	data := exportJSON(t, r.log, opt)
	rep, err := VerifyBundle(data, VerifyOptions{DeviceKeys: testDeviceKeys})
	if err != nil {
		t.Fatal(err)
	}
	phone := ShortFingerprint(pub(bobPhone))
	wantGap := "1 message(s) from bob (device " + phone + ") are missing from the bundle (sequence numbers up to 3)"
	if !rep.OK || len(rep.Warnings) != 2 || rep.Warnings[1] != wantGap {
		t.Fatalf("ok=%v problems %q warnings %q", rep.OK, rep.Problems, rep.Warnings)
	}
	// a second phone #1 (another version, signed by the phone) is a fork
	fork := r.makeBy("bob", bobPhone, 1, 1, "p1 rewritten")
	var b Bundle
	_ = json.Unmarshal(data, &b)
	enc, _ := fork.e.Encode()
	b.Entries = append(b.Entries, BundleEntry{Entry: b64(enc)})
	forked, _ := json.Marshal(&b)
	rep, _ = VerifyBundle(forked, VerifyOptions{DeviceKeys: testDeviceKeys})
	want := "bob's message #1 (device " + phone + ") appears in two different versions (fork)"
	if rep.OK || len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], want) {
		t.Fatalf("problems %q, want %q", rep.Problems, want)
	}
}

func TestBundleRequireTrusted(t *testing.T) {
	l, opt := deviceChat(t)
	data := exportJSON(t, l, opt)
	alice, bob, mallory := pub(testKey("alice")), pub(testKey("bob")), pub(testKey("mallory"))
	cases := []struct {
		name       string
		opt        VerifyOptions
		ok         bool
		unverified []string
		problem    string
		warning    string
	}{
		{"all trusted", VerifyOptions{Trusted: map[string]ed25519.PublicKey{"alice": alice, "bob": bob}, RequireTrusted: true}, true, nil, "", ""},
		{"member missing", VerifyOptions{Trusted: map[string]ed25519.PublicKey{"alice": alice}, RequireTrusted: true}, false, []string{"bob"},
			"member bob: identity key " + Fingerprint(bob) + " is not among the trusted identities (unverified)", ""},
		{"member mismatching", VerifyOptions{Trusted: map[string]ed25519.PublicKey{"alice": alice, "bob": mallory}, RequireTrusted: true}, false, nil,
			"member bob: identity key in the bundle differs from the trusted key", ""},
		{"nothing trusted", VerifyOptions{RequireTrusted: true}, false, []string{"alice", "bob"}, "member alice: identity key", ""},
		{"missing, not required", VerifyOptions{Trusted: map[string]ed25519.PublicKey{"alice": alice}}, true, []string{"bob"}, "", "member bob is not among the trusted identities"},
		{"mismatching, not required", VerifyOptions{Trusted: map[string]ed25519.PublicKey{"alice": alice, "bob": mallory}}, false, nil, "differs from the trusted key", ""},
		{"no trust at all", VerifyOptions{}, true, []string{"alice", "bob"}, "", "identities are as listed in the bundle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opt.DeviceKeys = testDeviceKeys
			rep, err := VerifyBundle(data, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK != c.ok || strings.Join(rep.Unverified, ",") != strings.Join(c.unverified, ",") {
				t.Fatalf("ok=%v unverified=%q problems=%q", rep.OK, rep.Unverified, rep.Problems)
			}
			if c.problem != "" && !strings.Contains(problems(rep), c.problem) {
				t.Fatalf("problems %q, want %q", rep.Problems, c.problem)
			}
			if c.problem == "" && len(rep.Problems) != 0 {
				t.Fatalf("problems %q", rep.Problems)
			}
			if c.warning != "" && !strings.Contains(strings.Join(rep.Warnings, "\n"), c.warning) {
				t.Fatalf("warnings %q, want %q", rep.Warnings, c.warning)
			}
			for i, m := range rep.Members {
				if m.Fingerprint != Fingerprint([]ed25519.PublicKey{alice, bob}[i]) {
					t.Fatalf("member %s fingerprint %q", m.ID, m.Fingerprint)
				}
			}
		})
	}
}

func TestBundleReportDevicesText(t *testing.T) {
	l, opt := deviceChat(t)
	rep, err := VerifyBundle(exportJSON(t, l, opt), VerifyOptions{Trusted: map[string]ed25519.PublicKey{"alice": pub(testKey("alice"))}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := rep.WriteText(&b, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"INVALID  room room-1",
		"member bob              key fingerprint " + Fingerprint(pub(testKey("bob"))) + " (as listed in the bundle)",
		"    device key fingerprint " + Fingerprint(pub(bobPhone)) + " (NOT proven to be bob's)",
		"UNVERIFIED IDENTITIES: bob:",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("report\n%s\nlacks %q", out, want)
		}
	}
	js, _ := json.Marshal(rep)
	if !bytes.Contains(js, []byte(`"fingerprint":"`+Fingerprint(pub(testKey("alice")))+`"`)) || !bytes.Contains(js, []byte(`"unverified":["bob"]`)) {
		t.Fatalf("json %s", js)
	}
}

func TestBundleDeviceLimits(t *testing.T) {
	many := make([]string, MaxBundleDeviceLists+1)
	for i := range many {
		many[i] = `"AA=="`
	}
	data := `{"format":"backchannel-transcript-bundle","version":1,"room":"r","mode":"on-record","members":[{"id":"bob","identity_key":"","device_lists":[` + strings.Join(many, ",") + `]}]}`
	if _, err := DecodeBundle([]byte(data)); !errors.Is(err, ErrBadBundle) || !strings.Contains(err.Error(), "too many devices") {
		t.Fatalf("err %v", err)
	}
}
