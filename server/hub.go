package server

import (
	"sync"

	"backchannel/store"
)

// hub wakes the push streams of devices that received messages. It carries
// only wake-ups; streams read the messages from the store, so a missed or
// merged wake-up never loses a message.
type hub struct {
	mu   sync.Mutex
	subs map[store.Address]map[chan struct{}]struct{}
	n    int
}

func newHub() *hub { return &hub{subs: make(map[store.Address]map[chan struct{}]struct{})} }

// subscribeMax registers a wake-up channel for addr, or refuses (ok false)
// when addr already has limit streams (limit <= 0: no limit); call the
// returned func to unsubscribe.
func (h *hub) subscribeMax(addr store.Address, limit int) (<-chan struct{}, func(), bool) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if limit > 0 && len(h.subs[addr]) >= limit {
		h.mu.Unlock()
		return nil, nil, false
	}
	m := h.subs[addr]
	if m == nil {
		m = make(map[chan struct{}]struct{})
		h.subs[addr] = m
	}
	m[ch] = struct{}{}
	h.n++
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(m, ch)
		if len(m) == 0 && h.subs[addr] != nil && len(h.subs[addr]) == 0 {
			delete(h.subs, addr)
		}
		h.n--
		h.mu.Unlock()
	}, true
}

// notify wakes every stream of the recipients of msgs.
func (h *hub) notify(msgs []store.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var last store.Address
	for i, m := range msgs {
		if i > 0 && m.To == last {
			continue
		}
		last = m.To
		for ch := range h.subs[m.To] {
			select {
			case ch <- struct{}{}:
			default: // already pending
			}
		}
	}
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}
