package demo

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"backchannel/canary"
	"backchannel/client"
	"backchannel/identity"
)

// words counts words as trace counts them: the canonical words of the text
// ("I'll" is two, "I will"). Every count the demo prints comes from here.
func words(text string) int { return len(canary.CanonicalWords(text)) }

// register creates the three profiles.
func (s *story) register(ctx context.Context) (Step, error) {
	st := Step{Step: "register", Title: "Three people register"}
	type user struct {
		Name        string `json:"name"`
		Fingerprint string `json:"fingerprint"`
	}
	var users []user
	for _, name := range members {
		home := filepath.Join(s.dir, name)
		c, err := client.Init(ctx, home, s.srv.URL, name, "", []byte("demo passphrase for "+name), s.opt.Client)
		if err != nil {
			return st, fmt.Errorf("register %s: %w", name, err)
		}
		s.people[name] = &participant{name: name, home: home, c: c}
		fp, err := c.Fingerprint(ctx, "")
		if err != nil {
			return st, fmt.Errorf("%s's fingerprint: %w", name, err)
		}
		users = append(users, user{name, fp})
		st.show = append(st.show, cli(name, "init", "--server", s.srv.URL, "--name", name))
	}
	st.Outcome = struct {
		Users []user `json:"users"`
	}{users}
	st.show = append(st.show,
		"each has an Ed25519 account key, a device key, a signed X25519 prekey and ML-KEM-768",
		"prekeys; the private keys never leave each one's encrypted profile.")
	return st, nil
}

// safetyNumbers: every pair compares its safety number and records it.
func (s *story) safetyNumbers(ctx context.Context) (Step, error) {
	st := Step{Step: "safety-numbers", Title: "Each pair compares safety numbers (in person or on a call they trust)"}
	type pair struct {
		Members  [2]string `json:"members"`
		Number   string    `json:"safety_number"`
		Verified bool      `json:"verified"`
	}
	var pairs []pair
	for i, a := range members {
		for _, b := range members[i+1:] {
			ab, _, err := s.people[a].c.SafetyNumber(ctx, b)
			if err != nil {
				return st, fmt.Errorf("%s's safety number with %s: %w", a, b, err)
			}
			ba, _, err := s.people[b].c.SafetyNumber(ctx, a)
			if err != nil {
				return st, fmt.Errorf("%s's safety number with %s: %w", b, a, err)
			}
			if ab != ba {
				return st, fmt.Errorf("%s and %s see different safety numbers: someone is in the middle", a, b)
			}
			if len(pairs) == 0 {
				st.show = append(st.show, cli(a, "keys", "verify", b))
				st.show = append(st.show, strings.Split(identity.FormatSafetyNumber(ab), "\n")...)
				st.show = append(st.show, fmt.Sprintf("(%s's screen shows the same 60 digits)", b))
			}
			for _, d := range [][2]string{{a, b}, {b, a}} {
				if err := s.people[d[0]].c.MarkVerified(ctx, d[1]); err != nil {
					return st, fmt.Errorf("%s records %s as verified: %w", d[0], d[1], err)
				}
				st.show = append(st.show, cli(d[0], "keys", "verify", d[1], "--confirm"))
			}
			pairs = append(pairs, pair{[2]string{a, b}, ab, false})
		}
	}
	for i := range pairs {
		a, b := pairs[i].Members[0], pairs[i].Members[1]
		pairs[i].Verified = s.people[a].c.Verified(ctx, []string{b})[b] && s.people[b].c.Verified(ctx, []string{a})[a]
		if !pairs[i].Verified {
			return st, fmt.Errorf("%s and %s compared safety numbers but are not shown as verified", a, b)
		}
	}
	st.Outcome = struct {
		Pairs []pair `json:"pairs"`
	}{pairs}
	st.show = append(st.show, fmt.Sprintf("all 12 groups match for each of the %d pairs, and both sides of each recorded it.", len(pairs)))
	return st, nil
}

