package keylog

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"

	"backchannel/keylog/prefix"
)

// listing is where an index was last listed as a change.
type listing struct {
	epoch uint64
	leaf  prefix.Hash
	pos   int
}

// changeList is one epoch's change list with every level of its Merkle tree,
// so a change proof is a few lookups, and the epoch's entry.
type changeList struct {
	epoch  uint64
	entry  []byte
	levels [][]prefix.Hash // levels[0]: the change hashes; the last level: the root
}

// newChangeList builds the tree bottom-up. Pairing neighbours and carrying a
// level's odd last node up unchanged gives RFC 6962's tree shape (the left
// subtree of every node is the largest perfect one), so its root is
// prefix.ChangesRoot and its paths are prefix.ChangeProof's.
func newChangeList(epoch uint64, entry []byte, cs []prefix.Change) *changeList {
	level := make([]prefix.Hash, len(cs))
	for i, c := range cs {
		level[i] = prefix.ChangeHash(c)
	}
	cl := &changeList{epoch: epoch, entry: entry, levels: [][]prefix.Hash{level}}
	for len(level) > 1 {
		next := make([]prefix.Hash, 0, (len(level)+1)/2)
		for j := 0; j+1 < len(level); j += 2 {
			next = append(next, prefix.ChangesNodeHash(level[j], level[j+1]))
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		cl.levels = append(cl.levels, next)
		level = next
	}
	return cl
}

func (cl *changeList) root() prefix.Hash {
	if len(cl.levels[0]) == 0 {
		return prefix.Empty
	}
	return cl.levels[len(cl.levels)-1][0]
}

// proof returns the change proof of position i, deepest sibling first.
func (cl *changeList) proof(i int) [][]byte {
	path := [][]byte{}
	for _, level := range cl.levels[:len(cl.levels)-1] {
		if s := i ^ 1; s < len(level) {
			h := level[s]
			path = append(path, h[:])
		}
		i >>= 1
	}
	return path
}

func (cl *changeList) weight() int { return 2 * len(cl.levels[0]) }

// changeCache keeps recently used change lists, up to about max hashes.
type changeCache struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // of *changeList, most recently used first
	byEp  map[uint64]*list.Element
}

// changeCacheHashes bounds the cache: 1<<20 hashes is 32 MiB.
const changeCacheHashes = 1 << 20

func newChangeCache(max int) *changeCache {
	return &changeCache{max: max, order: list.New(), byEp: make(map[uint64]*list.Element)}
}

func (c *changeCache) get(epoch uint64) *changeList {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.byEp[epoch]
	if e == nil {
		return nil
	}
	c.order.MoveToFront(e)
	return e.Value.(*changeList)
}

func (c *changeCache) put(cl *changeList) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.byEp[cl.epoch]; e != nil {
		c.size -= e.Value.(*changeList).weight()
		c.order.Remove(e)
	}
	c.byEp[cl.epoch] = c.order.PushFront(cl)
	c.size += cl.weight()
	for c.size > c.max && c.order.Len() > 1 {
		last := c.order.Back()
		old := last.Value.(*changeList)
		c.order.Remove(last)
		delete(c.byEp, old.epoch)
		c.size -= old.weight()
	}
}

// changeListOf returns the change list of a published epoch, from the cache
// or else from the store and the log's entry bundle.
func (l *Log) changeListOf(ctx context.Context, epoch uint64) (*changeList, error) {
	if cl := l.changes.get(epoch); cl != nil {
		return cl, nil
	}
	recs, err := l.st.KeyLogChanges(ctx, epoch, epoch, 1)
	if err != nil {
		return nil, wrap(err, "change list of epoch %d", epoch)
	}
	if len(recs) != 1 || recs[0].Epoch != epoch {
		return nil, fmt.Errorf("%w: the store has no change list of epoch %d", ErrCorrupt, epoch)
	}
	cs, err := prefix.ParseChanges(recs[0].Changes)
	if err != nil {
		return nil, fmt.Errorf("%w: the stored change list of epoch %d: %v", ErrCorrupt, epoch, err)
	}
	raw, e, err := l.readEntry(ctx, epoch)
	if err != nil {
		return nil, err
	}
	cl := newChangeList(epoch, raw, cs)
	if int(e.Changes) != len(cs) || e.ChangesRoot != cl.root() {
		return nil, fmt.Errorf("%w: the stored change list of epoch %d does not match its entry", ErrCorrupt, epoch)
	}
	l.changes.put(cl)
	return cl, nil
}

