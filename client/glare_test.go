package client_test

import (
	"context"
	"strings"
	"testing"

	"backchannel/client"
)

// Two people who start a session with each other before either has synced
// (each creates a room with the other) see no "started a new session"
// notice: neither restored, copied or reinstalled anything, and a false
// alarm teaches people to ignore true ones. Both rooms then work both ways.
func TestSimultaneousFirstContactIsNotANewSession(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	clk := newClock()
	a, b := e.userAt("anna", clk), e.userAt("ben", clk)
	if _, err := a.CreateRoom(ctx, "from-anna", []string{"ben"}, client.ModeOnRecord, "off"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateRoom(ctx, "from-ben", []string{"anna"}, client.ModeOnRecord, "off"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		sync(t, a)
		sync(t, b)
	}
	for _, m := range []struct {
		c    *client.Client
		room string
		text string
	}{{a, "from-ben", "anna in ben's room"}, {b, "from-anna", "ben in anna's room"}, {a, "from-anna", "anna in her room"}, {b, "from-ben", "ben in his room"}} {
		if _, err := m.c.Send(ctx, m.room, m.text); err != nil {
			t.Fatalf("%s: %v", m.text, err)
		}
	}
	for i := 0; i < 2; i++ {
		sync(t, a)
		sync(t, b)
	}
	for _, c := range []*client.Client{a, b} {
		for _, room := range []string{"from-anna", "from-ben"} {
			_, msgs, err := c.History(ctx, room)
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for _, m := range msgs {
				texts = append(texts, m.Text)
				if strings.Contains(m.Text, "started a new session") {
					t.Errorf("%s sees a false new-session notice in %s: %q", c.User(), room, m.Text)
				}
			}
			all := strings.Join(texts, "\n")
			for _, want := range []string{"anna in", "ben in"} {
				if !strings.Contains(all, want) {
					t.Errorf("%s's %s lacks a message containing %q:\n%s", c.User(), room, want, all)
				}
			}
		}
		ns, err := c.Notices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.Kind == "new-session" {
				t.Errorf("%s has a false new-session notice: %q", c.User(), n.Text)
			}
		}
	}
}
