package room

import "testing"

func TestSeenShow(t *testing.T) {
	for _, c := range []struct {
		name     string
		v        Seen
		senders  []string
		unread   int
		archived bool
	}{
		{"nothing read", Seen{}, []string{"bob", "me", "bob"}, 2, false},
		{"own entries never unread", Seen{}, []string{"me", "me"}, 0, false},
		{"read up to 2", Seen{Read: 2}, []string{"bob", "bob", "carol"}, 1, false},
		{"archived, nothing since", Seen{Read: 2, Archived: true, ArchivedAt: 2}, []string{"bob", "bob", "me"}, 0, true},
		{"archived, someone wrote since", Seen{Read: 2, Archived: true, ArchivedAt: 2}, []string{"bob", "bob", "carol"}, 1, false},
	} {
		u, a := c.v.Show("me", c.senders)
		if u != c.unread || a != c.archived {
			t.Errorf("%s: unread %d, archived %v; want %d, %v", c.name, u, a, c.unread, c.archived)
		}
	}
}

func TestSeenMarkReadNeverMovesBack(t *testing.T) {
	v := Seen{Read: 3}
	if v.MarkRead(2) || v.Read != 3 {
		t.Errorf("the mark moved back: %+v", v)
	}
	if !v.MarkRead(5) || v.Read != 5 {
		t.Errorf("the mark did not move on: %+v", v)
	}
	v.Archive(true, 7)
	if !v.Archived || v.ArchivedAt != 7 {
		t.Errorf("archive: %+v", v)
	}
	v.Archive(false, 9)
	if v.Archived || v.ArchivedAt != 0 {
		t.Errorf("unarchive: %+v", v)
	}
}
