package prefix

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	vrf "filippo.io/mostly-harmless/vrf-r255"
)

var update = flag.Bool("update", false, "rewrite testdata/keylog_vectors.json")

const vectorsPath = "../../testdata/keylog_vectors.json"

type vectorFile struct {
	Comment     string             `json:"comment"`
	VRF         vectorVRF          `json:"vrf"`
	Commitments []vectorCommitment `json:"commitments"`
	Leaves      []vectorLeaf       `json:"leaves"`
	Nodes       []vectorNode       `json:"nodes"`
	Tree        vectorTree         `json:"tree"`
	Changes     vectorChanges      `json:"changes"`
	Entries     []vectorEntry      `json:"entries"`
	Negative    vectorNegative     `json:"negative"`
}

type vectorChanges struct {
	Hashes []vectorChangeHash  `json:"hashes"`
	Roots  []vectorChangesRoot `json:"roots"`
	Proofs []vectorChangeProof `json:"proofs"`
	Heads  []vectorChangesHead `json:"heads"`
}

type vectorChangeHash struct {
	Index      string `json:"index"`
	LeafHash   string `json:"leaf_hash"`
	Change     string `json:"change"`
	ChangeHash string `json:"change_hash"`
}

type vectorChangesRoot struct {
	K           int      `json:"k"`
	Changes     []string `json:"changes"`
	ChangesRoot string   `json:"changes_root"`
}

type vectorChangeProof struct {
	K           int      `json:"k"`
	Position    int      `json:"position"`
	Change      string   `json:"change"`
	Path        []string `json:"path"`
	ChangesRoot string   `json:"changes_root"`
}

type vectorChangesHead struct {
	Epoch       uint64   `json:"epoch,string"`
	Prev        string   `json:"prev"`
	Changes     []string `json:"changes"`
	K           int      `json:"k"`
	ChangesRoot string   `json:"changes_root"`
	Head        string   `json:"head"`
}

type vectorVRF struct {
	Suite      string          `json:"suite"`
	PrivateKey string          `json:"private_key"`
	PublicKey  string          `json:"public_key"`
	Cases      []vectorVRFCase `json:"cases"`
}

type vectorVRFCase struct {
	Account string `json:"account"`
	Alpha   string `json:"alpha"`
	Proof   string `json:"proof"`
	Beta    string `json:"beta"`
	Index   string `json:"index"`
}

type vectorCommitment struct {
	Nonce      string `json:"nonce"`
	Version    uint64 `json:"version,string"`
	ListHash   string `json:"list_hash"`
	Commitment string `json:"commitment"`
}

type vectorLeaf struct {
	Index      string `json:"index"`
	Updates    uint64 `json:"updates,string"`
	Commitment string `json:"commitment"`
	LeafHash   string `json:"leaf_hash"`
}

type vectorNode struct {
	Left     string `json:"left"`
	Right    string `json:"right"`
	NodeHash string `json:"node_hash"`
}

type vectorTree struct {
	Leaves []vectorLeaf  `json:"leaves"`
	Root   string        `json:"root"`
	Proofs []vectorProof `json:"proofs"`
}

type vectorProof struct {
	Index    string   `json:"index"`
	Depth    int      `json:"depth"`
	Siblings []string `json:"siblings"`
}

type vectorEntry struct {
	Epoch       uint64 `json:"epoch,string"`
	Time        int64  `json:"time,string"`
	Root        string `json:"root"`
	Leaves      uint64 `json:"leaves,string"`
	K           uint32 `json:"k"`
	ChangesRoot string `json:"changes_root"`
	Head        string `json:"head"`
	Entry       string `json:"entry"`
}

type vectorNegative struct {
	Entries      []vectorBadEntry       `json:"entries"`
	Inclusion    []vectorBadInclusion   `json:"inclusion"`
	VRF          []vectorBadVRF         `json:"vrf"`
	Changes      []vectorBadChanges     `json:"changes"`
	ChangeProofs []vectorBadChangeProof `json:"change_proofs"`
}

