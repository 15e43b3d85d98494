package canary

import (
	"strings"
	"unicode/utf8"
)

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

// A run of fewer than minRun canonical words is read only when it covers a
// whole message, lies within joinGap words of the leak from a run of the
// same message that is read, or is a whole quotation of the leak (between
// quotation marks). Four common words in a row ("the Secretary
// of State") match some message of a sender by chance; in a leak holding
// other senders' messages, or a newspaper's own prose, such runs were most
// of what a sender's trace aligned, and every slot read in one is noise that
// costs the leaker evidence (on the shared corpus cut into 5 senders' rooms,
// 3,167 of 3,188 four-word runs were another sender's text; of the runs of
// 8 words or more, 94% were the sender's own). The rule looks at the leak's
// words and quotation marks only, never at a mark, so whatever it selects,
// an innocent member's symbols there are independent of the leak and the
// bound is intact; and it ignores invisible characters altogether, so a
// leak whose invisible marks were stripped, scrambled or randomised has the
// same runs read. (Reading short runs whose gaps held invisible characters,
// as pasted, was tried and withdrawn: a leaker who scrambled the marks made
// chance runs of other senders' text read, and lost traces stripping won.)
const (
	minRun  = 8
	joinGap = 20
)

// run is one aligned stretch found by align, with its alternatives.
type run struct {
	alts [][][2]int32
	read bool // long enough, a whole message or quotation, or joined to one that is
}

func (r *run) first() [2]int32 { return r.alts[0][0] }
func (r *run) last() [2]int32  { return r.alts[0][len(r.alts[0])-1] }

// align greedily aligns the leak to the canonical text of all messages in
// the order they were sent, so that an excerpt may run across messages too
// short to be recognised on their own, and keeps the runs that are read
// (minRun).
func (tr *Tracer) align(lt *tokens, leak []canonTok) []segment {
	var found []run
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
		r := run{alts: runs, read: len(runs[0]) >= minRun || tr.wholeMessage(runs[0]) || wholeQuotation(lt, leak, runs[0])}
		if !r.read {
			// Not consumed: a run that is read may start inside it. Of
			// two short runs that overlap, the longer is kept.
			switch n := len(found); {
			case n == 0 || found[n-1].last()[0] < r.first()[0]:
				found = append(found, r)
			case !found[n-1].read && r.last()[0] > found[n-1].last()[0] && len(r.alts[0]) > len(found[n-1].alts[0]):
				found[n-1] = r
			}
			j++
			continue
		}
		for n := len(found); n > 0 && found[n-1].last()[0] >= r.first()[0]; n = len(found) {
			found = found[:n-1] // a short run overlapping this one
		}
		found = append(found, r)
		j = int(r.last()[0]) + 1
		done = j
	}
	tr.join(found)
	var segs []segment
	for _, r := range found {
		if r.read {
			segs = append(segs, segment{alts: r.alts})
		}
	}
	return segs
}

// wholeMessage reports whether the aligned pairs cover some message from its
// first canonical word to its last.
func (tr *Tracer) wholeMessage(pairs [][2]int32) bool {
	first, last := pairs[0][1], pairs[len(pairs)-1][1]
	for m := tr.msgOf[first]; m <= tr.msgOf[last]; m++ {
		end := int32(len(tr.all))
		if int(m)+1 < len(tr.offset) {
			end = tr.offset[m+1]
		}
		if first <= tr.offset[m] && last >= end-1 {
			return true
		}
	}
	return false
}

// join marks as read every short run that lies within joinGap words of the
// leak from a run that is read and aligns to the same message, in either
// order (a paraphrase swaps sentences; a newspaper puts its own words between
// two quoted sentences), whatever other runs lie between; a chain of short
// runs is joined run by run. found is in leak order and its runs do not
// overlap.
func (tr *Tracer) join(found []run) {
	near := func(i, step int) bool { // a read run of i's message within joinGap, looking one way
		for k := i + step; k >= 0 && k < len(found); k += step {
			a, b := &found[min(i, k)], &found[max(i, k)]
			if b.first()[0]-a.last()[0] > joinGap+1 {
				return false
			}
			// A read run may cover several messages sent one after
			// another.
			if m := tr.msgOf[found[i].first()[1]]; found[k].read && tr.msgOf[found[k].first()[1]] <= m && m <= tr.msgOf[found[k].last()[1]] {
				return true
			}
		}
		return false
	}
	for changed := true; changed; {
		changed = false
		for i := range found {
			if !found[i].read && (near(i, -1) || near(i, 1)) {
				found[i].read = true
				changed = true
			}
		}
	}
}

// wholeQuotation reports whether the aligned pairs are a whole quotation
// of the leak: an opening quotation mark before the first word and a
// closing one after the last, past any full stop or comma. Invisible
// characters are ignored wherever they are.
func wholeQuotation(lt *tokens, leak []canonTok, pairs [][2]int32) bool {
	w0, w1 := int(leak[pairs[0][0]].word), int(leak[pairs[len(pairs)-1][0]].word)
	visible := func(s string) string {
		return strings.Map(func(r rune) rune {
			if isIgnorable(r) {
				return -1
			}
			return r
		}, s)
	}
	before := visible(lt.gap(w0))
	after := lt.text[lt.words[w1].end:]
	if w1+1 < len(lt.words) {
		after = lt.gap(w1 + 1)
	}
	after = strings.TrimLeft(visible(after), ".,;:!?\u2026")
	open, _ := utf8.DecodeLastRuneInString(before)
	shut, _ := utf8.DecodeRuneInString(after)
	return strings.ContainsRune(openQuotes, open) && strings.ContainsRune(closeQuotes, shut)
}

// Quotation marks that open and close a quotation.
const (
	openQuotes  = "\"'\u201C\u2018\u00AB\u00BB\u201E\u2039\u203A"
	closeQuotes = "\"'\u201D\u2019\u00BB\u00AB\u201C\u203A\u2039"
)
