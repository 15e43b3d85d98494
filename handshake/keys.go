package handshake

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"crypto/sha256"
	"fmt"
	"time"

	"backchannel/entropy"
	"backchannel/identity"
)

// prekeysVersion is the serialisation version of Prekeys; version 1 stores
// still load (UnmarshalPrekeys migrates them).
const prekeysVersion = 2

// generation is one signed prekey with the last-resort KEM prekey made with
// it, and the initiations without one-time keys accepted under it.
// Private keys are kept as bytes and turned into key objects only when used:
// building an X25519 key costs a scalar multiplication and an ML-KEM key an
// expansion, which a store load must not pay for keys it does not use.
type generation struct {
	spk        SignedPrekey
	spkPriv    []byte
	spkKey     *ecdh.PrivateKey // built on first use
	lastID     uint32
	lastAt     int64
	lastSeed   []byte
	lastSig    []byte
	lastKey    *mlkem.DecapsulationKey768 // expanded on first use
	superseded int64                      // Unix seconds; 0 while current
	seen       map[[32]byte]struct{}
	seenOrder  [][32]byte
}

func (g *generation) signedKey() *ecdh.PrivateKey {
	if g.spkKey == nil {
		k, err := ecdh.X25519().NewPrivateKey(g.spkPriv)
		if err != nil {
			panic("handshake: stored signed prekey: " + err.Error()) // 32 bytes always make a key
		}
		g.spkKey = k
	}
	return g.spkKey
}

func (g *generation) kemKey() *mlkem.DecapsulationKey768 {
	if g.lastKey == nil {
		dk, err := mlkem.NewDecapsulationKey768(g.lastSeed)
		if err != nil {
			panic("handshake: stored KEM prekey: " + err.Error()) // 64 bytes always make a key
		}
		g.lastKey = dk
	}
	return g.lastKey
}

func (g *generation) lastResort() KEMPrekey {
	return KEMPrekey{ID: g.lastID, LastResort: true, Created: g.lastAt, Public: g.kemKey().EncapsulationKey().Bytes(), Signature: g.lastSig}
}

// oneTimeKey is an unused one-time private key: an X25519 scalar or an
// ML-KEM-768 seed, with its creation time.
type oneTimeKey struct {
	created int64
	secret  []byte
	x       *ecdh.PrivateKey           // X25519, built on first use
	kem     *mlkem.DecapsulationKey768 // ML-KEM, expanded on first use
}

func (k *oneTimeKey) x25519() *ecdh.PrivateKey {
	if k.x == nil {
		x, err := ecdh.X25519().NewPrivateKey(k.secret)
		if err != nil {
			panic("handshake: stored one-time prekey: " + err.Error())
		}
		k.x = x
	}
	return k.x
}

func (k *oneTimeKey) mlkem() *mlkem.DecapsulationKey768 {
	if k.kem == nil {
		dk, err := mlkem.NewDecapsulationKey768(k.secret)
		if err != nil {
			panic("handshake: stored one-time KEM prekey: " + err.Error())
		}
		k.kem = dk
	}
	return k.kem
}

// Prekeys is a device's private prekey material: one or two generations
// (the current signed and last-resort KEM prekeys, and the superseded ones
// during their grace period, each with the replay cache of the initiations
// without one-time keys it accepted), and the unused one-time X25519 and
// ML-KEM prekeys with their creation times.
//
// The client keeps it fresh by calling Rotate and Expire regularly (on every
// sync); after a rotation NeedsUpload reports what to publish.
type Prekeys struct {
	device     []byte // the owning device's signing key: a store binds to it
	nextID     uint32
	gens       []*generation // oldest first; the last is current; at most 2
	oneTime    map[uint32]*oneTimeKey
	kemOneTime map[uint32]*oneTimeKey
	needUpload bool
}

func newPrekeySet(dev *identity.Device) *Prekeys {
	return &Prekeys{
		device:     append([]byte(nil), dev.Cert.SigningKey...),
		nextID:     1,
		oneTime:    map[uint32]*oneTimeKey{},
		kemOneTime: map[uint32]*oneTimeKey{},
	}
}

