package doctor

import (
	"fmt"
	"math/rand"
	"strings"

	"backchannel/transcript/leak"
)

// DemoLeak renders msgs as a member would publish them — retyped,
// relabelled in capitals, re-wrapped — with exactly two doctored lines: a
// negation in one message and an invented line. It returns the text and
// the 1-based line numbers of the two doctored lines (for `backchannel
// demo`, where verify must flag exactly those). It fails if msgs has no
// message long enough to negate.
func DemoLeak(msgs []leak.Message, seed int64) (string, []int, error) {
	rng := rand.New(rand.NewSource(seed))
	g := &Generator{T: Transcript{Messages: msgs}}
	g.init()
	target := -1
	for _, k := range rng.Perm(len(msgs)) {
		if len(strings.Fields(msgs[k].Text)) >= 6 {
			if _, ok := g.edit(Negate, msgs[k].Text, "", rng); ok {
				target = k
				break
			}
		}
	}
	if target < 0 {
		return "", nil, fmt.Errorf("no message long enough to doctor")
	}
	insertAfter := rng.Intn(len(msgs))
	var b strings.Builder
	var doctored []int
	line := 1
	emit := func(who, text string, bad bool) {
		s := wrap(strings.ToUpper(who)+": "+retype(text, rng), 72)
		if bad {
			doctored = append(doctored, line)
		}
		b.WriteString(s)
		b.WriteString("\n\n")
		line += strings.Count(s, "\n") + 2
	}
	for k, m := range msgs {
		text := m.Text
		if k == target {
			ok := false
			for tries := 0; !ok && tries < 100; tries++ {
				text, ok = g.edit(Negate, m.Text, "", rng)
			}
			if !ok {
				return "", nil, fmt.Errorf("could not negate message %s", m.ID)
			}
		}
		emit(m.Sender, text, k == target)
		if k == insertAfter {
			emit(m.Sender, fallbackFabrications[rng.Intn(len(fallbackFabrications))], true)
		}
	}
	return b.String(), doctored, nil
}
