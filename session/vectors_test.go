package session

import (
	"bytes"
	"crypto/mlkem"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"backchannel/entropy"
	"backchannel/entropy/entropytest"
	"backchannel/envelope"
	"backchannel/handshake"
	"backchannel/identity"
	"backchannel/ratchet"
	"backchannel/x25519"
)

var update = flag.Bool("update", false, "rewrite testdata/protocol_vectors.json")

const vectorsPath = "../testdata/protocol_vectors.json"

// vectorCreated is the creation time of the responders' prekeys in the
// vectors; each handshake happens a day later (handshakeVector.Now).
var vectorCreated = time.Unix(1767225600, 0) // 2026-01-01T00:00:00Z

// tape records every random value a party draws, in order, so that an
// independent implementation can replay the same run (docs/protocol.md,
// "Test vectors").
type tape struct {
	src     *entropytest.Deterministic
	Entries []tapeEntry
}

type tapeEntry struct {
	Op           string `json:"op"`
	Private      string `json:"private,omitempty"`
	Public       string `json:"public,omitempty"`
	Seed         string `json:"seed,omitempty"`
	SharedSecret string `json:"shared_secret,omitempty"`
	Ciphertext   string `json:"ciphertext,omitempty"`
}

var _ entropy.Source = (*tape)(nil)

func (t *tape) X25519() (*x25519.PrivateKey, error) {
	k, err := t.src.X25519()
	if err == nil {
		t.Entries = append(t.Entries, tapeEntry{Op: "x25519", Private: hx(k.Bytes()), Public: hx(k.PublicKey())})
	}
	return k, err
}

func (t *tape) MLKEM768() (*mlkem.DecapsulationKey768, error) {
	k, err := t.src.MLKEM768()
	if err == nil {
		t.Entries = append(t.Entries, tapeEntry{Op: "mlkem768_keygen", Seed: hx(k.Bytes()), Public: hx(k.EncapsulationKey().Bytes())})
	}
	return k, err
}

func (t *tape) Encapsulate(ek *mlkem.EncapsulationKey768) ([]byte, []byte, error) {
	ss, ct, err := t.src.Encapsulate(ek)
	if err == nil {
		t.Entries = append(t.Entries, tapeEntry{Op: "mlkem768_encapsulate", Public: hx(ek.Bytes()), SharedSecret: hx(ss), Ciphertext: hx(ct)})
	}
	return ss, ct, err
}

func (t *tape) Bytes(b []byte) error { return t.src.Bytes(b) }

func hx(b []byte) string { return hex.EncodeToString(b) }

type vectorParty struct {
	UserSeed          string `json:"user_seed"`
	UserPublic        string `json:"user_public"`
	DeviceSigningSeed string `json:"device_signing_seed"`
	DeviceDHPrivate   string `json:"device_dh_private"`
	Certificate       string `json:"certificate"`
}

type prekeySecrets struct {
	SignedPrekeyPrivate  string `json:"signed_prekey_private"`
	OneTimePrekeyPrivate string `json:"one_time_prekey_private,omitempty"`
	KEMPrekeySeed        string `json:"kem_prekey_seed"`
}

type handshakeVector struct {
	Name         string        `json:"name"`
	Initiator    vectorParty   `json:"initiator"`
	Responder    vectorParty   `json:"responder"`
	Prekeys      prekeySecrets `json:"responder_prekeys"`
	Bundle       string        `json:"bundle"`
	Now          int64         `json:"now"` // Unix seconds: when the initiator checks the bundle's freshness
	Initiation   string        `json:"initiation"`
	SecretKey    string        `json:"secret_key"`
	AD           string        `json:"associated_data"`
	SafetyNumber string        `json:"safety_number"`
}

type event struct {
	Event     string `json:"event"` // "send" or "receive"
	Party     string `json:"party"`
	Message   int    `json:"message"`
	Plaintext string `json:"plaintext"`
	Envelope  string `json:"envelope,omitempty"`
}

type ratchetVector struct {
	Name      string                 `json:"name"`
	Handshake int                    `json:"handshake"`
	Tapes     map[string][]tapeEntry `json:"tapes"`
	Events    []event                `json:"events"`
}

// negativeVector is input that every implementation must refuse. Bundles
// must fail verification; stale bundles verify but must be refused by the
// freshness check at time Now; envelopes are each the first envelope of the
// named handshake's ratchet run, altered, offered to the fresh responder.
type negativeVector struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"` // "bundle", "stale_bundle" or "first_envelope"
	Handshake int    `json:"handshake"`
	Now       int64  `json:"now,omitempty"` // stale_bundle only
	Data      string `json:"data"`
}

