package canary

// gram is the number of canonical words that anchor an alignment.
const gram = 4

// maxPostings caps the occurrences of one anchor that are tried.
const maxPostings = 16

type posting struct{ m, c int32 }

func gramHash(c []canonTok, i int) uint64 {
	h := uint64(0x9E3779B97F4A7C15)
	for j := 0; j < gram; j++ {
		h = (h ^ c[i+j].hash) * 0x100000001B3
		h ^= h >> 29
	}
	return h
}

// alignment maps leak canonical tokens to (message, canonical position).
type alignment struct {
	m, c []int32 // per leak token; m = -1 when unaligned
}

// steps tried, in order, to resynchronise after a mismatch:
// (leak advance, original advance).
var resync = [][2]int{{1, 1}, {1, 0}, {0, 1}, {2, 2}, {2, 0}, {0, 2}, {2, 1}, {1, 2}, {3, 3}}

// extend follows leak from j and message m from c while they agree,
// tolerating isolated substituted, inserted or deleted words. It writes the
// aligned pairs to out and returns them.
func extend(leak, orig []canonTok, j, c int, out [][2]int32) [][2]int32 {
	out = out[:0]
	if leak[j].hash != orig[c].hash {
		return out
	}
	for j < len(leak) && c < len(orig) {
		if leak[j].hash == orig[c].hash {
			out = append(out, [2]int32{int32(j), int32(c)})
			j++
			c++
			continue
		}
		ok := false
		for _, s := range resync {
			jj, cc := j+s[0], c+s[1]
			if jj+1 < len(leak) && cc+1 < len(orig) && leak[jj].hash == orig[cc].hash && leak[jj+1].hash == orig[cc+1].hash {
				j, c, ok = jj, cc, true
				break
			}
		}
		if !ok {
			break
		}
	}
	return out
}

// align greedily aligns the leak to the indexed messages.
func (tr *Tracer) align(leak []canonTok) alignment {
	a := alignment{m: make([]int32, len(leak)), c: make([]int32, len(leak))}
	for i := range a.m {
		a.m[i] = -1
	}
	var cur, best [][2]int32
	for j := 0; j+gram <= len(leak); {
		var bestM int32 = -1
		best = best[:0]
		for _, p := range tr.index[gramHash(leak, j)] {
			cur = extend(leak, tr.msgs[p.m].layout.canon, j, int(p.c), cur)
			if len(cur) > len(best) {
				best, cur = cur, best
				bestM = p.m
			}
		}
		if len(best) < gram {
			j++
			continue
		}
		for _, pr := range best {
			a.m[pr[0]], a.c[pr[0]] = bestM, pr[1]
		}
		j = int(best[len(best)-1][0]) + 1
	}
	return a
}
