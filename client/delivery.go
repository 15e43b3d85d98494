package client

import (
	"context"
	"encoding/hex"
	"slices"

	"backchannel/room"
	"backchannel/transcript"
	"backchannel/vault"
)

// Delivery states of this user's own messages (Message.Delivery.State).
const (
	// DeliveryQueued: saved here, its envelopes still in the outbox (the
	// server has not accepted them yet; the next send or sync retries).
	DeliveryQueued = "queued"
	// DeliverySent: the server accepted the envelopes; no member has shown
	// yet that it holds the message.
	DeliverySent = "sent"
	// DeliveryDelivered: at least one member has shown that it holds the
	// message (DeliveredTo names them; Of counts everyone it went to).
	DeliveryDelivered = "delivered"
)

// Delivery is how far one of this user's messages is known to have got.
// Only what other members themselves say counts (never the server's word):
// a member holds the message once one of its later messages or heartbeats
// names the message's transcript entry, or an entry that follows it, as
// seen (package room, Reached).
type Delivery struct {
	State       string   `json:"state"`
	DeliveredTo []string `json:"delivered_to"`
	// Of counts the other members the message went to.
	Of int `json:"of"`
}

// vouched lists what a payload from another member shows that member
// holds of this user's entries: the heads it names for this user, and the
// parents of its own entry (hashes, hex).
func vouched(me string, p *payload) []string {
	var out []string
	for _, h := range p.Heads {
		if h.Member == me && len(h.Hash) == transcript.HashSize {
			out = append(out, hex.EncodeToString(h.Hash))
		}
	}
	if p.Record != nil {
		if e, err := transcript.DecodeEntry(p.Record.Entry); err == nil {
			for _, ph := range e.Parents {
				out = append(out, ph.String())
			}
		}
	}
	return out
}

// lastQueued returns the outbox batch queued last, inside the transaction
// that queued a message's envelopes ("" if none).
func lastQueued(ctx context.Context, tx *vault.Tx) string {
	ids, err := outboxIDs(ctx, tx)
	if err != nil || len(ids) == 0 {
		return ""
	}
	return ids[len(ids)-1]
}

// fillDelivery sets Delivery on this user's own text and document
// messages in msgs.
func (c *Client) fillDelivery(ctx context.Context, r *Room, msgs []Message) {
	queued, _ := outboxIDs(ctx, c.v)
	var reach room.Reach
	if rl, err := c.transcriptOf(ctx, c.v, r); err == nil {
		dag := map[string][]string{}
		for _, rec := range rl.log.Records() {
			ps := make([]string, len(rec.Entry.Parents))
			for i, p := range rec.Entry.Parents {
				ps[i] = p.String()
			}
			dag[rec.Hash.String()] = ps
		}
		reach = room.Reached(dag, r.Acks)
	}
	for i, m := range msgs {
		if m.Sender != c.prof.User || (m.Kind != KindText && m.Kind != KindDoc && m.Kind != KindVoice) {
			continue
		}
		to := m.Recipients
		if to == nil {
			to = slices.DeleteFunc(slices.Clone(r.State.Members), func(u string) bool { return u == c.prof.User })
		}
		d := &Delivery{State: DeliverySent, DeliveredTo: reach.DeliveredTo(m.Entry, to), Of: len(to)}
		switch {
		case m.Outbox != "" && slices.Contains(queued, m.Outbox):
			d.State = DeliveryQueued
		case len(d.DeliveredTo) > 0:
			d.State = DeliveryDelivered
		}
		msgs[i].Delivery = d
	}
}
