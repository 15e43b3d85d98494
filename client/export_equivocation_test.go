package client

// PatchMarking makes every client in this test binary whose user is sender
// rewrite its marked copies after the honest marking step (nil restores):
// the patched client of an equivocating sender. The rest of the send path
// is the real one.
func PatchMarking(sender string, rewrite func(copyOf map[string]string)) {
	if rewrite == nil {
		tamperCopies = nil
		return
	}
	tamperCopies = func(user string, copyOf map[string]string) {
		if user == sender {
			rewrite(copyOf)
		}
	}
}
