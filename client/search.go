package client

import (
	"context"
	"errors"
	"sort"
	"strings"
)

// Search and lookup over the stored histories. Every copy of a message
// carries its recipient's canary marks (invisible characters, typographic
// and lexical variants), so text is compared in the canonical form the
// transcript commits to (canonicalText: the canary's canonical words,
// lower-cased, marks folded away): a search finds every copy alike, and
// a plain grep's misses do not happen.

// Hit is one message that matches a search: the room, the message, and
// the line of its text that holds the match (as stored, marks and all).
type Hit struct {
	Room    string  `json:"room"`
	Label   string  `json:"room_name"`
	Message Message `json:"message"`
	Line    string  `json:"line"`
}

// ErrEmptySearch: the search text has no words to look for.
var ErrEmptySearch = errors.New("the search text has no words to look for")

// Search returns the messages of every room (or of roomRef only, when it
// is not "") whose text holds the words of query in order, marks ignored
// (see above), oldest first per room, rooms by label.
func (c *Client) Search(ctx context.Context, query, roomRef string) ([]Hit, error) {
	q := canonicalText(query)
	if q == "" {
		return nil, ErrEmptySearch
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var rooms []*Room
	if roomRef != "" {
		r, err := c.resolveRoom(ctx, roomRef)
		if err != nil {
			return nil, err
		}
		rooms = []*Room{r}
	} else {
		all, err := c.allRooms(ctx, c.v)
		if err != nil {
			return nil, err
		}
		rooms = all
		sort.SliceStable(rooms, func(i, j int) bool { return rooms[i].Label < rooms[j].Label })
	}
	var out []Hit
	for _, r := range rooms {
		msgs, err := arrivals(ctx, c.v, r)
		if err != nil {
			return nil, err
		}
		for _, m := range c.causalOrder(ctx, r, msgs) {
			if m.Kind == KindNotice {
				continue
			}
			if line, ok := matchLine(m.Text, q); ok {
				out = append(out, Hit{Room: r.State.ID, Label: r.Label, Message: m, Line: line})
			}
		}
	}
	return out, nil
}

// matchLine reports whether text holds the canonical words q, and returns
// the first line that holds them all (the whole text's first line when
// the match spans lines).
func matchLine(text, q string) (string, bool) {
	if !holds(canonicalText(text), q) {
		return "", false
	}
	lines := strings.Split(text, "\n")
	for _, l := range lines {
		if holds(canonicalText(l), q) {
			return l, true
		}
	}
	return lines[0], true
}

// holds says whether the canonical words q occur in t as whole words.
func holds(t, q string) bool { return strings.Contains(" "+t+" ", " "+q+" ") }

// Lookup returns the stored messages that a SyncReport's New names, in
// that order (those no longer found are left out).
func (c *Client) Lookup(ctx context.Context, stored []Stored) ([]Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	byRoom := map[string][]Message{}
	var out []Message
	for _, s := range stored {
		msgs, ok := byRoom[s.Room]
		if !ok {
			r, err := roomFrom(ctx, c.v, s.Room)
			if errors.Is(err, ErrUnknownRoom) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if msgs, err = arrivals(ctx, c.v, r); err != nil {
				return nil, err
			}
			byRoom[s.Room] = msgs
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].ID == s.ID && msgs[i].Sender == s.Sender {
				out = append(out, msgs[i])
				break
			}
		}
	}
	return out, nil
}
