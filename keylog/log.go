package keylog

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	tlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
	"k8s.io/klog/v2"

	"backchannel/devicelist"
	"backchannel/entropy"
	"backchannel/keylog/prefix"
	"backchannel/store"
)

var klogOnce sync.Once

// Config configures Open.
type Config struct {
	Dir   string // the log's directory (DATA/keylog); created 0700
	Store Store
	// Origin is the checkpoint origin (OriginPrefix + host). Empty keeps the
	// stored log key's origin, or takes DefaultOrigin on first start.
	Origin        string
	DefaultOrigin string
	// Heartbeat is the longest time between epochs (default DefaultHeartbeat).
	Heartbeat time.Duration
	// EpochDelay is how long the sequencer gathers updates after the first
	// unpublished one before it publishes (default DefaultEpochDelay, at
	// most MaxEpochDelay).
	EpochDelay time.Duration
	// Backend is the Merkle log; nil opens Tessera's POSIX driver in
	// Dir/tiles with POSIX.
	Backend Backend
	POSIX   POSIXOptions
	Entropy entropy.Source // nonces and first-start keys (default entropy.System)
	// ChangesPageSize is about how many changes a Changes page holds
	// (default and at most ChangesPageSize).
	ChangesPageSize int
	Logger          *slog.Logger
}

// change is a change of the epoch being published, with the account and leaf state it is.
type change struct {
	prefix.Change
	name    string
	updates uint64
}

// leafState is one version of an account's leaf.
type leafState struct {
	updates, version uint64
	nonce            [prefix.NonceSize]byte
	commitment       prefix.Hash
	// Where this state's leaf was listed as a change (once published).
	listed    bool
	listEpoch uint64
	listPos   int
}

// account is what the log keeps in memory per account: its index and its
// leaf states from the one in the published tree (oldest) to the newest.
type account struct {
	index  prefix.Hash
	states []leafState
}

// published is one published epoch: what lookups are answered from.
type published struct {
	entry      prefix.Entry
	entryBytes []byte
	size       uint64
	checkpoint []byte
	inclusion  [][]byte
	tree       *prefix.Tree

	inclMu     sync.Mutex
	incl       map[uint64][][]byte // inclusion proofs of earlier epochs in this tree
	superseded bool                // a later epoch is published: incl is no longer kept
}

// Log is the server's key log. Create it with Open; Close it after the
// server has stopped and before the store closes.
type Log struct {
	cfg      Config
	st       Store
	backend  Backend
	signer   note.Signer
	verifier note.Verifier
	vkey     string
	vrf      *prefix.VRFKey
	log      *slog.Logger
	src      entropy.Source

	mu       sync.RWMutex
	accounts map[string]*account
	work     *prefix.Tree        // every recorded update
	changed  map[string]struct{} // accounts changed since the last snapshot
	dirty    bool

	pub       atomic.Pointer[published]
	history   []*published            // the last RetainEpochs published epochs, oldest first (under mu)
	next      uint64                  // the next epoch (sequencer only, and Open)
	head      prefix.Hash             // head(next-1) (sequencer only, and Open)
	listed    map[prefix.Hash]listing // index → where its leaf was last listed (sequencer only, and Open)
	checkAll  bool                    // the next epoch compares every leaf with its listing, not only the changed ones (sequencer only)
	changes   *changeCache
	reconcile atomic.Bool // the store may hold lists the log has not recorded
	kick      chan struct{}
	closing   chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating on first start) the key log in cfg.Dir, rebuilds
