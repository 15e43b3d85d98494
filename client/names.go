package client

import (
	"context"
	"fmt"
	"io"

	"backchannel/names"
	"backchannel/server/api"
)

// Names from the network (docs/protocol.md section 13, "Names from the
// network"): a payload whose document name, room name or alert text breaks
// the rule of package names is refused as it is decoded, like any other
// malformed payload, so such a name is never stored or shown. What was
// stored before the rule is printed through names.Quote by the CLI.

// MaxRoomName bounds a room's name in bytes.
const MaxRoomName = 200

// UnmarshalJSON decodes a payload with api.Decode's strictness (no unknown
// fields, no trailing data) and then checks the names it carries
// (checkNames). It is the one place every received payload passes through,
// stored queues of received payloads included.
func (p *payload) UnmarshalJSON(b []byte) error {
	type wire payload // the same fields, without this method
	if err := api.Decode(b, (*wire)(p)); err != nil {
		return err
	}
	return p.checkNames()
}

// checkNames applies the rule for names to what a payload shows the user.
func (p *payload) checkNames() error {
	if p.Doc != nil {
		if err := checkDocName(p.Doc.Name); err != nil {
			return err
		}
	}
	if p.State != nil {
		if err := CheckRoomName(p.State.Name); err != nil {
			return err
		}
	}
	if p.Kind == KindAlert {
		if err := names.Check(p.Text, maxAlertBytes); err != nil {
			return fmt.Errorf("the alert text is %w", err)
		}
	}
	return nil
}

// CheckRoomName applies the rule for names to a room's name (at most
// MaxRoomName bytes). Errors match names.ErrName.
func CheckRoomName(name string) error {
	if err := names.Check(name, MaxRoomName); err != nil {
		return fmt.Errorf("the room name %s is %w", quoteName(name), err)
	}
	return nil
}

// quoteName shows a name in an error message without letting it act on
// the terminal.
func quoteName(s string) string { return `"` + names.Quote(s, 80) + `"` }

// ShareUnchecked is ShareReader without the rule for names: what a patched
// or hostile client can send. It exists so that tests perform the attack on
// recipients (who refuse such a document on receipt); nothing else calls it.
func (c *Client) ShareUnchecked(ctx context.Context, roomRef, name string, r io.Reader) (*Message, error) {
	room, key, err := c.prepareShare(ctx, roomRef)
	if err != nil {
		return nil, err
	}
	ref, err := c.uploadSealed(ctx, key, r)
	if err != nil {
		return nil, err
	}
	ref.Name = name
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendDoc(ctx, room.State.ID, ref)
}
