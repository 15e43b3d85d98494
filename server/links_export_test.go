package server

import "time"

// SetLinkClock replaces the link relay's clock for servers built afterwards
// (tests of expiry) and returns a func that restores it.
func SetLinkClock(now func() time.Time) (restore func()) {
	old := linkClock
	linkClock = now
	return func() { linkClock = old }
}
