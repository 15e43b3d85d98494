package canary

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