type vectorFile struct {
	Comment    string            `json:"comment"`
	Handshakes []handshakeVector `json:"handshakes"`
	Ratchets   []ratchetVector   `json:"ratchets"`
	Negative   []negativeVector  `json:"negative"`
}

func vParty(t *testing.T, label string) (*identity.User, *identity.Device, vectorParty) {
	src := entropytest.New(label)
	u, err := identity.NewUser(src)
	if err != nil {
		t.Fatal(err)
	}
	d, err := identity.NewDevice(src, u, 1)
	if err != nil {
		t.Fatal(err)
	}
	return u, d, vectorParty{hx(u.Seed()), hx(u.Public()), hx(d.SigningSeed()), hx(d.DHPrivate().Bytes()), hx(d.Cert.Marshal())}
}

// buildVectors runs the whole protocol on deterministic entropy and records it.
func buildVectors(t *testing.T) *vectorFile {
	vf := &vectorFile{Comment: "backchannel protocol known-answer vectors; see docs/protocol.md. Rebuild: go test ./session -run TestVectors -update"}
	for hi, withOneTime := range []bool{true, false} {
		name := "pqxdh with one-time prekeys"
		if !withOneTime {
			name = "pqxdh with last-resort KEM prekey only"
		}
		ua, da, pa := vParty(t, fmt.Sprintf("initiator %d", hi))
		ub, db, pb := vParty(t, fmt.Sprintf("responder %d", hi))
		pkLabel := fmt.Sprintf("responder prekeys %d", hi)
		bsrc := entropytest.New(pkLabel)
		pk, err := handshake.NewPrekeysAt(bsrc, db, vectorCreated)
		if err != nil {
			t.Fatal(err)
		}
		if withOneTime {
			if _, _, err := pk.GenerateOneTimeAt(bsrc, db, 1, vectorCreated); err != nil {
				t.Fatal(err)
			}
		}
		bundle := pk.Bundle(db)
		now := vectorCreated.Add(24 * time.Hour)
		if err := handshake.CheckFresh(bundle, now); err != nil {
			t.Fatal(err)
		}
		aTape := &tape{src: entropytest.New(fmt.Sprintf("initiator ratchet %d", hi))}
		bTape := &tape{src: entropytest.New(fmt.Sprintf("responder ratchet %d", hi))}
		as, err := Initiate(aTape, da, bundle)
		if err != nil {
			t.Fatal(err)
		}
		hv := handshakeVector{
			Name: name, Initiator: pa, Responder: pb,
			Bundle:       hx(bundle.Marshal()),
			Now:          now.Unix(),
			Initiation:   hx(envelope.AppendInitiation(nil, as.pending)),
			SafetyNumber: identity.SafetyNumber("alice", ua.Public(), "bob", ub.Public()),
		}
		// Recover the responder's prekey secrets from its serialised store.
		res, err := handshake.Respond(db, pk, as.pending)
		if err != nil {
			t.Fatal(err)
		}
		hv.SecretKey, hv.AD = hx(res.SecretKey), hx(res.AD)
		hv.Prekeys = prekeySecretsOf(t, pkLabel, withOneTime, bundle)
		vf.Handshakes = append(vf.Handshakes, hv)

		rv := ratchetVector{Name: name + ": 36 messages, out of order, KEM keys every 8th turn of each side, each encapsulated to on the next turn", Handshake: hi}
		parties := map[string]*Session{"alice": as}
		sent := map[int][]byte{}
		texts := map[int]string{}
		// Send order and delivery order: bursts, a held-back message, a new chain overtaking an old one.
		script := []struct {
			op    string
			party string
			msg   int
		}{
			{"send", "alice", 0}, {"send", "alice", 1}, {"send", "alice", 2},
			{"receive", "bob", 1}, {"receive", "bob", 0},
			{"send", "bob", 3}, {"send", "bob", 4},
			{"receive", "alice", 4}, {"receive", "bob", 2},
			{"send", "alice", 5}, {"receive", "bob", 5}, {"receive", "alice", 3},
			{"send", "bob", 6}, {"send", "bob", 7}, {"send", "bob", 8},
			{"receive", "alice", 8}, {"receive", "alice", 6},
			{"send", "alice", 9}, {"send", "alice", 10},
			{"receive", "bob", 10}, {"receive", "alice", 7},
			{"send", "bob", 11}, {"receive", "alice", 11}, {"receive", "bob", 9},
			{"send", "alice", 12}, {"send", "alice", 13}, {"receive", "bob", 13},
			{"send", "bob", 14}, {"receive", "alice", 14}, {"receive", "bob", 12},
			{"send", "alice", 15}, {"receive", "bob", 15},
			{"send", "bob", 16}, {"send", "bob", 17}, {"receive", "alice", 17}, {"receive", "alice", 16},
			{"send", "alice", 18}, {"receive", "bob", 18},
			{"send", "bob", 19}, {"receive", "alice", 19},
			{"send", "alice", 20}, {"send", "alice", 21}, {"send", "alice", 22},
			{"receive", "bob", 22}, {"receive", "bob", 20}, {"receive", "bob", 21},
			{"send", "bob", 23}, {"receive", "alice", 23},
			{"send", "alice", 32}, {"receive", "bob", 32}, {"send", "bob", 33}, {"receive", "alice", 33},
			{"send", "alice", 34}, {"receive", "bob", 34}, {"send", "bob", 35}, {"receive", "alice", 35},
			// A long chain, alice's tenth, with a KEM ciphertext (checked below), opened by its sixth message (the first five withheld):
			// every message repeats the chain's KEM fields.
			{"send", "alice", 24}, {"send", "alice", 25}, {"send", "alice", 26}, {"send", "alice", 27},
			{"send", "alice", 28}, {"send", "alice", 29}, {"send", "alice", 30},
			{"receive", "bob", 29}, {"receive", "bob", 25}, {"receive", "bob", 24}, {"receive", "bob", 30},
			{"receive", "bob", 26}, {"receive", "bob", 28}, {"receive", "bob", 27},
			{"send", "bob", 31}, {"receive", "alice", 31},
		}
		for _, step := range script {
			switch step.op {
			case "send":
				s := parties[step.party]
				texts[step.msg] = fmt.Sprintf("%s says: message %d of the vector run", step.party, step.msg)
				env, err := s.Encrypt([]byte(texts[step.msg]))
				if err != nil {
					t.Fatalf("send %d: %v", step.msg, err)
				}
				sent[step.msg] = env
				rv.Events = append(rv.Events, event{Event: "send", Party: step.party, Message: step.msg, Plaintext: texts[step.msg], Envelope: hx(env)})
			case "receive":
				s, ok := parties[step.party]
				var pt []byte
				if !ok {
					s, pt, err = Accept(bTape, db, pk, sent[step.msg])
					parties[step.party] = s
				} else {
					pt, err = s.Decrypt(sent[step.msg])
				}
				if err != nil || string(pt) != texts[step.msg] {
					t.Fatalf("receive %d: %q %v", step.msg, pt, err)
				}
				rv.Events = append(rv.Events, event{Event: "receive", Party: step.party, Message: step.msg, Plaintext: texts[step.msg]})
			}
		}
		if e, _ := envelope.Parse(sent[24]); e == nil {
			t.Fatal("message 24 does not parse")
		} else if h, _, err := ratchet.ParseHeader(e.Message); err != nil || h.KEMCiphertext == nil {
			t.Fatalf("message 24 should open a chain with a KEM ciphertext, to the key bob advertised on message 35 (the script follows ratchet.KEMInterval = %d): %+v, %v", ratchet.KEMInterval, h, err)
		}
		rv.Tapes = map[string][]tapeEntry{"alice": aTape.Entries, "bob": bTape.Entries}
		vf.Ratchets = append(vf.Ratchets, rv)
		vf.Negative = append(vf.Negative, negatives(t, hi, bundle, sent[0], db)...)
	}
	return vf
}

