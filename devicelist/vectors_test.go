package devicelist

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/devicelist_vectors.json")

const vectorsPath = "../testdata/devicelist_vectors.json"

type vectorFile struct {
	Comment       string           `json:"comment"`
	Account       string           `json:"account"`
	AccountSeed   string           `json:"account_seed"`
	AccountPublic string           `json:"account_public"`
	Devices       []vectorDevice   `json:"devices"`
	Lists         []vectorList     `json:"lists"`
	Negative      []vectorNegative `json:"negative"`
}

type vectorDevice struct {
	ID            uint32 `json:"id"`
	Name          string `json:"name"`
	SigningSeed   string `json:"signing_seed"`
	SigningPublic string `json:"signing_public"`
	DHPrivate     string `json:"dh_private"`
	DHPublic      string `json:"dh_public"`
	AddedAt       int64  `json:"added_at"`
	DeviceSig     string `json:"device_sig"`
	Entry         string `json:"entry"`
}

type vectorList struct {
	Name     string   `json:"name"`
	Version  uint64   `json:"version"`
	IssuedAt int64    `json:"issued_at"`
	Add      []uint32 `json:"add"`
	Remove   []uint32 `json:"remove"`
	MaxID    uint32   `json:"max_id"`
	Bytes    string   `json:"bytes"`
	Hash     string   `json:"hash"`
}

type vectorNegative struct {
	Name  string `json:"name"`
	Check string `json:"check"`           // "parse" or "next"
	After *int   `json:"after,omitempty"` // index into lists, for "next"
	Error string `json:"error"`           // malformed, signature, chain, rollback
	Data  string `json:"data"`
}

var errorClasses = []struct {
	name string
	err  error
}{{"malformed", ErrMalformed}, {"signature", ErrSignature}, {"chain", ErrChain}, {"rollback", ErrRollback}}