// the tree from the store, records any device list the store holds and
// the log missed, publishes an epoch and starts the sequencer.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Dir == "" || cfg.Store == nil {
		return nil, errors.New("Open needs a directory and a store")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.EpochDelay <= 0 {
		cfg.EpochDelay = DefaultEpochDelay
	}
	cfg.EpochDelay = min(cfg.EpochDelay, MaxEpochDelay, cfg.Heartbeat)
	if cfg.ChangesPageSize <= 0 || cfg.ChangesPageSize > ChangesPageSize {
		cfg.ChangesPageSize = ChangesPageSize
	}
	if cfg.Entropy == nil {
		cfg.Entropy = entropy.System{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Tessera logs through klog, a process-wide logger: the first log
	// opened sends it to its slog logger instead of stderr.
	klogOnce.Do(func() { klog.SetSlogLogger(cfg.Logger.With("component", "tessera")) })
	if cfg.Origin == "" && cfg.DefaultOrigin == "" {
		return nil, errors.New("Open needs an origin or a default origin")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, wrap(err, "create %s", cfg.Dir)
	}
	signer, vkey, err := loadLogKey(cfg.Dir, cfg.Origin, cfg.DefaultOrigin, cfg.Entropy)
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, wrap(err, "log verifier key")
	}
	vrf, err := loadVRFKey(cfg.Dir, cfg.Entropy)
	if err != nil {
		return nil, err
	}
	l := &Log{
		cfg: cfg, st: cfg.Store, signer: signer, verifier: verifier, vkey: vkey, vrf: vrf,
		log: cfg.Logger, src: cfg.Entropy,
		accounts: make(map[string]*account), changed: make(map[string]struct{}),
		kick: make(chan struct{}, 1), closing: make(chan struct{}), done: make(chan struct{}),
		changes: newChangeCache(changeCacheHashes),
	}
	if err := l.rebuild(ctx); err != nil {
		return nil, err
	}
	l.backend = cfg.Backend
	if l.backend == nil {
		l.backend, err = NewPOSIX(filepath.Join(cfg.Dir, TilesDir), signer, verifier, cfg.POSIX)
		if err != nil {
			return nil, err
		}
	}
	fail := func(err error) (*Log, error) {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return nil, errors.Join(err, l.backend.Close(cctx))
	}
	if l.next, err = l.backend.Size(ctx); err != nil {
		return fail(err)
	}
	if l.head, l.listed, err = l.loadChanges(ctx); err != nil {
		return fail(err)
	}
	// The leaves the store holds now may differ from the ones last listed
	// (updates while the log was down, or recorded but not published): the
	// first epoch compares every leaf. Those unchanged keep their listing.
	l.checkAll = true
	for _, a := range l.accounts {
		s := &a.states[len(a.states)-1]
		if ls, ok := l.listed[a.index]; ok && ls.leaf == prefix.LeafHash(a.index, s.updates, s.commitment) {
			s.listed, s.listEpoch, s.listPos = true, ls.epoch, ls.pos
		}
	}
	if err := l.catchUp(ctx); err != nil {
		return fail(err)
	}
	// The tree of the last published epoch is gone with the old process:
	// publish the current one at once, so lookups have an epoch to answer from.
	if err := l.publish(ctx); err != nil {
		return fail(err)
	}
	go l.run()
	return l, nil
}

// rebuild loads every leaf from the store into the working tree.
func (l *Log) rebuild(ctx context.Context) error {
	after := ""
	checked := false
	for {
		page, err := l.st.KeyLogLeaves(ctx, after, rebuildPage)
		if err != nil {
			return wrap(err, "load leaves")
		}
		if len(page) == 0 {
			break
		}
		for _, lf := range page {
			idx, err := prefix.HashFromBytes(lf.Index)
			if err != nil {
				return fmt.Errorf("%w: leaf of %s: %v", ErrCorrupt, lf.Account, err)
			}
			if !checked { // the stored indices were made with this VRF key
				want, _ := l.vrf.Prove(lf.Account)
				if subtle.ConstantTimeCompare(want[:], idx[:]) != 1 {
					return fmt.Errorf("%w: the stored leaves were indexed under another VRF key than %s", ErrIdentity, filepath.Join(l.cfg.Dir, VRFKeyFile))
				}
				checked = true
			}
			s, err := stateOf(lf)
			if err != nil {
				return err
			}
			l.accounts[lf.Account] = &account{index: idx, states: []leafState{s}}
			l.work = l.work.Set(idx, s.updates, s.commitment)
		}
		after = page[len(page)-1].Account
	}
	return nil
}

