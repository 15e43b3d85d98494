package verify

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"backchannel/devicelist"
	"backchannel/identity"
	"backchannel/keylog/prefix"
)

// This file is a Tessera-free mini key log for the tests: an RFC 6962 log of
// epoch entries (transparency-dev/merkle's reference tree), checkpoints
// signed as C2SP notes, optional witness cosignatures, the prefix tree and
// VRF of keylog/prefix, and real device lists. Everything is derived from a
// seed, so fuzz seeds stay meaningful from run to run.

var t0 = time.Unix(1_760_000_000, 0).UTC()

type account struct {
	user    *identity.User
	updates uint64
	version uint64
	nonce   []byte
	list    *devicelist.List
	lists   []*devicelist.List // every version, oldest first
	listed  listedAt           // where the current leaf was listed (at a snapshot)
}

// listedAt is where a leaf was last listed as a change.
type listedAt struct {
	epoch uint64
	pos   int
	leaf  prefix.Hash
}

type miniLog struct {
	tb       testing.TB
	rnd      io.Reader
	origin   string
	skey     string
	signer   note.Signer
	vkey     string
	vrf      *prefix.VRFKey
	wsigners []note.Signer // cosignature/v1 signers
	wvkeys   []string      // their Ed25519 vkeys
	wskeys   []string      // and private keys
	cosign   []int         // which witnesses cosign each new checkpoint

	tree     *prefix.Tree
	log      *testonly.Tree
	entries  [][]byte
	notes    [][]byte                  // notes[size] is the checkpoint of that size (nil for 0)
	trees    []*prefix.Tree            // trees[epoch]
	accounts map[string]*account       // by name
	snaps    []map[string]account      // snaps[epoch]: the accounts at that epoch
	skew     func(epoch uint64) uint64 // if set, the epoch field written into an entry

	pending map[prefix.Hash]prefix.Hash // index → leaf hash set since the last epoch
	listed  map[prefix.Hash]listedAt    // index → its last listing
	hide    map[prefix.Hash]bool        // indices whose changes a dishonest log leaves out
	changes map[uint64][]prefix.Change  // the change list of every epoch with changes
	head    prefix.Hash
}

