package room

import "slices"

// Delivery of one's own messages, as far as a member can prove it: the
// server's word counts for nothing (it may claim what it withheld). What
// counts is what another member says itself, over its authenticated
// pairwise channel: the parents its own transcript entries cite and the
// heads its messages and heartbeats carry. Each names entries that member
// holds; every ancestor of such an entry (the transcript links entries by
// hash) was delivered to it too.

// MaxVouched bounds the entries remembered per member.
const MaxVouched = 16

// Vouch adds to acks (member → entry hashes, hex) the hashes member just
// named, keeping the newest MaxVouched per member, without repeats.
func Vouch(acks map[string][]string, member string, hashes []string) map[string][]string {
	if len(hashes) == 0 {
		return acks
	}
	if acks == nil {
		acks = map[string][]string{}
	}
	have := acks[member]
	for _, h := range hashes {
		if h == "" || slices.Contains(have, h) {
			continue
		}
		have = append(have, h)
	}
	if len(have) > MaxVouched {
		have = have[len(have)-MaxVouched:]
	}
	acks[member] = have
	return acks
}

// Reach is, per member, every entry that member is proven to hold.
type Reach map[string]map[string]bool

// Reached returns what acks prove each member holds: the entries they
// vouched for and all their ancestors in dag (entry hash → its parents'
// hashes).
func Reached(dag map[string][]string, acks map[string][]string) Reach {
	out := Reach{}
	for m, from := range acks {
		seen := map[string]bool{}
		stack := slices.Clone(from)
		for len(stack) > 0 {
			h := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if h == "" || seen[h] {
				continue
			}
			seen[h] = true
			stack = append(stack, dag[h]...)
		}
		out[m] = seen
	}
	return out
}

// DeliveredTo returns the members among to proven to hold entry.
func (r Reach) DeliveredTo(entry string, to []string) []string {
	out := []string{}
	for _, m := range to {
		if entry != "" && r[m][entry] {
			out = append(out, m)
		}
	}
	return out
}
