package leak

import (
	"fmt"
	"time"
)

// timeClaim is a time stated by a leaked line.
type timeClaim struct {
	clock int    // minutes after midnight, -1 if none
	date  [3]int // year, month, day; zero if none
	zone  int    // stated offset east of UTC, minutes
	zoned bool
}

func (c timeClaim) stated() bool { return c.clock >= 0 }

// offBy returns how many minutes the claimed time is after the sending
// time t, in the verifier's location shifted by shift minutes (or in the
// stated zone). Without a date the difference is taken modulo a day, in
// (-720, 720].
func (c timeClaim) offBy(t time.Time, loc *time.Location, shift int) int {
	if c.zoned {
		loc, shift = time.FixedZone("", c.zone*60), 0
	}
	local := t.In(loc).Add(time.Duration(shift) * time.Minute)
	if c.date != [3]int{} {
		claimed := time.Date(c.date[0], time.Month(c.date[1]), c.date[2], c.clock/60, c.clock%60, 0, 0, time.UTC)
		actual := time.Date(local.Year(), local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), 0, time.UTC)
		return int(claimed.Sub(actual).Round(time.Second) / time.Minute)
	}
	d := c.clock - (local.Hour()*60 + local.Minute())
	for d > 720 {
		d -= 1440
	}
	for d <= -720 {
		d += 1440
	}
	return d
}

// checkTimes checks every stated time once the whole leak is read. The
// displayed minute is the sending time truncated or rounded, so a claim
// within Options.TimeTolerance (one minute) of the sending time agrees.
// Unless a line states its zone, the leak may have been shown in another
// time zone than the verifier's: the shift (a multiple of 15 minutes, at
// most 14 hours) that makes the most timed lines agree is allowed, if at
// least two lines and more than half of the timed lines support it; ties
// and weaker support leave no shift. A wrong time on an otherwise
// authentic line makes it misdated; on a line already flagged it is added
// to the diff.
func (ix *Index) checkTimes(lines []Line) int {
	tol := int(ix.opt.TimeTolerance / time.Minute)
	loc := ix.opt.Location
	votes := map[int]int{}
	timed := 0
	for _, l := range lines {
		if !l.claim.stated() || l.claim.zoned || l.sent.IsZero() {
			continue
		}
		timed++
		d := l.claim.offBy(l.sent, loc, 0)
		q := roundTo(d, 15)
		if abs(d-q) <= tol && abs(q) <= 14*60 {
			votes[q]++
		}
	}
	shift := 0
	for q, n := range votes {
		if q != 0 && n >= 2 && 2*n > timed && n > votes[0] && (shift == 0 || n > votes[shift]) {
			shift = q
		}
	}
	for i := range lines {
		l := &lines[i]
		if !l.claim.stated() || l.sent.IsZero() {
			continue
		}
		d := l.claim.offBy(l.sent, loc, shift)
		if abs(d) <= tol {
			continue
		}
		shown := l.sent.In(loc).Add(time.Duration(shift) * time.Minute)
		if l.claim.zoned {
			shown = l.sent.In(time.FixedZone("", l.claim.zone*60))
		}
		claimed := fmt.Sprintf("%02d:%02d", l.claim.clock/60, l.claim.clock%60)
		layout := "15:04"
		if l.claim.date != [3]int{} {
			claimed = fmt.Sprintf("%04d-%02d-%02d %s", l.claim.date[0], l.claim.date[1], l.claim.date[2], claimed)
			layout = "2006-01-02 15:04"
		}
		why := fmt.Sprintf("dated %s, but sent at %s", claimed, shown.Format(layout))
		if shift != 0 && !l.claim.zoned {
			why += fmt.Sprintf(" (in the leak's time zone, %s from the verifier's)", offsetText(shift))
		}
		switch l.Verdict {
		case Authentic:
			l.Verdict, l.Diff = Misdated, why
		default:
			l.Diff += "; also " + why
			l.doubt = l.doubt || l.Verdict == Altered
		}
	}
	return shift
}

func roundTo(d, q int) int {
	if d >= 0 {
		return (d + q/2) / q * q
	}
	return -((-d + q/2) / q * q)
}

func offsetText(m int) string {
	sign := "+"
	if m < 0 {
		sign, m = "-", -m
	}
	return fmt.Sprintf("%s%d:%02d", sign, m/60, m%60)
}

// timeOK reports whether a claimed clock time (minutes after midnight)
// agrees with the message's sending time within the tolerance, with no
// shift; it ranks candidate messages before the leak's shift is known.
func (ix *Index) timeOK(clock int, m Message) bool {
	c := timeClaim{clock: clock}
	return time.Duration(abs(c.offBy(m.SentAt, ix.opt.Location, 0)))*time.Minute <= ix.opt.TimeTolerance
}