// createRoom: the envoy opens the on-record room, marking on all channels;
// the others see mode and marking before the first message.
func (s *story) createRoom(ctx context.Context) (Step, error) {
	st := Step{Step: "room", Title: "The envoy opens an on-record room with every copy marked"}
	others := members[1:]
	r, err := s.people["envoy"].c.CreateRoom(ctx, roomName, others, client.ModeOnRecord, "all")
	if err != nil {
		return st, fmt.Errorf("create the room: %w", err)
	}
	s.room = r.State.ID
	st.show = append(st.show, cli("envoy", "room", "create", roomName, "--members", strings.Join(others, ","), "--mode", client.ModeOnRecord, "--marking", "all"))
	type seen struct {
		Member  string `json:"member"`
		Mode    string `json:"mode"`
		Marking string `json:"marking"`
	}
	var seenBy []seen
	for _, name := range others {
		p := s.people[name]
		if _, err := p.c.Sync(ctx); err != nil {
			return st, fmt.Errorf("%s syncs: %w", name, err)
		}
		rooms, err := p.c.Rooms(ctx)
		if err != nil {
			return st, fmt.Errorf("%s's rooms: %w", name, err)
		}
		i := slices.IndexFunc(rooms, func(x client.Room) bool { return x.State.ID == s.room })
		if i < 0 {
			return st, fmt.Errorf("%s does not see the room", name)
		}
		rs := rooms[i].State
		if rs.Mode != client.ModeOnRecord || rs.Marking != "all" {
			return st, fmt.Errorf("%s sees the room as %s with marking %q", name, rs.Mode, rs.Marking)
		}
		seenBy = append(seenBy, seen{name, rs.Mode, rs.Marking})
		st.show = append(st.show, cli(name, "room", "list"))
	}
	st.Outcome = struct {
		Room   string `json:"room"`
		SeenBy []seen `json:"seen_by"`
	}{roomName, seenBy}
	st.show = append(st.show,
		fmt.Sprintf("%s and %s see it before the first message: on-record (every message signed into a", others[0], others[1]),
		"hash-linked transcript) and marking all (invisible, typographic and wording marks in each copy).")
	return st, nil
}

// negotiate plays the script, each speaker syncing before replying, then
// the envoy circulates the briefing.
func (s *story) negotiate(ctx context.Context) (Step, error) {
	st := Step{Step: "negotiation", Title: "The negotiation"}
	for _, line := range Script {
		p := s.people[line.Speaker]
		if _, err := p.c.Sync(ctx); err != nil {
			return st, fmt.Errorf("%s syncs: %w", line.Speaker, err)
		}
		if _, err := p.c.Send(ctx, s.room, line.Text); err != nil {
			return st, fmt.Errorf("%s sends: %w", line.Speaker, err)
		}
		st.show = append(st.show, cli(line.Speaker, "send", roomName, line.Text))
	}
	paras := briefingParagraphs()
	if _, err := s.people["envoy"].c.Sync(ctx); err != nil {
		return st, fmt.Errorf("envoy syncs: %w", err)
	}
	for _, p := range paras {
		if _, err := s.people["envoy"].c.Send(ctx, s.room, p); err != nil {
			return st, fmt.Errorf("envoy sends the briefing: %w", err)
		}
	}
	st.show = append(st.show, `$ for f in briefing/*.txt; do backchannel --home ./envoy send `+roomName+` --file "$f"; done`)
	want := len(Script) + len(paras)
	var order []string
	received := map[string]int{}
	for _, name := range members {
		p := s.people[name]
		if _, err := p.c.Sync(ctx); err != nil {
			return st, fmt.Errorf("%s syncs: %w", name, err)
		}
		msgs, err := s.texts(ctx, name)
		if err != nil {
			return st, err
		}
		var ids []string
		for _, m := range msgs {
			ids = append(ids, m.ID)
		}
		if len(ids) != want {
			return st, fmt.Errorf("%s holds %d of the %d messages", name, len(ids), want)
		}
		if order == nil {
			order = ids
		} else if !slices.Equal(ids, order) {
			return st, fmt.Errorf("%s holds the messages in another order than %s", name, members[0])
		}
		received[name] = len(ids)
	}
	bw := words(briefing)
	st.Outcome = struct {
		Messages         int            `json:"messages"`
		BriefingMessages int            `json:"briefing_messages"`
		BriefingWords    int            `json:"briefing_words"`
		Held             map[string]int `json:"held_by"`
	}{want, len(paras), bw, received}
	st.show = append(st.show,
		fmt.Sprintf("the envoy circulates a background briefing: %s words in %d messages.", thousands(bw), len(paras)),
		"(each member runs `backchannel sync` before replying)",
		fmt.Sprintf("every member holds all %d messages, in the same order.", want))
	return st, nil
}