// NewPrekeys creates a device's first generation, dated now.
func NewPrekeys(src entropy.Source, dev *identity.Device) (*Prekeys, error) {
	return NewPrekeysAt(src, dev, time.Now())
}

// NewPrekeysAt creates a device's first generation (signed prekey and
// last-resort KEM prekey), dated now. NeedsUpload reports true until
// MarkUploaded.
func NewPrekeysAt(src entropy.Source, dev *identity.Device, now time.Time) (*Prekeys, error) {
	p := newPrekeySet(dev)
	g, err := p.newGeneration(src, dev, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("new prekeys: %w", err)
	}
	p.gens = []*generation{g}
	p.needUpload = true
	return p, nil
}

func (p *Prekeys) id() uint32 {
	id := p.nextID
	p.nextID++
	return id
}

// newGeneration draws an X25519 key, then an ML-KEM-768 key, and signs both
// with creation time t.
func (p *Prekeys) newGeneration(src entropy.Source, dev *identity.Device, t int64) (*generation, error) {
	k, err := src.X25519()
	if err != nil {
		return nil, fmt.Errorf("signed prekey: %w", err)
	}
	dk, err := src.MLKEM768()
	if err != nil {
		return nil, fmt.Errorf("last-resort KEM prekey: %w", err)
	}
	spkID, lastID := p.id(), p.id()
	pub := k.PublicKey()
	g := &generation{
		spk:     SignedPrekey{ID: spkID, Created: t, Public: pub, Signature: dev.Sign(signedPrekeyMessage(spkID, t, pub))},
		spkPriv: k.Bytes(),
		lastID:  lastID, lastAt: t, lastSeed: dk.Bytes(), lastKey: dk,
		lastSig: dev.Sign(kemPrekeyMessage(true, lastID, t, dk.EncapsulationKey().Bytes())),
		seen:    map[[32]byte]struct{}{},
	}
	return g, nil
}

func (p *Prekeys) current() *generation { return p.gens[len(p.gens)-1] }

// Rotate keeps the generations fresh, given the time now:
//
//   - a superseded generation is deleted Grace after it was superseded, or
//     at once if its replay cache holds more than MaxReplayPerGeneration
//     entries (initiations that used it then fail with ErrUnknownPrekey);
//   - the current generation is superseded by a new one when its signed or
//     last-resort prekey is RotateEvery old (or dated more than
//     MaxClockSkew in the future: the clock was wrong), or its replay cache
//     holds more than MaxReplayPerGeneration entries. At most two
//     generations exist: a rotation deletes any older superseded one.
//
// It reports whether it made a new generation; it then also sets
// NeedsUpload. Persist the prekeys after a call that changed anything
// (rotated, or deleted a generation: compare Generations before and after).
func (p *Prekeys) Rotate(src entropy.Source, dev *identity.Device, now time.Time) (rotated bool, err error) {
	t := now.Unix()
	kept := p.gens[:0:0]
	for _, g := range p.gens[:len(p.gens)-1] {
		if t-g.superseded < graceSecs && len(g.seenOrder) <= MaxReplayPerGeneration {
			kept = append(kept, g)
		}
	}
	cur := p.current()
	due := t-cur.spk.Created >= rotateSecs || t-cur.lastAt >= rotateSecs ||
		cur.spk.Created > t+int64(MaxClockSkew/time.Second) || cur.lastAt > t+int64(MaxClockSkew/time.Second) ||
		len(cur.seenOrder) > MaxReplayPerGeneration
	if !due {
		p.gens = append(kept, cur)
		return false, nil
	}
	g, err := p.newGeneration(src, dev, t)
	if err != nil {
		return false, fmt.Errorf("rotate prekeys: %w", err)
	}
	cur.superseded = t
	p.gens = []*generation{cur, g} // never more than two: the older one goes
	p.needUpload = true
	return true, nil
}

