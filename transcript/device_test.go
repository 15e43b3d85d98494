package transcript

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

// makeBy builds an entry of sender signed (on-record) or keyed (deniable)
// with priv, which may be a device key, at minute min.
func (r *room) makeBy(sender string, priv ed25519.PrivateKey, seq uint64, min int, text string, parents ...Hash) built {
	r.t.Helper()
	salt := testSalt(sender + text)
	e := &Entry{
		Mode: r.log.Mode(), Kind: KindMessage, Room: r.log.Room(), Sender: sender,
		SenderKey: priv.Public().(ed25519.PublicKey), Seq: seq,
		Time: t0.Add(time.Duration(min) * time.Minute), Parents: SortParents(parents),
		Commitment: Commit(salt, []byte(text)),
	}
	if e.Mode == ModeOnRecord {
		if err := e.Sign(priv); err != nil {
			r.t.Fatal(err)
		}
	}
	h, err := e.Hash()
	if err != nil {
		r.t.Fatal(err)
	}
	return built{e, salt, []byte(text), h}
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

var (
	bobPhone  = testKey("bob device phone")
	bobLaptop = testKey("bob device laptop")
)

// deviceRoom has members alice and bob; bob has two linked devices.
func deviceRoom(t *testing.T, mode Mode) *room {
	t.Helper()
	r := newRoom(t, mode, "alice", "bob")
	for _, k := range []ed25519.PrivateKey{bobPhone, bobLaptop} {
		if err := r.log.AddDeviceKey("bob", pub(k)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func TestDeviceKeyAppend(t *testing.T) {
	mallory := testKey("mallory")
	cases := []struct {
		name  string
		mode  Mode
		build func(r *room) built
		want  error // nil: accepted
	}{
		{"linked device, on-record", ModeOnRecord, func(r *room) built { return r.makeBy("bob", bobPhone, 1, 0, "from my phone") }, nil},
		{"linked device, deniable", ModeDeniable, func(r *room) built { return r.makeBy("bob", bobLaptop, 1, 0, "from my laptop") }, nil},
		{"identity key still works", ModeOnRecord, func(r *room) built { return r.makeBy("bob", r.keys["bob"], 1, 0, "primary") }, nil},
		{"key never added", ModeOnRecord, func(r *room) built { return r.makeBy("bob", mallory, 1, 0, "I am bob") }, ErrKeyMismatch},
		{"key never added, deniable", ModeDeniable, func(r *room) built { return r.makeBy("bob", mallory, 1, 0, "I am bob") }, ErrKeyMismatch},
		{"bob's device key used for alice", ModeOnRecord, func(r *room) built { return r.makeBy("alice", bobPhone, 1, 0, "I am alice") }, ErrKeyMismatch},
		{"device key claimed, signed by attacker", ModeOnRecord, func(r *room) built {
			b := r.makeBy("bob", bobPhone, 1, 0, "I am bob")
			b.e.Signature = ed25519.Sign(mallory, signedMessage(mustBody(t, b.e)))
			return b
		}, ErrBadSignature},
		{"device entry edited after signing", ModeOnRecord, func(r *room) built {
			b := r.makeBy("bob", bobPhone, 1, 0, "we agree")
			b.e.Seq = 2
			return b
		}, ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := deviceRoom(t, c.mode)
			b := c.build(r)
			st, err := r.append(b)
			if c.want == nil {
				if err != nil || st != Accepted {
					t.Fatalf("status %v err %v", st, err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if r.log.Len() != 0 {
				t.Fatal("refused entry was stored")
			}
		})
	}
}

func TestAddDeviceKey(t *testing.T) {
	r := newRoom(t, ModeOnRecord, "bob")
	if err := r.log.AddDeviceKey("carol", pub(bobPhone)); !errors.Is(err, ErrUnknownSender) {
		t.Fatalf("unknown member: %v", err)
	}
	if err := r.log.AddDeviceKey("bob", pub(bobPhone)[:31]); err == nil {
		t.Fatal("short key accepted")
	}
	for i := 0; i < 2; i++ { // idempotent
		if err := r.log.AddDeviceKey("bob", pub(bobPhone)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.log.AddDeviceKey("bob", pub(r.keys["bob"])); err != nil {
		t.Fatal(err)
	}
	ks := r.log.DeviceKeys("bob")
	if len(ks) != 1 || !ks[0].Equal(pub(bobPhone)) {
		t.Fatalf("device keys %x", ks)
	}
	for i := 0; i < MaxDeviceKeys-1; i++ {
		k := make(ed25519.PublicKey, ed25519.PublicKeySize)
		k[0], k[1] = byte(i>>8), byte(i)
		k[2] = 0xee
		if err := r.log.AddDeviceKey("bob", k); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.log.AddDeviceKey("bob", pub(bobLaptop)); err == nil {
		t.Fatalf("more than %d device keys accepted", MaxDeviceKeys)
	}
}

// replica is one participant's copy of the room, as a client keeps it.
func replica(t *testing.T) *Log {
	t.Helper()
	l := NewLog("room-1", ModeOnRecord, nil)
	for _, m := range []string{"alice", "bob"} {
		if err := l.AddMember(m, pub(testKey(m))); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []ed25519.PrivateKey{bobPhone, bobLaptop} {
		if err := l.AddDeviceKey("bob", pub(k)); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

type composed struct {
	e    *Entry
	salt Salt
	text string
}

func compose(t *testing.T, l *Log, sender string, priv ed25519.PrivateKey, text string, at time.Time) composed {
	t.Helper()
	e, salt, err := l.Compose(sender, priv, KindMessage, []byte(text), at)
	if err != nil {
		t.Fatal(err)
	}
	return composed{e, salt, text}
}

func deliver(t *testing.T, l *Log, cs ...composed) {
	t.Helper()
	for _, c := range cs {
		if st, err := l.Append(c.e, c.salt, []byte(c.text)); err != nil || st != Accepted {
			t.Fatalf("append %s #%d (%s): status %v err %v", c.e.Sender, c.e.Seq, ShortFingerprint(c.e.SenderKey), st, err)
		}
	}
}

// TestConcurrentDevices: bob's phone, laptop and primary each compose
// their #1 at the same moment from their own replica; every replica then
// receives all three, in different orders, without a fork or a gap.
func TestConcurrentDevices(t *testing.T) {
	alice, phone, laptop, primary := replica(t), replica(t), replica(t), replica(t)
	hello := compose(t, alice, "alice", testKey("alice"), "hello bob", t0)
	for _, l := range []*Log{alice, phone, laptop, primary} {
		deliver(t, l, hello)
	}
	p1 := compose(t, phone, "bob", bobPhone, "from the phone", t0.Add(time.Minute))
	l1 := compose(t, laptop, "bob", bobLaptop, "from the laptop", t0.Add(time.Minute))
	i1 := compose(t, primary, "bob", testKey("bob"), "from the primary", t0.Add(time.Minute))
	if p1.e.Seq != 1 || l1.e.Seq != 1 || i1.e.Seq != 1 {
		t.Fatalf("each signer starts at #1: %d %d %d", p1.e.Seq, l1.e.Seq, i1.e.Seq)
	}
	deliver(t, phone, p1, l1, i1)
	deliver(t, laptop, l1, i1, p1)
	deliver(t, primary, i1, p1, l1)
	deliver(t, alice, l1, p1, i1)
	for name, l := range map[string]*Log{"alice": alice, "phone": phone, "laptop": laptop, "primary": primary} {
		if ws := l.Warnings(); len(ws) != 0 {
			t.Errorf("%s: warnings %v", name, ws)
		}
		if ns := l.Notices(); len(ns) != 0 {
			t.Errorf("%s: notices %v", name, ns)
		}
		if l.Len() != 4 || len(l.Heads()) != 3 {
			t.Errorf("%s: %d entries, %d heads", name, l.Len(), len(l.Heads()))
		}
	}
	// The phone's next entry is its own #2, citing all three heads.
	p2 := compose(t, phone, "bob", bobPhone, "again", t0.Add(2*time.Minute))
	if p2.e.Seq != 2 || len(p2.e.Parents) != 3 {
		t.Fatalf("phone's next: seq %d, %d parents", p2.e.Seq, len(p2.e.Parents))
	}
	deliver(t, alice, p2)
	if ws := alice.Warnings(); len(ws) != 0 {
		t.Fatalf("warnings %v", ws)
	}
	// A device composing from a replica that has not seen its own #2 yet
	// would reuse #2: that is a fork, as for a single device.
	again := compose(t, laptop, "bob", bobPhone, "a different #2", t0.Add(3*time.Minute))
	if again.e.Seq != 2 {
		t.Fatalf("seq %d", again.e.Seq)
	}
	if _, err := alice.Append(again.e, again.salt, []byte(again.text)); !errors.Is(err, ErrEquivocation) {
		t.Fatalf("err %v", err)
	}
}

func TestDeviceFork(t *testing.T) {
	r := deviceRoom(t, ModeOnRecord)
	r.log.SetDeviceName(pub(bobPhone), "phone")
	r.mustAppend(r.makeBy("bob", bobPhone, 1, 0, "we agree"))
	r.mustAppend(r.makeBy("bob", bobLaptop, 1, 0, "we agree too"))
	r.mustAppend(r.makeBy("bob", r.keys["bob"], 1, 0, "and so do I"))
	if ws := r.log.Warnings(); len(ws) != 0 {
		t.Fatalf("three signers' #1 are no fork: %v", ws)
	}
	fork := r.makeBy("bob", bobPhone, 1, 1, "we disagree")
	if _, err := r.append(fork); !errors.Is(err, ErrEquivocation) {
		t.Fatalf("err %v", err)
	}
	ws := r.log.Warnings()
	want := "bob's message #1 (phone, device " + ShortFingerprint(pub(bobPhone)) + ") exists in two different versions"
	if len(ws) != 1 || ws[0].Kind != WarnFork || ws[0].Sender != "bob" || !strings.HasPrefix(ws[0].Text, want) ||
		ws[0].Device != "phone, device "+ShortFingerprint(pub(bobPhone)) {
		t.Fatalf("warnings %+v, want %q", ws, want)
	}
	// the identity key's fork still reads as before
	if _, err := r.append(r.makeBy("bob", r.keys["bob"], 1, 2, "I never said that")); !errors.Is(err, ErrEquivocation) {
		t.Fatalf("err %v", err)
	}
	ws = r.log.Warnings()
	if len(ws) != 2 || !strings.HasPrefix(ws[1].Text, "bob's message #1 exists in two different versions") || ws[1].Device != "" {
		t.Fatalf("warnings %+v", ws)
	}
}

func TestDeviceGapsAndClock(t *testing.T) {
	phone, laptop := "bob (device "+ShortFingerprint(pub(bobPhone))+")", "bob (device "+ShortFingerprint(pub(bobLaptop))+")"
	r := deviceRoom(t, ModeOnRecord)
	r.mustAppend(r.makeBy("bob", bobPhone, 1, 1, "p1"))
	r.mustAppend(r.makeBy("bob", bobPhone, 3, 3, "p3"))
	r.mustAppend(r.makeBy("bob", bobLaptop, 1, 0, "l1")) // earlier than the phone's: another clock, no warning
	r.mustAppend(r.makeBy("bob", r.keys["bob"], 2, 4, "i2"))
	got := warningTexts(r.log)
	want := []string{
		"1 message from bob missing before 14:04",
		"1 message from " + phone + " missing between 14:01 and 14:03",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r.mustAppend(r.makeBy("bob", bobPhone, 2, 2, "p2"))
	r.mustAppend(r.makeBy("bob", r.keys["bob"], 1, 3, "i1"))
	if ws := r.log.Warnings(); len(ws) != 0 {
		t.Fatalf("gaps should clear: %v", ws)
	}
	ns := strings.Join(r.log.Notices(), "\n")
	if !strings.Contains(ns, "message #2 from "+phone+" arrived out of order (after #3)") ||
		!strings.Contains(ns, "message #1 from bob arrived out of order (after #2)") || strings.Contains(ns, laptop) {
		t.Fatalf("notices %q", ns)
	}
	// the laptop's clock going backwards is its own anomaly
	r.mustAppend(r.makeBy("bob", bobLaptop, 2, -5, "l2"))
	ws := r.log.Warnings()
	if len(ws) != 1 || ws[0].Kind != WarnClock || !strings.Contains(ws[0].Text, "bob's message #2 (device "+ShortFingerprint(pub(bobLaptop))+") is timed 13:55, before their message #1 at 14:00") {
		t.Fatalf("warnings %+v", ws)
	}
}

func TestDeviceHeldEntry(t *testing.T) {
	r := deviceRoom(t, ModeOnRecord)
	a := r.makeBy("alice", r.keys["alice"], 1, 0, "a")
	p := r.makeBy("bob", bobPhone, 1, 1, "p", a.hash)
	if st, err := r.append(p); err != nil || st != Pending {
		t.Fatalf("status %v err %v", st, err)
	}
	ws := r.log.Warnings()
	if len(ws) != 1 || ws[0].Kind != WarnPending || !strings.Contains(ws[0].Text, "message #1 from bob (device "+ShortFingerprint(pub(bobPhone))+") (14:01) is held") {
		t.Fatalf("warnings %+v", ws)
	}
	r.mustAppend(a)
	if r.log.Len() != 2 || len(r.log.Warnings()) != 0 {
		t.Fatalf("len %d warnings %v", r.log.Len(), r.log.Warnings())
	}
}

func TestSetDeviceName(t *testing.T) {
	fp := ShortFingerprint(pub(bobPhone))
	cases := []struct{ name, want string }{
		{"phone", "phone, device " + fp},
		{"  work\tphone \n", "work phone, device " + fp},
		{"evil\x1b[2J\u202eenohp", "evil[2Jenohp, device " + fp},
		{strings.Repeat("x", 100), strings.Repeat("x", MaxDeviceNameLen) + ", device " + fp},
		{"\x00\x01", "device " + fp},
		{"", "device " + fp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := deviceRoom(t, ModeOnRecord)
			r.log.SetDeviceName(pub(bobPhone), "old name")
			r.log.SetDeviceName(pub(bobPhone), c.name)
			r.mustAppend(r.makeBy("bob", bobPhone, 2, 0, "p2"))
			ws := r.log.Warnings()
			if len(ws) != 1 || ws[0].Device != c.want || ws[0].Text != "1 message from bob ("+c.want+") missing before 14:00" {
				t.Fatalf("warnings %+v, want device %q", ws, c.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	k := pub(testKey("envoy"))
	fp := Fingerprint(k)
	if len(fp) != 2*FingerprintSize+FingerprintGroups-1 || strings.Count(fp, " ") != FingerprintGroups-1 {
		t.Fatalf("fingerprint %q", fp)
	}
	for _, g := range strings.Split(fp, " ") {
		if len(g) != 4 {
			t.Fatalf("group %q in %q", g, fp)
		}
	}
	if short := ShortFingerprint(k); short != strings.ReplaceAll(fp, " ", "")[:8] {
		t.Fatalf("short %q is not the start of %q", short, fp)
	}
	if Fingerprint(pub(testKey("aide"))) == fp {
		t.Fatal("two keys, one fingerprint")
	}
}
