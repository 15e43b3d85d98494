package devicelist

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"backchannel/identity"
)

func TestRoundTrip(t *testing.T) {
	c := newChain(t)
	for i, l := range []*List{c.v1, c.v2, c.v3} {
		b := l.Marshal()
		p, err := Parse(b)
		if err != nil {
			t.Fatalf("v%d: %v", i+1, err)
		}
		if !reflect.DeepEqual(p, l) {
			t.Errorf("v%d: parsed list differs:\n got %+v\nwant %+v", i+1, p, l)
		}
		if !bytes.Equal(p.Marshal(), b) || p.Hash() != l.Hash() {
			t.Errorf("v%d: re-marshal or hash differs", i+1)
		}
		if len(b) < MinListSize || len(b) > MaxListSize {
			t.Errorf("v%d: %d bytes outside %d..%d", i+1, len(b), MinListSize, MaxListSize)
		}
	}
	if got := []uint64{c.v1.Version, c.v2.Version, c.v3.Version}; !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Errorf("versions %v", got)
	}
	if c.v1.Prev != [32]byte{} || c.v2.Prev != c.v1.Hash() || c.v3.Prev != c.v2.Hash() {
		t.Error("prev hashes do not link the versions")
	}
	if c.v2.MaxID != 3 || c.v3.MaxID != 3 {
		t.Errorf("max_id %d, %d; want 3, 3", c.v2.MaxID, c.v3.MaxID)
	}
	if ids := idsOf(c.v2); !reflect.DeepEqual(ids, []uint32{1, 2, 3}) {
		t.Errorf("v2 ids %v, want sorted 1 2 3", ids)
	}
	if ids := idsOf(c.v3); !reflect.DeepEqual(ids, []uint32{1, 3}) {
		t.Errorf("v3 ids %v", ids)
	}
	if c.v1.Hash() == c.v2.Hash() {
		t.Error("distinct lists hash the same")
	}
}

func idsOf(l *List) []uint32 {
	var out []uint32
	for _, e := range l.Devices {
		out = append(out, e.ID)
	}
	return out
}