// vectorBadChanges is a change list (concatenated 64-byte changes) an epoch may not hold.
type vectorBadChanges struct {
	Name    string `json:"name"`
	Changes string `json:"changes"`
}

type vectorBadChangeProof struct {
	Name        string   `json:"name"`
	K           int      `json:"k"`
	Position    int      `json:"position"`
	Change      string   `json:"change"`
	Path        []string `json:"path"`
	ChangesRoot string   `json:"changes_root"`
}

type vectorBadEntry struct {
	Name  string `json:"name"`
	Entry string `json:"entry"`
}

type vectorBadInclusion struct {
	Name       string   `json:"name"`
	Root       string   `json:"root"`
	Index      string   `json:"index"`
	Updates    uint64   `json:"updates,string"`
	Commitment string   `json:"commitment"`
	Siblings   []string `json:"siblings"`
}

type vectorBadVRF struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
	Account   string `json:"account"`
	Proof     string `json:"proof"`
}

// withUTC is e with its time as ParseEntry returns it: whole seconds, UTC.
func (e Entry) withUTC() Entry { e.Time = time.Unix(e.Time.Unix(), 0).UTC(); return e }

func hx(b []byte) string { return hex.EncodeToString(b) }

func hexes(hs []Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hx(h[:])
	}
	return out
}

// fixed returns SHA-256 of a label: the vectors' arbitrary but reproducible bytes.
func fixed(format string, a ...any) Hash { return sha256.Sum256(fmt.Appendf(nil, format, a...)) }