// freshPrekeys rebuilds the responder's prekeys as they were before the run.
func freshPrekeys(t *testing.T, hi int, responder *identity.Device) *handshake.Prekeys {
	t.Helper()
	src := entropytest.New(fmt.Sprintf("responder prekeys %d", hi))
	pk, err := handshake.NewPrekeysAt(src, responder, vectorCreated)
	if err != nil {
		t.Fatal(err)
	}
	if hi == 0 {
		if _, _, err := pk.GenerateOneTimeAt(src, responder, 1, vectorCreated); err != nil {
			t.Fatal(err)
		}
	}
	return pk
}

// negatives derives altered inputs from a run and checks that this
// implementation refuses each one before publishing it.
func negatives(t *testing.T, hi int, b *handshake.Bundle, first []byte, responder *identity.Device) []negativeVector {
	t.Helper()
	bundle := b.Marshal()
	spkCreatedAt := 1 + identity.CertificateSize + 4 + 7
	spkSigAt := 1 + identity.CertificateSize + 4 + 8 + 32
	kemSigAt := len(bundle) - 1
	certSigAt := 1 + identity.CertificateSize - 1
	tagAt := len(first) - 1
	bodyAt := len(first) - 20
	e, err := envelope.Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	_, hlen, err := ratchet.ParseHeader(e.Message)
	if err != nil {
		t.Fatal(err)
	}
	nonceAt := len(first) - len(e.Message) + hlen + 5
	// Freshness: the bundle is fresh exactly at the limits, stale beyond.
	tooOld := time.Unix(b.Signed.Created, 0).Add(handshake.MaxPrekeyAge + time.Second)
	tooEarly := time.Unix(b.Signed.Created, 0).Add(-handshake.MaxClockSkew - time.Second)
	for _, at := range []time.Time{tooOld.Add(-time.Second), tooEarly.Add(time.Second)} {
		if err := handshake.CheckFresh(b, at); err != nil {
			t.Fatalf("bundle at the freshness limit %v: %v", at, err)
		}
	}
	// Positive control: the unaltered envelope is accepted by the same keys.
	if _, _, err := Accept(entropy.System{}, responder, freshPrekeys(t, hi, responder), first); err != nil {
		t.Fatalf("unaltered first envelope refused: %v", err)
	}
	var out []negativeVector
	for _, c := range []struct {
		name, kind string
		data       []byte
		now        time.Time
	}{
		{"bundle with a flipped signed-prekey signature", "bundle", flip(bundle, spkSigAt), time.Time{}},
		{"bundle with a flipped KEM-prekey signature", "bundle", flip(bundle, kemSigAt), time.Time{}},
		{"bundle with a flipped device-certificate signature", "bundle", flip(bundle, certSigAt), time.Time{}},
		{"bundle with a re-dated signed prekey", "bundle", flip(bundle, spkCreatedAt), time.Time{}},
		{"bundle truncated", "bundle", bundle[:len(bundle)-1], time.Time{}},
		{"bundle older than MaxPrekeyAge", "stale_bundle", bundle, tooOld},
		{"bundle dated more than MaxClockSkew in the future", "stale_bundle", bundle, tooEarly},
		{"first envelope with a flipped tag", "first_envelope", flip(first, tagAt), time.Time{}},
		{"first envelope with a flipped ciphertext byte", "first_envelope", flip(first, bodyAt), time.Time{}},
		{"first envelope with a flipped nonce byte", "first_envelope", flip(first, nonceAt), time.Time{}},
		{"first envelope with an unknown version", "first_envelope", append([]byte{envelope.Version + 1}, first[1:]...), time.Time{}},
		{"first envelope of version 1", "first_envelope", append([]byte{1}, first[1:]...), time.Time{}},
		{"first envelope with a flipped ephemeral key", "first_envelope", flip(first, 2+identity.CertificateSize+3), time.Time{}},
	} {
		nv := negativeVector{Name: c.name, Kind: c.kind, Handshake: hi, Data: hx(c.data)}
		switch c.kind {
		case "bundle":
			if _, err := handshake.ParseBundle(c.data); err == nil {
				t.Fatalf("negative vector %q is accepted", c.name)
			}
		case "stale_bundle":
			pb, err := handshake.ParseBundle(c.data)
			if err != nil {
				t.Fatalf("stale bundle %q does not even parse: %v", c.name, err)
			}
			if err := handshake.CheckFresh(pb, c.now); !errors.Is(err, handshake.ErrStalePrekey) {
				t.Fatalf("negative vector %q is accepted: %v", c.name, err)
			}
			nv.Now = c.now.Unix()
		case "first_envelope":
			fresh := freshPrekeys(t, hi, responder)
			if _, _, err := Accept(entropy.System{}, responder, fresh, c.data); err == nil {
				t.Fatalf("negative vector %q is accepted", c.name)
			}
		}
		out = append(out, nv)
	}
	return out
}