// readEntry reads and parses the entry at log index idx from the backend's
// entry bundles. A format 1 entry is ErrOldFormat.
func (l *Log) readEntry(ctx context.Context, idx uint64) ([]byte, prefix.Entry, error) {
	size, err := l.backend.Size(ctx)
	if err != nil {
		return nil, prefix.Entry{}, err
	}
	if idx >= size {
		return nil, prefix.Entry{}, fmt.Errorf("%w: entry %d of a log of size %d", ErrCorrupt, idx, size)
	}
	bundle := idx / layout.EntryBundleWidth
	raw, err := l.backend.ReadEntryBundle(ctx, bundle, layout.PartialTileSize(0, bundle, size))
	if err != nil {
		return nil, prefix.Entry{}, wrap(err, "read the entry bundle of epoch %d", idx)
	}
	var b api.EntryBundle
	if err := b.UnmarshalText(raw); err != nil {
		return nil, prefix.Entry{}, fmt.Errorf("%w: the entry bundle of epoch %d: %v", ErrCorrupt, idx, err)
	}
	i := idx % layout.EntryBundleWidth
	if i >= uint64(len(b.Entries)) {
		return nil, prefix.Entry{}, fmt.Errorf("%w: the entry bundle of epoch %d holds %d entries", ErrCorrupt, idx, len(b.Entries))
	}
	entry := append([]byte(nil), b.Entries[i]...)
	if len(entry) > 0 && entry[0] == 1 {
		return nil, prefix.Entry{}, ErrOldFormat
	}
	e, err := prefix.ParseEntry(entry)
	if err != nil {
		return nil, prefix.Entry{}, fmt.Errorf("%w: entry %d: %v", ErrCorrupt, idx, err)
	}
	if e.Epoch != idx {
		return nil, prefix.Entry{}, fmt.Errorf("%w: entry %d names epoch %d", ErrCorrupt, idx, e.Epoch)
	}
	return entry, e, nil
}

// loadChanges reads the head of the last entry and every stored change list
// of a published epoch, checks that they chain to that head, and returns the
// index → last listing map.
func (l *Log) loadChanges(ctx context.Context) (prefix.Hash, map[prefix.Hash]listing, error) {
	listed := make(map[prefix.Hash]listing)
	// A list stored for an epoch whose entry was never appended (a crash
	// between the two writes) belongs to no epoch: the next epoch with that
	// number may have other changes, or none.
	if err := l.st.DeleteKeyLogChanges(ctx, l.next); err != nil {
		return prefix.Hash{}, nil, wrap(err, "drop the change lists of unpublished epochs")
	}
	if l.next == 0 {
		return prefix.Empty, listed, nil
	}
	_, last, err := l.readEntry(ctx, l.next-1)
	if err != nil {
		return prefix.Hash{}, nil, err
	}
	head := prefix.Empty
	from := uint64(0)
	for from < l.next {
		recs, err := l.st.KeyLogChanges(ctx, from, l.next-1, ChangesPageSize)
		if err != nil {
			return prefix.Hash{}, nil, wrap(err, "load change lists")
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			cs, err := prefix.ParseChanges(r.Changes)
			if err != nil {
				return prefix.Hash{}, nil, fmt.Errorf("%w: the stored change list of epoch %d: %v", ErrCorrupt, r.Epoch, err)
			}
			head = prefix.NextHead(head, r.Epoch, cs)
			for i, c := range cs {
				listed[c.Index] = listing{epoch: r.Epoch, leaf: c.Leaf, pos: i}
			}
		}
		from = recs[len(recs)-1].Epoch + 1
	}
	if head != last.Head {
		return prefix.Hash{}, nil, fmt.Errorf("%w: the stored change lists do not chain to the head of epoch %d (a change list is missing or altered)", ErrCorrupt, l.next-1)
	}
	return head, listed, nil
}