// newMiniLog makes a log whose keys come from seed; witnesses is how many
// witness keys to make (none cosign until cosign is set).
func newMiniLog(tb testing.TB, seed uint64, origin string, witnesses int) *miniLog {
	tb.Helper()
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	rnd := rand.NewChaCha8(s)
	m := &miniLog{tb: tb, rnd: rnd, origin: origin, log: testonly.New(rfc6962.DefaultHasher),
		notes: [][]byte{nil}, accounts: map[string]*account{},
		pending: map[prefix.Hash]prefix.Hash{}, listed: map[prefix.Hash]listedAt{}, hide: map[prefix.Hash]bool{},
		changes: map[uint64][]prefix.Change{}}
	var err error
	m.skey, m.vkey, err = note.GenerateKey(rnd, origin)
	must(tb, err)
	m.signer, err = note.NewSigner(m.skey)
	must(tb, err)
	k := m.bytes(32)
	k[31] &= 0x0f // below 2^252: a canonical, nonzero (w.h.p.) scalar
	m.vrf, err = prefix.VRFKeyFromBytes(k)
	must(tb, err)
	for i := range witnesses {
		sk, vk, err := note.GenerateKey(rnd, fmt.Sprintf("witness%d.example", i))
		must(tb, err)
		ws, err := fnote.NewSignerForCosignatureV1(sk)
		must(tb, err)
		m.wsigners = append(m.wsigners, ws)
		m.wvkeys = append(m.wvkeys, vk)
		m.wskeys = append(m.wskeys, sk)
	}
	return m
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func (m *miniLog) bytes(n int) []byte {
	b := make([]byte, n)
	_, err := io.ReadFull(m.rnd, b)
	must(m.tb, err)
	return b
}

func (m *miniLog) trust() Trust {
	return Trust{Origin: m.origin, LogKey: m.vkey, VRFKey: m.vrf.Public(), Witnesses: m.wvkeys, WitnessQuorum: len(m.cosign)}
}

// register creates account name with a one-device list (version 1).
func (m *miniLog) register(name string) *account {
	m.tb.Helper()
	u, err := identity.UserFromSeed(m.bytes(32))
	must(m.tb, err)
	l, err := devicelist.Genesis(name, u, []devicelist.Entry{m.device(name, u, 1)}, t0)
	must(m.tb, err)
	a := &account{user: u}
	m.accounts[name] = a
	m.setList(name, l)
	return a
}

func (m *miniLog) device(name string, u *identity.User, id uint32) devicelist.Entry {
	m.tb.Helper()
	k, err := identity.RestoreDeviceKeys(m.bytes(32), m.bytes(32))
	must(m.tb, err)
	e, err := devicelist.NewEntry(name, u.Public(), id, k.SigningKey(), k.DHPublic(), "device "+strconv.Itoa(int(id)), t0)
	must(m.tb, err)
	return e
}

// addDevice publishes the next version of name's list with one more device.
func (m *miniLog) addDevice(name string) {
	m.tb.Helper()
	a := m.accounts[name]
	l, err := devicelist.Next(a.list, a.user, []devicelist.Entry{m.device(name, a.user, a.list.MaxID+1)}, nil, t0.Add(time.Hour))
	must(m.tb, err)
	m.setList(name, l)
}

// setList makes l the account's leaf: one more update, a fresh nonce.
func (m *miniLog) setList(name string, l *devicelist.List) {
	a := m.accounts[name]
	a.updates++
	a.version = l.Version
	a.nonce = m.bytes(prefix.NonceSize)
	a.list = l
	a.lists = append(a.lists, l)
	idx, _ := m.vrf.Prove(name)
	m.setLeaf(idx, a.updates, prefix.Commitment(a.nonce, a.version, l.Hash()))
}

// setLeaf sets a leaf of the working tree, to be listed at the next epoch.
func (m *miniLog) setLeaf(idx prefix.Hash, updates uint64, commitment prefix.Hash) {
	m.tree = m.tree.Set(idx, updates, commitment)
	m.pending[idx] = prefix.LeafHash(idx, updates, commitment)
}

// nextChanges takes the changes of the next epoch: the pending leaves whose
// hash differs from their last listing, but for the hidden indices.
func (m *miniLog) nextChanges(epoch uint64) []prefix.Change {
	var cs []prefix.Change
	for idx, leaf := range m.pending {
		if m.hide[idx] {
			continue
		}
		if ls, ok := m.listed[idx]; ok && ls.leaf == leaf {
			continue
		}
		cs = append(cs, prefix.Change{Index: idx, Leaf: leaf})
	}
	m.pending = map[prefix.Hash]prefix.Hash{}
	slices.SortFunc(cs, func(a, b prefix.Change) int { return bytes.Compare(a.Index[:], b.Index[:]) })
	for i, c := range cs {
		m.listed[c.Index] = listedAt{epoch: epoch, pos: i, leaf: c.Leaf}
	}
	if len(cs) > 0 {
		m.changes[epoch] = cs
	}
	m.head = prefix.NextHead(m.head, epoch, cs)
	return cs
}

// entry makes the entry of the next epoch with its changes.
func (m *miniLog) entry(epoch, field uint64) []byte {
	cs := m.nextChanges(epoch)
	return prefix.Entry{Epoch: field, Time: t0.Add(time.Duration(epoch) * time.Minute), Root: m.tree.Root(), Leaves: uint64(m.tree.Len()),
		Changes: uint32(len(cs)), ChangesRoot: prefix.ChangesRoot(cs), Head: m.head}.Marshal()
}

// records returns the change records of epochs from … to, as the server serves them.
func (m *miniLog) records(from, to uint64) []Record {
	var out []Record
	for e := from; e <= to; e++ {
		cs, ok := m.changes[e]
		if !ok {
			continue
		}
		r := Record{Epoch: e}
		for _, c := range cs {
			r.Changes = append(r.Changes, c.Bytes())
		}
		out = append(out, r)
	}
	return out
}

// entryAt parses the entry of an epoch.
func (m *miniLog) entryAt(epoch uint64) prefix.Entry {
	m.tb.Helper()
	e, err := prefix.ParseEntry(m.entries[epoch])
	must(m.tb, err)
	return e
}

// publish appends the next epoch entry and signs the new checkpoint.
func (m *miniLog) publish() {
	m.tb.Helper()
	epoch := m.log.Size()
	field := epoch
	if m.skew != nil {
		field = m.skew(epoch)
	}
	b := m.entry(epoch, field)
	m.entries = append(m.entries, b)
	m.log.AppendData(b)
	m.trees = append(m.trees, m.tree)
	snap := map[string]account{}
	for n, a := range m.accounts {
		s := *a
		idx, _ := m.vrf.Prove(n)
		s.listed = m.listed[idx]
		snap[n] = s
	}
	m.snaps = append(m.snaps, snap)
	m.notes = append(m.notes, m.sign(m.body(m.log.Size()), m.cosign...))
}

func (m *miniLog) body(size uint64) string {
	return fmt.Sprintf("%s\n%d\n%s\n", m.origin, size, base64.StdEncoding.EncodeToString(m.log.HashAt(size)))
}

// sign signs text with the log key and the witnesses numbered in cosigners.
func (m *miniLog) sign(text string, cosigners ...int) []byte {
	m.tb.Helper()
	signers := []note.Signer{m.signer}
	for _, i := range cosigners {
		signers = append(signers, m.wsigners[i])
	}
	b, err := note.Sign(&note.Note{Text: text}, signers...)
	must(m.tb, err)
	return b
}

func (m *miniLog) size() uint64 { return m.log.Size() }

// checkpoint returns the verified checkpoint of a size, as a client stores it.
func (m *miniLog) checkpoint(size uint64) *Checkpoint {
	m.tb.Helper()
	cp, err := ParseCheckpoint(m.trust(), m.notes[size])
	must(m.tb, err)
	return &cp
}

// lookup answers a lookup for name at the latest epoch.
func (m *miniLog) lookup(name string) *Lookup { return m.lookupAt(name, m.size()) }

// lookupAt answers a lookup for name as the server did when the log had size.
func (m *miniLog) lookupAt(name string, size uint64) *Lookup {
	m.tb.Helper()
	epoch := size - 1
	a, ok := m.snaps[epoch][name]
	if !ok {
		m.tb.Fatalf("no account %q at epoch %d", name, epoch)
	}
	incl, err := m.log.InclusionProof(epoch, size)
	must(m.tb, err)
	idx, pi := m.vrf.Prove(name)
	sib, ok := m.trees[epoch].Prove(idx)
	if !ok {
		m.tb.Fatalf("no leaf for %q", name)
	}
	path := make([][]byte, len(sib))
	for i := range sib {
		path[i] = bytes.Clone(sib[i][:])
	}
	return &Lookup{
		Checkpoint: string(m.notes[size]),
		Epoch:      epoch,
		Entry:      bytes.Clone(m.entries[epoch]),
		Inclusion:  incl,
		VRFProof:   pi,
		Updates:    a.updates,
		Version:    a.version,
		Nonce:      bytes.Clone(a.nonce),
		Path:       path,
		DeviceList: a.list.Marshal(),
		Changed:    m.changed(a.listed, size),
	}
}

// changed proves a listing in the log of size.
func (m *miniLog) changed(ls listedAt, size uint64) *Changed {
	m.tb.Helper()
	cs := m.changes[ls.epoch]
	if len(cs) == 0 {
		return &Changed{Epoch: ls.epoch, Entry: bytes.Clone(m.entries[ls.epoch])} // never listed: a dishonest log's answer
	}
	incl, err := m.log.InclusionProof(ls.epoch, size)
	must(m.tb, err)
	var path [][]byte
	for _, h := range prefix.ChangeProof(cs, ls.pos) {
		path = append(path, bytes.Clone(h[:]))
	}
	return &Changed{Epoch: ls.epoch, Entry: bytes.Clone(m.entries[ls.epoch]), Inclusion: incl, Position: ls.pos, Path: path}
}

// consistency serves consistency proofs of this log.
func (m *miniLog) consistency(from, to uint64) ([][]byte, error) {
	return m.log.ConsistencyProof(from, to)
}

// clone copies a lookup deeply, so a test can tamper with it.
func clone(l *Lookup) *Lookup {
	c := *l
	c.Entry = bytes.Clone(l.Entry)
	c.VRFProof = bytes.Clone(l.VRFProof)
	c.Nonce = bytes.Clone(l.Nonce)
	c.DeviceList = bytes.Clone(l.DeviceList)
	c.Inclusion = cloneHashes(l.Inclusion)
	c.Path = cloneHashes(l.Path)
	if l.Changed != nil {
		ch := *l.Changed
		ch.Entry = bytes.Clone(ch.Entry)
		ch.Inclusion = cloneHashes(ch.Inclusion)
		ch.Path = cloneHashes(ch.Path)
		c.Changed = &ch
	}
	return &c
}

func cloneHashes(h [][]byte) [][]byte {
	if h == nil {
		return nil
	}
	c := make([][]byte, len(h))
	for i := range h {
		c[i] = bytes.Clone(h[i])
	}
	return c
}

// standardLog is the log most tests use: three accounts, alice with two
// list versions, and six epochs.
func standardLog(tb testing.TB) *miniLog {
	m := newMiniLog(tb, 1, "backchannel/keylog/example.org", 0)
	m.register("alice")
	m.register("bob")
	m.publish() // epoch 0, size 1
	m.register("carol")
	m.publish() // size 2
	m.publish() // size 3, a heartbeat
	m.addDevice("alice")
	m.publish() // size 4
	m.publish() // size 5
	m.publish() // size 6
	return m
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// pad appends n filler epochs (entries only, no lookups or checkpoints at
// those sizes but the last), to give the log a realistic size quickly.
func (m *miniLog) pad(n int) {
	m.tb.Helper()
	for range n {
		epoch := m.log.Size()
		b := m.entry(epoch, epoch)
		m.entries = append(m.entries, b)
		m.log.AppendData(b)
		m.trees = append(m.trees, nil)
		m.snaps = append(m.snaps, nil)
		m.notes = append(m.notes, nil)
	}
	m.notes[m.log.Size()] = m.sign(m.body(m.log.Size()), m.cosign...)
}

// fill adds n accounts that have only a random leaf (no device list).
func (m *miniLog) fill(n int) {
	for range n {
		m.setLeaf(prefix.Hash(m.bytes(prefix.HashSize)), 1, prefix.Hash(m.bytes(prefix.HashSize)))
	}
}
