package client

// SetPadding switches payload padding on or off (off: payloads go unpadded
// and unpadded ones are accepted, as before padding) for the length attack's
// baseline, and returns a function restoring the previous setting.
func SetPadding(on bool) (restore func()) {
	old := padPayloads
	padPayloads = on
	return func() { padPayloads = old }
}

// SetUnmark switches the unmarking of outgoing text on or off (off plays a
// client from before the fix, for the quoting attack's baseline).
func SetUnmark(on bool) (restore func()) {
	old := unmarkOutgoing
	unmarkOutgoing = on
	return func() { unmarkOutgoing = old }
}
