package canary

import (
	"fmt"
	"strings"
)

// CopyCaveat is said with every name a trace gives: marks identify a
// copy, not a person.
const CopyCaveat = "This names whose copy leaked, not who leaked it: the copy may have been passed on or taken from their device."

// Explain says in plain words what a suspect's evidence is, as the command
// line and the desktop app show it: whose copy the leak is (or holds, for a
// merge), how many of the marks read match it, by which test, and the bound
// on naming an innocent member this way.
func (s Suspect) Explain() string {
	if (s.Test == "pair" || s.Test == "split") && len(s.Pair) == 2 {
		where := "agree and the leak differs"
		if s.Test == "split" {
			where = "differ"
		}
		return fmt.Sprintf("the leak holds %s's copy merged with others — where %s's and %s's copies %s, %d of %d marks match %s's (%s test); probability that another copy matches this well ≤ %.1e",
			s.Member, s.Pair[0], s.Pair[1], where, s.SlotsMatched, s.SlotsRead, s.Member, s.Test, s.FalseAccusationBound)
	}
	if s.Test == "minority" && len(s.Pair) == 2 {
		return fmt.Sprintf("the leak holds %s's copy merged with others, each mark taken from the fewest copies — given %s's and %s's copies, %d of %d marks match %s's (minority test); probability that another copy matches this well ≤ %.1e",
			s.Member, s.Pair[0], s.Pair[1], s.SlotsMatched, s.SlotsRead, s.Member, s.FalseAccusationBound)
	}
	if s.Test == "trio" && len(s.Pair) == 2 {
		return fmt.Sprintf("the leak holds %s's copy interleaved with others — given %s's and %s's copies, %d of %d marks match %s's (trio test); probability that another copy matches this well ≤ %.1e",
			s.Member, s.Pair[0], s.Pair[1], s.SlotsMatched, s.SlotsRead, s.Member, s.FalseAccusationBound)
	}
	test := s.Test + " test"
	if len(s.SetAside) > 0 {
		test += ", " + strings.Join(s.SetAside, " and ") + " marks set aside"
	}
	return fmt.Sprintf("the leak is %s's copy — %d of %d marks match it (%s); probability that another copy matches this well ≤ %.1e",
		s.Member, s.SlotsMatched, s.SlotsRead, test, s.FalseAccusationBound)
}
