package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"backchannel/client"
	"backchannel/room"
)

func newRoomCmd(g *globals) *cobra.Command {
	rc := &cobra.Command{Use: "room", Short: "Create rooms, manage their members, rename and archive them"}
	rc.AddCommand(newRoomCreateCmd(g), newRoomListCmd(g))
	member := func(use, short, example string, do func(ctx context.Context, c *client.Client, id, user string) error, done func(r *client.Room, user string) string, key string) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Example: example, Args: cobra.ExactArgs(2),
			RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
				r, err := findRoom(cmd, c, args[0])
				if err != nil {
					return err
				}
				if err := do(cmd.Context(), c, r.State.ID, args[1]); err != nil {
					return err
				}
				return confirm(cmd, g, map[string]any{"room": r.State.ID, "name": r.State.Name, key: args[1]}, done(r, args[1]))
			}),
		}
	}
	add := member("add ROOM USER", "Add a member (creator only)", "  backchannel room add talks dave",
		func(ctx context.Context, c *client.Client, id, user string) error { return c.AddMember(ctx, id, user) },
		func(r *client.Room, user string) string {
			return fmt.Sprintf("Added %s to \"%s\"; they see what is sent from now on.", user, safeName(r.Label))
		}, "added")
	remove := member("remove ROOM USER", "Remove a member (creator only); they receive nothing new", "  backchannel room remove talks dave",
		func(ctx context.Context, c *client.Client, id, user string) error {
			return c.RemoveMember(ctx, id, user)
		},
		func(r *client.Room, user string) string {
			return fmt.Sprintf("Removed %s from \"%s\"; they receive nothing sent from now on.", user, safeName(r.Label))
		}, "removed")
	leave := &cobra.Command{
		Use: "leave ROOM", Short: "Leave a room", Example: "  backchannel room leave talks", Args: cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			r, err := findRoom(cmd, c, args[0])
			if err != nil {
				return err
			}
			if err := c.Leave(cmd.Context(), r.State.ID); err != nil {
				return err
			}
			return confirm(cmd, g, map[string]any{"room": r.State.ID, "name": r.State.Name, "left": true},
				fmt.Sprintf("You left \"%s\"; you receive nothing sent from now on.", safeName(r.Label)))
		}),
	}
	rename := &cobra.Command{
		Use:   "rename ROOM NEW-NAME",
		Short: "Rename a room (creator only); every member sees the new name",
		Long: `Rename a room you created. The new name travels as a signed change of the room's
state, like a change of members, so every member applies it in the same order and
sees "* you renamed the room to ..." in the room. A name you already use for another
room is refused.`,
		Example: `  backchannel room rename talks "talks 2027"`,
		Args:    cobra.ExactArgs(2),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if err := client.CheckRoomName(args[1]); err != nil {
				return usageError{err}
			}
			r, err := findRoom(cmd, c, args[0])
			if err != nil {
				return err
			}
			nr, err := c.RenameRoom(cmd.Context(), r.State.ID, args[1])
			if errors.Is(err, client.ErrRoomNameTaken) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			return confirm(cmd, g, map[string]any{"room": nr.State.ID, "name": nr.State.Name, "was": r.State.Name},
				fmt.Sprintf("Renamed \"%s\" to \"%s\"; every member sees the new name.", safeName(r.State.Name), safeName(nr.State.Name)))
		}),
	}
	archive := func(on bool) *cobra.Command {
		use, short, example, done := "archive ROOM", "Hide a room from 'room list' on this device (it comes back when someone writes)", "  backchannel room archive talks", "Archived \"%s\": hidden from 'room list' (see --all) until someone else writes in it; still readable."
		if !on {
			use, short, example, done = "unarchive ROOM", "Show an archived room in 'room list' again", "  backchannel room unarchive talks", "\"%s\" is back in 'room list'."
		}
		return &cobra.Command{
			Use: use, Short: short, Example: example, Args: cobra.ExactArgs(1),
			RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
				r, err := findRoom(cmd, c, args[0])
				if err != nil {
					return err
				}
				if r, err = c.Archive(cmd.Context(), r.State.ID, on); err != nil {
					return err
				}
				return confirm(cmd, g, map[string]any{"room": r.State.ID, "name": r.State.Name, "archived": on}, fmt.Sprintf(done, safeName(r.Label)))
			}),
		}
	}
	rc.AddCommand(add, remove, leave, rename, archive(true), archive(false))
	return rc
}

