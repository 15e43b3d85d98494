package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"backchannel/client"
)

func newRoomCmd(g *globals) *cobra.Command {
	room := &cobra.Command{Use: "room", Short: "Create rooms and manage their members"}
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
			defer c.Close()
			r, err := c.CreateRoom(cmd.Context(), args[0], strings.Split(members, ","), mode, marking)
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
	list := &cobra.Command{
		Use:   "list",
		Short: "List your rooms",
		Args:  cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			rooms, err := c.Rooms(cmd.Context())
			if err != nil {
				return err
			}
			if g.json {
				if rooms == nil {
					rooms = []client.Room{}
				}
				return printJSON(cmd.OutOrStdout(), rooms)
			}
			for _, r := range rooms {
				status := ""
				if r.Removed {
					status = "  (you are no longer a member)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s  %s %-9s marking=%-11s %s%s\n", r.State.ID[:12], padName(r.State.Name, 20), r.State.Mode, r.State.Marking, memberList(&r), status)
			}
			return nil
		}),
	}
	member := func(use, short string, do func(c *client.Client, cmd *cobra.Command, room, user string) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(2),
			RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
				return do(c, cmd, args[0], args[1])
			}),
		}
	}
	add := member("add ROOM USER", "Add a member (creator only)", func(c *client.Client, cmd *cobra.Command, room, user string) error {
		return c.AddMember(cmd.Context(), room, user)
	})
	remove := member("remove ROOM USER", "Remove a member (creator only); they receive nothing new", func(c *client.Client, cmd *cobra.Command, room, user string) error {
		return c.RemoveMember(cmd.Context(), room, user)
	})
	leave := &cobra.Command{
		Use: "leave ROOM", Short: "Leave a room", Args: cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			return c.Leave(cmd.Context(), args[0])
		}),
	}
	room.AddCommand(create, list, add, remove, leave)
	return room
}

func newSendCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "send ROOM [TEXT | -]",
		Short: "Send a message to a room (TEXT, --file PATH, or - for stdin)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var text string
			switch {
			case file != "" && len(args) == 2:
				return usageError{errors.New("give TEXT or --file, not both")}
			case file != "":
				b, err := os.ReadFile(g.env.path(file))
				if err != nil {
					return err
				}
				text = string(b)
			case len(args) == 2 && args[1] == "-":
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), client.MaxTextBytes+1))
				if err != nil {
					return err
				}
				text = string(b)
			case len(args) == 2:
				text = args[1]
			default:
				return usageError{errors.New("nothing to send: give TEXT, --file PATH or -")}
			}
			if strings.TrimSpace(text) == "" {
				return usageError{errors.New("the message is empty")}
			}
			c, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			m, err := c.Send(cmd.Context(), args[0], text)
			if errors.Is(err, client.ErrUnknownRoom) {
				// Perhaps the room was created since the last sync.
				if _, serr := c.Sync(cmd.Context()); serr == nil {
					m, err = c.Send(cmd.Context(), args[0], text)
				}
			}
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), m)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Sent %s.\n", m.ID[:12])
			for _, w := range m.Warnings {
				warn(cmd.ErrOrStderr(), w)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "read the message from a file")
	return cmd
}

func newSyncCmd(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Fetch, decrypt and store new messages (--follow to keep listening)",
		Args:  cobra.NoArgs,
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			rep, err := c.Sync(cmd.Context())
			if err != nil {
				return err
			}
			printReport(cmd, g, rep)
			if !follow {
				return nil
			}
			err = c.Follow(cmd.Context(), func(r *client.SyncReport) { printReport(cmd, g, r) })
			if cmd.Context().Err() != nil {
				return nil
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&follow, "follow", false, "stay connected and handle messages as they arrive")
	return cmd
}

func printReport(cmd *cobra.Command, g *globals, rep *client.SyncReport) {
	if g.json {
		printJSON(cmd.OutOrStdout(), rep)
		return
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d new", rep.Received)
	if rep.Held > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), ", %d waiting for earlier messages", rep.Held)
	}
	fmt.Fprintln(cmd.OutOrStdout())
	for _, w := range rep.Warnings {
		warn(cmd.ErrOrStderr(), w)
	}
}

func newReadCmd(g *globals) *cobra.Command {
	var noSync bool
	cmd := &cobra.Command{
		Use:   "read ROOM",
		Short: "Show a room's messages (syncs first unless --no-sync)",
		Args:  cobra.ExactArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			if !noSync {
				if rep, err := c.Sync(cmd.Context()); err != nil {
					warn(cmd.ErrOrStderr(), "could not sync, showing stored messages: "+err.Error())
				} else {
					for _, w := range rep.Warnings {
						warn(cmd.ErrOrStderr(), w)
					}
				}
			}
			r, msgs, err := c.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if g.json {
				if msgs == nil {
					msgs = []client.Message{}
				}
				for i, m := range msgs {
					if m.Doc != nil { // never print a document's key
						d := *m.Doc
						d.Key, d.BlobID = nil, ""
						msgs[i].Doc = &d
					}
				}
				return printJSON(cmd.OutOrStdout(), msgs)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "# %s — %s room, marking: %s, members: %s\n", safeName(r.State.Name), r.State.Mode, r.State.Marking, memberList(r))
			warnings, err := c.TranscriptWarnings(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			for _, warn := range warnings {
				fmt.Fprintf(w, "! %s\n", safeLine(warn))
			}
			for _, m := range msgs {
				t := m.SentAt.Local().Format("2006-01-02 15:04")
				if m.Kind == client.KindNotice {
					fmt.Fprintf(w, "%s  ! %s\n", t, safe(m.Text))
					continue
				}
				if m.Kind == "system" {
					fmt.Fprintf(w, "%s  * %s\n", t, safe(m.Text))
					continue
				}
				fmt.Fprintf(w, "%s  %s: %s\n", t, m.Sender, safe(m.Text))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&noSync, "no-sync", false, "show stored messages without contacting the server")
	return cmd
}
