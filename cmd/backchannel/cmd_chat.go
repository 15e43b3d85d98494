package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"backchannel/client"
	"backchannel/tui"
)

func newChatCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "chat [ROOM]",
		Short: "Chat in a room: full screen on a terminal, line by line from a pipe",
		Long: `On a terminal, chat opens a full-screen chat: the rooms with their unread
counts, the room's messages by day, a status line (room, mode, marking, members
with ✓ when their safety number was compared, the connection) and a line to type
on. Enter sends the line; a line starting with / is a command for this screen and
is never sent (/help lists them; // sends a line that starts with /). Ctrl-N and
Ctrl-P switch rooms, ↑/↓ recall earlier lines, Ctrl-C leaves.

When standard input is not a terminal, chat prints the room's latest messages,
then every new one as it arrives, and sends each line read, until /quit or the
end of input; the same commands work, and an unknown /command is refused.`,
		Example: `  backchannel chat deal
  printf 'Offer: thirty days.\n/quit\n' | backchannel chat deal`,
		Args: cobra.MaximumNArgs(1),
		RunE: g.withClient(func(cmd *cobra.Command, args []string, c *client.Client) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			room := ""
			if len(args) == 1 {
				room = args[0]
			}
			if g.env.stdinTTY && g.env.stdoutTTY {
				return g.chatScreen(ctx, c, room)
			}
			if room == "" {
				return usageError{errors.New("chat from a pipe needs the room: backchannel chat ROOM")}
			}
			return g.chatLines(ctx, cmd, c, room)
		}),
	}
}

// chatScreen runs the full-screen chat on the caller's terminal.
func (g *globals) chatScreen(ctx context.Context, c *client.Client, room string) error {
	if room != "" {
		r, _, err := c.History(ctx, room) // an unknown room fails before the screen opens
		if err != nil {
			return err
		}
		room = r.State.ID
	}
	term, _ := g.env.lookupEnv("TERM")
	b := tui.NewClientBackend(ctx, c, g.liveHub(ctx, c), g.env.path)
	return tui.Run(ctx, b, tui.Terminal{
		In: g.env.stdin, Out: g.env.stdout, Size: g.env.size, Resized: g.env.resized, Raw: g.env.raw, Term: term,
	}, tui.Options{Room: room})
}

// chatLines is the chat for scripts: the room's latest messages, then each
// new one as it arrives; every line read is sent, or run when it is one of
// the chat's commands.
func (g *globals) chatLines(ctx context.Context, cmd *cobra.Command, c *client.Client, ref string) error {
	errw := cmd.ErrOrStderr()
	if _, err := c.Sync(ctx); err != nil {
		fmt.Fprintln(errw, "warning: could not sync:", err)
	}
	r, msgs, err := c.History(ctx, ref)
	if err != nil {
		return err
	}
	out := &chatView{w: cmd.OutOrStdout(), room: r.State.ID, me: c.User()}
	fmt.Fprintf(out.w, "# %s — %s room, marking: %s, members: %s (/help for commands, /quit to leave the chat)\n",
		safeName(r.State.Name), r.State.Mode, r.State.Marking, memberList(r))
	out.skip(msgs[:max(0, len(msgs)-20)])
	out.show(msgs[max(0, len(msgs)-20):], len(msgs))

	b := tui.NewClientBackend(ctx, c, g.liveHub(ctx, c), g.env.path)
	events, stop := b.Subscribe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		lost := false
		for ev := range events {
			switch {
			case ev.Report:
				for _, w := range ev.Warnings {
					warn(errw, w)
				}
				if _, all, err := c.History(ctx, out.room); err == nil {
					out.show(nil, len(all), all...)
				}
			case ev.State == tui.StateReconnecting:
				lost = true
				fmt.Fprintf(errw, "connection lost (%s): reconnecting…\n", ev.Reason)
			case ev.State == tui.StateConnected && lost:
				lost = false
				fmt.Fprintln(errw, "reconnected")
				if _, all, err := c.History(ctx, out.room); err == nil {
					out.show(nil, len(all), all...)
				}
			case ev.State == tui.StateRefused:
				fmt.Fprintf(errw, "the server refused this device (%s)\n", ev.Reason)
			}
		}
	}()
	defer func() {
		stop()
		<-done
		_ = c.MarkRead(ctx, out.room, "") // what was printed is read; unread counts are a convenience
	}()

	room := tui.Room{ID: r.State.ID, Name: r.State.Name, Mode: r.State.Mode, Marking: r.State.Marking, Members: r.State.Members, Verified: r.Verified}
	warned := map[string]bool{}
	return readLines(ctx, cmd.InOrStdin(), func(line string) (bool, error) {
		c1, err := tui.Parse(line)
		if err != nil {
			fmt.Fprintln(errw, safeLine(err.Error()))
			return false, nil
		}
		var warnings []string
		if c1.Name == "" {
			m, ws, err := b.Send(ctx, out.room, c1.Arg)
			if err != nil {
				fmt.Fprintln(errw, "not sent:", err)
				return false, nil
			}
			if m.Delivery == tui.DeliveryQueued {
				fmt.Fprintln(errw, "queued: it goes out when the server can be reached")
			}
			warnings = ws
		} else {
			res, err := tui.Execute(ctx, b, room, c1)
			if err != nil {
				fmt.Fprintln(errw, safeLine(err.Error()))
				return false, nil
			}
			if res.Quit {
				return true, nil
			}
			for _, l := range res.Lines {
				fmt.Fprintln(out.w, l)
			}
			warnings = res.Warnings
		}
		for _, w := range warnings {
			if !warned[w] { // each once: a send in an unverified room warns every time
				warned[w] = true
				warn(errw, w)
			}
		}
		if _, all, err := c.History(ctx, out.room); err == nil {
			out.show(nil, len(all), all...)
		}
		return false, nil
	})
}

// readLines calls handle for every non-empty line until it says to stop or
// the input ends.
func readLines(ctx context.Context, in io.Reader, handle func(string) (stop bool, err error)) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), client.MaxTextBytes)
	for sc.Scan() && ctx.Err() == nil {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		stop, err := handle(line)
		if err != nil || stop {
			return err
		}
	}
	return sc.Err()
}

// chatView prints a room's messages once each, from two goroutines.
type chatView struct {
	mu    sync.Mutex
	w     io.Writer
	room  string
	me    string
	shown int
	// printed holds the ids shown: history is in causal order, so a late
	// message can appear before the end (with its notice) and is printed
	// when it arrives.
	printed map[string]bool
	inited  bool
}

// show prints msgs (the initial window) or, later, the entries of all not
// printed yet; total is the history's length.
func (v *chatView) show(msgs []client.Message, total int, all ...client.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.inited {
		v.inited = true
		all = msgs
	}
	if v.printed == nil {
		v.printed = map[string]bool{}
	}
	for _, m := range all {
		if v.printed[m.ID] {
			continue
		}
		v.printed[m.ID] = true
		t := m.SentAt.Local().Format("15:04")
		switch m.Kind {
		case "system":
			fmt.Fprintf(v.w, "%s  * %s\n", t, safe(m.Text))
		case client.KindNotice:
			fmt.Fprintf(v.w, "%s  ! %s\n", t, safe(m.Text))
		default:
			fmt.Fprintf(v.w, "%s  %s: %s\n", t, m.Sender, safe(m.Text))
		}
	}
	v.shown = total
}

// skip marks msgs as shown without printing them (what precedes the
// initial window).
func (v *chatView) skip(msgs []client.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.printed == nil {
		v.printed = map[string]bool{}
	}
	for _, m := range msgs {
		v.printed[m.ID] = true
	}
}