func stateOf(lf store.KeyLogLeaf) (leafState, error) {
	var s leafState
	if len(lf.Nonce) != prefix.NonceSize || len(lf.ListHash) != 32 {
		return s, fmt.Errorf("%w: leaf of %s has a bad nonce or list hash", ErrCorrupt, lf.Account)
	}
	var lh [32]byte
	copy(lh[:], lf.ListHash)
	copy(s.nonce[:], lf.Nonce)
	s.updates, s.version = lf.Updates, lf.Version
	s.commitment = prefix.Commitment(lf.Nonce, lf.Version, lh)
	return s, nil
}

// Update records that account's device list is now version, with ListHash
// listHash. It returns once the change is durable in the store; the
// sequencer publishes it within the epoch delay. An older or equal version
// than the recorded one changes nothing. On an error the sequencer
// records the list from the store later.
func (l *Log) Update(ctx context.Context, account string, version uint64, listHash [32]byte) error {
	select {
	case <-l.closing:
		return ErrClosed
	default:
	}
	err := l.update(ctx, account, version, listHash)
	if err != nil {
		l.reconcile.Store(true)
		l.signal()
	}
	return err
}

func (l *Log) update(ctx context.Context, name string, version uint64, listHash [32]byte) error {
	l.mu.RLock()
	a := l.accounts[name]
	l.mu.RUnlock()
	var index prefix.Hash
	if a != nil {
		index = a.index
	} else {
		index, _ = l.vrf.Prove(name)
	}
	var nonce [prefix.NonceSize]byte
	if err := l.src.Bytes(nonce[:]); err != nil {
		return wrap(err, "nonce")
	}
	lf, changed, err := l.st.PutKeyLogLeaf(ctx, store.KeyLogLeaf{Account: name, Index: index[:], Version: version, Nonce: nonce[:], ListHash: listHash[:]})
	if err != nil {
		return wrap(err, "record %s v%d", name, version)
	}
	if !changed {
		return nil
	}
	s, err := stateOf(lf)
	if err != nil {
		return err
	}
	l.mu.Lock()
	a = l.accounts[name]
	if a == nil {
		a = &account{index: index}
		l.accounts[name] = a
	}
	// Concurrent updates of one account reach here in any order; the
	// store's Updates count orders them.
	if n := len(a.states); n == 0 || a.states[n-1].updates < s.updates {
		a.states = append(a.states, s)
		l.work = l.work.Set(index, s.updates, s.commitment)
		l.changed[name] = struct{}{}
		l.dirty = true
	}
	l.mu.Unlock()
	l.signal()
	return nil
}

func (l *Log) signal() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// catchUp records the device lists the store holds and the log has not
// recorded (an Update that failed, a crash between the two writes).
func (l *Log) catchUp(ctx context.Context) error {
	for {
		stale, err := l.st.KeyLogStale(ctx, rebuildPage)
		if err != nil {
			return wrap(err, "find unrecorded device lists")
		}
		progress := false
		for _, s := range stale {
			dl, err := devicelist.Parse(s.List)
			if err != nil || dl.Version != s.Version || dl.Account != s.Account {
				// Names only at debug level (docs/threat-model.md: logs name nobody).
				l.log.Error("key log: a stored device list does not parse; not logged", "version", s.Version, "err", err)
				l.log.Debug("key log: the device list that does not parse", "user", s.Account, "version", s.Version)
				continue
			}
			if err := l.update(ctx, s.Account, s.Version, dl.Hash()); err != nil {
				return err
			}
			l.log.Info("key log: recorded a device list it had missed", "version", s.Version)
			l.log.Debug("key log: the device list it had missed", "user", s.Account, "version", s.Version)
			progress = true
		}
		if len(stale) < rebuildPage || !progress {
			return nil
		}
	}
}