// generateVectors builds the vector file from the code, checking each value as it goes.
func generateVectors(t *testing.T) *vectorFile {
	t.Helper()
	sk := fixed("backchannel keylog vector VRF key")
	sk[31] &= 0x0f // below 2^252 < the group order: a canonical scalar
	key, err := VRFKeyFromBytes(sk[:])
	if err != nil {
		t.Fatal(err)
	}
	raw, err := vrf.NewPrivateKey(sk[:])
	if err != nil {
		t.Fatal(err)
	}
	v := &vectorFile{
		Comment: "backchannel key log vectors; see docs/protocol.md section 16. Bytes in hex; 64-bit integers as decimal strings. " +
			"Rebuild: go test ./keylog/prefix -run TestVectors -update",
		VRF: vectorVRF{Suite: "ECVRF-RISTRETTO255-SHA512 (c2sp.org/vrf-r255)", PrivateKey: hx(sk[:]), PublicKey: hx(key.Public())},
	}

	accounts := []string{"alice", "bob", "carol", "dave", "a-very_long-name-of-32-bytes-xyz"}
	indices := make([]Hash, len(accounts))
	for i, a := range accounts {
		index, proof := key.Prove(a)
		beta := raw.Prove(VRFInput(a)).Hash()
		if got, err := VerifyVRF(key.Public(), a, proof); err != nil || got != index || !bytes.Equal(beta[:32], index[:]) {
			t.Fatalf("VRF %q: %v", a, err)
		}
		indices[i] = index
		v.VRF.Cases = append(v.VRF.Cases, vectorVRFCase{
			Account: a, Alpha: hx(VRFInput(a)), Proof: hx(proof), Beta: hx(beta), Index: hx(index[:]),
		})
	}

	for i := range 3 {
		nonce := fixed("nonce %d", i)
		lh := fixed("device list %d", i)
		version := uint64(i + 1)
		if i == 2 {
			version = 1<<64 - 1
		}
		c := Commitment(nonce[:], version, lh)
		v.Commitments = append(v.Commitments, vectorCommitment{hx(nonce[:]), version, hx(lh[:]), hx(c[:])})
	}

	for i := range 3 {
		c := fixed("commitment %d", i)
		updates := []uint64{1, 2, 1 << 40}[i]
		lh := LeafHash(indices[i], updates, c)
		v.Leaves = append(v.Leaves, vectorLeaf{hx(indices[i][:]), updates, hx(c[:]), hx(lh[:])})
	}
	for _, pair := range [][2]Hash{{Empty, Empty}, {fixed("left"), Empty}, {Empty, fixed("right")}, {fixed("left"), fixed("right")}} {
		n := NodeHash(pair[0], pair[1])
		v.Nodes = append(v.Nodes, vectorNode{hx(pair[0][:]), hx(pair[1][:]), hx(n[:])})
	}

	// A tree of 5 leaves: four accounts, plus an index that shares its first 12 bits with alice's,
	// so that alice's path runs through empty siblings.
	near := indices[0]
	near[1] ^= 0x08 // flips bit 12
	near[31] ^= 0xff
	treeIdx := []Hash{indices[0], indices[1], indices[2], indices[3], near}
	var tr *Tree
	var specs []leafSpec
	for i, index := range treeIdx {
		nonce := fixed("tree nonce %d", i)
		version := uint64(i%3 + 1)
		c := Commitment(nonce[:], version, fixed("tree list %d", i))
		specs = append(specs, leafSpec{index, version, c})
		tr = tr.Set(index, version, c)
		lh := LeafHash(index, version, c)
		v.Tree.Leaves = append(v.Tree.Leaves, vectorLeaf{hx(index[:]), version, hx(c[:]), hx(lh[:])})
	}
	root := tr.Root()
	if root != naiveRoot(specs) {
		t.Fatal("vector tree root differs from the reference")
	}
	v.Tree.Root = hx(root[:])
	var alicePath []Hash
	for i, index := range treeIdx {
		sib, ok := tr.Prove(index)
		if !ok || VerifyInclusion(root, index, specs[i].updates, specs[i].commitment, sib) != nil {
			t.Fatalf("tree proof %d", i)
		}
		if i == 0 {
			alicePath = sib
			if len(sib) != 13 {
				t.Fatalf("alice at depth %d, want 13", len(sib))
			}
		}
		v.Tree.Proofs = append(v.Tree.Proofs, vectorProof{hx(index[:]), len(sib), hexes(sib)})
	}

	// Change lists: 8 changes with ascending indices; roots of the first k; proofs for k = 5.
	changes := make([]Change, 8)
	for i := range changes {
		changes[i] = Change{Index: fixed("change index %d", i), Leaf: fixed("change leaf %d", i)}
	}
	slices.SortFunc(changes, func(a, b Change) int { return bytes.Compare(a.Index[:], b.Index[:]) })
	changeHexes := func(cs []Change) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = hx(c.Bytes())
		}
		return out
	}
	for _, c := range changes {
		ch := ChangeHash(c)
		v.Changes.Hashes = append(v.Changes.Hashes, vectorChangeHash{hx(c.Index[:]), hx(c.Leaf[:]), hx(c.Bytes()), hx(ch[:])})
	}
	for _, k := range []int{1, 2, 3, 5, 8} {
		if err := CheckChanges(changes[:k]); err != nil {
			t.Fatal(err)
		}
		r := ChangesRoot(changes[:k])
		v.Changes.Roots = append(v.Changes.Roots, vectorChangesRoot{k, changeHexes(changes[:k]), hx(r[:])})
	}
	five := changes[:5]
	fiveRoot := ChangesRoot(five)
	for i := range five {
		p := ChangeProof(five, i)
		if !VerifyChange(five[i], i, 5, p, fiveRoot) {
			t.Fatalf("change proof %d", i)
		}
		v.Changes.Proofs = append(v.Changes.Proofs, vectorChangeProof{5, i, hx(five[i].Bytes()), hexes(p), hx(fiveRoot[:])})
	}
	// A head chain over epochs 0..3, epoch 2 without changes.
	lists := [][]Change{changes[0:2], changes[2:3], nil, changes[3:6]}
	head := Empty
	heads := make([]Hash, len(lists))
	for n, cs := range lists {
		r := ChangesRoot(cs)
		next := NextHead(head, uint64(n), cs)
		if (len(cs) == 0) != (next == head) {
			t.Fatalf("head %d", n)
		}
		v.Changes.Heads = append(v.Changes.Heads, vectorChangesHead{uint64(n), hx(head[:]), changeHexes(cs), len(cs), hx(r[:]), hx(next[:])})
		head, heads[n] = next, next
	}

	base := time.Unix(1767225600, 0)
	for i, e := range []Entry{
		{Epoch: 0, Time: base, Root: Empty, Leaves: 0},
		{Epoch: 1, Time: base.Add(60 * time.Second), Root: LeafHash(indices[0], 1, fixed("commitment 0")), Leaves: 1,
			Changes: 1, ChangesRoot: ChangesRoot(changes[2:3]), Head: heads[1]},
		{Epoch: 2, Time: base.Add(61 * time.Second), Root: root, Leaves: 5, Head: heads[2]},
		{Epoch: 3, Time: base.Add(62 * time.Second), Root: root, Leaves: 5, Changes: 3, ChangesRoot: ChangesRoot(changes[3:6]), Head: heads[3]},
		{Epoch: 1<<63 + 7, Time: time.Unix(-86400, 0), Root: fixed("root"), Leaves: 1<<64 - 1,
			Changes: 1<<32 - 1, ChangesRoot: fixed("changes root"), Head: fixed("head")},
	} {
		b := e.Marshal()
		if got, err := ParseEntry(b); err != nil || got != e.withUTC() {
			t.Fatalf("entry %d: %v", i, err)
		}
		v.Entries = append(v.Entries, vectorEntry{e.Epoch, e.Time.Unix(), hx(e.Root[:]), e.Leaves, e.Changes, hx(e.ChangesRoot[:]), hx(e.Head[:]), hx(b)})
	}

	good := Entry{Epoch: 3, Time: base, Root: root, Leaves: 5, Changes: 3, ChangesRoot: ChangesRoot(changes[3:6]), Head: heads[3]}.Marshal()
	edit := func(f func(b []byte) []byte) string { return hx(f(append([]byte(nil), good...))) }
	setK := func(k uint32) func(b []byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[57:], k); return b }
	}
	v.Negative.Entries = []vectorBadEntry{
		{"empty", ""},
		{"124 bytes", hx(good[:124])},
		{"126 bytes", edit(func(b []byte) []byte { return append(b, 0) })},
		{"format 0x00", edit(func(b []byte) []byte { b[0] = 0; return b })},
		{"format 0x01", edit(func(b []byte) []byte { b[0] = 1; return b })},
		{"format 0x03", edit(func(b []byte) []byte { b[0] = 3; return b })},
		{"a format 0x01 entry (57 bytes)", hx(append([]byte{1}, good[1:57]...))},
		{"leaf count 5 with the empty root", edit(func(b []byte) []byte { copy(b[17:49], Empty[:]); return b })},
		{"leaf count 0 with a non-empty root", edit(func(b []byte) []byte { copy(b[49:57], make([]byte, 8)); return b })},
		{"k = 6 with 5 leaves", edit(setK(6))},
		{"k = 3 with the empty changes root", edit(func(b []byte) []byte { copy(b[61:93], Empty[:]); return b })},
		{"k = 0 with a non-empty changes root", edit(setK(0))},
		{"k = 3 with the empty head", edit(func(b []byte) []byte { copy(b[93:125], Empty[:]); return b })},
	}
	for _, n := range v.Negative.Entries {
		b, _ := hex.DecodeString(n.Entry)
		if _, err := ParseEntry(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("negative entry %q accepted", n.Name)
		}
	}

	swapped := append([]Change(nil), changes[:3]...)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	repeated := append([]Change(nil), changes[:3]...)
	repeated[2].Index = repeated[1].Index
	v.Negative.Changes = []vectorBadChanges{
		{"no changes", ""},
		{"100 bytes", hx(MarshalChanges(changes[:2])[:100])},
		{"changes 1 and 2 swapped", hx(MarshalChanges(swapped))},
		{"an index listed twice", hx(MarshalChanges(repeated))},
		{"descending", hx(MarshalChanges([]Change{changes[7], changes[0]}))},
	}
	for _, n := range v.Negative.Changes {
		b, _ := hex.DecodeString(n.Changes)
		if _, err := ParseChanges(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("negative changes %q accepted", n.Name)
		}
	}

	p2 := ChangeProof(five, 2)
	p4 := ChangeProof(five, 4)
	flippedP := append([]Hash(nil), p2...)
	flippedP[1][7] ^= 0x04
	otherLeaf := five[2]
	otherLeaf.Leaf[31] ^= 1
	badProofs := []struct {
		name string
		c    Change
		i, k int
		path []Hash
		root Hash
	}{
		{"position 3 with position 2's path", five[2], 3, 5, p2, fiveRoot},
		{"change 3 with change 2's path", five[3], 2, 5, p2, fiveRoot},
		{"leaf hash with one bit flipped", otherLeaf, 2, 5, p2, fiveRoot},
		{"sibling 1 with one bit flipped", five[2], 2, 5, flippedP, fiveRoot},
		{"top sibling dropped", five[2], 2, 5, p2[:len(p2)-1], fiveRoot},
		{"an empty sibling added on top", five[2], 2, 5, append(append([]Hash(nil), p2...), Empty), fiveRoot},
		{"k = 8 root", five[2], 2, 5, p2, ChangesRoot(changes)},
		{"position 4 as if k = 8", five[4], 4, 8, p4, fiveRoot},
		{"position 5 of 5", five[4], 5, 5, p4, fiveRoot},
		{"k = 0", five[0], 0, 0, nil, Empty},
	}
	for _, b := range badProofs {
		if VerifyChange(b.c, b.i, b.k, b.path, b.root) {
			t.Fatalf("negative change proof %q accepted", b.name)
		}
		v.Negative.ChangeProofs = append(v.Negative.ChangeProofs, vectorBadChangeProof{b.name, b.k, b.i, hx(b.c.Bytes()), hexes(b.path), hx(b.root[:])})
	}

	a := specs[0]
	flipped := append([]Hash(nil), alicePath...)
	flipped[5][0] ^= 0x80
	wrongC := a.commitment
	wrongC[0] ^= 1
	bobPath, _ := tr.Prove(specs[1].index)
	bad := []struct {
		name string
		l    leafSpec
		sib  []Hash
	}{
		{"updates one higher", leafSpec{a.index, a.updates + 1, a.commitment}, alicePath},
		{"commitment with one bit flipped", leafSpec{a.index, a.updates, wrongC}, alicePath},
		{"sibling 5 with one bit flipped", a, flipped},
		{"deepest sibling dropped", a, alicePath[1:]},
		{"top sibling dropped", a, alicePath[:len(alicePath)-1]},
		{"an empty sibling added on top", a, append(append([]Hash(nil), alicePath...), Empty)},
		{"alice's leaf with bob's path", a, bobPath},
		{"bob's index with alice's path and leaf values", leafSpec{specs[1].index, a.updates, a.commitment}, alicePath},
		{"the near leaf's index on alice's path", leafSpec{near, a.updates, a.commitment}, alicePath},
		{"257 siblings", a, append(make([]Hash, MaxDepth+1-len(alicePath)), alicePath...)},
	}
	for _, b := range bad {
		if err := VerifyInclusion(root, b.l.index, b.l.updates, b.l.commitment, b.sib); !errors.Is(err, ErrProof) {
			t.Fatalf("negative inclusion %q: %v", b.name, err)
		}
		v.Negative.Inclusion = append(v.Negative.Inclusion, vectorBadInclusion{
			b.name, hx(root[:]), hx(b.l.index[:]), b.l.updates, hx(b.l.commitment[:]), hexes(b.sib),
		})
	}

	_, aliceProof := key.Prove("alice")
	_, bobProof := key.Prove("bob")
	other, _ := VRFKeyFromBytes(func() []byte { k := fixed("another VRF key"); k[31] &= 0x0f; return k[:] }())
	mut := func(i int) string { p := append([]byte(nil), aliceProof...); p[i] ^= 1; return hx(p) }
	badVRF := []vectorBadVRF{
		{"bob's proof for alice", hx(key.Public()), "alice", hx(bobProof)},
		{"alice's proof for alicf", hx(key.Public()), "alicf", hx(aliceProof)},
		{"gamma bit flipped", hx(key.Public()), "alice", mut(0)},
		{"c bit flipped", hx(key.Public()), "alice", mut(40)},
		{"s bit flipped", hx(key.Public()), "alice", mut(60)},
		{"79-byte proof", hx(key.Public()), "alice", hx(aliceProof[:79])},
		{"another key", hx(other.Public()), "alice", hx(aliceProof)},
		{"identity public key", hx(make([]byte, 32)), "alice", hx(aliceProof)},
		{"s not canonical", hx(key.Public()), "alice", func() string {
			p := append([]byte(nil), aliceProof...)
			for i := 48; i < 80; i++ {
				p[i] = 0xff
			}
			return hx(p)
		}()},
	}
	for _, b := range badVRF {
		pk, _ := hex.DecodeString(b.PublicKey)
		pi, _ := hex.DecodeString(b.Proof)
		if _, err := VerifyVRF(pk, b.Account, pi); !errors.Is(err, ErrProof) {
			t.Fatalf("negative VRF %q: %v", b.Name, err)
		}
	}
	v.Negative.VRF = badVRF
	return v
}

