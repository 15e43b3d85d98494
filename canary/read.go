package canary

import "unicode/utf8"

// readSlots reads the symbols of the slots of one message from the leak.
// cmap maps the message's canonical positions to leak canonical positions
// (-1: not aligned). Reading depends on the leak only, never on a member's
// codeword, which is what makes the false-accusation bound hold.
func readSlots(l *Layout, cmap []int32, lt *tokens, lc []canonTok, ch channels) []readSlot {
	var out []readSlot
	for i, s := range l.slots {
		c := l.wordCanon[s.w]
		if c < 0 {
			continue
		}
		j := cmap[c]
		if j < 0 || !lc[j].first {
			continue
		}
		lw := int(lc[j].word)
		sym := -1
		switch s.kind {
		case kindGapStyle, kindSentenceSpace, kindInvisible, kindPunct:
			if c == 0 || j == 0 || cmap[c-1] != j-1 || int(lc[j-1].word) != lw-1 {
				continue
			}
			g := lt.gap(lw)
			switch s.kind {
			case kindGapStyle:
				if ch.style {
					sym = styleSymbol(styleUnits(g, false))
				}
			case kindSentenceSpace:
				if ch.space {
					sym = sentenceSpaces(g) - 1
				}
			case kindInvisible:
				sym = invisibleSymbol(g)
			case kindPunct:
				sym = commaSymbol(g)
			}
		case kindWordStyle:
			if ch.style {
				sym = styleSymbol(styleUnits(lt.raw(lw), true))
			}
		case kindLexical:
			if lc[j].g == s.m.g {
				sym = int(lc[j].alt)
			}
		}
		if sym >= 0 && sym < int(s.q) {
			out = append(out, readSlot{slot: i, sym: sym})
		}
	}
	return out
}

func styleSymbol(fancy, plain int) int {
	switch {
	case fancy > 0 && plain == 0:
		return 1
	case plain > 0 && fancy == 0:
		return 0
	}
	return -1
}

// invisibleSymbol returns the zero-width carrier in a gap, or -1 if there is
// none or more than one kind.
func invisibleSymbol(g string) int {
	sym := -1
	for i := 0; i < len(g); {
		r, n := utf8.DecodeRuneInString(g[i:])
		i += n
		for a, z := range zeroWidth {
			if r == z {
				if sym >= 0 && sym != a {
					return -1
				}
				sym = a
			}
		}
	}
	return sym
}
