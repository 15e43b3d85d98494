package canary

import "unicode/utf8"

// channels says which style marks a leak still carries.
type channels struct {
	style, space bool
}

func leakChannels(t *tokens) channels {
	var ch channels
	fancy, plain, one, two := 0, 0, 0, 0
	for k := 1; k < len(t.words); k++ {
		g := t.gap(k)
		f, p := styleUnits(g, false)
		fancy, plain = fancy+f, plain+p
		f, p = styleUnits(t.raw(k), true)
		fancy, plain = fancy+f, plain+p
		switch sentenceSpaces(g) {
		case 1:
			one++
		case 2:
			two++
		}
	}
	// A marked copy uses each style on about half of its slots. A leak in
	// one style only was normalised (retyped) or auto-corrected ("smart
	// quotes", a typist's two spaces after every sentence): its style says
	// nothing about the copy, so the channel is erased rather than read.
	ch.style = mixed(fancy, plain)
	ch.space = mixed(two, one)
	return ch
}

// mixed reports whether a leak with a marked and b unmarked units of a style
// can come from a marked copy: some marked units, and with eight units or
// more at least 10% of each kind.
func mixed(a, b int) bool {
	n := a + b
	if n < 8 {
		return a > 0
	}
	return 10*a >= n && 10*b >= n
}

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
		case kindGapStyle, kindSentenceSpace, kindInvisible:
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