// texts returns the text messages of the room as member holds them.
func (s *story) texts(ctx context.Context, member string) ([]client.Message, error) {
	_, msgs, err := s.people[member].c.History(ctx, s.room)
	if err != nil {
		return nil, fmt.Errorf("%s's history: %w", member, err)
	}
	var out []client.Message
	for _, m := range msgs {
		if m.Kind == client.KindText {
			out = append(out, m)
		}
	}
	return out, nil
}

// copies shows one message as typed and as each member received it, with
// the invisible marks made visible and the differing words highlighted.
func (s *story) copies(ctx context.Context) (Step, error) {
	st := Step{Step: "copies", Title: "Every member receives a differently marked copy"}
	last := Script[len(Script)-1]
	find := func(member string) (client.Message, error) {
		msgs, err := s.texts(ctx, member)
		if err != nil {
			return client.Message{}, err
		}
		for _, m := range msgs {
			if m.Sender == last.Speaker && canary.Canonicalize(m.Text) == canary.Canonicalize(last.Text) {
				return m, nil
			}
		}
		return client.Message{}, fmt.Errorf("%s does not hold the %s's message %q", member, last.Speaker, last.Text)
	}
	typed, err := find(last.Speaker)
	if err != nil {
		return st, err
	}
	if typed.Text != last.Text {
		return st, fmt.Errorf("the %s's own copy is not what was typed: %q", last.Speaker, typed.Text)
	}
	type copyOut struct {
		Member  string   `json:"member"`
		Text    string   `json:"text"`
		Visible string   `json:"visible"`
		Differs []string `json:"differs"`
	}
	var out []copyOut
	label := func(s string) string { return fmt.Sprintf("%-18s", s) }
	st.show = append(st.show,
		cli(members[0], "read", roomName),
		cli(members[1], "read", roomName),
		fmt.Sprintf("the %s's last message as typed and as each member received it", last.Speaker),
		"("+legend+"):",
		label("typed by "+last.Speaker+":")+last.Text)
	seen := map[string]bool{}
	for _, name := range members {
		if name == last.Speaker {
			continue
		}
		m, err := find(name)
		if err != nil {
			return st, err
		}
		if m.ID != typed.ID {
			return st, fmt.Errorf("%s's copy has id %s, the %s's %s", name, m.ID, last.Speaker, typed.ID)
		}
		if m.Text == last.Text {
			return st, fmt.Errorf("%s's copy is unmarked although the room marks every channel", name)
		}
		if seen[m.Text] {
			return st, fmt.Errorf("%s's copy is the same as another member's", name)
		}
		seen[m.Text] = true
		v := Visible(last.Text, m.Text, s.opt.Highlight)
		out = append(out, copyOut{name, m.Text, Visible(last.Text, m.Text, false).Text, v.Differs})
		st.show = append(st.show, label(name+"'s copy:")+v.Text)
	}
	st.Outcome = struct {
		Message string    `json:"message"`
		Sender  string    `json:"sender"`
		Typed   string    `json:"typed"`
		Copies  []copyOut `json:"copies"`
	}{typed.ID, last.Speaker, last.Text, out}
	st.show = append(st.show,
		"the words mean the same; the marks differ, and only the sender's secret marking key can",
		"recompute which copy is whose (no member can make another member's copy).")
	return st, nil
}