// Generations reports how many generations are held (1 or 2).
func (p *Prekeys) Generations() int { return len(p.gens) }

// NeedsUpload reports whether the server must be given this device's
// current prekeys: the signed prekey (Signed), the last-resort KEM prekey
// (LastResort) and a fresh batch of one-time prekeys that REPLACES the
// server's one-time pools (so it never hands out a key older than the
// current generation). It is set by NewPrekeys and by a rotation, and
// stays set, also across Marshal, until MarkUploaded.
func (p *Prekeys) NeedsUpload() bool { return p.needUpload }

// MarkUploaded records that the server holds the current prekeys; persist
// the prekeys afterwards.
func (p *Prekeys) MarkUploaded() { p.needUpload = false }

// Expire deletes the one-time private keys created RotateEvery + Grace or
// longer before now and returns how many it deleted. (The server's pool is
// replaced at every rotation, so such a key can only be in an initiation
// that waited longer than the grace period.)
func (p *Prekeys) Expire(now time.Time) int {
	limit := now.Unix() - rotateSecs - graceSecs
	n := 0
	for _, m := range []map[uint32]*oneTimeKey{p.oneTime, p.kemOneTime} {
		for id, k := range m {
			if k.created <= limit {
				delete(m, id)
				n++
			}
		}
	}
	return n
}

// Signed returns the current signed prekey's public part.
func (p *Prekeys) Signed() SignedPrekey { return p.current().spk }

// LastResort returns the current last-resort KEM prekey's public part.
func (p *Prekeys) LastResort() KEMPrekey { return p.current().lastResort() }

// GenerateOneTime is GenerateOneTimeAt dated time.Now().
func (p *Prekeys) GenerateOneTime(src entropy.Source, dev *identity.Device, n int) ([]OneTimePrekey, []KEMPrekey, error) {
	return p.GenerateOneTimeAt(src, dev, n, time.Now())
}

// GenerateOneTimeAt creates up to n one-time X25519 and up to n one-time
// ML-KEM prekeys dated now and returns their public parts for upload. It
// never takes either pool above MaxOneTime, so it may return fewer (none
// when a pool is full: the server then falls back to the last-resort key
// until Expire frees room).
func (p *Prekeys) GenerateOneTimeAt(src entropy.Source, dev *identity.Device, n int, now time.Time) ([]OneTimePrekey, []KEMPrekey, error) {
	nX := max(0, min(n, MaxOneTime-len(p.oneTime)))
	nK := max(0, min(n, MaxOneTime-len(p.kemOneTime)))
	t := now.Unix()
	ots := make([]OneTimePrekey, 0, nX)
	kems := make([]KEMPrekey, 0, nK)
	for i := range max(nX, nK) {
		if i < nX {
			k, err := src.X25519()
			if err != nil {
				return nil, nil, fmt.Errorf("generate one-time prekey: %w", err)
			}
			ot := OneTimePrekey{ID: p.id(), Public: k.PublicKey()}
			p.oneTime[ot.ID] = &oneTimeKey{created: t, secret: k.Bytes()}
			ots = append(ots, ot)
		}
		if i < nK {
			dk, err := src.MLKEM768()
			if err != nil {
				return nil, nil, fmt.Errorf("generate one-time KEM prekey: %w", err)
			}
			id := p.id()
			pub := dk.EncapsulationKey().Bytes()
			p.kemOneTime[id] = &oneTimeKey{created: t, secret: dk.Bytes(), kem: dk}
			kems = append(kems, KEMPrekey{ID: id, Created: t, Public: pub, Signature: dev.Sign(kemPrekeyMessage(false, id, t, pub))})
		}
	}
	return ots, kems, nil
}

// Counts reports how many one-time X25519 and ML-KEM prekeys remain unused.
func (p *Prekeys) Counts() (oneTime, kem int) { return len(p.oneTime), len(p.kemOneTime) }