// changedProof proves where state s was listed, with the inclusion of that
// epoch's entry in the tree of checkpoint cp.
func (l *Log) changedProof(ctx context.Context, name string, s leafState, cp *published) (*Changed, error) {
	if !s.listed {
		return nil, fmt.Errorf("%w: the leaf of %s with %d updates was never listed", ErrCorrupt, name, s.updates)
	}
	if s.listEpoch >= cp.size {
		return nil, fmt.Errorf("%w: the leaf of %s is listed at epoch %d, after the checkpoint of size %d", ErrCorrupt, name, s.listEpoch, cp.size)
	}
	cl, err := l.changeListOf(ctx, s.listEpoch)
	if err != nil {
		return nil, err
	}
	if s.listPos >= len(cl.levels[0]) {
		return nil, fmt.Errorf("%w: position %d of %d changes at epoch %d", ErrCorrupt, s.listPos, len(cl.levels[0]), s.listEpoch)
	}
	incl, err := cp.inclusionOf(ctx, l.backend, s.listEpoch)
	if err != nil {
		return nil, err
	}
	return &Changed{Epoch: s.listEpoch, Entry: cl.entry, Inclusion: incl, Position: s.listPos, Path: cl.proof(s.listPos)}, nil
}

// maxInclusionCache bounds the inclusion proofs one published epoch keeps.
const maxInclusionCache = 4096

// supersede drops p's cache of inclusion proofs once a later epoch is
// published (lookups at p's size are then rare: LookupAt only).
func (p *published) supersede() {
	p.inclMu.Lock()
	p.incl, p.superseded = nil, true
	p.inclMu.Unlock()
}

// inclusionOf returns the inclusion proof of log index idx in p's tree,
// cached while p is the latest published epoch.
func (p *published) inclusionOf(ctx context.Context, b Backend, idx uint64) ([][]byte, error) {
	if idx == p.entry.Epoch {
		return p.inclusion, nil
	}
	p.inclMu.Lock()
	incl, ok := p.incl[idx]
	p.inclMu.Unlock()
	if ok {
		return incl, nil
	}
	pb, err := client.NewProofBuilder(ctx, p.size, b.ReadTile)
	if err != nil {
		return nil, wrap(err, "proof builder")
	}
	incl, err = pb.InclusionProof(ctx, idx)
	if err != nil {
		return nil, wrap(err, "inclusion proof of epoch %d in the log of size %d", idx, p.size)
	}
	if incl == nil {
		incl = [][]byte{}
	}
	p.inclMu.Lock()
	if p.incl == nil && !p.superseded {
		p.incl = make(map[uint64][][]byte)
	}
	if p.incl != nil && len(p.incl) < maxInclusionCache {
		p.incl[idx] = incl
	}
	p.inclMu.Unlock()
	return incl, nil
}

// Changes returns the change lists of the epochs from … to (to at most the
// latest published epoch; ErrRange otherwise), stopping after about
// Config.ChangesPageSize changes without splitting a record: the caller continues
// from Through+1.
func (l *Log) Changes(ctx context.Context, from, to uint64) (*ChangesPage, error) {
	p := l.pub.Load()
	if p == nil {
		return nil, ErrNotReady
	}
	if from > to || to > p.entry.Epoch {
		return nil, fmt.Errorf("%w: changes from epoch %d to %d (the latest epoch is %d)", ErrRange, from, to, p.entry.Epoch)
	}
	return l.changesPage(ctx, from, to)
}

