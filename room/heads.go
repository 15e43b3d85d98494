package room

import (
	"encoding/hex"
	"fmt"
	"sort"
	"time"
)

// Head names one transcript entry a member has: its signer (member and
// signing key), sequence number, hash, and the room version it was sent
// under. Every message carries the sender's latest head per signer and the
// parents of its own entry, so a member missing someone's messages learns it
// from the next message anyone sends, and a member who joined later learns
// which entries predate the join.
type Head struct {
	Member  string `json:"m"`
	Key     []byte `json:"k"`
	Seq     uint64 `json:"s"`
	Hash    []byte `json:"h"`
	Version int    `json:"v"`
}

// Signer returns the key that identifies the head's signer in maps.
func (h Head) Signer() string { return SignerKey(h.Member, h.Key) }

// SignerKey names a signer (member and signing key) in maps.
func SignerKey(member string, key []byte) string { return member + "/" + hex.EncodeToString(key) }

// Valid reports whether h is well formed.
func (h Head) Valid() bool {
	return h.Member != "" && len(h.Member) <= 64 && len(h.Key) == 32 && len(h.Hash) == 32 && h.Seq > 0 && h.Version >= 0
}

// Latest returns the latest head per signer of entries (any order), plus
// the entries named in also (the parents of the entry being sent), sorted
// and capped at MaxHeads (keeping the parents first).
func Latest(entries []Head, also [][]byte) []Head {
	best := map[string]Head{}
	byHash := map[string]Head{}
	for _, e := range entries {
		byHash[string(e.Hash)] = e
		if b, ok := best[e.Signer()]; !ok || e.Seq > b.Seq {
			best[e.Signer()] = e
		}
	}
	for _, h := range also {
		if e, ok := byHash[string(h)]; ok {
			best[string(h)] = e
		}
	}
	out := make([]Head, 0, len(best))
	seen := map[string]bool{}
	for _, h := range best {
		if !seen[string(h.Hash)] {
			seen[string(h.Hash)] = true
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Member != out[j].Member {
			return out[i].Member < out[j].Member
		}
		if c := string(out[i].Key); c != string(out[j].Key) {
			return c < string(out[j].Key)
		}
		return out[i].Seq < out[j].Seq
	})
	if len(out) > MaxHeads {
		// the entry's own parents first: a joiner needs them
		isParent := map[string]bool{}
		for _, h := range also {
			isParent[string(h)] = true
		}
		sort.SliceStable(out, func(i, j int) bool { return isParent[string(out[i].Hash)] && !isParent[string(out[j].Hash)] })
		out = out[:MaxHeads]
	}
	return out
}

// PreJoin returns the heads that predate a join at version joined: entries
// sent under an earlier room version, which the joiner never receives.
func PreJoin(heads []Head, joined int) []Head {
	var out []Head
	for _, h := range heads {
		if h.Version < joined {
			out = append(out, h)
		}
	}
	return out
}

// Expect is an entry another member has seen and this member has not: the
// highest such sequence number per signer, who reported it, and since when.
type Expect struct {
	Member string    `json:"member"`
	Key    []byte    `json:"key"`
	Seq    uint64    `json:"seq"`
	By     string    `json:"by"`
	Since  time.Time `json:"since"`
}

// Missing merges what heads (reported by member by, at now) reveal into
// expect (keyed by SignerKey): a head beyond have[signer] (the highest
// sequence number this member has, or knows to predate its join) and not
// from before the join becomes, or raises, an expectation. Expectations
// that have are met are removed.
func Missing(expect map[string]Expect, have map[string]uint64, heads []Head, by string, joined int, now time.Time) map[string]Expect {
	if expect == nil {
		expect = map[string]Expect{}
	}
	for _, h := range heads {
		if !h.Valid() || h.Version < joined {
			continue
		}
		k := h.Signer()
		if h.Seq <= have[k] {
			continue
		}
		if e, ok := expect[k]; ok && e.Seq >= h.Seq {
			continue
		}
		since := now
		if e, ok := expect[k]; ok {
			since = e.Since
		}
		expect[k] = Expect{Member: h.Member, Key: h.Key, Seq: h.Seq, By: by, Since: since}
	}
	for k, e := range expect {
		if have[k] >= e.Seq {
			delete(expect, k)
		}
	}
	return expect
}

// MissingWarnings words the open expectations for the user, sorted.
func MissingWarnings(expect map[string]Expect, have map[string]uint64, loc *time.Location) []string {
	if loc == nil {
		loc = time.UTC
	}
	var out []string
	for k, e := range expect {
		n := e.Seq - have[k]
		if have[k] >= e.Seq {
			continue
		}
		noun := "messages"
		if n == 1 {
			noun = "message"
		}
		out = append(out, fmt.Sprintf("%d %s from %s did not reach you (%s's messages name it since %s): the server may be withholding them",
			n, noun, e.Member, e.By, e.Since.In(loc).Format("15:04")))
	}
	sort.Strings(out)
	return out
}
