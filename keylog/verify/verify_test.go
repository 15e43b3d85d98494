package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"backchannel/devicelist"
	"backchannel/keylog/prefix"
)

func TestVerifyValid(t *testing.T) {
	m := standardLog(t)
	calls := 0
	consistency := func(from, to uint64) ([][]byte, error) { calls++; return m.consistency(from, to) }

	// First lookup: nothing pinned yet.
	r, err := Verify(m.trust(), "alice", m.lookup("alice"), nil, consistency)
	if err != nil {
		t.Fatal(err)
	}
	a := m.accounts["alice"]
	if r.Updates != 2 || r.Version != 2 || !bytes.Equal(r.DeviceList, a.list.Marshal()) || r.List.Version != 2 || len(r.List.Devices) != 2 {
		t.Fatalf("result: updates %d version %d, list v%d with %d devices", r.Updates, r.Version, r.List.Version, len(r.List.Devices))
	}
	if r.Checkpoint.Size != m.size() || r.Epoch.Epoch != m.size()-1 || r.Epoch.Root != m.tree.Root() || r.Epoch.Leaves != 3 {
		t.Fatalf("checkpoint size %d, epoch %+v", r.Checkpoint.Size, r.Epoch)
	}
	if !bytes.Equal(r.Checkpoint.Note, m.notes[m.size()]) || r.Checkpoint.Origin != m.origin {
		t.Fatal("the result does not keep the signed note and origin")
	}
	if calls != 0 {
		t.Fatalf("%d consistency fetches without a previous checkpoint", calls)
	}

	// Every account, against every earlier checkpoint (and the same one).
	for size := uint64(1); size <= m.size(); size++ {
		for _, name := range []string{"alice", "bob", "carol"} {
			if _, ok := m.snaps[m.size()-1][name]; !ok {
				continue
			}
			calls = 0
			r, err := Verify(m.trust(), name, m.lookup(name), m.checkpoint(size), consistency)
			if err != nil {
				t.Fatalf("%s from size %d: %v", name, size, err)
			}
			if want := 0; size == m.size() && calls != want {
				t.Fatalf("%d consistency fetches at the same size", calls)
			}
			if size < m.size() && calls != 1 {
				t.Fatalf("%d consistency fetches from %d to %d", calls, size, m.size())
			}
			if r.List.Account != name {
				t.Fatalf("list of %q for %q", r.List.Account, name)
			}
		}
	}

	// An older lookup (alice at version 1) against an older pinned checkpoint.
	r, err = Verify(m.trust(), "alice", m.lookupAt("alice", 3), m.checkpoint(1), consistency)
	if err != nil {
		t.Fatal(err)
	}
	if r.Version != 1 || r.Updates != 1 {
		t.Fatalf("old lookup: version %d updates %d", r.Version, r.Updates)
	}

	// A lookup that went through JSON, as the client receives it.
	js, err := json.Marshal(m.lookup("bob"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := DecodeLookup(js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(m.trust(), "bob", l, m.checkpoint(2), m.consistency); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyForgeries performs each step's attack and expects its sentinel.
func TestVerifyForgeries(t *testing.T) {
	m := standardLog(t)
	last := m.size()

	// Another log under another key but the same origin and VRF key name.
	other := newMiniLog(t, 2, m.origin, 0)
	other.register("alice")
	other.publish()

	// A fork: the same keys and history up to size 3, then alice gains a
	// device that the main log never saw, and the fork runs one epoch longer.
	fork := newMiniLog(t, 1, m.origin, 0)
	fork.register("alice")
	fork.register("bob")
	fork.publish()
	fork.register("carol")
	fork.publish()
	fork.publish()
	fork.addDevice("alice")
	fork.addDevice("alice") // diverges from here
	fork.publish()
	fork.publish()
	fork.publish()
	fork.publish()
	if !bytes.Equal(fork.log.HashAt(3), m.log.HashAt(3)) || bytes.Equal(fork.log.HashAt(4), m.log.HashAt(4)) {
		t.Fatal("the fork does not share exactly the first three epochs")
	}

	// A log whose entry at index n says another epoch.
	skewed := newMiniLog(t, 1, m.origin, 0)
	skewed.skew = func(e uint64) uint64 { return e + 1 }
	skewed.register("alice")
	skewed.publish()

	// The wrong-origin log: the right key signs a checkpoint naming another origin.
	wrongOrigin := func() *Lookup {
		l := m.lookup("alice")
		body := strings.Replace(m.body(last), m.origin, m.origin+"x", 1)
		l.Checkpoint = string(m.sign(body))
		return l
	}

	otherVRF, err := prefix.NewVRFKey()
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i%len(b)] ^= 1; return b }
	badProof := func(from, to uint64) ([][]byte, error) {
		p, err := m.consistency(from, to)
		if len(p) > 0 {
			p[len(p)-1] = flip(p[len(p)-1], 3)
		}
		return p, err
	}
	shortProof := func(from, to uint64) ([][]byte, error) {
		p, err := m.consistency(from, to)
		return p[:len(p)-1], err
	}
	emptyProof := func(from, to uint64) ([][]byte, error) { return nil, nil }
	oddProof := func(from, to uint64) ([][]byte, error) {
		p, err := m.consistency(from, to)
		p[0] = p[0][:31]
		return p, err
	}
	netErr := errors.New("connection reset")
	failing := func(from, to uint64) ([][]byte, error) { return nil, netErr }

	type tc struct {
		name        string
		account     string
		lookup      func() *Lookup
		trust       func(Trust) Trust
		prev        *Checkpoint
		consistency func(from, to uint64) ([][]byte, error)
		want        error
		evidence    bool // an *Evidence with the prev and new notes
	}
	alice := func(f func(*Lookup)) func() *Lookup {
		return func() *Lookup { l := clone(m.lookup("alice")); f(l); return l }
	}
	aliceV1 := m.accounts["alice"].lists[0].Marshal()
	a := m.accounts["alice"]
	otherV2, err := devicelist.Next(a.lists[0], a.user, []devicelist.Entry{m.device("alice", a.user, 2)}, nil, t0.Add(2*time.Hour))
	must(t, err)
	aliceOtherV2 := otherV2.Marshal()
	if bytes.Equal(aliceOtherV2, a.list.Marshal()) || otherV2.Version != a.version {
		t.Fatal("the other version 2 is not another version 2")
	}
	cases := []tc{
		// Step 1.
		{name: "checkpoint under another log key", lookup: func() *Lookup { return other.lookup("alice") }, want: ErrSignature},
		{name: "pinned another log key", trust: func(t Trust) Trust { t.LogKey = other.vkey; return t }, want: ErrSignature},
		{name: "wrong origin", lookup: wrongOrigin, want: ErrSignature},
		{name: "pinned another origin", trust: func(t Trust) Trust { t.Origin = "backchannel/keylog/evil.example"; return t }, want: ErrSignature},
		{name: "checkpoint signature tampered", lookup: alice(func(l *Lookup) { l.Checkpoint = tamperSig(t, l.Checkpoint) }), want: ErrSignature},
		{name: "checkpoint size tampered", lookup: alice(func(l *Lookup) {
			l.Checkpoint = strings.Replace(l.Checkpoint, "\n6\n", "\n7\n", 1)
		}), want: ErrSignature},
		{name: "checkpoint unsigned", lookup: alice(func(l *Lookup) { l.Checkpoint = m.body(last) }), want: ErrMalformed},
		{name: "checkpoint empty", lookup: alice(func(l *Lookup) { l.Checkpoint = "" }), want: ErrMalformed},

		// Step 2.
		{name: "rolled back size", lookup: func() *Lookup { return m.lookupAt("alice", 4) }, prev: m.checkpoint(5), want: ErrLogRollback, evidence: true},
		{name: "rolled back to the first epoch", lookup: func() *Lookup { return m.lookupAt("bob", 1) }, prev: m.checkpoint(last), want: ErrLogRollback, evidence: true},
		{name: "fork: same size, another root", lookup: func() *Lookup { return fork.lookupAt("alice", 4) }, prev: m.checkpoint(4), want: ErrLogFork, evidence: true},
		{name: "fork: larger, no consistency from our root", lookup: func() *Lookup { return fork.lookup("alice") }, prev: m.checkpoint(4), consistency: fork.consistency, want: ErrLogFork, evidence: true},
		{name: "fork: larger, the honest log's proof", lookup: func() *Lookup { return fork.lookupAt("alice", 6) }, prev: m.checkpoint(2), want: ErrLogFork, evidence: true},
		{name: "consistency proof tampered", prev: m.checkpoint(3), consistency: badProof, want: ErrLogFork, evidence: true},
		{name: "consistency proof one hash short", prev: m.checkpoint(3), consistency: shortProof, want: ErrLogFork, evidence: true},
		{name: "consistency proof empty", prev: m.checkpoint(3), consistency: emptyProof, want: ErrLogFork, evidence: true},
		{name: "consistency proof hash of 31 bytes", prev: m.checkpoint(3), consistency: oddProof, want: ErrLogFork, evidence: true},
		{name: "consistency fetch fails", prev: m.checkpoint(3), consistency: failing, want: netErr},

		// Step 3.
		{name: "epoch is not size-1", lookup: func() *Lookup {
			// An honest older epoch's entry and proof, under the latest checkpoint.
			l := m.lookupAt("alice", last-1)
			p, err := m.log.InclusionProof(last-2, last)
			must(t, err)
			l.Checkpoint, l.Inclusion = string(m.notes[last]), p
			return l
		}, want: ErrNotLatest},
		{name: "epoch claimed latest, older entry", lookup: alice(func(l *Lookup) { l.Entry = bytes.Clone(m.entries[last-2]) }), want: ErrInclusion},
		{name: "entry tampered (leaf count)", lookup: alice(func(l *Lookup) { l.Entry[56] ^= 1 }), want: ErrInclusion},
		{name: "entry tampered (root)", lookup: alice(func(l *Lookup) { l.Entry[20] ^= 1 }), want: ErrInclusion},
		{name: "inclusion proof tampered", lookup: alice(func(l *Lookup) { l.Inclusion[0][0] ^= 1 }), want: ErrInclusion},
		{name: "inclusion proof one hash short", lookup: alice(func(l *Lookup) { l.Inclusion = l.Inclusion[1:] }), want: ErrInclusion},
		{name: "inclusion proof one hash long", lookup: alice(func(l *Lookup) { l.Inclusion = append(l.Inclusion, make([]byte, 32)) }), want: ErrInclusion},
		{name: "entry of another epoch at its index", account: "alice", lookup: func() *Lookup { return skewed.lookup("alice") },
			trust: func(Trust) Trust { return skewed.trust() }, want: ErrInclusion},
		{name: "entry of 56 bytes", lookup: alice(func(l *Lookup) { l.Entry = l.Entry[:56] }), want: ErrMalformed},
		{name: "inclusion hash of 33 bytes", lookup: alice(func(l *Lookup) { l.Inclusion[0] = append(l.Inclusion[0], 0) }), want: ErrMalformed},
		{name: "epoch beyond the log", lookup: alice(func(l *Lookup) { l.Epoch = last }), want: ErrNotLatest},

		// Step 4.
		{name: "VRF proof for another account", lookup: alice(func(l *Lookup) { _, l.VRFProof = m.vrf.Prove("bob") }), want: ErrVRF},
		{name: "VRF proof from another key", lookup: alice(func(l *Lookup) { _, l.VRFProof = otherVRF.Prove("alice") }), want: ErrVRF},
		{name: "pinned another VRF key", trust: func(t Trust) Trust { t.VRFKey = otherVRF.Public(); return t }, want: ErrVRF},
		{name: "VRF proof tampered", lookup: alice(func(l *Lookup) { l.VRFProof[40] ^= 1 }), want: ErrVRF},
		{name: "bob's whole lookup for alice", lookup: func() *Lookup { return m.lookup("bob") }, want: ErrVRF},
		{name: "VRF proof of 79 bytes", lookup: alice(func(l *Lookup) { l.VRFProof = l.VRFProof[:79] }), want: ErrMalformed},

		// Step 5.
		{name: "device list of another user", lookup: alice(func(l *Lookup) {
			b := m.accounts["bob"]
			l.DeviceList, l.Version = b.list.Marshal(), b.version
		}), want: ErrCommitment},
		{name: "device list of another version", lookup: alice(func(l *Lookup) { l.DeviceList = aliceV1 }), want: ErrCommitment},
		{name: "version tampered", lookup: alice(func(l *Lookup) { l.Version = 3 }), want: ErrCommitment},
		{name: "device list unparsable", lookup: alice(func(l *Lookup) { l.DeviceList = l.DeviceList[:len(l.DeviceList)-1] }), want: ErrMalformed},
		{name: "device list signature tampered", lookup: alice(func(l *Lookup) { l.DeviceList[len(l.DeviceList)-1] ^= 1 }), want: ErrMalformed},
		{name: "nonce of 31 bytes", lookup: alice(func(l *Lookup) { l.Nonce = l.Nonce[:31] }), want: ErrMalformed},

		// Step 6 (the commitment is checked through the root it recomputes).
		{name: "commitment over another list (stale version 1)", lookup: alice(func(l *Lookup) { l.DeviceList, l.Version = aliceV1, 1 }), want: ErrInclusion},
		{name: "commitment over another list (same version)", lookup: alice(func(l *Lookup) {
			l.DeviceList = aliceOtherV2 // signed by alice's key, another device
		}), want: ErrInclusion},
		{name: "nonce tampered", lookup: alice(func(l *Lookup) { l.Nonce[0] ^= 1 }), want: ErrInclusion},
		{name: "updates tampered", lookup: alice(func(l *Lookup) { l.Updates++ }), want: ErrInclusion},
		{name: "updates zero", lookup: alice(func(l *Lookup) { l.Updates = 0 }), want: ErrInclusion},
		{name: "path sibling tampered", lookup: alice(func(l *Lookup) { l.Path[0][31] ^= 1 }), want: ErrInclusion},
		{name: "path last sibling tampered", lookup: alice(func(l *Lookup) { l.Path[len(l.Path)-1][0] ^= 0x80 }), want: ErrInclusion},
		{name: "path one hash short", lookup: alice(func(l *Lookup) { l.Path = l.Path[1:] }), want: ErrInclusion},
		{name: "path one hash long", lookup: alice(func(l *Lookup) { l.Path = append([][]byte{make([]byte, 32)}, l.Path...) }), want: ErrInclusion},
		{name: "path empty", lookup: alice(func(l *Lookup) { l.Path = nil }), want: ErrInclusion},
		{name: "bob's path for alice", lookup: alice(func(l *Lookup) { l.Path = m.lookup("bob").Path }), want: ErrInclusion},
		{name: "path of 257 hashes", lookup: alice(func(l *Lookup) {
			l.Path = make([][]byte, 257)
			for i := range l.Path {
				l.Path[i] = make([]byte, 32)
			}
		}), want: ErrMalformed},
		{name: "path hash of 31 bytes", lookup: alice(func(l *Lookup) { l.Path[0] = l.Path[0][:31] }), want: ErrMalformed},
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Fatalf("duplicate case %q", c.name)
		}
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			l := m.lookup("alice")
			if c.lookup != nil {
				l = c.lookup()
			}
			tr := m.trust()
			if c.trust != nil {
				tr = c.trust(tr)
			}
			cons := c.consistency
			if cons == nil {
				cons = m.consistency
			}
			account := "alice"
			if c.account != "" {
				account = c.account
			}
			r, err := Verify(tr, account, l, c.prev, cons)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if r != nil {
				t.Fatal("a result with an error")
			}
			for _, s := range []error{ErrSignature, ErrLogRollback, ErrLogFork, ErrInclusion, ErrVRF, ErrCommitment, ErrNotLatest, ErrMalformed} {
				if s != c.want && errors.Is(err, s) {
					t.Fatalf("err = %v wraps %v too", err, s)
				}
			}
			var ev *Evidence
			if errors.As(err, &ev) != c.evidence {
				t.Fatalf("evidence: %v, want %v (%v)", ev, c.evidence, err)
			}
			if c.evidence && (!bytes.Equal(ev.Ours, c.prev.Note) || !bytes.Equal(ev.Theirs, []byte(l.Checkpoint))) {
				t.Fatal("the evidence does not hold both signed checkpoints")
			}
		})
	}
	// And the untampered lookup still passes with every previous checkpoint used above.
	for _, size := range []uint64{3, 4, 5, last} {
		if _, err := Verify(m.trust(), "alice", m.lookup("alice"), m.checkpoint(size), m.consistency); err != nil {
			t.Fatalf("untampered from %d: %v", size, err)
		}
	}
}