func newRoomCreateCmd(g *globals) *cobra.Command {
	var members, mode, marking string
	create := &cobra.Command{
		Use:   "create NAME --members a,b,...",
		Short: "Create a room (you are its creator)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if mode != client.ModeOnRecord && mode != client.ModeDeniable {
				return usageError{fmt.Errorf("--mode must be %s or %s", client.ModeOnRecord, client.ModeDeniable)}
			}
			if err := client.CheckRoomName(args[0]); err != nil {
				return usageError{fmt.Errorf("%w (a room name is plain text of at most %d bytes, without control characters, text direction controls, invisible characters or spaces at either end)", err, client.MaxRoomName)}
			}
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer g.release(c)
			r, err := c.CreateRoom(cmd.Context(), args[0], strings.Split(members, ","), mode, marking)
			if errors.Is(err, client.ErrRoomNameTaken) {
				return usageError{err}
			}
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), r)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created \"%s\" (%s, marking %s), id %s, members %s.\n", safeName(r.State.Name), r.State.Mode, r.State.Marking, r.State.ID, memberList(r))
			for _, w := range r.Warnings {
				warn(cmd.ErrOrStderr(), w)
			}
			return nil
		},
	}
	create.Flags().StringVar(&members, "members", "", "comma-separated user names")
	create.Flags().StringVar(&mode, "mode", client.ModeOnRecord, "on-record (signed transcript) or deniable; fixed at creation")
	create.Flags().StringVar(&marking, "marking", "all", "canary marks in each recipient's copy: off, invisible, typographic, lexical or all; shown to every member")
	return create
}

func newRoomListCmd(g *globals) *cobra.Command {
	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List your rooms, with unread counts (archived ones with --all)",
		Long: `List your rooms: id, name, unread messages, mode, marking and members (those whose
safety numbers you have not compared are marked). A room someone else created with
the same name as another of yours is shown with its creator, "talks (bob's)": every
command takes that, the name, or the id or its first characters.

Archived rooms are left out unless --all; one comes back by itself when someone
else writes in it. Unread counts what arrived from others since this device last
showed the room ('read', 'chat').`,
		Example: `  backchannel room list
  backchannel room list --all --json`,
		Args: cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			rooms, err := c.Rooms(cmd.Context())
			if err != nil {
				return err
			}
			shown := []client.Room{}
			hidden, hiddenUnread := 0, 0
			for _, r := range rooms {
				if r.Archived && !all {
					hidden++
					hiddenUnread += r.Unread
					continue
				}
				shown = append(shown, r)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), shown)
			}
			w := cmd.OutOrStdout()
			if len(rooms) == 0 {
				fmt.Fprintln(w, "No rooms yet: create one with 'backchannel room create NAME --members a,b'.")
			}
			for _, r := range shown {
				status := ""
				if r.Removed {
					status = "  (you are no longer a member)"
				}
				if r.Archived {
					status += "  (archived)"
				}
				unread := ""
				if r.Unread > 0 {
					unread = fmt.Sprintf("%d new", r.Unread)
				}
				fmt.Fprintf(w, "%s  %s %-7s %-9s marking=%-11s %s%s\n", r.State.ID[:12], padName(r.Label, 20), unread, r.State.Mode, r.State.Marking, memberList(&r), status)
			}
			if hidden > 0 {
				fmt.Fprintf(w, "%d archived (%d new); see them with 'backchannel room list --all'.\n", hidden, hiddenUnread)
			}
			return nil
		}),
	}
	list.Flags().BoolVar(&all, "all", false, "list archived rooms too")
	return list
}

// findRoom resolves a room by name, label or id (prefix). A room this
// device does not know may have been created moments ago by someone else:
// its state reaches this device with the next sync, so findRoom syncs once
// and looks again before it gives up.
func findRoom(cmd *cobra.Command, c *client.Client, ref string) (*client.Room, error) {
	r, err := c.Room(cmd.Context(), ref)
	if errors.Is(err, client.ErrUnknownRoom) {
		if rep, serr := c.Sync(cmd.Context()); serr == nil {
			for _, w := range rep.Warnings {
				warn(cmd.ErrOrStderr(), w)
			}
			r, err = c.Room(cmd.Context(), ref)
		}
	}
	if errors.Is(err, room.ErrAmbiguousRef) {
		return nil, usageError{err}
	}
	return r, err
}

// confirm prints what a command changed: v with --json, else line.
func confirm(cmd *cobra.Command, g *globals, v any, line string) error {
	if g.json {
		return printJSON(cmd.OutOrStdout(), v)
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), line)
	return err
}
