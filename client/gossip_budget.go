package client

import (
	"sync"
	"time"
)

// GossipOlderEvery is how often one sender's checkpoints that are older
// than this device's own may make it fetch a consistency proof. An older
// checkpoint only shows what the sender saw before; if the server had
// forked the sender's view, every later checkpoint of the sender shows the
// fork too, so checking one every few minutes per sender catches it, while
// a contact who sends many messages each carrying another old checkpoint
// cannot spend this device's lookup allowance at the server (600 a minute)
// and so keep it from looking up keys.
const GossipOlderEvery = 5 * time.Minute

// gossipBudget remembers, per sender, when one of its older checkpoints was
// last checked. It lives in memory: a restart allows one more check per
// sender, which bounds the cost as well.
type gossipBudget struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// allow reports whether an older checkpoint from sender may be checked now,
// and if so counts it.
func (g *gossipBudget) allow(sender string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t, ok := g.last[sender]; ok && now.Sub(t) < GossipOlderEvery && !now.Before(t) {
		return false
	}
	if g.last == nil {
		g.last = make(map[string]time.Time)
	}
	if len(g.last) >= maxGossipSenders {
		clear(g.last) // senders are members of this device's rooms; this only bounds memory
	}
	g.last[sender] = now
	return true
}

const maxGossipSenders = 4096
