package vault

import (
	"context"
	"sync"
)

// Decoded records kept in memory.
//
// A caller that decodes a record on every use (the client reads each
// session for every message) can leave the decoded form with the vault:
// Tx.PutObject writes obj.Marshal() like Put and, once the transaction has
// committed, keeps obj; Take hands it back instead of a read and a decode.
// The rule that makes this safe is that a kept object is always exactly
// what the last committed write of its record stored:
//
//   - any write or delete of the name (Put, Delete, PutObject) drops the
//     kept object as soon as the database accepts it, whether or not its
//     transaction commits;
//   - an object is kept only after its transaction commits, and only if no
//     other write of the name was accepted after its own (the database's
//     write lock orders the writes of one record as their transactions
//     commit);
//   - Take removes the object: its holder may change it, and it comes back
//     only through another PutObject.
//
// So the holder must not change obj after PutObject (until it takes it
// again); a miss is always safe, and the caller then reads the record.
// What is kept is bounded (MaxObjects, MaxObjectBytes); the least recently
// kept goes first. Dropping an object drops the reference only: like the
// vault key, its secrets stay in freed memory until it is reused.

// Object is a record's decoded form: Marshal gives the record's value.
type Object interface {
	Marshal() []byte
}

// MaxObjects and MaxObjectBytes bound what a vault keeps in memory: the
// number of objects, and the sum of their records' sizes (a decoded
// object takes a few times its record; a session full of skipped-message
// keys has a record of about 140 KB). An object whose record alone is over
// MaxObjectBytes/16 is not kept.
const (
	MaxObjects     = 512
	MaxObjectBytes = 8 << 20
)

// objects is the vault's set of kept objects.
type objects struct {
	mu   sync.Mutex
	tick uint64 // orders the kept objects by use
	seq  uint64 // numbers the accepted writes; never reused
	kept map[string]keptObject
	size int // the sum of the kept objects' record sizes
	// gen holds, for each name written by a transaction that has not
	// settled, the number of its latest accepted write; a commit keeps its
	// object only if its write is still the latest. Numbers come from seq
	// and are never reused, so a settled entry can be dropped without a
	// later write taking its number.
	gen map[string]uint64
}

type keptObject struct {
	obj  Object
	used uint64
	size int
}

// written notes an accepted write of name, drops its kept object and
// returns the write's generation.
func (o *objects) written(name string) uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gen == nil {
		o.gen = map[string]uint64{}
	}
	o.drop(name)
	o.seq++
	o.gen[name] = o.seq
	return o.seq
}

// drop stops keeping name's object, if there is one.
func (o *objects) drop(name string) {
	if k, ok := o.kept[name]; ok {
		o.size -= k.size
		delete(o.kept, name)
	}
}

// keep stores obj, whose record is size bytes, for name if gen is still
// name's latest write, dropping the least recently kept objects to stay
// within the bounds.
func (o *objects) keep(name string, gen uint64, obj Object, size int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gen[name] != gen {
		return
	}
	delete(o.gen, name)
	if size > MaxObjectBytes/16 {
		return
	}
	if o.kept == nil {
		o.kept = map[string]keptObject{}
	}
	for len(o.kept) > 0 && (len(o.kept) >= MaxObjects || o.size+size > MaxObjectBytes) {
		oldest, first := "", true
		for n, k := range o.kept {
			if first || k.used < o.kept[oldest].used {
				oldest, first = n, false
			}
		}
		o.drop(oldest)
	}
	o.tick++
	o.kept[name] = keptObject{obj: obj, used: o.tick, size: size}
	o.size += size
}

// settle forgets the generation of a write whose transaction failed, if
// nothing wrote the name since.
func (o *objects) settle(name string, gen uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gen[name] == gen {
		delete(o.gen, name)
	}
}

func (o *objects) take(name string) (Object, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k, ok := o.kept[name]
	if ok {
		o.drop(name)
	}
	return k.obj, ok
}

func (o *objects) clear() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.kept, o.gen, o.size = nil, nil, 0
}

// Take returns the object kept for the record called name and stops
// keeping it, or false if none is kept (then read the record).
func (v *Vault) Take(name string) (Object, bool) { return v.objs.take(name) }

// Forget drops every kept object.
func (v *Vault) Forget() { v.objs.clear() }

// Kept reports how many objects the vault keeps.
func (v *Vault) Kept() int {
	v.objs.mu.Lock()
	defer v.objs.mu.Unlock()
	return len(v.objs.kept)
}

// pendingObject is a PutObject waiting for its transaction to commit.
type pendingObject struct {
	gen  uint64
	obj  Object // nil: the name was written another way; keep nothing
	size int
}

// wrote records that the transaction wrote or deleted name. It runs after
// the database accepted the write: from then until the transaction ends
// the database's write lock keeps every other transaction from writing,
// so a later write of name registers only after this transaction ended.
func (t *Tx) wrote(name string) {
	if t.objs == nil {
		t.objs = map[string]pendingObject{}
	}
	t.objs[name] = pendingObject{gen: t.v.objs.written(name)}
}

// PutObject writes obj.Marshal() as the record called name and, once the
// transaction commits, keeps obj for Take. obj must not change afterwards.
func (t *Tx) PutObject(ctx context.Context, name string, obj Object) error {
	value := obj.Marshal()
	if err := t.Put(ctx, name, value); err != nil {
		return err
	}
	p := t.objs[name]
	p.obj, p.size = obj, len(value)
	t.objs[name] = p
	return nil
}

// settleObjects runs once the transaction has ended: kept objects for a
// commit, nothing for a rollback.
func (t *Tx) settleObjects(committed bool) {
	for name, p := range t.objs {
		if committed && p.obj != nil {
			t.v.objs.keep(name, p.gen, p.obj, p.size)
		} else {
			t.v.objs.settle(name, p.gen)
		}
	}
}
