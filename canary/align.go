package canary

// gram is the number of canonical words that anchor an alignment.
const gram = 4

// maxPostings caps the occurrences of one anchor that are tried.
const maxPostings = 16

func gramHash(c []canonTok, i int) uint64 {
	h := uint64(0x9E3779B97F4A7C15)
	for j := 0; j < gram; j++ {
		h = (h ^ c[i+j].hash) * 0x100000001B3
		h ^= h >> 29
	}
	return h
}

// segment is a stretch of the leak aligned to the sent text. When the same
// text was sent more than once, a segment has several equally good
// alternatives; scoring then takes, for each member, the best alternative,
// and the bound pays for the choice (see scoreSet.logMGF).
type segment struct {
	alts [][][2]int32 // alternative -> (leak position, position in all)
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

// align greedily aligns the leak to the canonical text of all messages in
// the order they were sent, so that an excerpt may run across messages too
// short to be recognised on their own.
func (tr *Tracer) align(leak []canonTok) []segment {
	var segs []segment
	var cur [][2]int32
	done := 0 // leak positions before done are aligned or passed over
	for j := 0; j+gram <= len(leak); {
		var runs [][][2]int32
		bestLen := 0
		h := gramHash(leak, j)
		if tr.frequent[h] {
			j++ // too common to place the leak
			continue
		}
		for _, g := range tr.index[h] {
			cur = extend(leak, tr.all, j, int(g), cur[:0])
			switch {
			case len(cur) > bestLen:
				bestLen = len(cur)
				runs = append(runs[:0], append([][2]int32(nil), cur...))
			case len(cur) == bestLen && bestLen > 0:
				runs = append(runs, append([][2]int32(nil), cur...))
			}
		}
		if bestLen < gram {
			j++
			continue
		}
		for i, run := range runs {
			// Extend backwards over words skipped for a common anchor.
			var back [][2]int32
			for jj, g := int(run[0][0])-1, int(run[0][1])-1; jj >= done && g >= 0 && leak[jj].hash == tr.all[g].hash; jj, g = jj-1, g-1 {
				back = append(back, [2]int32{int32(jj), int32(g)})
			}
			if len(back) > 0 {
				for a, b := 0, len(back)-1; a < b; a, b = a+1, b-1 {
					back[a], back[b] = back[b], back[a]
				}
				runs[i] = append(back, run...)
			}
		}
		segs = append(segs, segment{alts: runs})
		j = int(runs[0][len(runs[0])-1][0]) + 1
		done = j
	}
	return segs
}