// TestMaxListSize builds the largest list the format allows and checks the constant.
func TestMaxListSize(t *testing.T) {
	account := strings.Repeat("a", MaxAccountLen)
	user := mustUser(t, "devicelist max")
	var entries []Entry
	for i := range MaxDevices {
		k := mustKeys(t, fmt.Sprintf("devicelist max %d", i))
		entries = append(entries, mustEntry(t, account, user, uint32(i+1), k, strings.Repeat("é", MaxNameLen/2), t0))
	}
	l, err := Genesis(account, user, entries, t0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(l.Marshal()); n != MaxListSize || MaxListSize != 3463 {
		t.Fatalf("largest list is %d bytes, MaxListSize %d", n, MaxListSize)
	}
	if _, err := Parse(append(l.Marshal(), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("over MaxListSize: %v", err)
	}
	small, err := Genesis("a", user, []Entry{mustEntry(t, "a", user, 1, mustKeys(t, "devicelist min"), "x", t0)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(small.Marshal()); n != MinListSize || MinListSize != 294 {
		t.Fatalf("smallest list is %d bytes, MinListSize %d", n, MinListSize)
	}
}

func TestEveryByteFlipRejected(t *testing.T) {
	c := newChain(t)
	b := c.raw[1]
	for i := range b {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(b)
			bad[i] ^= mask
			_, err := Parse(bad)
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) {
				t.Fatalf("flip %#x at byte %d of %d accepted (err = %v)", mask, i, len(b), err)
			}
		}
	}
}

func TestTruncationAndTrailingBytes(t *testing.T) {
	c := newChain(t)
	b := c.raw[1]
	for n := range len(b) {
		if _, err := Parse(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(b), err)
		}
	}
	for _, tail := range [][]byte{{0}, {0xff}, b[:64]} {
		if _, err := Parse(append(bytes.Clone(b), tail...)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%d trailing bytes: %v", len(tail), err)
		}
	}
}

// TestFormatRules breaks one format rule at a time on a correctly re-signed
// list, so that the rule, not a signature, must refuse it.
func TestFormatRules(t *testing.T) {
	c := newChain(t)
	extra := func(n int) []Entry {
		var out []Entry
		for i := range n {
			k := mustKeys(t, fmt.Sprintf("devicelist extra %d", i))
			out = append(out, mustEntry(t, "alice", c.user, uint32(10+i), k, fmt.Sprintf("device %d", i), t1))
		}
		return out
	}
	cases := []struct {
		name  string
		edit  func(l *List)
		raw   func(b []byte) []byte // applied after re-signing (breaks the format, not the signature)
		error error
	}{
		{name: "unsorted ids", edit: func(l *List) { l.Devices[0], l.Devices[1] = l.Devices[1], l.Devices[0] }, error: ErrMalformed},
		{name: "duplicate ids", edit: func(l *List) {
			l.Devices[1] = reentry(l.Devices[1], c.keys[1], "alice", c.user.Public())
			l.Devices[1].ID = 1
			l.Devices[1] = reentry(l.Devices[1], c.keys[1], "alice", c.user.Public())
		}, error: ErrMalformed},
		{name: "duplicate signing keys", edit: func(l *List) {
			l.Devices[2] = reentry(l.Devices[2], c.keys[0], "alice", c.user.Public())
		}, error: ErrMalformed},
		{name: "duplicate DH keys", edit: func(l *List) {
			l.Devices[2].DHKey = bytes.Clone(l.Devices[0].DHKey)
			l.Devices[2] = reentry(l.Devices[2], c.keys[2], "alice", c.user.Public())
		}, error: ErrMalformed},
		{name: "17 devices", edit: func(l *List) { l.Devices = append(l.Devices, extra(MaxDevices+1-len(l.Devices))...); l.MaxID = 100 }, error: ErrMalformed},
		{name: "no device", edit: func(l *List) { l.Devices = nil }, error: ErrMalformed},
		{name: "device id 0", edit: func(l *List) {
			l.Devices[0].ID = 0
			l.Devices[0] = reentry(l.Devices[0], c.keys[0], "alice", c.user.Public())
		}, error: ErrMalformed},
		{name: "device id above max_id", edit: func(l *List) { l.MaxID = 2 }, error: ErrMalformed},
		{name: "version 0", edit: func(l *List) { l.Version = 0 }, error: ErrMalformed},
		{name: "version 1 with a prev", edit: func(l *List) { l.Version = 1 }, error: ErrMalformed},
		{name: "version 2 with a zero prev", edit: func(l *List) { l.Prev = [32]byte{} }, error: ErrMalformed},
		{name: "format version 2", raw: func(b []byte) []byte { b[0] = 2; return b }, error: ErrMalformed},
		{name: "format version 0", raw: func(b []byte) []byte { b[0] = 0; return b }, error: ErrMalformed},
		{name: "count byte says 2 of 3", raw: func(b []byte) []byte { b[countOffset(c.v2)] = 2; return b }, error: ErrMalformed},
		{name: "count byte says 4 of 3", raw: func(b []byte) []byte { b[countOffset(c.v2)] = 4; return b }, error: ErrMalformed},
		{name: "account length byte too long", raw: func(b []byte) []byte { b[1] = 200; return b }, error: ErrMalformed},
		{name: "empty account", edit: func(l *List) { l.Account = "" }, error: ErrMalformed},
		{name: "upper-case account", edit: func(l *List) { l.Account = "Alice" }, error: ErrMalformed},
		{name: "account with a space", edit: func(l *List) { l.Account = "al ice" }, error: ErrMalformed},
		{name: "33-byte account", edit: func(l *List) { l.Account = strings.Repeat("a", 33) }, error: ErrMalformed},
		{name: "account signature flipped", raw: func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, error: ErrSignature},
		{name: "signed by another key", edit: func(l *List) {}, error: ErrSignature},
		{name: "counter-signature for another account", edit: func(l *List) {
			l.Devices[1] = reentry(l.Devices[1], c.keys[1], "bob", c.user.Public())
		}, error: ErrSignature},
		{name: "counter-signature under another account key", edit: func(l *List) {
			l.Devices[1] = reentry(l.Devices[1], c.keys[1], "alice", mustUser(t, "devicelist mallory").Public())
		}, error: ErrSignature},
		{name: "counter-signature by another device", edit: func(l *List) {
			e := reentry(l.Devices[1], c.keys[0], "alice", c.user.Public())
			l.Devices[1].DeviceSig = e.DeviceSig
		}, error: ErrSignature},
		{name: "counter-signature over another name", edit: func(l *List) { l.Devices[1].Name = "Anna's phone" }, error: ErrSignature},
		{name: "counter-signature over another time", edit: func(l *List) { l.Devices[1].AddedAt = l.Devices[1].AddedAt.Add(time.Second) }, error: ErrSignature},
		{name: "counter-signature over another DH key", edit: func(l *List) { l.Devices[1].DHKey = bytes.Clone(c.keys[2].DHPublic()) }, error: ErrMalformed}, // shares device 3's DH key
	}
	for _, name := range []struct {
		what, name string
	}{
		{"empty name", ""},
		{"65-byte name", strings.Repeat("x", 65)},
		{"name with a newline", "phone\nlaptop"},
		{"name with NUL", "phone\x00"},
		{"name with DEL", "phone\x7f"},
		{"name with U+0085", "phone\u0085"},
		{"name with U+009B (CSI)", "\u009b31mphone"},
		{"name not UTF-8", "phone\xff"},
		{"name with a lone surrogate half", "phone\xed\xa0\x80"},
	} {
		cases = append(cases, struct {
			name  string
			edit  func(l *List)
			raw   func(b []byte) []byte
			error error
		}{name: name.what, edit: func(l *List) {
			l.Devices[1].Name = name.name
			l.Devices[1] = reentry(l.Devices[1], c.keys[1], "alice", c.user.Public())
		}, error: ErrMalformed})
	}
	mallory := mustUser(t, "devicelist mallory")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := clone(t, c.v2)
			signer := c.user
			if tc.name == "signed by another key" {
				signer = mallory
			}
			if tc.edit != nil {
				tc.edit(l)
			}
			b := resign(l, signer)
			if tc.raw != nil {
				b = tc.raw(b)
			}
			_, err := Parse(b)
			t.Log(err)
			if !errors.Is(err, tc.error) {
				t.Fatalf("err = %v, want %v", err, tc.error)
			}
		})
	}
}

