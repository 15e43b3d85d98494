package room

// Seen is what one device has shown of a room and whether its user put the
// room away. It is the device's own business: never sent, never synced to
// the account's other devices.
//
// Unread: a room's history is kept in arrival order; the device remembers
// how many entries of it were shown, and counts as unread every later entry
// from someone else.
//
// Archive: an archived room is left out of the room list and stays
// readable and writable. It comes back by itself as soon as someone else
// writes in it (a message, a notice or a membership change from another
// member), so nothing new can hide in the archive.
type Seen struct {
	// Read counts the history entries (in arrival order) shown.
	Read int `json:"read"`
	// Archived is set while the room is archived; ArchivedAt is the
	// history's length when it was archived.
	Archived   bool `json:"archived,omitempty"`
	ArchivedAt int  `json:"archived_at,omitempty"`
}

// Show counts the unread entries of a history whose senders, in arrival
// order, are senders, and says whether the room is still archived; me is
// this device's user, whose own entries are never unread.
func (v Seen) Show(me string, senders []string) (unread int, archived bool) {
	archived = v.Archived
	for i, s := range senders {
		if s == me {
			continue
		}
		if i >= v.Read {
			unread++
		}
		if i >= v.ArchivedAt {
			archived = false // someone wrote since: back in the list
		}
	}
	return unread, archived
}

// MarkRead records the first n entries as shown; it never moves the mark
// back, and reports whether the view changed.
func (v *Seen) MarkRead(n int) bool {
	if n <= v.Read {
		return false
	}
	v.Read = n
	return true
}

// Archive archives the room (on, at a history of length n) or brings it
// back.
func (v *Seen) Archive(on bool, n int) {
	v.Archived, v.ArchivedAt = on, 0
	if on {
		v.ArchivedAt = n
	}
}