// run is the sequencer.
func (l *Log) run() {
	defer close(l.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.closing:
		case <-l.done:
		}
		// Leave the last publish a moment to finish, then give up on it.
		select {
		case <-time.After(5 * time.Second):
			cancel()
		case <-l.done:
		}
	}()
	heartbeat := time.NewTimer(l.cfg.Heartbeat)
	defer heartbeat.Stop()
	lastReconcile := time.Now()
	backoff := 100 * time.Millisecond
	for {
		closing := false
		select {
		case <-l.closing:
			closing = true
		case <-heartbeat.C:
		case <-l.kick:
			// Gather the updates of one epoch delay.
			select {
			case <-time.After(l.cfg.EpochDelay):
			case <-l.closing:
				closing = true
			}
		}
		if l.reconcile.Swap(false) || time.Since(lastReconcile) > reconcileEvery {
			lastReconcile = time.Now()
			if err := l.catchUp(ctx); err != nil {
				l.log.Error("key log: catching up with the store failed", "err", err)
				l.reconcile.Store(true)
			}
		}
		if closing {
			l.mu.RLock()
			dirty := l.dirty
			l.mu.RUnlock()
			if dirty {
				if err := l.publish(ctx); err != nil {
					l.log.Error("key log: the last epoch was not published (the store keeps the updates)", "err", err)
				}
			}
			return
		}
		if err := l.publish(ctx); err != nil {
			l.log.Error("key log: publishing an epoch failed; retrying", "epoch", l.next, "err", err)
			heartbeat.Reset(backoff)
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		heartbeat.Reset(l.cfg.Heartbeat)
	}
}

// publish appends the next epoch over the working tree and, once a
// checkpoint publishes it, answers lookups from it.
func (l *Log) publish(ctx context.Context) error {
	l.mu.Lock()
	snap := l.work
	changed := l.changed
	l.changed = make(map[string]struct{})
	l.dirty = false
	// The epoch's changes: every candidate leaf whose hash differs from the
	// one last listed for its index.
	var cands []change
	consider := func(name string, a *account) {
		u, c, ok := snap.Get(a.index)
		if !ok {
			return // recorded after the snapshot was taken? (never: snap holds every account in l.accounts)
		}
		leaf := prefix.LeafHash(a.index, u, c)
		if ls, ok := l.listed[a.index]; ok && ls.leaf == leaf {
			return
		}
		cands = append(cands, change{Change: prefix.Change{Index: a.index, Leaf: leaf}, name: name, updates: u})
	}
	if l.checkAll {
		for name, a := range l.accounts {
			consider(name, a)
		}
	} else {
		for name := range changed {
			consider(name, l.accounts[name])
		}
	}
	l.mu.Unlock()
	restore := func() {
		l.mu.Lock()
		for k := range changed {
			l.changed[k] = struct{}{}
		}
		l.dirty = true
		l.mu.Unlock()
	}
	slices.SortFunc(cands, func(a, b change) int { return bytes.Compare(a.Index[:], b.Index[:]) })
	cs := make([]prefix.Change, len(cands))
	for i, c := range cands {
		cs[i] = c.Change
	}
	e := prefix.Entry{Epoch: l.next, Time: time.Now().UTC().Truncate(time.Second), Root: snap.Root(), Leaves: uint64(snap.Len()),
		Changes: uint32(len(cs)), ChangesRoot: prefix.ChangesRoot(cs), Head: prefix.NextHead(l.head, l.next, cs)}
	raw := e.Marshal()
	if len(cs) > 0 {
		// Durably stored before the entry that commits to it is appended (a
		// retried epoch overwrites it).
		if err := l.st.PutKeyLogChanges(ctx, e.Epoch, prefix.MarshalChanges(cs)); err != nil {
			restore()
			return wrap(err, "store the changes of epoch %d", e.Epoch)
		}
	}
	idx, cp, appendErr := l.backend.Append(ctx, raw)
	if appendErr != nil && !errors.Is(appendErr, ErrSequenced) {
		restore()
		return appendErr
	}
	if idx != e.Epoch {
		restore()
		return fmt.Errorf("%w: epoch %d was appended at log index %d (another writer?)", ErrCorrupt, e.Epoch, idx)
	}
	// The entry is in the log from here on, whatever fails next: the epoch
	// is sequenced (its changes listed, its head chained), and only serving
	// it waits. Undoing it would append a second entry claiming this epoch.
	l.next = idx + 1
	l.head = e.Head
	l.checkAll = false
	for i, c := range cs {
		l.listed[c.Index] = listing{epoch: idx, leaf: c.Leaf, pos: i}
	}
	if len(cs) > 0 {
		l.changes.put(newChangeList(idx, raw, cs))
	}
	// Record where each listed state was listed before lookups see the epoch.
	l.mu.Lock()
	for i, c := range cands {
		a := l.accounts[c.name]
		for j := range a.states {
			if a.states[j].updates == c.updates {
				a.states[j].listed, a.states[j].listEpoch, a.states[j].listPos = true, idx, i
			}
		}
	}
	l.mu.Unlock()
	// A failure from here on leaves lookups on the previous epoch until the
	// next one publishes (the sequencer retries soon).
	if appendErr != nil {
		return wrap(appendErr, "epoch %d", idx)
	}
	c, _, _, err := tlog.ParseCheckpoint(cp, l.signer.Name(), l.verifier)
	if err != nil {
		return wrap(err, "checkpoint of epoch %d", e.Epoch)
	}
	if c.Size != idx+1 {
		return fmt.Errorf("%w: the checkpoint publishing epoch %d has size %d", ErrCorrupt, idx, c.Size)
	}
	pb, err := client.NewProofBuilder(ctx, c.Size, l.backend.ReadTile)
	if err != nil {
		return wrap(err, "proof builder")
	}
	incl, err := pb.InclusionProof(ctx, idx)
	if err != nil {
		return wrap(err, "inclusion proof of epoch %d", idx)
	}
	if incl == nil {
		incl = [][]byte{}
	}
	pb2 := &published{entry: e, entryBytes: raw, size: c.Size, checkpoint: cp, inclusion: incl, tree: snap}
	if old := l.pub.Swap(pb2); old != nil {
		old.supersede()
	}
	// Drop the leaf states that no retained epoch holds any more.
	l.mu.Lock()
	l.history = append(l.history, pb2)
	if len(l.history) > RetainEpochs {
		l.history = append([]*published(nil), l.history[len(l.history)-RetainEpochs:]...)
	}
	oldest := l.history[0].tree
	for name := range changed {
		a := l.accounts[name]
		u, _, ok := oldest.Get(a.index)
		if !ok {
			continue
		}
		i := 0
		for i < len(a.states)-1 && a.states[i].updates < u {
			i++
		}
		a.states = append([]leafState(nil), a.states[i:]...)
	}
	l.mu.Unlock()
	l.log.Debug("key log epoch published", "epoch", idx, "leaves", e.Leaves, "changes", len(cs))
	return nil
}