func countOffset(l *List) int { return headerSize - 1 + len(l.Account) }

func TestNamesAccepted(t *testing.T) {
	user := mustUser(t, "devicelist alice")
	k := mustKeys(t, "devicelist names")
	for _, name := range []string{"x", strings.Repeat("x", MaxNameLen), "Büro-PC", "電話", "phone 2 (work)", "\u00a0nbsp", "emoji 📱"} {
		e := mustEntry(t, "alice", user, 1, k, name, t0)
		l, err := Genesis("alice", user, []Entry{e}, t0)
		if err != nil {
			t.Errorf("%q: %v", name, err)
			continue
		}
		if p, err := Parse(l.Marshal()); err != nil || p.Devices[0].Name != name {
			t.Errorf("%q: %v", name, err)
		}
	}
}

func TestConstructorsRefuse(t *testing.T) {
	c := newChain(t)
	k := mustKeys(t, "devicelist new")
	ak := c.user.Public()
	newEntry := func(id uint32, name string) Entry { return mustEntry(t, "alice", c.user, id, k, name, t2) }
	for _, tc := range []struct {
		name string
		err  error
		fn   func() error
	}{
		{"entry with id 0", ErrMalformed, func() error {
			_, err := NewEntry("alice", ak, 0, k.SigningKey(), k.DHPublic(), "x", t0)
			return err
		}},
		{"entry with an empty name", ErrMalformed, func() error {
			_, err := NewEntry("alice", ak, 1, k.SigningKey(), k.DHPublic(), "", t0)
			return err
		}},
		{"entry with a control character", ErrMalformed, func() error {
			_, err := NewEntry("alice", ak, 1, k.SigningKey(), k.DHPublic(), "a\tb", t0)
			return err
		}},
		{"entry for a bad account name", ErrMalformed, func() error {
			_, err := NewEntry("Alice", ak, 1, k.SigningKey(), k.DHPublic(), "x", t0)
			return err
		}},
		{"entry with a short DH key", ErrMalformed, func() error {
			_, err := NewEntry("alice", ak, 1, k.SigningKey(), k.DHPublic()[:31], "x", t0)
			return err
		}},
		{"entry with a short account key", ErrMalformed, func() error {
			_, err := NewEntry("alice", ak[:31], 1, k.SigningKey(), k.DHPublic(), "x", t0)
			return err
		}},
		{"genesis with no device", ErrMalformed, func() error {
			_, err := Genesis("alice", c.user, nil, t0)
			return err
		}},
		{"genesis with an entry of another account", ErrSignature, func() error {
			e := mustEntry(t, "bob", c.user, 1, k, "x", t0)
			_, err := Genesis("alice", c.user, []Entry{e}, t0)
			return err
		}},
		{"genesis with duplicate ids", ErrMalformed, func() error {
			_, err := Genesis("alice", c.user, []Entry{c.entries[0], newEntry(1, "again")}, t0)
			return err
		}},
		{"next removing an unknown device", ErrUnknownDevice, func() error {
			_, err := Next(c.v3, c.user, nil, []uint32{2}, t2)
			return err
		}},
		{"next removing every device", ErrMalformed, func() error {
			_, err := Next(c.v3, c.user, nil, []uint32{1, 3}, t2)
			return err
		}},
		{"next with a reused id", ErrChain, func() error {
			_, err := Next(c.v3, c.user, []Entry{newEntry(2, "new")}, nil, t2)
			return err
		}},
		{"next with an existing id", ErrMalformed, func() error {
			_, err := Next(c.v3, c.user, []Entry{newEntry(3, "new")}, nil, t2)
			return err
		}},
		{"next signed by another user", ErrChain, func() error {
			_, err := Next(c.v3, mustUser(t, "devicelist mallory"), []Entry{newEntry(4, "new")}, nil, t2)
			return err
		}},
		{"next with an entry counter-signed under another key", ErrSignature, func() error {
			e, _ := NewEntry("alice", mustUser(t, "devicelist mallory").Public(), 4, k.SigningKey(), k.DHPublic(), "x", t2)
			_, err := Next(c.v3, c.user, []Entry{e}, nil, t2)
			return err
		}},
		{"next over 16 devices", ErrMalformed, func() error {
			var add []Entry
			for i := range MaxDevices - 1 {
				add = append(add, mustEntry(t, "alice", c.user, uint32(4+i), mustKeys(t, fmt.Sprintf("devicelist fill %d", i)), "fill", t2))
			}
			l, err := Next(c.v3, c.user, add[:MaxDevices-2], nil, t2) // 2 + 14 = 16: fine
			if err != nil {
				return fmt.Errorf("16 devices refused: %v", err)
			}
			_, err = Next(l, c.user, add[MaxDevices-2:], nil, t2)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestNextClock(t *testing.T) {
	c := newChain(t)
	// The primary's clock went back: issued_at stays at the previous one.
	l, err := Next(c.v3, c.user, nil, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !l.IssuedAt.Equal(c.v3.IssuedAt) {
		t.Fatalf("issued_at %v, want %v", l.IssuedAt, c.v3.IssuedAt)
	}
	// Sub-seconds and the location are dropped, so the list equals its parse.
	at := time.Date(2026, 3, 1, 12, 0, 0, 999_999_999, time.FixedZone("X", 3600))
	l, err = Next(c.v3, c.user, nil, nil, at)
	if err != nil {
		t.Fatal(err)
	}
	if l.IssuedAt.Unix() != at.Unix() || l.IssuedAt.Nanosecond() != 0 {
		t.Fatalf("issued_at %v from %v", l.IssuedAt, at)
	}
}

// TestVerifyNext breaks each chain rule on purpose with lists that are
// themselves well formed and correctly signed.
func TestVerifyNext(t *testing.T) {
	c := newChain(t)
	mallory := mustUser(t, "devicelist mallory")
	fresh := mustKeys(t, "devicelist fresh")
	sign := func(l *List, u *identity.User) *List {
		p, err := Parse(resign(l, u))
		if err != nil {
			t.Fatalf("the crafted list itself is invalid: %v", err)
		}
		return p
	}
	cases := []struct {
		name       string
		prev, next func() *List
		err        error
	}{
		{"v1 to v2", func() *List { return c.v1 }, func() *List { return c.v2 }, nil},
		{"v2 to v3", func() *List { return c.v2 }, func() *List { return c.v3 }, nil},
		{"skipped version", func() *List { return c.v1 }, func() *List {
			l := clone(t, c.v2)
			l.Version = 3
			return sign(l, c.user)
		}, ErrChain},
		{"wrong prev", func() *List { return c.v2 }, func() *List {
			l := clone(t, c.v3)
			l.Prev = c.v1.Hash()
			return sign(l, c.user)
		}, ErrChain},
		{"keys swapped under an old id", func() *List { return c.v2 }, func() *List {
			l := clone(t, c.v3)
			e := l.Devices[1] // device 3
			e.DHKey = bytes.Clone(fresh.DHPublic())
			l.Devices[1] = reentry(e, fresh, "alice", c.user.Public())
			return sign(l, c.user)
		}, ErrChain},
		{"name changed under an old id", func() *List { return c.v2 }, func() *List {
			l := clone(t, c.v3)
			l.Devices[1].Name = "renamed"
			l.Devices[1] = reentry(l.Devices[1], c.keys[2], "alice", c.user.Public())
			return sign(l, c.user)
		}, ErrChain},
		{"removed id re-added", func() *List { return c.v3 }, func() *List {
			l := clone(t, c.v3)
			l.Version, l.Prev = 4, c.v3.Hash()
			l.Devices = []Entry{l.Devices[0], c.entries[1], l.Devices[1]}
			return sign(l, c.user)
		}, ErrChain},
		{"removed id given to new keys", func() *List { return c.v3 }, func() *List {
			l := clone(t, c.v3)
			l.Version, l.Prev = 4, c.v3.Hash()
			l.Devices = []Entry{l.Devices[0], mustEntry(t, "alice", c.user, 2, fresh, "new", t2), l.Devices[1]}
			return sign(l, c.user)
		}, ErrChain},
		{"new device under a never-used id below max_id", func() *List {
			l := clone(t, c.v1)
			l.MaxID = 5
			return sign(l, c.user)
		}, func() *List {
			l := clone(t, c.v1)
			l.MaxID, l.Version = 5, 2
			l.Devices = append(l.Devices, mustEntry(t, "alice", c.user, 3, fresh, "new", t1))
			l.Prev = sign(func() *List { p := clone(t, c.v1); p.MaxID = 5; return p }(), c.user).Hash()
			return sign(l, c.user)
		}, ErrChain},
		{"max_id lowered", func() *List { return c.v2 }, func() *List {
			l := clone(t, c.v3)
			l.Devices = l.Devices[:1]
			l.MaxID = 1
			return sign(l, c.user)
		}, ErrChain},
		{"issued_at went back", func() *List { return c.v2 }, func() *List {
			l := clone(t, c.v3)
			l.IssuedAt = c.v2.IssuedAt.Add(-time.Second)
			return sign(l, c.user)
		}, ErrChain},
		{"another account key", func() *List { return c.v2 }, func() *List {
			l := clone(t, c.v3)
			l.AccountKey = bytes.Clone(mallory.Public())
			for i, e := range l.Devices {
				l.Devices[i] = reentry(e, c.keys[e.ID-1], "alice", mallory.Public())
			}
			return sign(l, mallory)
		}, ErrChain},
		{"another account name", func() *List { return c.v2 }, func() *List {
			l := clone(t, c.v3)
			l.Account = "alicia"
			for i, e := range l.Devices {
				l.Devices[i] = reentry(e, c.keys[e.ID-1], "alicia", c.user.Public())
			}
			return sign(l, c.user)
		}, ErrChain},
		{"older version (rollback)", func() *List { return c.v3 }, func() *List { return c.v2 }, ErrRollback},
		{"genesis after v3 (rollback)", func() *List { return c.v3 }, func() *List { return c.v1 }, ErrRollback},
		{"same version, another list (fork)", func() *List { return c.v2 }, func() *List {
			l := clone(t, c.v2)
			l.Devices = l.Devices[:2]
			return sign(l, c.user)
		}, ErrRollback},
		{"the same list again", func() *List { return c.v2 }, func() *List { return c.v2 }, ErrChain},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyNext(tc.prev(), tc.next())
			t.Log(err)
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestVerifyChain(t *testing.T) {
	c := newChain(t)
	ak := c.user.Public()
	fork := clone(t, c.v2)
	fork.Devices = fork.Devices[:2]
	forkRaw := resign(fork, c.user)
	badNew := clone(t, c.v2) // v2 whose new device 2 carries a signature over another name
	badNew.Devices[1].DeviceSig = bytes.Clone(reentry(func() Entry { e := badNew.Devices[1]; e.Name = "x"; return e }(), c.keys[1], "alice", ak).DeviceSig)
	badNewRaw := resign(badNew, c.user)
	badKept := clone(t, c.v2) // v2 whose kept device 1 carries a damaged counter-signature
	badKept.Devices[0].DeviceSig[5] ^= 0x40
	badKeptRaw := resign(badKept, c.user)
	badAccountSig := bytes.Clone(c.raw[1])
	badAccountSig[len(badAccountSig)-1] ^= 1

	cases := []struct {
		name    string
		account string
		pinned  *List
		lists   [][]byte
		want    *List
		err     error
	}{
		{"from nil, whole chain", "alice", nil, c.raw, c.v3, nil},
		{"from nil, genesis only", "alice", nil, c.raw[:1], c.v1, nil},
		{"from pinned v1", "alice", c.v1, c.raw[1:], c.v3, nil},
		{"from pinned v2, pinned repeated", "alice", c.v2, c.raw[1:], c.v3, nil},
		{"from pinned v3, nothing new", "alice", c.v3, nil, c.v3, nil},
		{"from pinned v3, only itself", "alice", c.v3, c.raw[2:], c.v3, nil},
		{"from nil, nothing", "alice", nil, nil, nil, ErrChain},
		{"from nil, starting at v2", "alice", nil, c.raw[1:], nil, ErrChain},
		{"from pinned v1, v3 without v2", "alice", c.v1, c.raw[2:], nil, ErrChain},
		{"from pinned v3, v2 (rollback)", "alice", c.v3, c.raw[1:2], nil, ErrRollback},
		{"from pinned v2, whole history (rollback)", "alice", c.v2, c.raw, nil, ErrRollback},
		{"from pinned v2, a fork of v2", "alice", c.v2, [][]byte{forkRaw}, nil, ErrRollback},
		{"from pinned v1, v2 twice", "alice", c.v1, [][]byte{c.raw[1], c.raw[1]}, nil, ErrChain},
		{"for another account name", "bob", nil, c.raw, nil, ErrChain},
		{"pinned of another account", "bob", c.v1, c.raw[1:], nil, ErrChain},
		{"new entry with a bad counter-signature", "alice", c.v1, [][]byte{badNewRaw}, nil, ErrSignature},
		{"kept entry with a damaged counter-signature", "alice", c.v1, [][]byte{badKeptRaw}, nil, ErrSignature},
		{"bad account signature", "alice", c.v1, [][]byte{badAccountSig}, nil, ErrSignature},
		{"truncated list", "alice", c.v1, [][]byte{c.raw[1][:100]}, nil, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VerifyChain(tc.account, ak, tc.pinned, tc.lists)
			t.Log(err)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Hash() != tc.want.Hash() {
				t.Fatalf("returned version %d, want %d", got.Version, tc.want.Version)
			}
		})
	}
	if _, err := VerifyChain("alice", mustUser(t, "devicelist mallory").Public(), nil, c.raw); !errors.Is(err, ErrChain) {
		t.Fatalf("chain under another account key: %v", err)
	}
}

func TestDiff(t *testing.T) {
	c := newChain(t)
	changed := clone(t, c.v3)
	changed.Devices[1].Name = "renamed"
	ids := func(es []Entry) []uint32 {
		out := []uint32{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name           string
		old, new       *List
		added, removed []uint32
	}{
		{"nothing pinned yet", nil, c.v2, []uint32{1, 2, 3}, []uint32{}},
		{"v1 to v2", c.v1, c.v2, []uint32{2, 3}, []uint32{}},
		{"v2 to v3", c.v2, c.v3, []uint32{}, []uint32{2}},
		{"v1 to v3", c.v1, c.v3, []uint32{3}, []uint32{}},
		{"unchanged", c.v3, c.v3, []uint32{}, []uint32{}},
		{"backwards", c.v3, c.v1, []uint32{}, []uint32{3}},
		{"entry changed under its id", c.v3, changed, []uint32{3}, []uint32{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := Diff(tc.old, tc.new)
			if a, r := ids(ch.Added), ids(ch.Removed); !reflect.DeepEqual(a, tc.added) || !reflect.DeepEqual(r, tc.removed) {
				t.Fatalf("added %v removed %v, want %v %v", a, r, tc.added, tc.removed)
			}
		})
	}
	if ch := Diff(c.v1, c.v2); ch.Added[0].Name != "Anna’s phone" {
		t.Fatalf("added entry %+v", ch.Added[0])
	}
}

func TestDeviceAndHas(t *testing.T) {
	c := newChain(t)
	for _, tc := range []struct {
		id     uint32
		ds, dh []byte
		has    bool
	}{
		{1, c.keys[0].SigningPublic(), c.keys[0].DHPublic(), true},
		{3, c.keys[2].SigningPublic(), c.keys[2].DHPublic(), true},
		{2, c.keys[1].SigningPublic(), c.keys[1].DHPublic(), false}, // removed in v3
		{1, c.keys[0].SigningPublic(), c.keys[2].DHPublic(), false},
		{1, c.keys[2].SigningPublic(), c.keys[0].DHPublic(), false},
		{3, c.keys[0].SigningPublic(), c.keys[0].DHPublic(), false}, // device 1's keys under id 3
		{0, nil, nil, false},
	} {
		if got := c.v3.Has(tc.id, tc.ds, tc.dh); got != tc.has {
			t.Errorf("Has(%d, …) = %v, want %v", tc.id, got, tc.has)
		}
	}
	if e, ok := c.v3.Device(3); !ok || e.Name != "tablet (büro)" {
		t.Errorf("Device(3) = %+v, %v", e, ok)
	}
	if _, ok := c.v3.Device(2); ok {
		t.Error("Device(2) found a removed device")
	}
}

// TestCertificateKeysMatch: an entry made from a device's keys names the
// same keys as that device's certificate (docs/protocol.md section 2).
func TestCertificateKeysMatch(t *testing.T) {
	c := newChain(t)
	cert, err := identity.Certify(c.user, 2, c.keys[1].SigningPublic(), c.keys[1].DHPublic())
	if err != nil {
		t.Fatal(err)
	}
	if !c.v2.Has(cert.DeviceID, cert.SigningKey, cert.DHKey) {
		t.Fatal("the certified keys are not the listed ones")
	}
}