// Bundle assembles a bundle from this device's own keys, using the current
// generation and the lowest unused one-time keys; for tests and local demos
// (a server hands out bundles in production). dev re-signs the one-time KEM
// prekey (Ed25519 is deterministic: the same signature as uploaded).
func (p *Prekeys) Bundle(dev *identity.Device) *Bundle {
	b := &Bundle{Cert: dev.Cert, Signed: p.Signed(), KEM: p.LastResort()}
	if id, ok := lowest(p.oneTime); ok {
		b.OneTime = &OneTimePrekey{ID: id, Public: p.oneTime[id].x25519().PublicKey().Bytes()}
	}
	if id, ok := lowest(p.kemOneTime); ok {
		k := p.kemOneTime[id]
		pub := k.mlkem().EncapsulationKey().Bytes()
		b.KEM = KEMPrekey{ID: id, Created: k.created, Public: pub, Signature: dev.Sign(kemPrekeyMessage(false, id, k.created, pub))}
	}
	return b
}

func lowest[V any](m map[uint32]V) (uint32, bool) {
	var best uint32
	found := false
	for id := range m {
		if !found || id < best {
			best, found = id, true
		}
	}
	return best, found
}

func (p *Prekeys) generationOf(spkID uint32) *generation {
	for _, g := range p.gens {
		if g.spk.ID == spkID {
			return g
		}
	}
	return nil
}

func (p *Prekeys) kemKey(id uint32, lastResort bool) (*mlkem.DecapsulationKey768, error) {
	if lastResort {
		for _, g := range p.gens {
			if g.lastID == id {
				return g.kemKey(), nil
			}
		}
		return nil, fmt.Errorf("last-resort KEM prekey %d: %w", id, ErrUnknownPrekey)
	}
	k, ok := p.kemOneTime[id]
	if !ok {
		return nil, fmt.Errorf("one-time KEM prekey %d: %w", id, ErrUnknownPrekey)
	}
	return k.mlkem(), nil
}

func replayKey(in *Initiation) [32]byte {
	h := sha256.New()
	h.Write(in.EphemeralKey)
	h.Write(in.KEMCiphertext)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// usesOneTime reports whether the initiation used a one-time key of either
// kind: consuming it then makes any replay fail.
func usesOneTime(in *Initiation) bool { return in.OneTimeUsed || !in.KEMLastResort }

// checkReplay refuses an initiation without one-time keys that the
// generation of its signed prekey has already accepted, or that it has no
// room left to remember.
func (p *Prekeys) checkReplay(g *generation, in *Initiation) error {
	if usesOneTime(in) {
		return nil
	}
	if _, ok := g.seen[replayKey(in)]; ok {
		return ErrReplay
	}
	if len(g.seenOrder) >= maxReplayStored {
		return fmt.Errorf("signed prekey %d: %w", g.spk.ID, ErrReplayCacheFull)
	}
	return nil
}

// Consume retires the one-time prekeys an initiation used, or, when it used
// none, records it in the replay cache of the generation of its signed
// prekey, for as long as that generation exists, so the same initiation is
// refused next time. Call it once the first message has authenticated.
func (p *Prekeys) Consume(in *Initiation) {
	if in.OneTimeUsed {
		delete(p.oneTime, in.OneTimeID)
	}
	if !in.KEMLastResort {
		delete(p.kemOneTime, in.KEMPrekeyID)
	}
	if usesOneTime(in) {
		return // a retired one-time key already makes a replay fail
	}
	g := p.generationOf(in.SignedPrekeyID)
	if g == nil {
		return // deleted meanwhile: a replay now fails as an unknown prekey
	}
	k := replayKey(in)
	if _, ok := g.seen[k]; ok {
		return
	}
	g.seen[k] = struct{}{}
	g.seenOrder = append(g.seenOrder, k)
}

// ReplayEntries reports how many initiations the replay caches of all
// generations hold.
func (p *Prekeys) ReplayEntries() int {
	n := 0
	for _, g := range p.gens {
		n += len(g.seenOrder)
	}
	return n
}
