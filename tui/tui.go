// Package tui is `backchannel chat`'s full-screen chat: a room list with
// unread counts, the room's timeline in causal order with day separators,
// a composer with line editing and history, and a status line with the
// room's mode, marking, members (and whether their safety numbers were
// compared) and the push connection's state.
//
// The contract:
//   - Nothing typed leaves the screen except by Enter on a line that is not
//     a slash command; a line starting with "/" is a local command (/help,
//     /who, /verify NAME, /share FILE, /leave, /quit), an unknown one is
//     refused on the screen and never sent ("//text" sends "/text").
//   - Control characters and terminal escape sequences, typed or pasted,
//     never reach the composer nor a message; what others sent is shown
//     with its control characters made visible, never interpreted.
//   - Ctrl-C leaves at once, whatever is in flight.
//   - Arriving messages redraw the timeline only: the composer's line and
//     cursor stay as they were.
//
// The screen reaches its terminal only through Terminal (so the agent can
// forward a caller's terminal) and the profile only through Backend, so the
// model is tested with a fake; NewClientBackend adapts a *client.Client and
// its *live.Hub. The package never imports the command tree.
package tui

import (
	"context"
	"errors"
	"time"
)

// Message kinds (as package client names them).
const (
	KindText   = "text"
	KindDoc    = "doc"
	KindSystem = "system"
	KindNotice = "notice"
)

// Delivery states of this user's own messages.
const (
	DeliveryQueued    = "queued"    // saved here, not yet taken by the server
	DeliverySent      = "sent"      // the server has it
	DeliveryDelivered = "delivered" // every recipient's device fetched it
)

// Connection states, as package live names them.
const (
	StateConnecting   = "connecting"
	StateConnected    = "connected"
	StateReconnecting = "reconnecting"
	StateRefused      = "refused"
)

// Room is what the screen shows of a room.
type Room struct {
	ID, Name      string // Name: as shown (the room's label when names clash)
	Mode, Marking string
	Members       []string
	// Verified says, per member, whether their safety number was compared.
	Verified map[string]bool
	Unread   int
	// Removed: this user is no longer a member. Archived: put away on this
	// device (listed after the others).
	Removed, Archived bool
}

// Message is one entry of a room's timeline.
type Message struct {
	ID     string
	Sender string
	SentAt time.Time
	Text   string
	Kind   string // KindText, KindDoc, KindSystem, KindNotice
	// Delivery is the state of this user's own message ("" when unknown or
	// not this user's); DeliveredTo of Of members are known to hold it.
	Delivery        string
	DeliveredTo, Of int
}

// Event is what the live connection tells the screen: a change of the
// connection's state, or new messages and warnings.
type Event struct {
	State  string // the connection's state after this event
	Reason string // why it is not up, in plain words
	// Report: messages arrived or a sync said something (Warnings).
	Report   bool
	Received int
	Warnings []string
	Missed   int // events lost because the screen fell behind
}

// Backend is what the screen needs of an open profile. Every method may
// block on the network or the local store; the screen calls them outside
// its event loop.
type Backend interface {
	// Me is this user's name.
	Me() string
	Rooms(ctx context.Context) ([]Room, error)
	// History returns the room (by id or name) and its timeline, oldest
	// first in causal order.
	History(ctx context.Context, room string) (Room, []Message, error)
	// Send sends text; warnings are what the user must know about it. A
	// message that is saved but not yet delivered comes back with Delivery
	// DeliveryQueued and no error.
	Send(ctx context.Context, room, text string) (msg Message, warnings []string, err error)
	// Share shares the file at path (resolved by the backend against the
	// caller's working directory).
	Share(ctx context.Context, room, path string) (msg Message, warnings []string, err error)
	Leave(ctx context.Context, room string) error
	// Verify returns the safety number to compare with user in person or
	// on a call; confirm records that it matched.
	Verify(ctx context.Context, user string, confirm bool) (Safety, error)
	// MarkRead records that the room was shown up to the message upTo.
	MarkRead(ctx context.Context, room, upTo string) error
	// Subscribe follows the live connection until cancel is called.
	Subscribe() (events <-chan Event, cancel func())
	// State is the live connection's state now, and why it is not up.
	State() (state, reason string)
}

// Safety is a safety number with another user, formatted for reading
// aloud.
type Safety struct {
	User     string
	Number   string
	Previous string // the number before a pending key change, or ""
	Verified bool
}

// ErrUnknownCommand: a line started with "/" but names no local command.
var ErrUnknownCommand = errors.New("unknown command")