// prekeySecretsOf replays the responder's deterministic prekey entropy in
// the order NewPrekeys and GenerateOneTime draw it, and checks the result
// against the published bundle.
func prekeySecretsOf(t *testing.T, label string, withOneTime bool, b *handshake.Bundle) prekeySecrets {
	t.Helper()
	src := entropytest.New(label)
	spk, _ := src.X25519()
	lastResort, _ := src.MLKEM768()
	sec := prekeySecrets{SignedPrekeyPrivate: hx(spk.Bytes()), KEMPrekeySeed: hx(lastResort.Bytes())}
	if withOneTime {
		opk, _ := src.X25519()
		kem, _ := src.MLKEM768()
		if !bytes.Equal(opk.PublicKey(), b.OneTime.Public) {
			t.Fatal("replayed one-time prekey does not match the bundle")
		}
		sec.OneTimePrekeyPrivate, sec.KEMPrekeySeed = hx(opk.Bytes()), hx(kem.Bytes())
	}
	if !bytes.Equal(spk.PublicKey(), b.Signed.Public) {
		t.Fatal("replayed signed prekey does not match the bundle")
	}
	return sec
}

func TestVectors(t *testing.T) {
	vf := buildVectors(t)
	got, err := json.MarshalIndent(vf, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("read vectors (rebuild with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s has drifted from what the code produces; if the protocol change is intended, rebuild with: go test ./session -run TestVectors -update", vectorsPath)
	}
}