// TestVectors: the vector file is exactly what the code produces (a drift test), and
// every value in it checks out through the public API.
func TestVectors(t *testing.T) {
	v := generateVectors(t)
	want, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile(vectorsPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("read vectors (rebuild with -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s has drifted from what the code produces; if the format change is intended, rebuild with: go test ./keylog/prefix -run TestVectors -update", vectorsPath)
	}

	// Read the file back and check it through the API, independent of the generator.
	var f vectorFile
	if err := json.Unmarshal(got, &f); err != nil {
		t.Fatal(err)
	}
	pk := unhex(t, f.VRF.PublicKey)
	for _, c := range f.VRF.Cases {
		if !bytes.Equal(unhex(t, c.Alpha), VRFInput(c.Account)) {
			t.Fatalf("alpha of %q", c.Account)
		}
		index, err := VerifyVRF(pk, c.Account, unhex(t, c.Proof))
		if err != nil || hx(index[:]) != c.Index {
			t.Fatalf("VRF %q: %v", c.Account, err)
		}
		if fromBeta, _ := IndexOf(unhex(t, c.Beta)); fromBeta != index {
			t.Fatalf("index of beta for %q", c.Account)
		}
	}
	root := h32(t, f.Tree.Root)
	for i, p := range f.Tree.Proofs {
		l := f.Tree.Leaves[i]
		var sib []Hash
		for _, s := range p.Siblings {
			sib = append(sib, h32(t, s))
		}
		if err := VerifyInclusion(root, h32(t, l.Index), l.Updates, h32(t, l.Commitment), sib); err != nil {
			t.Fatalf("tree proof %d: %v", i, err)
		}
	}
	parse := func(hs []string) []Change {
		var cs []Change
		for _, h := range hs {
			c, err := ParseChange(unhex(t, h))
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, c)
		}
		return cs
	}
	for _, p := range f.Changes.Proofs {
		var path []Hash
		for _, s := range p.Path {
			path = append(path, h32(t, s))
		}
		if !VerifyChange(parse([]string{p.Change})[0], p.Position, p.K, path, h32(t, p.ChangesRoot)) {
			t.Fatalf("change proof %d of %d", p.Position, p.K)
		}
	}
	head := Empty
	for _, h := range f.Changes.Heads {
		if hx(head[:]) != h.Prev {
			t.Fatalf("head chain broken before epoch %d", h.Epoch)
		}
		head = NextHead(head, h.Epoch, parse(h.Changes))
		if hx(head[:]) != h.Head {
			t.Fatalf("head of epoch %d", h.Epoch)
		}
	}
	for _, e := range f.Entries {
		got, err := ParseEntry(unhex(t, e.Entry))
		if err != nil || got.Changes != e.K || hx(got.ChangesRoot[:]) != e.ChangesRoot || hx(got.Head[:]) != e.Head {
			t.Fatalf("entry %d: %v", e.Epoch, err)
		}
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func h32(t *testing.T, s string) Hash {
	t.Helper()
	h, err := HashFromBytes(unhex(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return h
}