// ProvedChangesPage is the JSON of GET /v1/keylog/changes with proof=1
// (docs/protocol.md §16, "Lookup API"): a ChangesPage, and the latest
// signed checkpoint with entry Epoch (the request's to) and its RFC 6962
// inclusion proof in that checkpoint's tree, so the owner's periodic check
// can fold the lists into a verified head without a lookup.
type ProvedChangesPage struct {
	ChangesPage
	Checkpoint string   `json:"checkpoint"` // the latest signed checkpoint note
	Epoch      uint64   `json:"epoch"`      // to: the epoch of Entry
	Entry      []byte   `json:"entry"`      // entry to
	Inclusion  [][]byte `json:"inclusion"`  // of log index to in the checkpoint's tree
	// Consistency is the RFC 6962 consistency proof from the request's size
	// (a checkpoint the client holds) to the checkpoint's; absent when the
	// request named no size, or one not smaller than the checkpoint's.
	Consistency [][]byte `json:"consistency,omitempty"`
}

// ChangesProved is Changes with the proof of entry to in the latest
// checkpoint. to is the latest published epoch when latest is set;
// from may be to+1 (no epoch to read: an empty page through to). A since
// between 1 and the checkpoint's size (excluded) adds the consistency proof
// from the log of that size.
func (l *Log) ChangesProved(ctx context.Context, from, to uint64, latest bool, since uint64) (*ProvedChangesPage, error) {
	p := l.pub.Load()
	if p == nil {
		return nil, ErrNotReady
	}
	if latest {
		to = p.entry.Epoch
	}
	if to > p.entry.Epoch || from > to+1 {
		return nil, fmt.Errorf("%w: changes from epoch %d to %d (the latest epoch is %d)", ErrRange, from, to, p.entry.Epoch)
	}
	out := &ProvedChangesPage{ChangesPage: ChangesPage{Through: to, Records: []ChangeRecord{}}, Checkpoint: string(p.checkpoint), Epoch: to}
	if from <= to {
		page, err := l.changesPage(ctx, from, to)
		if err != nil {
			return nil, err
		}
		out.ChangesPage = *page
	}
	entry := p.entryBytes
	if to != p.entry.Epoch {
		raw, _, err := l.readEntry(ctx, to)
		if err != nil {
			return nil, err
		}
		entry = raw
	}
	incl, err := p.inclusionOf(ctx, l.backend, to)
	if err != nil {
		return nil, err
	}
	out.Entry, out.Inclusion = entry, incl
	if since > 0 && since < p.size {
		if out.Consistency, err = l.Consistency(ctx, since, p.size); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// changesPage reads one page of the change lists of from … to (checked).
func (l *Log) changesPage(ctx context.Context, from, to uint64) (*ChangesPage, error) {
	recs, err := l.st.KeyLogChanges(ctx, from, to, l.cfg.ChangesPageSize)
	if err != nil {
		return nil, wrap(err, "change lists %d to %d", from, to)
	}
	page := &ChangesPage{Through: to, Records: make([]ChangeRecord, 0, len(recs))}
	n := 0
	for _, r := range recs {
		if len(r.Changes) == 0 || len(r.Changes)%prefix.ChangeSize != 0 {
			return nil, fmt.Errorf("%w: the stored change list of epoch %d has %d bytes", ErrCorrupt, r.Epoch, len(r.Changes))
		}
		cr := ChangeRecord{Epoch: r.Epoch, Changes: make([][]byte, 0, len(r.Changes)/prefix.ChangeSize)}
		for o := 0; o < len(r.Changes); o += prefix.ChangeSize {
			cr.Changes = append(cr.Changes, r.Changes[o:o+prefix.ChangeSize])
		}
		n += len(cr.Changes)
		page.Records = append(page.Records, cr)
	}
	if n >= l.cfg.ChangesPageSize {
		page.Through = recs[len(recs)-1].Epoch
	}
	return page, nil
}

// OwnStates returns every leaf state the log recorded for account name,
// ascending by updates (none for an unknown account).
func (l *Log) OwnStates(ctx context.Context, name string) ([]State, error) {
	sts, err := l.st.KeyLogStates(ctx, name)
	if err != nil {
		return nil, wrap(err, "leaf states of %s", name)
	}
	out := make([]State, 0, len(sts))
	for _, s := range sts {
		out = append(out, State{Updates: s.Updates, Version: s.Version, Nonce: s.Nonce})
	}
	return out, nil
}