func classOf(err error) string {
	for _, c := range errorClasses {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return fmt.Sprintf("unclassified (%v)", err)
}

func buildVectors(t *testing.T) *vectorFile {
	c := newChain(t)
	seed := c.user.Seed()
	vf := &vectorFile{
		Comment:       "backchannel device list vectors; see docs/protocol.md section 14. Rebuild: go test ./devicelist -run TestVectors -update",
		Account:       "alice",
		AccountSeed:   hex.EncodeToString(seed),
		AccountPublic: hex.EncodeToString(c.user.Public()),
	}
	for i, e := range c.entries {
		k := c.keys[i]
		vf.Devices = append(vf.Devices, vectorDevice{
			ID: e.ID, Name: e.Name,
			SigningSeed: hex.EncodeToString(k.SigningSeed()), SigningPublic: hex.EncodeToString(k.SigningPublic()),
			DHPrivate: hex.EncodeToString(k.DHPrivate().Bytes()), DHPublic: hex.EncodeToString(k.DHPublic()),
			AddedAt: e.AddedAt.Unix(), DeviceSig: hex.EncodeToString(e.DeviceSig), Entry: hex.EncodeToString(e.appendTo(nil)),
		})
	}
	steps := []struct {
		name        string
		l           *List
		add, remove []uint32
	}{
		{"genesis with the primary device", c.v1, []uint32{1}, []uint32{}},
		{"two devices linked", c.v2, []uint32{2, 3}, []uint32{}},
		{"device 2 removed", c.v3, []uint32{}, []uint32{2}},
	}
	for _, s := range steps {
		h := s.l.Hash()
		vf.Lists = append(vf.Lists, vectorList{
			Name: s.name, Version: s.l.Version, IssuedAt: s.l.IssuedAt.Unix(), Add: s.add, Remove: s.remove,
			MaxID: s.l.MaxID, Bytes: hex.EncodeToString(s.l.Marshal()), Hash: hex.EncodeToString(h[:]),
		})
	}

	mallory := mustUser(t, "devicelist mallory")
	fresh := mustKeys(t, "devicelist fresh")
	ak := c.user.Public()
	v2 := func() *List { return clone(t, c.v2) }
	v3 := func() *List { return clone(t, c.v3) }
	parse := func(name string, b []byte, class string) {
		vf.Negative = append(vf.Negative, vectorNegative{Name: name, Check: "parse", Error: class, Data: hex.EncodeToString(b)})
	}
	next := func(name string, after int, b []byte, class string) {
		vf.Negative = append(vf.Negative, vectorNegative{Name: name, Check: "next", After: &after, Error: class, Data: hex.EncodeToString(b)})
	}
	edit := func(l *List, f func(l *List)) *List { f(l); return l }

	// Signatures.
	b := bytes.Clone(c.raw[1])
	b[len(b)-1] ^= 0x01
	parse("account signature flipped", b, "signature")
	parse("a device signature flipped (list re-signed)", resign(edit(v2(), func(l *List) { l.Devices[1].DeviceSig[0] ^= 0x01 }), c.user), "signature")
	parse("entry counter-signed for another account name", resign(edit(v2(), func(l *List) {
		l.Devices[1] = reentry(l.Devices[1], c.keys[1], "bob", ak)
	}), c.user), "signature")
	parse("entry counter-signed by another device", resign(edit(v2(), func(l *List) {
		l.Devices[1].DeviceSig = reentry(l.Devices[1], c.keys[0], "alice", ak).DeviceSig
	}), c.user), "signature")
	parse("list signed by another key, naming the account key", resign(v2(), mallory), "signature")
	// Encoding.
	parse("truncated by one byte", c.raw[1][:len(c.raw[1])-1], "malformed")
	parse("one trailing byte", append(bytes.Clone(c.raw[1]), 0), "malformed")
	b = resign(v2(), c.user)
	b[0] = 0x02
	parse("format version 2", b, "malformed")
	b = resign(v2(), c.user)
	b[countOffset(c.v2)] = 4
	parse("count says 4, 3 devices follow", b, "malformed")
	// Format rules (each list re-signed, so only the rule is broken).
	parse("ids not ascending", resign(edit(v2(), func(l *List) { l.Devices[1], l.Devices[2] = l.Devices[2], l.Devices[1] }), c.user), "malformed")
	parse("duplicate id", resign(edit(v2(), func(l *List) {
		l.Devices[2].ID = 2
		l.Devices[2] = reentry(l.Devices[2], c.keys[2], "alice", ak)
	}), c.user), "malformed")
	parse("duplicate signing key", resign(edit(v2(), func(l *List) {
		l.Devices[2] = reentry(l.Devices[2], c.keys[1], "alice", ak)
	}), c.user), "malformed")
	parse("duplicate DH key", resign(edit(v2(), func(l *List) {
		l.Devices[2].DHKey = bytes.Clone(l.Devices[1].DHKey)
		l.Devices[2] = reentry(l.Devices[2], c.keys[2], "alice", ak)
	}), c.user), "malformed")
	parse("17 devices", resign(edit(v2(), func(l *List) {
		for i := range MaxDevices + 1 - len(l.Devices) {
			k := mustKeys(t, fmt.Sprintf("devicelist vector extra %d", i))
			l.Devices = append(l.Devices, mustEntry(t, "alice", c.user, uint32(4+i), k, fmt.Sprintf("extra %d", i+1), t1))
		}
		l.MaxID = uint32(len(l.Devices))
	}), c.user), "malformed")
	parse("no device", resign(edit(v2(), func(l *List) { l.Devices = nil }), c.user), "malformed")
	parse("device id 0", resign(edit(v2(), func(l *List) {
		l.Devices[0].ID = 0
		l.Devices[0] = reentry(l.Devices[0], c.keys[0], "alice", ak)
	}), c.user), "malformed")
	parse("device id above max_id", resign(edit(v2(), func(l *List) { l.MaxID = 2 }), c.user), "malformed")
	parse("version 0", resign(edit(v2(), func(l *List) { l.Version = 0 }), c.user), "malformed")
	parse("version 1 with a non-zero prev", resign(edit(v2(), func(l *List) { l.Version = 1 }), c.user), "malformed")
	parse("version 2 with a zero prev", resign(edit(v2(), func(l *List) { l.Prev = [32]byte{} }), c.user), "malformed")
	parse("account name with an upper-case letter", resign(edit(v2(), func(l *List) { l.Account = "Alice" }), c.user), "malformed")
	parse("33-byte account name", resign(edit(v2(), func(l *List) { l.Account = strings.Repeat("a", 33) }), c.user), "malformed")
	for _, n := range []struct{ what, name string }{
		{"empty device name", ""},
		{"65-byte device name", strings.Repeat("é", 32) + "x"},
		{"device name with a line feed", "phone\nlaptop"},
		{"device name with U+0085", "phone\u0085"},
		{"device name with DEL", "phone\x7f"},
		{"device name not UTF-8", "phone\xc3"},
		{"device name with an encoded surrogate", "phone\xed\xa0\x80"},
		{"device name with an overlong encoding", "phone\xc0\xaf"},
	} {
		parse(n.what, resign(edit(v2(), func(l *List) {
			l.Devices[1].Name = n.name
			l.Devices[1] = reentry(l.Devices[1], c.keys[1], "alice", ak)
		}), c.user), "malformed")
	}

	// Chain rules: each list is accepted alone.
	next("version skipped", 0, resign(edit(v2(), func(l *List) { l.Version = 3 }), c.user), "chain")
	next("prev is not the hash of the previous list", 1, resign(edit(v3(), func(l *List) { l.Prev = c.v1.Hash() }), c.user), "chain")
	next("a device's keys swapped under its old id", 1, resign(edit(v3(), func(l *List) {
		e := l.Devices[1]
		e.DHKey = bytes.Clone(fresh.DHPublic())
		l.Devices[1] = reentry(e, fresh, "alice", ak)
	}), c.user), "chain")
	next("a device renamed under its old id", 1, resign(edit(v3(), func(l *List) {
		l.Devices[1].Name = "tablet"
		l.Devices[1] = reentry(l.Devices[1], c.keys[2], "alice", ak)
	}), c.user), "chain")
	next("a removed id re-added", 2, resign(edit(v3(), func(l *List) {
		l.Version, l.Prev, l.IssuedAt = 4, c.v3.Hash(), t2.Add(time.Hour)
		l.Devices = []Entry{l.Devices[0], c.entries[1], l.Devices[1]}
	}), c.user), "chain")
	next("a removed id given to new keys", 2, resign(edit(v3(), func(l *List) {
		l.Version, l.Prev, l.IssuedAt = 4, c.v3.Hash(), t2.Add(time.Hour)
		l.Devices = []Entry{l.Devices[0], mustEntry(t, "alice", c.user, 2, fresh, "new phone", t2), l.Devices[1]}
	}), c.user), "chain")
	next("max_id lowered", 1, resign(edit(v3(), func(l *List) { l.Devices, l.MaxID = l.Devices[:1], 1 }), c.user), "chain")
	next("issued_at earlier than the previous list's", 1, resign(edit(v3(), func(l *List) { l.IssuedAt = t1.Add(-time.Second) }), c.user), "chain")
	next("another account key", 1, resign(edit(v3(), func(l *List) {
		l.AccountKey = bytes.Clone(mallory.Public())
		for i, e := range l.Devices {
			l.Devices[i] = reentry(e, c.keys[e.ID-1], "alice", mallory.Public())
		}
	}), mallory), "chain")
	next("another account name", 1, resign(edit(v3(), func(l *List) {
		l.Account = "alicia"
		for i, e := range l.Devices {
			l.Devices[i] = reentry(e, c.keys[e.ID-1], "alicia", ak)
		}
	}), c.user), "chain")
	next("the accepted list itself", 1, c.raw[1], "chain")
	next("an older version", 2, c.raw[1], "rollback")
	next("the genesis after version 3", 2, c.raw[0], "rollback")
	next("a different list of the same version (fork)", 1, resign(edit(v2(), func(l *List) { l.Devices = l.Devices[:2] }), c.user), "rollback")

	// The generator checks its own cases: the class is what the code reports.
	for _, n := range vf.Negative {
		data, _ := hex.DecodeString(n.Data)
		l, err := Parse(data)
		if n.Check == "next" {
			if err != nil {
				t.Fatalf("negative %q: must be accepted alone: %v", n.Name, err)
			}
			err = VerifyNext([]*List{c.v1, c.v2, c.v3}[*n.After], l)
		}
		if got := classOf(err); err == nil || got != n.Error {
			t.Fatalf("negative %q: got %s (%v), want %s", n.Name, got, err, n.Error)
		}
	}
	return vf
}

func TestVectors(t *testing.T) {
	vf := buildVectors(t)
	got, err := json.MarshalIndent(vf, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
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
		t.Fatalf("%s has drifted from what the code produces; if the format change is intended, rebuild with: go test ./devicelist -run TestVectors -update", vectorsPath)
	}
}
