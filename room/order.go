package room

import (
	"container/heap"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Item is one line of a room's history for CausalOrder: its entry hash
// (Key, empty for lines that are no transcript entry, such as notices), the
// entries it cites, when it was sent and by whom. Arrival is its position
// in arrival order.
type Item struct {
	Key     string
	Parents []string
	Time    time.Time
	Sender  string
}

// Moved says that the item at Index (in the returned order) arrived before
// the item Before that it follows causally.
type Moved struct {
	Index  int
	Before int
}

// CausalOrder returns the indices of items (given in arrival order) in a
// topological order of their parent links — parents first, and entries
// that are not items are looked through via dag (every transcript entry's
// parents, by key) — with ties broken by time, then sender, then key, then
// arrival. It also returns, for every item that arrived before one of its
// causal ancestors, that ancestor: where a notice belongs.
func CausalOrder(items []Item, dag map[string][]string) (order []int, moved []Moved) {
	idx := map[string]int{}
	for i, it := range items {
		if it.Key != "" {
			if _, dup := idx[it.Key]; !dup {
				idx[it.Key] = i
			}
		}
	}
	// ancestors among items, through entries that are not items
	anc := make([][]int, len(items))
	memo := map[string][]int{}
	var visit func(k string, depth int) []int
	visit = func(k string, depth int) []int {
		if r, ok := memo[k]; ok {
			return r
		}
		memo[k] = nil // cycles cannot occur in hash links; guard anyway
		var out []int
		for _, p := range dag[k] {
			if i, ok := idx[p]; ok {
				out = append(out, i)
				continue
			}
			if depth < 10000 {
				out = append(out, visit(p, depth+1)...)
			}
		}
		slices.Sort(out)
		out = slices.Compact(out)
		memo[k] = out
		return out
	}
	for i, it := range items {
		if it.Key == "" {
			continue
		}
		ps := it.Parents
		if len(ps) == 0 {
			ps = dag[it.Key]
		}
		var out []int
		for _, p := range ps {
			if j, ok := idx[p]; ok && j != i {
				out = append(out, j)
			} else if !ok {
				out = append(out, visit(p, 0)...)
			}
		}
		slices.Sort(out)
		anc[i] = slices.Compact(out)
	}
	indeg := make([]int, len(items))
	children := make([][]int, len(items))
	for i, ps := range anc {
		for _, p := range ps {
			if p == i {
				continue
			}
			indeg[i]++
			children[p] = append(children[p], i)
		}
	}
	q := &itemHeap{items: items}
	for i := range items {
		if indeg[i] == 0 {
			heap.Push(q, i)
		}
	}
	placed := make([]bool, len(items))
	for len(order) < len(items) {
		if q.Len() == 0 {
			// a cycle (impossible with hashes): place the rest by arrival
			for i := range items {
				if !placed[i] {
					heap.Push(q, i)
					indeg[i] = 0
					break
				}
			}
		}
		i := heap.Pop(q).(int)
		if placed[i] {
			continue
		}
		placed[i] = true
		order = append(order, i)
		for _, c := range children[i] {
			indeg[c]--
			if indeg[c] == 0 && !placed[c] {
				heap.Push(q, c)
			}
		}
	}
	pos := make([]int, len(items))
	for p, i := range order {
		pos[i] = p
	}
	for i, ps := range anc {
		latest := -1
		for _, p := range ps {
			if p > i && (latest < 0 || p > latest) {
				latest = p
			}
		}
		if latest >= 0 {
			moved = append(moved, Moved{Index: pos[i], Before: pos[latest]})
		}
	}
	sort.Slice(moved, func(a, b int) bool { return moved[a].Index < moved[b].Index })
	return order, moved
}

type itemHeap struct {
	items []Item
	h     []int
}

func (q *itemHeap) Len() int { return len(q.h) }
func (q *itemHeap) Less(a, b int) bool {
	x, y := q.items[q.h[a]], q.items[q.h[b]]
	switch {
	case !x.Time.Equal(y.Time):
		return x.Time.Before(y.Time)
	case x.Sender != y.Sender:
		return x.Sender < y.Sender
	case x.Key != y.Key:
		return x.Key < y.Key
	}
	return q.h[a] < q.h[b]
}
func (q *itemHeap) Swap(a, b int) { q.h[a], q.h[b] = q.h[b], q.h[a] }
func (q *itemHeap) Push(x any)    { q.h = append(q.h, x.(int)) }
func (q *itemHeap) Pop() any {
	n := len(q.h)
	x := q.h[n-1]
	q.h = q.h[:n-1]
	return x
}

// OrderNotice words the notice shown above an item that arrived before a
// message it follows.
func OrderNotice(sender string, sent time.Time, beforeSender string, beforeSent time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return fmt.Sprintf("%s's message of %s arrived before %s's message of %s that it follows; shown in the order they were written",
		sender, sent.In(loc).Format("15:04"), beforeSender, beforeSent.In(loc).Format("15:04"))
}