func TestVerifyNilAndEmptyLog(t *testing.T) {
	m := standardLog(t)
	if _, err := Verify(m.trust(), "alice", nil, nil, m.consistency); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nil lookup: %v", err)
	}
	// A checkpoint of the empty log (size 0) cannot carry an epoch.
	l := clone(m.lookup("alice"))
	l.Checkpoint = string(m.sign(fmt.Sprintf("%s\n0\n%s\n", m.origin, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")))
	if _, err := Verify(m.trust(), "alice", l, nil, m.consistency); !errors.Is(err, ErrNotLatest) {
		t.Fatalf("empty log: %v", err)
	}
	// A previous checkpoint of the empty log: anything extends it, no fetch.
	empty := &Checkpoint{Origin: m.origin, Size: 0}
	if _, err := Verify(m.trust(), "alice", m.lookup("alice"), empty, nil); err != nil {
		t.Fatalf("from the empty log: %v", err)
	}
	// A previous checkpoint of another origin is the client's own mix-up.
	wrong := *m.checkpoint(3)
	wrong.Origin = "elsewhere"
	if _, err := Verify(m.trust(), "alice", m.lookup("alice"), &wrong, m.consistency); !errors.Is(err, ErrMalformed) {
		t.Fatalf("prev of another origin: %v", err)
	}
	// No consistency callback where one is needed.
	if _, err := Verify(m.trust(), "alice", m.lookup("alice"), m.checkpoint(3), nil); err == nil {
		t.Fatal("verified without a consistency proof")
	}
}

func TestDecodeLookup(t *testing.T) {
	m := standardLog(t)
	good, err := json.Marshal(m.lookup("alice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"checkpoint", "epoch", "entry", "inclusion", "vrf_proof", "updates", "version", "nonce", "path", "device_list"} {
		if !bytes.Contains(good, []byte(`"`+field+`":`)) {
			t.Fatalf("field %q missing from the JSON", field)
		}
	}
	cases := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"valid", good, true},
		{"valid, trailing space", append(bytes.Clone(good), ' ', '\n'), true},
		{"unknown field", bytes.Replace(good, []byte(`{"checkpoint"`), []byte(`{"extra":1,"checkpoint"`), 1), false},
		{"trailing object", append(bytes.Clone(good), '{', '}'), false},
		{"trailing garbage", append(bytes.Clone(good), 'x'), false},
		{"bad base64", bytes.Replace(good, []byte(`"nonce":"`), []byte(`"nonce":"!`), 1), false},
		{"negative epoch", bytes.Replace(good, []byte(`"epoch":`), []byte(`"epoch":-`), 1), false},
		{"not an object", []byte(`[1,2]`), false},
		{"empty", nil, false},
		{"too large", append(bytes.Clone(good), bytes.Repeat([]byte(" "), MaxLookupSize)...), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, err := DecodeLookup(c.in)
			if c.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, not ErrMalformed", err)
			}
			if c.ok {
				if _, err := Verify(m.trust(), "alice", l, nil, m.consistency); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestParseCheckpointBody(t *testing.T) {
	m := standardLog(t)
	root := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	cases := []struct {
		name string
		text string
		size uint64
		ok   bool
	}{
		{"plain", m.origin + "\n5\n" + root + "\n", 5, true},
		{"size 0", m.origin + "\n0\n" + root + "\n", 0, true},
		{"max size", m.origin + "\n18446744073709551615\n" + root + "\n", 1<<64 - 1, true},
		{"extension lines", m.origin + "\n5\n" + root + "\next one\next two\n", 5, true},
		{"leading zero", m.origin + "\n05\n" + root + "\n", 0, false},
		{"plus sign", m.origin + "\n+5\n" + root + "\n", 0, false},
		{"minus sign", m.origin + "\n-5\n" + root + "\n", 0, false},
		{"size with space", m.origin + "\n5 \n" + root + "\n", 0, false},
		{"size overflows", m.origin + "\n18446744073709551616\n" + root + "\n", 0, false},
		{"size hex", m.origin + "\n0x5\n" + root + "\n", 0, false},
		{"root of 31 bytes", m.origin + "\n5\n" + "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA==" + "\n", 0, false},
		{"root unpadded", m.origin + "\n5\n" + strings.TrimRight(root, "=") + "\n", 0, false},
		{"root non-canonical", m.origin + "\n5\n" + root[:42] + "V=" + "\n", 0, false},
		{"root url base64", m.origin + "\n5\n" + strings.NewReplacer("+", "-", "/", "_").Replace(root) + "\n", 0, false},
		{"no root", m.origin + "\n5\n", 0, false},
		{"empty extension line", m.origin + "\n5\n" + root + "\n\next\n", 0, false},
		{"other origin", m.origin + "/x\n5\n" + root + "\n", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			signed := rawNote(t, c.text, m.signer)
			cp, err := ParseCheckpoint(m.trust(), signed)
			if c.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
			if c.ok && (cp.Size != c.size || cp.Origin != m.origin || !bytes.Equal(cp.Note, signed)) {
				t.Fatalf("parsed %+v", cp)
			}
			if !c.ok && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) {
				t.Fatalf("err = %v, no sentinel", err)
			}
		})
	}
}

// rawNote signs text with s and assembles the note by hand (note.Sign would
// refuse some of the malformed texts the tests need).
func rawNote(tb testing.TB, text string, signers ...note.Signer) []byte {
	tb.Helper()
	b := []byte(text + "\n")
	for _, s := range signers {
		sig, err := s.Sign([]byte(text))
		must(tb, err)
		h := []byte{byte(s.KeyHash() >> 24), byte(s.KeyHash() >> 16), byte(s.KeyHash() >> 8), byte(s.KeyHash())}
		b = fmt.Appendf(b, "— %s %s\n", s.Name(), b64(append(h, sig...)))
	}
	return b
}

// tamperSig flips one bit of the last signature in a note, keeping it valid base64.
func tamperSig(tb testing.TB, n string) string {
	tb.Helper()
	i := strings.LastIndex(n, " ")
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(n[i+1:], "\n"))
	must(tb, err)
	sig[10] ^= 1
	return n[:i+1] + b64(sig) + "\n"
}

func TestOwnerAlerts(t *testing.T) {
	own, other := make([]byte, 32), make([]byte, 32)
	other[0] = 1
	list := &devicelist.List{Account: "alice", AccountKey: own, Version: 2}
	yes := func([32]byte) bool { return true }
	no := func([32]byte) bool { return false }
	cases := []struct {
		name    string
		key     []byte
		updates uint64
		pub     func([32]byte) bool
		want    int
	}{
		{"own entry", own, 2, yes, 0},
		{"a list the owner did not publish", own, 2, no, 1},
		{"another account key", other, 2, yes, 1},
		{"changed more often than published", own, 4, yes, 1},
		{"both", other, 3, no, 2},
	}
	for _, tc := range cases {
		r := &Result{List: list, Updates: tc.updates}
		if got := r.OwnerAlerts(tc.key, tc.pub); len(got) != tc.want {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
}
