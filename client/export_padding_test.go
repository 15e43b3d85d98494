package client

// SetPadding switches payload and blob padding on or off (off: they go
// unpadded and unpadded payloads are accepted, as before padding) for the
// length attack's baseline, and returns a function restoring the previous
// setting.
func SetPadding(on bool) (restore func()) {
	old := noPadding.Swap(!on)
	return func() { noPadding.Store(old) }
}

// SetUnmark switches the unmarking of outgoing text on or off (off plays a
// client from before the fix, for the quoting attack's baseline).
func SetUnmark(on bool) (restore func()) {
	old := keepMarks.Swap(!on)
	return func() { keepMarks.Store(old) }
}
