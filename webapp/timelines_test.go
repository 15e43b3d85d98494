package webapp

import (
	"fmt"
	"testing"
)

// A kept answer is served until something changes; an answer whose build
// began before a change is never served after it.
func TestTimelinesNeverServeAnAnswerOlderThanAChange(t *testing.T) {
	tl := newTimelines()
	builds := 0
	build := func(extra func()) func() ([]byte, error) {
		return func() ([]byte, error) {
			builds++
			v := builds
			if extra != nil {
				extra()
			}
			return []byte(fmt.Sprint(v)), nil
		}
	}
	steps := []struct {
		what  string
		do    func()
		want  string
		build int
	}{
		{"first open builds", nil, "1", 1},
		{"second open is kept", nil, "1", 1},
		{"a change makes it stale", tl.stale, "2", 2},
		{"kept again", nil, "2", 2},
	}
	for _, st := range steps {
		if st.do != nil {
			st.do()
		}
		b, err := tl.get("room", build(nil))
		if err != nil || string(b) != st.want || builds != st.build {
			t.Fatalf("%s: got %q (%d builds), want %q (%d)", st.what, b, builds, st.want, st.build)
		}
	}
	// A change while an answer is being built: that answer is returned to
	// its caller (it began before the change) but not kept as fresh.
	b, _ := tl.prepare("room", build(tl.stale))
	if string(b) != "3" {
		t.Fatalf("prepare returned %q", b)
	}
	if tl.fresh("room") {
		t.Fatal("an answer built across a change is kept as fresh")
	}
	if b, _ := tl.get("room", build(nil)); string(b) != "4" {
		t.Fatalf("after a change during a build: got %q, want a new build", b)
	}
	tl.reset()
	if tl.fresh("room") || len(tl.recentRooms()) != 0 {
		t.Fatal("reset kept something")
	}
}