// RetainEpochs is how many published epochs LookupAt can answer from (a
// day at one epoch a minute).
const RetainEpochs = 1440

// LookupAt returns the proof of account's leaf in an earlier epoch, against
// the retained checkpoint of log size `size` (one the client holds):
// ErrRange if either is not retained. The owner of an account uses it to
// check its leaf at the epochs its peers were shown.
func (l *Log) LookupAt(ctx context.Context, name string, epoch, size uint64) (*Lookup, error) {
	l.mu.RLock()
	var at, cpAt *published
	for _, p := range l.history {
		if p.entry.Epoch == epoch {
			at = p
		}
		if p.size == size {
			cpAt = p
		}
	}
	l.mu.RUnlock()
	if at == nil || cpAt == nil || epoch >= size {
		return nil, fmt.Errorf("%w: epoch %d in the log of size %d is not retained", ErrRange, epoch, size)
	}
	lk, err := l.lookupIn(ctx, name, at, cpAt)
	if err != nil {
		return nil, err
	}
	incl, err := cpAt.inclusionOf(ctx, l.backend, epoch)
	if err != nil {
		return nil, err
	}
	lk.Checkpoint, lk.Inclusion = string(cpAt.checkpoint), incl
	return lk, nil
}

// Lookup returns the proof of account's leaf in the latest published
// epoch: ErrNotFound if the account has none, ErrNotReady before the
// first epoch.
func (l *Log) Lookup(ctx context.Context, name string) (*Lookup, error) {
	p := l.pub.Load()
	if p == nil {
		return nil, ErrNotReady
	}
	return l.lookupIn(ctx, name, p, p)
}

