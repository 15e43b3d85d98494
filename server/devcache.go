package server

import (
	"sync"
	"time"

	"backchannel/store"
)

// deviceKeys caches device signing keys for request authentication, so a
// request costs no store read. Entries expire after ttl (a device removed
// through another server node stops authenticating within ttl) and are
// dropped at once when the device is removed through this node.
type deviceKeys struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[store.Address]cachedKey
}

type cachedKey struct {
	key     []byte
	expires time.Time
}

const maxCachedKeys = 100_000

func newDeviceKeys(ttl time.Duration) *deviceKeys {
	return &deviceKeys{ttl: ttl, m: make(map[store.Address]cachedKey)}
}

func (d *deviceKeys) get(a store.Address, now time.Time) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.m[a]
	if !ok || now.After(e.expires) {
		return nil
	}
	return e.key
}

func (d *deviceKeys) put(a store.Address, key []byte, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.m) >= maxCachedKeys {
		clear(d.m)
	}
	d.m[a] = cachedKey{key: key, expires: now.Add(d.ttl)}
}

func (d *deviceKeys) forget(a store.Address) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, a)
}