// lookupIn answers a lookup from the tree of p, proving the listing of the
// leaf in the tree of checkpoint cp (p itself, or a later one).
func (l *Log) lookupIn(ctx context.Context, name string, p, cp *published) (*Lookup, error) {
	index, proof := l.vrf.Prove(name)
	// The epoch and the leaf states are read under one lock: the sequencer
	// drops states only when no retained epoch holds them.
	l.mu.RLock()
	updates, _, ok := p.tree.Get(index)
	var s leafState
	found := false
	if a := l.accounts[name]; ok && a != nil {
		for _, st := range a.states {
			if st.updates == updates {
				s, found = st, true
				break
			}
		}
	}
	l.mu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	if !found {
		return nil, fmt.Errorf("%w: no leaf state of %s with %d updates", ErrCorrupt, name, updates)
	}
	sib, ok := p.tree.Prove(index)
	if !ok {
		return nil, fmt.Errorf("%w: no path to %s", ErrCorrupt, name)
	}
	path := make([][]byte, len(sib))
	for i := range sib {
		path[i] = sib[i][:]
	}
	lists, _, err := l.st.DeviceLists(ctx, name, s.version-1, 1)
	if err != nil {
		return nil, wrap(err, "device list of %s", name)
	}
	if len(lists) != 1 {
		return nil, fmt.Errorf("%w: the store has no device list %d of %s", ErrCorrupt, s.version, name)
	}
	if s.listed && s.listEpoch > p.entry.Epoch {
		return nil, fmt.Errorf("%w: the leaf of %s in epoch %d is listed at the later epoch %d", ErrCorrupt, name, p.entry.Epoch, s.listEpoch)
	}
	changed, err := l.changedProof(ctx, name, s, cp)
	if err != nil {
		return nil, err
	}
	return &Lookup{
		Checkpoint: string(p.checkpoint), Epoch: p.entry.Epoch, Entry: p.entryBytes, Inclusion: p.inclusion,
		VRFProof: proof, Updates: s.updates, Version: s.version, Nonce: s.nonce[:], Path: path, DeviceList: lists[0],
		Changed: changed,
	}, nil
}

// Consistency returns the RFC 6962 consistency proof between tree sizes
// from ≤ to ≤ the latest published size (ErrRange otherwise).
func (l *Log) Consistency(ctx context.Context, from, to uint64) ([][]byte, error) {
	p := l.pub.Load()
	if p == nil {
		return nil, ErrNotReady
	}
	if from > to || to > p.size {
		return nil, fmt.Errorf("%w: consistency from %d to %d (the published size is %d)", ErrRange, from, to, p.size)
	}
	if from == to || from == 0 {
		return [][]byte{}, nil
	}
	pb, err := client.NewProofBuilder(ctx, to, l.backend.ReadTile)
	if err != nil {
		return nil, wrap(err, "proof builder")
	}
	proof, err := pb.ConsistencyProof(ctx, from, to)
	if err != nil {
		return nil, wrap(err, "consistency proof %d to %d", from, to)
	}
	return proof, nil
}

// Info returns the log's public identity.
func (l *Log) Info() Info {
	return Info{Origin: l.signer.Name(), LogKey: l.vkey, VRFKey: l.vrf.Public()}
}

// Latest returns the latest published epoch (false before the first).
func (l *Log) Latest() (Epoch, bool) {
	p := l.pub.Load()
	if p == nil {
		return Epoch{}, false
	}
	return Epoch{Entry: p.entry, Size: p.size, Checkpoint: p.checkpoint}, true
}

// PublicDir returns the directory whose files are the log's public C2SP
// tlog-tiles resources (checkpoint, tile/...), or "" for a backend that is
// not a directory.
func (l *Log) PublicDir() string {
	if l.cfg.Backend != nil {
		return ""
	}
	return filepath.Join(l.cfg.Dir, TilesDir)
}

// Close stops the sequencer (publishing pending updates first) and the
// backend. ctx bounds the wait.
func (l *Log) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		close(l.closing)
		select {
		case <-l.done:
		case <-ctx.Done():
			l.closeErr = wrap(ctx.Err(), "close")
		}
		if err := l.backend.Close(ctx); err != nil {
			l.closeErr = errors.Join(l.closeErr, err)
		}
	})
	return l.closeErr
}
